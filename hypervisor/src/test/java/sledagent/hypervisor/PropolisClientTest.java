package sledagent.hypervisor;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.http.HttpTimeoutException;
import java.time.Duration;
import java.util.UUID;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import sledagent.api.Json;
import sledagent.api.propolis.InstanceEnsureRequest;
import sledagent.api.propolis.InstanceEnsureResponse;
import sledagent.api.propolis.InstanceInitializationMethod;
import sledagent.api.propolis.InstanceMetadata;
import sledagent.api.propolis.InstanceProperties;
import sledagent.api.propolis.InstanceStateMonitorResponse;
import sledagent.api.propolis.PropolisInstanceState;
import sledagent.api.propolis.PropolisStateRequested;

/** The client against a raw socket server, so the exact bytes on the wire are visible. */
class PropolisClientTest
{
    private static final Duration TIMEOUT = Duration.ofSeconds(5);

    private ScriptedHttpServer server;
    private PropolisClient client;

    @BeforeEach
    void setUp() throws IOException
    {
        server = new ScriptedHttpServer();
        client = new PropolisClient(Duration.ofSeconds(2));
    }

    @AfterEach
    void tearDown() throws IOException
    {
        client.close();
        server.close();
    }

    @Test
    void shouldSendEnsureAsVersionedJsonPut() throws Exception
    {
        server.respond(201, "{\"migrate\":null}");
        final InstanceEnsureRequest request = ensureRequest();

        final InstanceEnsureResponse response = client.ensure(server.addr(), request, TIMEOUT).get(5, TimeUnit.SECONDS);

        assertThat(response.migrate()).isNull();
        final ScriptedHttpServer.Recorded recorded = server.nextRequest();
        assertThat(recorded.method()).isEqualTo("PUT");
        assertThat(recorded.target()).isEqualTo("/instance");
        assertThat(recorded.headers()).containsEntry("api-version", "5.0.0")
            .containsEntry("content-type", "application/json");
        assertThat(Json.mapper().readValue(recorded.body(), InstanceEnsureRequest.class)).isEqualTo(request);
    }

    @Test
    void shouldSendTheRequestedStateAsABareJsonString() throws Exception
    {
        server.respond(204, "");

        assertThat(client.putState(server.addr(), PropolisStateRequested.Run, TIMEOUT).get(5, TimeUnit.SECONDS))
            .isNull();

        final ScriptedHttpServer.Recorded recorded = server.nextRequest();
        assertThat(recorded.method()).isEqualTo("PUT");
        assertThat(recorded.target()).isEqualTo("/instance/state");
        assertThat(recorded.body()).isEqualTo("\"Run\"");
        assertThat(recorded.headers()).containsEntry("api-version", "5.0.0")
            .containsEntry("content-type", "application/json");
    }

    @Test
    void shouldSendTheMonitorGenerationAsTheBodyOfAGet() throws Exception
    {
        server.respond(200, "{\"gen\":7,\"state\":\"Running\","
            + "\"migration\":{\"migration_in\":null,\"migration_out\":null}}");

        final InstanceStateMonitorResponse response = client.monitor(server.addr(), 7, TIMEOUT)
            .get(5, TimeUnit.SECONDS);

        assertThat(response.gen()).isEqualTo(7);
        assertThat(response.state()).isEqualTo(PropolisInstanceState.Running);
        final ScriptedHttpServer.Recorded recorded = server.nextRequest();
        assertThat(recorded.method()).isEqualTo("GET");
        assertThat(recorded.target()).isEqualTo("/instance/state-monitor");
        assertThat(recorded.body()).isEqualTo("{\"gen\":7}");
        assertThat(recorded.headers()).containsEntry("api-version", "5.0.0")
            .containsEntry("content-type", "application/json");
    }

    @Test
    void shouldSendNoContentTypeWithoutABody() throws Exception
    {
        server.respond(424, "{\"request_id\":\"r\",\"message\":\"m\",\"error_code\":\"NoInstance\"}");

        catchThrowable(() -> client.instance(server.addr(), TIMEOUT).get(5, TimeUnit.SECONDS));

        final ScriptedHttpServer.Recorded recorded = server.nextRequest();
        assertThat(recorded.method()).isEqualTo("GET");
        assertThat(recorded.headers()).containsEntry("api-version", "5.0.0").doesNotContainKey("content-type");
    }

    @Test
    void shouldTurnAnErrorBodyIntoPropolisHttpException()
    {
        server.respond(424, "{\"request_id\":\"abc\",\"message\":\"Server not initialized (no instance)\","
            + "\"error_code\":\"NoInstance\"}");

        final PropolisHttpException error = httpError(client.instance(server.addr(), TIMEOUT));

        assertThat(error.statusCode()).isEqualTo(424);
        assertThat(error.errorCode()).isEqualTo("NoInstance");
        assertThat(error.isNoInstance()).isTrue();
        assertThat(error.serverMessage()).isEqualTo("Server not initialized (no instance)");
        assertThat(error.requestId()).isEqualTo("abc");
        assertThat(error.getMessage()).contains("GET /instance", "424", "NoInstance");
    }

    @Test
    void shouldReadAnErrorWithoutErrorCode()
    {
        server.respond(403, "{\"request_id\":\"abc\",\"message\":\"Forbidden\"}");

        final PropolisHttpException error = httpError(client.putState(server.addr(), PropolisStateRequested.Reboot,
            TIMEOUT));

        assertThat(error.statusCode()).isEqualTo(403);
        assertThat(error.errorCode()).isNull();
        assertThat(error.serverMessage()).isEqualTo("Forbidden");
    }

