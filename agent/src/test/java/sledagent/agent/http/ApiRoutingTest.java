package sledagent.agent.http;

import static org.assertj.core.api.Assertions.assertThat;
import static sledagent.agent.http.EmbeddedApi.V;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import sledagent.agent.demo.ExampleBodies;

/**
 * Every route and every refusal of the HTTP layer, through the real pipeline on an {@code EmbeddedChannel} (no
 * socket, no zone, no root): each answer's status, its {@code Error} body ({@code request_id}, {@code message},
 * {@code error_code}) and the route it was counted under in {@code /metrics}. The end-to-end {@code BadInputTest}
 * and {@code HostileInputTest} prove the same over real sockets against the real agent.
 */
class ApiRoutingTest
{
    private static final UUID ID = UUID.fromString("0b5a5e5c-7d4e-4c1a-9a6f-3f2e1d0c9b8a");
    private static final String RUNNING = "{\"state\":{\"type\":\"running\"}}";

    private final EmbeddedApi api = new EmbeddedApi();

    @AfterEach
    void tearDown()
    {
        api.close();
    }

    /** A kept-alive HTTP/1.1 request with the api-version header and, if {@code body} is not null, a body. */
    private static String request(final String method, final String path, final String body)
    {
        final int length = body == null ? 0 : body.getBytes(StandardCharsets.UTF_8).length;
        return method + " " + path + " HTTP/1.1\r\nhost: x\r\n" + V + "content-length: " + length + "\r\n\r\n"
            + (body == null ? "" : new String(body.getBytes(StandardCharsets.UTF_8), StandardCharsets.ISO_8859_1));
    }

    private static String registerBody()
    {
        return ExampleBodies.ensureBody(UUID.randomUUID(), "127.0.0.1:12400", 1);
    }

    private void assertCounted(final String route, final int status)
    {
        assertThat(api.metricsText()).contains("sled_agent_http_requests_total{route=\"" + route + "\",status=\""
            + status + "\"} ");
    }

    @Test
    void shouldServeEveryRouteThroughItsEndpoint()
    {
        final EmbeddedApi.Answer registered = api.one(request("PUT", "/vmms/" + ID, registerBody()));
        assertThat(registered.status()).as(registered.text()).isEqualTo(200);
        assertThat(registered.json().at("/vmm_state/state").asText()).isEqualTo("starting");
        assertCounted("vmm_register", 200);

        final EmbeddedApi.Answer state = api.one(request("GET", "/vmms/" + ID + "/state", null));
        assertThat(state.status()).isEqualTo(200);
        assertThat(state.json().at("/vmm_state/gen").asLong()).isEqualTo(1);
        assertThat(state.headers().get("connection")).isEqualTo("keep-alive");
        assertCounted("vmm_get_state", 200);

        final EmbeddedApi.Answer list = api.one(request("GET", "/vmms/", null));
        assertThat(list.status()).isEqualTo(200);
        assertThat(list.json().at("/vmms/0/propolis_id").asText()).isEqualTo(ID.toString());
        assertCounted("vmm_list", 200);

        final EmbeddedApi.Answer run = api.one(request("PUT", "/vmms/" + ID + "/state/", RUNNING));
        assertThat(run.status()).as(run.text()).isEqualTo(200);
        assertThat(api.vmms.starts()).as("the run request reached the VMM's actor").isEqualTo(1);
        assertCounted("vmm_put_state", 200);

        // Answered once the zone is gone: nothing before, and the connection reads nothing more meanwhile.
        assertThat(api.send(request("POST", "/vmms/" + ID + "/force-terminate", null))).isEmpty();
        assertThat(api.inFlight).hasValue(1);
        assertThat(api.channel.config().isAutoRead()).isFalse();
        assertThat(api.vmms.tearDowns()).isEqualTo(1);
        api.vmms.finishLastTearDown();
        final List<EmbeddedApi.Answer> killed = api.settle();
        assertThat(killed).hasSize(1);
        assertThat(killed.get(0).status()).as(killed.get(0).text()).isEqualTo(200);
        assertThat(killed.get(0).json().at("/vmm_state/state").asText()).isEqualTo("destroyed");
        assertThat(api.inFlight).hasValue(0);
        assertThat(api.channel.config().isAutoRead()).isTrue();
        assertCounted("vmm_force_terminate", 200);

        final EmbeddedApi.Answer unregistered = api.one(request("DELETE", "/vmms/" + ID, null));
        assertThat(unregistered.status()).as(unregistered.text()).isEqualTo(200);
        assertCounted("vmm_unregister", 200);

        final EmbeddedApi.Answer health = api.one("GET /health HTTP/1.1\r\nhost: x\r\n\r\n");
        assertThat(health.status()).as("no api-version needed").isEqualTo(200);
        assertThat(health.json().path("status").asText()).isEqualTo("ok");
        final EmbeddedApi.Answer metrics = api.one("GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n");
        assertThat(metrics.status()).isEqualTo(200);
        assertThat(metrics.headers().get("content-type")).startsWith("text/plain");
        assertThat(metrics.text()).contains("sled_agent_http_requests_total{route=\"health\",status=\"200\"} 1");
        assertThat(api.channel.isOpen()).isTrue();
    }

