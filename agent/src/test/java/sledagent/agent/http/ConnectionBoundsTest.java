package sledagent.agent.http;

import static org.assertj.core.api.Assertions.assertThat;
import static sledagent.agent.http.EmbeddedApi.V;

import io.netty.channel.embedded.EmbeddedChannel;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import sledagent.agent.config.HttpLimits;
import sledagent.agent.demo.ExampleBodies;
import sledagent.agent.metrics.Metrics;

/**
 * The bounds on a connection, on an {@code EmbeddedChannel} with a hand-moved clock: the 1 MiB body limit (413
 * with the {@code Error} body, also announced with {@code Expect: 100-continue}), the read timeout (408) and the
 * idle close, the reserve beyond the connection limit, and the limiter's admission rules. {@code HostileInputTest}
 * and {@code ConnectionLimitTest} prove them over real sockets.
 */
class ConnectionBoundsTest
{
    private static final int MIB = 1 << 20;
    private static final String TOO_LARGE = "request body exceeds " + MIB + " bytes";
    private static final HttpLimits LIMITS = new HttpLimits(2, 1, 5_000, 1_000, 1 << 20, 2_000);
    private static final String ID = UUID.randomUUID().toString();

    private static String put(final String headers, final long length)
    {
        return "PUT /vmms/" + ID + " HTTP/1.1\r\nhost: x\r\n" + V + headers + "content-length: " + length + "\r\n\r\n";
    }

    @Test
    void shouldAnswerAnOversizedBody413AndClose()
    {
        for (final String connection : List.of("", "connection: close\r\n"))
        {
            try (EmbeddedApi api = new EmbeddedApi())
            {
                final List<EmbeddedApi.Answer> answers = api.send(put(connection, 2 * MIB) + "x".repeat(64 * 1024));
                assertThat(answers).as(connection).hasSize(1);
                assertThat(answers.get(0).isError(413, TOO_LARGE, null).headers().get("connection"))
                    .isEqualTo("close");
                assertThat(api.channel.isOpen()).as("closed after the answer: %s", connection).isFalse();
                assertThat(api.metricsText()).as("the aggregator answered, not the API").doesNotContain(
                    "route=\"vmm_register\"");
            }
        }
    }

    @Test
    void shouldAcceptABodyOfExactlyTheLimit()
    {
        try (EmbeddedApi api = new EmbeddedApi())
        {
            final String body = ExampleBodies.ensureBody(UUID.randomUUID(), "127.0.0.1:1", 1);
            final EmbeddedApi.Answer registered = api.one(put("", MIB) + body + " ".repeat(MIB - body.length()));
            assertThat(registered.status()).as(registered.text()).isEqualTo(200);
        }
    }

    @Test
    void shouldAnswerAnAnnouncedOversizedBody413WithoutReadingIt()
    {
        for (final String connection : List.of("", "connection: close\r\n"))
        {
            try (EmbeddedApi api = new EmbeddedApi())
            {
                api.one(put(connection + "expect: 100-continue\r\n", 2 * MIB)).isError(413, TOO_LARGE, null);
                assertThat(api.channel.isOpen()).as("closed: %s", connection).isFalse();
            }
        }
    }

    @Test
    void shouldContinueAnAnnouncedBodyWithinTheLimit()
    {
        try (EmbeddedApi api = new EmbeddedApi())
        {
            final EmbeddedApi.Answer go = api.one(put("expect: 100-continue\r\n", 2));
            assertThat(go.status()).isEqualTo(100);
            api.one("{}").isErrorStartingWith(400, "");
            assertThat(api.channel.isOpen()).isTrue();
        }
    }

    @Test
    void shouldAnswerAnUnknownExpectation417()
    {
        try (EmbeddedApi api = new EmbeddedApi())
        {
            api.one(put("expect: teapot\r\n", 2) + "{}").isError(417, "unsupported expectation: teapot", null);
            assertThat(api.channel.isOpen()).isFalse();
        }
    }

    @Test
    void shouldAnswerASlowRequest408AfterTheReadTimeout()
    {
        try (EmbeddedApi api = new EmbeddedApi(LIMITS, false))
        {
            assertThat(api.send("GET /health HTTP/1.1\r\nhost: x\r\n")).isEmpty();
            assertThat(api.advanceMs(LIMITS.readTimeoutMs() - 1)).isEmpty();
            assertThat(api.channel.isOpen()).isTrue();
            api.advanceMs(1).get(0).isError(408, "request not received within 1000 ms", null);
            assertThat(api.channel.isOpen()).isFalse();
            assertThat(api.metricsText()).contains("sled_agent_http_connections_timed_out_total{kind=\"read\"} 1");
        }
    }

    @Test
    void shouldCloseAnIdleConnectionAfterTheIdleTimeout()
    {
        try (EmbeddedApi api = new EmbeddedApi(LIMITS, false))
        {
            assertThat(api.advanceMs(LIMITS.idleTimeoutMs() - 1)).isEmpty();
            assertThat(api.channel.isOpen()).isTrue();
            // A request answered starts the idle time again.
            assertThat(api.one("GET /health HTTP/1.1\r\nhost: x\r\n\r\n").status()).isEqualTo(200);
            assertThat(api.advanceMs(LIMITS.idleTimeoutMs() - 1)).isEmpty();
            assertThat(api.channel.isOpen()).isTrue();
            assertThat(api.advanceMs(1)).as("closed without an answer").isEmpty();
            assertThat(api.channel.isOpen()).isFalse();
            assertThat(api.metricsText()).contains("sled_agent_http_connections_timed_out_total{kind=\"idle\"} 1");
        }
    }