    @Test
    void shouldKeepAnExcerptOfABodyThatIsNotAnError()
    {
        server.respond(502, "<html>bad gateway</html>");

        final PropolisHttpException error = httpError(client.instance(server.addr(), TIMEOUT));

        assertThat(error.statusCode()).isEqualTo(502);
        assertThat(error.errorCode()).isNull();
        assertThat(error.serverMessage()).isEqualTo("<html>bad gateway</html>");
    }

    @Test
    void shouldKeepJsonOfTheWrongShapeAsAnExcerpt()
    {
        server.respond(500, "{\"message\":42,\"error_code\":[\"x\"]}");

        final PropolisHttpException error = httpError(client.instance(server.addr(), TIMEOUT));

        assertThat(error.errorCode()).isNull();
        assertThat(error.serverMessage()).isEqualTo("{\"message\":42,\"error_code\":[\"x\"]}");
    }

    @Test
    void shouldSayWhenThereIsNoErrorBodyAtAll()
    {
        server.respond(503, "");

        final PropolisHttpException error = httpError(client.instance(server.addr(), TIMEOUT));

        assertThat(error.statusCode()).isEqualTo(503);
        assertThat(error.serverMessage()).isEqualTo("(no error body)");
    }

    @Test
    void shouldFailOnAMalformedSuccessBodyWithAnIOException()
    {
        server.respond(200, "{\"instance\":");

        assertThat(cause(client.instance(server.addr(), TIMEOUT))).isInstanceOf(IOException.class);
    }

    @Test
    void shouldTimeOutWithinTheCallsTimeoutAndAbortTheExchange()
    {
        server.hold();
        final long startNs = System.nanoTime();

        final Throwable failure = cause(client.monitor(server.addr(), 1, Duration.ofMillis(300)));

        final long elapsedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startNs);
        assertThat(failure).isInstanceOf(HttpTimeoutException.class);
        assertThat(elapsedMs).isGreaterThanOrEqualTo(300).isLessThan(2_000);
        await().atMost(Duration.ofSeconds(5)).until(() -> server.hangUps() == 1);
    }

    @Test
    void shouldAbortTheExchangeWhenTheCallerCancels() throws Exception
    {
        server.hold();
        final CompletableFuture<InstanceStateMonitorResponse> poll = client.monitor(server.addr(), 1,
            Duration.ofMinutes(1));
        server.nextRequest();

        assertThat(poll.cancel(true)).isTrue();

        // The server sees the connection close: nothing lingers until the minute is up.
        await().atMost(Duration.ofSeconds(5)).until(() -> server.hangUps() == 1);
    }

    @Test
    void shouldFailInFlightCallsWhenClosed() throws Exception
    {
        server.hold();
        final CompletableFuture<InstanceStateMonitorResponse> poll = client.monitor(server.addr(), 1,
            Duration.ofMinutes(1));
        server.nextRequest();

        client.close();

        assertThat(cause(poll)).isInstanceOf(IOException.class).hasMessageContaining("closed");
        assertThat(cause(client.instance(server.addr(), TIMEOUT))).isInstanceOf(IOException.class);
        await().atMost(Duration.ofSeconds(5)).until(() -> server.hangUps() == 1);
    }

    @Test
    void shouldReportARefusedConnectionAsAConnectException() throws IOException
    {
        final String deadAddr;
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress()))
        {
            deadAddr = "127.0.0.1:" + socket.getLocalPort();
        }

        assertThat(cause(client.instance(deadAddr, TIMEOUT))).isInstanceOf(ConnectException.class);
    }

    @Test
    void shouldRejectAnAddressWithoutAPortInTheFuture()
    {
        assertThat(cause(client.instance("127.0.0.1", TIMEOUT))).isInstanceOf(IllegalArgumentException.class);
        assertThat(cause(client.instance("::1:12400", TIMEOUT))).isInstanceOf(IllegalArgumentException.class);
        assertThat(cause(client.instance(null, TIMEOUT))).isInstanceOf(NullPointerException.class);
        assertThat(cause(client.instance(server.addr(), Duration.ZERO))).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void shouldReachAnIpv6Address() throws Exception
    {
        try (ScriptedHttpServer v6 = ScriptedHttpServer.onIpv6Loopback())
        {
            v6.respond(204, "");

            client.putState(v6.addr(), PropolisStateRequested.Stop, TIMEOUT).get(5, TimeUnit.SECONDS);

            assertThat(v6.addr()).startsWith("[::1]:");
            assertThat(v6.nextRequest().headers().get("host")).startsWith("[::1]:");
        }
    }

    static InstanceEnsureRequest ensureRequest()
    {
        final UUID id = UUID.fromString("62877b4e-2f0a-4f55-9e10-3f3c1c6b8a90");
        final InstanceMetadata metadata = new InstanceMetadata(new UUID(1, 1), new UUID(1, 2), new UUID(1, 3),
            "gimlet", 2, "BRM42220016");
        final ObjectNode spec = Json.mapper().createObjectNode();
        spec.putObject("board").put("cpus", 1).put("memory_mb", 512);
        spec.putObject("components");
        return new InstanceEnsureRequest(new InstanceProperties(id, "vm-1", "a test VM", metadata),
            InstanceInitializationMethod.Spec.of(spec));
    }

    private static PropolisHttpException httpError(final CompletableFuture<?> future)
    {
        final Throwable failure = cause(future);
        assertThat(failure).isInstanceOf(PropolisHttpException.class);
        return (PropolisHttpException) failure;
    }

    private static Throwable cause(final CompletableFuture<?> future)
    {
        try
        {
            future.get(10, TimeUnit.SECONDS);
        }
        catch (final ExecutionException e)
        {
            return e.getCause();
        }
        catch (final CancellationException e)
        {
            return e;
        }
        catch (final Exception e)
        {
            throw new AssertionError("the future did not fail within 10 s", e);
        }
        throw new AssertionError("the future succeeded");
    }
}