    @Test
    void shouldAnswerRequestsForUnknownVmmsFromTheirEndpoints()
    {
        api.one(request("GET", "/vmms/" + ID + "/state", null)).isError(404, "Not Found", "NO_SUCH_INSTANCE");
        api.one(request("PUT", "/vmms/" + ID + "/state", RUNNING)).isError(404, "Not Found",
            "NO_SUCH_INSTANCE");
        api.one(request("POST", "/vmms/" + ID + "/force-terminate", null)).isError(404, "Not Found",
            "NO_SUCH_INSTANCE");
        assertCounted("vmm_get_state", 404);
        assertCounted("vmm_put_state", 404);
        assertCounted("vmm_force_terminate", 404);
    }

    @Test
    void shouldAnswerUnknownPaths404()
    {
        api.one(request("GET", "/nope", null)).isError(404, "Not Found", null);
        api.one(request("GET", "/vmms/" + ID + "/nope", null)).isError(404, "Not Found", null);
        api.one(request("GET", "/vmms//state", null)).isError(404, "Not Found", null);
        api.one(request("GET", "/health//", null)).isError(404, "Not Found", null);
        assertCounted("unknown", 404);
        assertThat(api.channel.isOpen()).as("kept alive").isTrue();
    }

    @Test
    void shouldAnswerWrongMethods405WithAllow()
    {
        assertThat(api.one(request("POST", "/vmms/" + ID + "/state", null)).isError(405, "Method Not Allowed", null)
            .headers().get("allow")).isEqualTo("PUT, GET");
        assertThat(api.one(request("GET", "/vmms/" + ID, null)).isError(405, "Method Not Allowed", null)
            .headers().get("allow")).isEqualTo("PUT, DELETE");
        assertThat(api.one(request("DELETE", "/vmms", null)).isError(405, "Method Not Allowed", null)
            .headers().get("allow")).isEqualTo("GET");
        assertThat(api.one(request("GET", "/vmms/" + ID + "/force-terminate", null))
            .isError(405, "Method Not Allowed", null).headers().get("allow")).isEqualTo("POST");
        assertThat(api.one("PUT /health HTTP/1.1\r\nhost: x\r\n" + V + "content-length: 0\r\n\r\n")
            .isError(405, "Method Not Allowed", null).headers().get("allow")).isEqualTo("GET");
    }

    @Test
    void shouldAnswerBadIds400AndDecodePercentEscapes()
    {
        api.one(request("GET", "/vmms/not-a-uuid/state", null))
            .isError(400, "propolis_id is not a UUID: not-a-uuid", null);
        api.one(request("PUT", "/vmms/1-1-1-1-1/state", RUNNING)).isError(400, "propolis_id is not a UUID: 1-1-1-1-1",
            null);
        api.one(request("GET", "/vmms/%zz/state", null)).isErrorStartingWith(400, "bad URI: ");
        // %30 is '0': the id is decoded before it is parsed, and the query string is not part of the path.
        final String escaped = "/vmms/%30" + ID.toString().substring(1) + "/state?x=1";
        api.one(request("GET", escaped, null)).isError(404, "Not Found", "NO_SUCH_INSTANCE");
        assertThat(api.channel.isOpen()).isTrue();
    }