    @Test
    void shouldNotTimeOutWhileAnAnswerIsPending()
    {
        try (EmbeddedApi api = new EmbeddedApi(LIMITS, false))
        {
            final UUID id = UUID.randomUUID();
            final String body = ExampleBodies.ensureBody(UUID.randomUUID(), "127.0.0.1:1", 1);
            assertThat(api.one("PUT /vmms/" + id + " HTTP/1.1\r\nhost: x\r\n" + V + "content-length: "
                + body.length() + "\r\n\r\n" + body).status()).isEqualTo(200);
            final String run = "{\"state\":{\"type\":\"running\"}}";
            assertThat(api.one("PUT /vmms/" + id + "/state HTTP/1.1\r\nhost: x\r\n" + V + "content-length: "
                + run.length() + "\r\n\r\n" + run).status()).isEqualTo(200);
            assertThat(api.send("POST /vmms/" + id + "/force-terminate HTTP/1.1\r\nhost: x\r\n" + V
                + "content-length: 0\r\n\r\n")).isEmpty();
            assertThat(api.advanceMs(10 * LIMITS.idleTimeoutMs())).isEmpty();
            assertThat(api.channel.isOpen()).as("an answer is pending: no timeout").isTrue();
            api.vmms.finishLastTearDown();
            assertThat(api.settle()).extracting(EmbeddedApi.Answer::status).containsExactly(200);
        }
    }

    @Test
    void shouldAnswerOnlyHealthAndForceTerminateInTheReserveOncePerConnection()
    {
        final String refused = "too many connections: beyond the limit only GET /health and POST "
            + "/vmms/{id}/force-terminate are answered";
        for (final String request : List.of("GET /vmms HTTP/1.1\r\nhost: x\r\n" + V + "\r\n",
            "GET /vmms/" + ID + "/state HTTP/1.1\r\nhost: x\r\n" + V + "\r\n",
            "GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n", "GET /nope HTTP/1.1\r\nhost: x\r\n" + V + "\r\n"))
        {
            try (EmbeddedApi api = new EmbeddedApi(LIMITS, true))
            {
                api.one(request).isError(503, refused, null);
                assertThat(api.channel.isOpen()).isFalse();
                assertThat(api.metricsText()).contains(
                    "sled_agent_http_connections_refused_total{reason=\"reserve\"} 1");
            }
        }
        try (EmbeddedApi api = new EmbeddedApi(LIMITS, true))
        {
            final List<EmbeddedApi.Answer> answers = api.send("GET /health HTTP/1.1\r\nhost: x\r\n\r\n"
                + "GET /health HTTP/1.1\r\nhost: x\r\n\r\n");
            assertThat(answers).as("one request per connection in the reserve").hasSize(1);
            assertThat(answers.get(0).status()).isEqualTo(200);
            assertThat(answers.get(0).headers().get("connection")).isEqualTo("close");
            assertThat(api.channel.isOpen()).isFalse();
        }
        try (EmbeddedApi api = new EmbeddedApi(LIMITS, true))
        {
            api.one("POST /vmms/" + ID + "/force-terminate HTTP/1.1\r\nhost: x\r\n" + V + "content-length: 0\r\n\r\n")
                .isError(404, "Not Found", "NO_SUCH_INSTANCE");
            assertThat(api.channel.isOpen()).isFalse();
        }
        try (EmbeddedApi api = new EmbeddedApi(LIMITS, true))
        {
            api.one("POST /vmms/" + ID + "/force-terminate HTTP/1.1\r\nhost: x\r\n\r\n")
                .isError(400, "missing expected header \"api-version\"", null);
        }
    }

    @Test
    void shouldAdmitUpToTheLimitThenTheReserveThenCloseOnAccept()
    {
        final Metrics metrics = new Metrics();
        final EmbeddedChannel listener = new EmbeddedChannel(new ConnectionLimiter(LIMITS, metrics));
        try
        {
            final EmbeddedChannel first = new EmbeddedChannel();
            final EmbeddedChannel second = new EmbeddedChannel();
            final EmbeddedChannel reserved = new EmbeddedChannel();
            final EmbeddedChannel refused = new EmbeddedChannel();
            listener.writeInbound(first, second, reserved, refused);
            assertThat(List.of(listener.readInbound(), listener.readInbound(), listener.readInbound()))
                .containsExactly(first, second, reserved);
            assertThat(listener.<Object>readInbound()).as("refused on accept, not passed on").isNull();
            assertThat(first.attr(ConnectionLimiter.RESERVE).get()).isNull();
            assertThat(second.attr(ConnectionLimiter.RESERVE).get()).isNull();
            assertThat(reserved.attr(ConnectionLimiter.RESERVE).get()).isTrue();
            assertThat(refused.isOpen()).isFalse();

            // One closes: the next is admitted into the reserve, since three are still open beyond it.
            first.close();
            final EmbeddedChannel next = new EmbeddedChannel();
            listener.writeInbound(next);
            assertThat(listener.<Object>readInbound()).isSameAs(next);
            assertThat(next.attr(ConnectionLimiter.RESERVE).get()).isTrue();
            second.close();
            reserved.close();
            final EmbeddedChannel served = new EmbeddedChannel();
            listener.writeInbound(served);
            assertThat(listener.<Object>readInbound()).isSameAs(served);
            assertThat(served.attr(ConnectionLimiter.RESERVE).get()).as("back under the limit").isNull();
            next.close();
            served.close();
        }
        finally
        {
            listener.finishAndReleaseAll();
        }
    }
}
