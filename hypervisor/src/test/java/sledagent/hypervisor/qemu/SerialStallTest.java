package sledagent.hypervisor.qemu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.sun.net.httpserver.HttpServer;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.WebSocket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import sledagent.api.propolis.PropolisInstanceState;
import sledagent.hypervisor.server.Machine;
import sledagent.hypervisor.server.PropolisHttpHandler;
import sledagent.hypervisor.server.PropolisInstance;
import sledagent.hypervisor.server.SerialPort;
import sledagent.hypervisor.server.ServerThreads;

/**
 * {@code GET /instance/serial} with a client that stops reading, against the real Propolis core and
 * {@link QemuSerialPort} over a {@link SerialRing} fed in-process (fast enough to fill any socket buffer, which a
 * TCG guest's UART is not): the guest side never waits, a reading client gets every byte while the stalled one's
 * buffers are full, and the stalled one is cut off.
 */
class SerialStallTest
{
    private static final int CHUNK = 8 * 1024;
    private static final long BURST_BYTES = SerialRing.DEFAULT_CAPACITY / 4;
    /** Far more than the loopback socket buffers of the stalled client and the server can hold together. */
    private static final long OUTPUT_BYTES = 24L << 20;

    private final SerialRing ring = new SerialRing();
    private final QemuSerialPort port = new QemuSerialPort(ring);
    private HttpServer server;
    private ExecutorService pool;

    @AfterEach
    void tearDown()
    {
        if (server != null)
        {
            server.stop(0);
            pool.shutdownNow();
        }
    }

    @Test
    void shouldNeitherWaitForNorBeSlowedByAReaderThatStopsReading() throws Exception
    {
        final String addr = serve();
        final HttpClient http = HttpClient.newHttpClient();
        final String ensure = "{\"properties\":{\"id\":\"00000000-0000-0007-0000-000000000007\",\"name\":\"vm\","
            + "\"description\":\"\",\"metadata\":{\"project_id\":\"00000000-0000-0001-0000-000000000001\","
            + "\"silo_id\":\"00000000-0000-0001-0000-000000000002\","
            + "\"sled_id\":\"00000000-0000-0001-0000-000000000003\","
            + "\"sled_model\":\"g\",\"sled_revision\":2,\"sled_serial\":\"s\"}},\"init\":{\"method\":\"Spec\","
            + "\"value\":{\"spec\":{\"board\":{\"cpus\":1,\"memory_mb\":256,\"chipset\":{\"type\":\"i440_fx\","
            + "\"value\":{\"enable_pcie\":false}}},\"components\":{}}}}}";
        final HttpResponse<String> ensured = http.send(HttpRequest.newBuilder(URI.create("http://" + addr + "/instance"))
            .header("api-version", "5.0.0").header("content-type", "application/json")
            .PUT(HttpRequest.BodyPublishers.ofString(ensure)).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(ensured.statusCode()).as(ensured.body()).isEqualTo(201);

        try (Socket stalled = new Socket())
        {
            stalled.setReceiveBufferSize(4096);
            stalled.connect(new InetSocketAddress("127.0.0.1", server.getAddress().getPort()));
            final OutputStream request = stalled.getOutputStream();
            request.write(("GET /instance/serial HTTP/1.1\r\nhost: " + addr + "\r\napi-version: 5.0.0\r\n"
                + "upgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-version: 13\r\n"
                + "sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            request.flush();
            final InputStream response = stalled.getInputStream();
            final String head = new String(response.readNBytes(12), StandardCharsets.US_ASCII);
            assertThat(head).isEqualTo("HTTP/1.1 101");

            final AtomicLong received = new AtomicLong();
            final WebSocket reader = http.newWebSocketBuilder().header("api-version", "5.0.0")
                .buildAsync(URI.create("ws://" + addr + "/instance/serial"), new WebSocket.Listener()
                {
                    @Override
                    public CompletionStage<?> onBinary(final WebSocket webSocket, final ByteBuffer data,
                        final boolean last)
                    {
                        received.addAndGet(data.remaining());
                        webSocket.request(1);
                        return null;
                    }
                }).get();
            // The stalled client reads nothing from here on. The "guest" writes in bursts of a quarter of the ring
            // and lets the reading client catch up between them (a client further behind than the ring is cut off).
            final byte[] chunk = new byte[CHUNK];
            final long writeStartNs = System.nanoTime();
            for (long written = 0; written < OUTPUT_BYTES; written += CHUNK)
            {
                final long start = ring.total();
                ring.append(chunk, 0, CHUNK);
                port.outputArrived(new SerialRing.Slice(chunk, start));
                if ((written + CHUNK) % BURST_BYTES == 0)
                {
                    final long behind = written + CHUNK - BURST_BYTES;
                    await().atMost(Duration.ofSeconds(10)).pollDelay(Duration.ZERO).pollInterval(Duration.ofMillis(1))
                        .until(() -> received.get() >= behind);
                }
            }
            final long writeMs = (System.nanoTime() - writeStartNs) / 1_000_000;
            await().atMost(Duration.ofSeconds(60)).until(() -> received.get() == OUTPUT_BYTES);
            System.out.printf("serial stall: %d MiB written and read by one client in %d ms while another stalled%n",
                OUTPUT_BYTES >> 20, writeMs);

            // The stalled client is cut off: after what was buffered for it, the connection ends.
            stalled.setSoTimeout(30_000);
            final ByteArrayOutputStream drained = new ByteArrayOutputStream();
            response.transferTo(drained);
            assertThat((long) drained.size()).isLessThan(OUTPUT_BYTES);
            reader.abort();
        }
    }

    private String serve() throws Exception
    {
        final PropolisInstance instance = new PropolisInstance((request, context) -> new Machine()
        {
            @Override
            public void start()
            {
                context.publish(PropolisInstanceState.Running);
            }

            @Override
            public void stop(final PropolisInstanceState from)
            {
                context.publish(PropolisInstanceState.Destroyed);
            }

            @Override
            public void reboot()
            {
            }

            @Override
            public SerialPort serialPort()
            {
                return port;
            }
        }, "stall-test");
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 16);
        server.createContext("/", new PropolisHttpHandler(instance, "stall-test", PropolisHttpHandler.Extension.NONE));
        pool = ServerThreads.growingPool("stall-test-http", 16, 5);
        server.setExecutor(pool);
        server.start();
        return "127.0.0.1:" + server.getAddress().getPort();
    }
}