    @Test
    void shouldAnswerBadBodies400()
    {
        api.one(request("PUT", "/vmms/" + ID, "{\"instance_id\": ")).isErrorStartingWith(400,
            "unable to parse JSON body: ");
        api.one(request("PUT", "/vmms/" + ID + "/state", "not json")).isErrorStartingWith(400,
            "unable to parse JSON body: ");
        api.one(request("PUT", "/vmms/" + ID + "/state", "")).isErrorStartingWith(400, "unable to parse JSON body: ");
        api.one(request("PUT", "/vmms/" + ID + "/state", "null")).isError(400, "body: must not be null", null);
        api.one(request("PUT", "/vmms/" + ID, registerBody().replace("\"cpus\":1", "\"cpus\":300")))
            .isErrorStartingWith(400, "vmm_spec.board.cpus: 300 is outside 0..255 (uint8)");
        api.one(request("PUT", "/vmms/" + ID, ExampleBodies.ensureBody(UUID.randomUUID(), "nowhere", 1)))
            .isError(400, "propolis_addr: \"nowhere\" is not ip:port or [ipv6]:port with a port in 1..65535", null);
        api.one(request("PUT", "/vmms/" + ID + "/state", "{\"state\":{\"type\":\"runnning\"}}"))
            .isErrorStartingWith(400, "state");
        api.one(request("PUT", "/vmms/" + ID + "/state",
            "{\"state\":{\"type\":\"migration_target\",\"value\":{\"src_propolis_addr\":\"x:0\"}}}"))
            .isErrorStartingWith(400, "state.value.src_propolis_addr: \"x:0\" is not ip:port");
        assertThat(api.one(request("GET", "/vmms", null)).json().path("vmms")).as("nothing registered").isEmpty();
    }

    @Test
    void shouldCheckTheApiVersionBeforeRouting()
    {
        final String missing = "GET /vmms HTTP/1.1\r\nhost: x\r\n\r\n";
        api.one(missing).isError(400, "missing expected header \"api-version\"", null);
        api.one("GET /nope HTTP/1.1\r\nhost: x\r\n\r\n")
            .isError(400, "missing expected header \"api-version\"", null);
        api.one("GET /vmms HTTP/1.1\r\nhost: x\r\napi-version: abc\r\n\r\n").isError(400,
            "bad value for header \"api-version\": unexpected character 'a' while parsing major version number: abc",
            null);
        api.one("GET /vmms HTTP/1.1\r\nhost: x\r\napi-version: 49.0.0\r\n\r\n")
            .isError(400, "server does not support this API version: 49.0.0", null);
        assertThat(api.one("GET /vmms HTTP/1.1\r\nhost: x\r\napi-version: 47.0.0\r\n\r\n").status()).isEqualTo(200);
        assertThat(api.one("GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n").status()).isEqualTo(200);
    }

    @Test
    void shouldRefuseOtherHttpVersions505AndClose()
    {
        api.one("GET /health HTTP/2.0\r\nhost: x\r\n\r\n")
            .isError(505, "HTTP version not supported: HTTP/2.0 (HTTP/1.1 and HTTP/1.0 are)", null);
        assertThat(api.channel.isOpen()).isFalse();
    }

    @Test
    void shouldServeHttp10WithoutKeepAlive()
    {
        final EmbeddedApi.Answer health = api.one("GET /health HTTP/1.0\r\n\r\n");
        assertThat(health.status()).isEqualTo(200);
        assertThat(health.headers().get("connection")).isEqualTo("close");
        assertThat(api.channel.isOpen()).isFalse();
    }

    @Test
    void shouldAnswerATooLongRequestLine414()
    {
        api.one("GET /" + "a".repeat(10_000) + " HTTP/1.1\r\nhost: x\r\n\r\n")
            .isError(414, "request line too long", null);
        assertThat(api.channel.isOpen()).isFalse();
    }

    @Test
    void shouldAnswerTooLargeHeaders431()
    {
        api.one("GET /health HTTP/1.1\r\nx-big: " + "a".repeat(10_000) + "\r\n\r\n")
            .isError(431, "request headers too large", null);
        assertThat(api.channel.isOpen()).isFalse();
    }

    @Test
    void shouldAnswerUnparseableRequests400WithTheCodecsReason()
    {
        api.one("GET /health HTTP/1.1\r\nno colon here\r\n\r\n").isErrorStartingWith(400, "malformed HTTP request: ");
        assertThat(api.channel.isOpen()).isFalse();
    }

    @Test
    void shouldAnswerPipelinedRequestsInOrder()
    {
        final List<EmbeddedApi.Answer> answers = api.send(request("GET", "/health", null) + request("GET", "/nope",
            null) + request("GET", "/vmms", null));
        assertThat(answers).extracting(EmbeddedApi.Answer::status).containsExactly(200, 404, 200);
    }
}
