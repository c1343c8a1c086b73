package sledagent.hypervisor.qemu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayOutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpResponse;
import java.net.http.WebSocket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import sledagent.api.Json;

/**
 * {@code GET /instance/serial} of a real propolis-qemu process (TCG, the tiny guest): several WebSocket readers see
 * the same bytes, {@code from_start} / {@code most_recent} replay, input reaches the guest's shell, and a reader that
 * stops reading holds up neither the others nor the history.
 */
class SerialWebSocketTest
{
    private static final Duration BOOT = Duration.ofSeconds(60);
    private static Path guest;

    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
    private final List<WebSocket> sockets = new ArrayList<>();
    private QemuServerProcess server;

    @BeforeAll
    static void buildGuest() throws Exception
    {
        guest = TestQemu.guest().kernel().getParent();
    }

    @AfterEach
    void tearDown() throws Exception
    {
        sockets.forEach(WebSocket::abort);
        if (server != null)
        {
            server.close();
        }
    }

    @Test
    void shouldStreamTheConsoleToEveryReaderAndTakeInput() throws Exception
    {
        server = QemuServerProcess.start(guest, null);
        assertThat(call("PUT", "/instance", ensureBody().toString()).statusCode()).isEqualTo(201);
        assertThat(call("PUT", "/instance/state", "\"Run\"").statusCode()).isEqualTo(204);
        await().atMost(BOOT).pollInterval(Duration.ofMillis(100)).until(() -> history().contains("tick 2\r\n"));

        final Reader first = open("from_start=0", true);
        final Reader second = open("from_start=0", true);
        final Reader stalled = open("from_start=0", false);
        final Reader recent = open("most_recent=8", true);
        await().atMost(BOOT).until(() -> first.text().contains("tick 4\r\n") && second.text().contains("tick 4\r\n"));
        // from_start=0 replays the boot; both readers hold the same stream (one may be a frame ahead).
        assertThat(first.text()).contains("GUEST-READY");
        final String a = first.text();
        final String b = second.text();
        assertThat(a.length() < b.length() ? b.startsWith(a) : a.startsWith(b)).as(a + "\n----\n" + b).isTrue();
        // most_recent=8 starts near the end: no boot, and it is a piece of the same stream.
        await().atMost(BOOT).until(() -> recent.text().length() > 8);
        assertThat(recent.text()).doesNotContain("GUEST-READY");
        assertThat(first.text()).contains(recent.text().substring(0, 8));

        // Input through the WebSocket reaches the guest's serial shell; the shell's answer is computed, not echoed.
        final String word = Long.toString(ThreadLocalRandom.current().nextLong(1L << 40), 36);
        first.socket.sendBinary(ByteBuffer.wrap(("echo hello-$((6*7))-" + word + "\r\n")
            .getBytes(StandardCharsets.US_ASCII)), true).get(5, TimeUnit.SECONDS);
        await().atMost(BOOT).until(() -> first.text().contains("hello-42-" + word)
            && second.text().contains("hello-42-" + word));

        // The stalled reader took one frame and asked for nothing more; everybody else keeps advancing.
        assertThat(stalled.frames()).isEqualTo(1);
        final int tick = lastTick(history());
        final String later = "tick " + (tick + 3) + "\r\n";
        await().atMost(BOOT).until(() -> history().contains(later) && first.text().contains(later)
            && second.text().contains(later));
        assertThat(stalled.frames()).isEqualTo(1);
    }

    @Test
    void shouldRefuseAPlainGetAndBothOffsets() throws Exception
    {
        server = QemuServerProcess.start(guest, null);
        assertThat(call("GET", "/instance/serial", null).statusCode()).isEqualTo(424);
        assertThat(call("PUT", "/instance", ensureBody().toString()).statusCode()).isEqualTo(201);
        // A plain GET is no upgrade.
        assertThat(call("GET", "/instance/serial", null).statusCode()).isEqualTo(400);
        final var refused = http.newWebSocketBuilder().header("api-version", "5.0.0")
            .buildAsync(uri("from_start=0&most_recent=1"), new WebSocket.Listener()
            {
            });
        assertThat(refused).failsWithin(Duration.ofSeconds(10));
    }

    private static int lastTick(final String text)
    {
        final int at = text.lastIndexOf("tick ");
        return Integer.parseInt(text.substring(at + 5, text.indexOf('\n', at)).strip());
    }

    private Reader open(final String query, final boolean keepReading) throws Exception
    {
        final Reader reader = new Reader(keepReading);
        reader.socket = http.newWebSocketBuilder().header("api-version", "5.0.0")
            .buildAsync(uri(query), reader).get(10, TimeUnit.SECONDS);
        sockets.add(reader.socket);
        return reader;
    }

    private URI uri(final String query)
    {
        return URI.create("ws://" + server.addr() + "/instance/serial?" + query);
    }

    private String history() throws Exception
    {
        final HttpResponse<String> history = call("GET", "/instance/serial/history?from_start=0&max_bytes=1048576",
            null);
        final StringBuilder text = new StringBuilder();
        Json.mapper().readTree(history.body()).get("data").forEach(b -> text.append((char) b.asInt()));
        return text.toString();
    }

    private HttpResponse<String> call(final String method, final String path, final String body) throws Exception
    {
        return server.call(method, path, body);
    }

    private static ObjectNode ensureBody()
    {
        final ObjectNode body = Json.mapper().createObjectNode();
        final ObjectNode properties = body.putObject("properties");
        properties.put("id", new UUID(7, 7).toString()).put("name", "vm").put("description", "");
        properties.putObject("metadata").put("project_id", new UUID(1, 1).toString())
            .put("silo_id", new UUID(1, 2).toString()).put("sled_id", new UUID(1, 3).toString())
            .put("sled_model", "gimlet").put("sled_revision", 2).put("sled_serial", "BRM42220016");
        final ObjectNode spec = body.putObject("init").put("method", "Spec").putObject("value").putObject("spec");
        spec.putObject("board").put("cpus", 1).put("memory_mb", 256)
            .putObject("chipset").put("type", "i440_fx").putObject("value").put("enable_pcie", false);
        spec.putObject("components").putObject("com1").put("type", "serial_port")
            .putObject("component").put("num", "com1");
        return body;
    }

    /** A WebSocket client collecting the console bytes; one that does not keep reading asks for one frame only. */
    private static final class Reader implements WebSocket.Listener
    {
        private final boolean keepReading;
        private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        private int frames;
        private WebSocket socket;

        Reader(final boolean keepReading)
        {
            this.keepReading = keepReading;
        }

        @Override
        public synchronized CompletionStage<?> onBinary(final WebSocket webSocket, final ByteBuffer data,
            final boolean last)
        {
            final byte[] chunk = new byte[data.remaining()];
            data.get(chunk);
            bytes.write(chunk, 0, chunk.length);
            frames++;
            if (keepReading)
            {
                webSocket.request(1);
            }
            return null;
        }

        synchronized String text()
        {
            return bytes.toString(StandardCharsets.ISO_8859_1);
        }

        synchronized int frames()
        {
            return frames;
        }
    }
}
