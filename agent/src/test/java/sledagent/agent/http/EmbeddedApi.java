package sledagent.agent.http;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseDecoder;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import sledagent.agent.config.HttpLimits;
import sledagent.agent.metrics.Metrics;
import sledagent.agent.metrics.PrometheusText;
import sledagent.agent.vmm.FakeVmms;
import sledagent.api.Json;

/**
 * The agent's real HTTP pipeline ({@link HttpServerInitializer}: timeouts, codec, bounded aggregator, API) on
 * an {@link EmbeddedChannel}, in front of a real {@link sledagent.agent.vmm.VmmManager} on fakes: no socket, no
 * zone, no root. Bytes go in as a client would send them; answers come out decoded by a client-side codec. Time
 * stands still unless {@link #advanceMs} moves it. One per connection.
 */
final class EmbeddedApi implements AutoCloseable
{
    /** The served api-version header line. */
    static final String V = "api-version: 48.0.0\r\n";

    final Metrics metrics;
    final FakeVmms vmms;
    final PrometheusText prometheus;
    final EmbeddedChannel channel;
    final AtomicInteger inFlight = new AtomicInteger();
    private final EmbeddedChannel client = new EmbeddedChannel(new HttpResponseDecoder(),
        new HttpObjectAggregator(HttpServerInitializer.MAX_BODY_BYTES * 2));

    /** An answer as the client read it. */
    record Answer(int status, HttpHeaders headers, String text)
    {
        /** The body as JSON. */
        JsonNode json()
        {
            try
            {
                return Json.mapper().readTree(text);
            }
            catch (final IOException ex)
            {
                throw new UncheckedIOException("not JSON: " + text, ex);
            }
        }

        /**
         * Checks that this is the spec's {@code Error} body with {@code status}, {@code message} and
         * {@code errorCode} (null: none), and returns it.
         */
        Answer isError(final int expectedStatus, final String message, final String errorCode)
        {
            assertThat(status).as(text).isEqualTo(expectedStatus);
            assertThat(headers.get("content-type")).isEqualTo("application/json");
            final JsonNode body = json();
            assertThat(body.path("request_id").asText()).as(text).isNotBlank();
            assertThat(body.path("message").asText()).as(text).isEqualTo(message);
            if (errorCode == null)
            {
                assertThat(body.path("error_code").isMissingNode() || body.path("error_code").isNull()).as(text)
                    .isTrue();
            }
            else
            {
                assertThat(body.path("error_code").asText()).as(text).isEqualTo(errorCode);
            }
            return this;
        }

        /** As {@link #isError(int, String, String)} with a message that starts with {@code messagePrefix}. */
        Answer isErrorStartingWith(final int expectedStatus, final String messagePrefix)
        {
            assertThat(status).as(text).isEqualTo(expectedStatus);
            final JsonNode body = json();
            assertThat(body.path("request_id").asText()).as(text).isNotBlank();
            assertThat(body.path("message").asText()).as(text).startsWith(messagePrefix);
            return this;
        }
    }

    EmbeddedApi()
    {
        this(HttpLimits.DEFAULTS, false);
    }

    /** A connection with these limits; {@code reserve}: admitted beyond the connection limit. */
    EmbeddedApi(final HttpLimits limits, final boolean reserve)
    {
        metrics = new Metrics();
        vmms = new FakeVmms(metrics);
        prometheus = new PrometheusText(metrics, Map::of, () -> new PrometheusText.PublisherStats(0, 0));
        final VmmEndpoints endpoints = new VmmEndpoints(vmms.manager(), Runnable::run, prometheus);
        final HttpServerInitializer initializer = new HttpServerInitializer(endpoints, inFlight, limits, null);
        channel = new EmbeddedChannel();
        channel.freezeTime();
        if (reserve)
        {
            channel.attr(ConnectionLimiter.RESERVE).set(Boolean.TRUE);
        }
        initializer.addHandlers(channel);
    }

    /** Sends {@code raw} (ISO-8859-1, as on the wire) and returns every answer it got, in order. */
    List<Answer> send(final String raw)
    {
        return send(raw.getBytes(StandardCharsets.ISO_8859_1));
    }

    /** Sends {@code raw} and returns every answer it got, in order. */
    List<Answer> send(final byte[] raw)
    {
        if (channel.isOpen())
        {
            channel.writeInbound(Unpooled.wrappedBuffer(raw));
        }
        return settle();
    }

    /** Sends {@code raw} and returns the one answer it got. */
    Answer one(final String raw)
    {
        final List<Answer> answers = send(raw);
        assertThat(answers).as("answers to %s", raw).hasSize(1);
        return answers.get(0);
    }

    /** Moves the event loop's clock and runs what came due. */
    List<Answer> advanceMs(final long ms)
    {
        channel.advanceTimeBy(ms, TimeUnit.MILLISECONDS);
        return settle();
    }

    /** Runs the loop's tasks and the actors until nothing moves; returns the answers written meanwhile. */
    List<Answer> settle()
    {
        for (int i = 0; i < 100; i++)
        {
            channel.runPendingTasks();
            channel.runScheduledPendingTasks();
            if (vmms.runAll() == 0)
            {
                channel.runPendingTasks();
                break;
            }
        }
        return drain();
    }

    /** The Prometheus text, as {@code GET /metrics} renders it. */
    String metricsText()
    {
        return prometheus.render();
    }

    private List<Answer> drain()
    {
        while (true)
        {
            final Object out = channel.readOutbound();
            if (out == null)
            {
                break;
            }
            assertThat(out).as("the pipeline writes bytes").isInstanceOf(ByteBuf.class);
            client.writeInbound(out);
        }
        final List<Answer> answers = new ArrayList<>();
        while (true)
        {
            final FullHttpResponse response = client.readInbound();
            if (response == null)
            {
                return answers;
            }
            try
            {
                assertThat(response.decoderResult().isSuccess()).as("a well-formed answer").isTrue();
                answers.add(new Answer(response.status().code(), response.headers().copy(),
                    response.content().toString(StandardCharsets.UTF_8)));
            }
            finally
            {
                response.release();
            }
        }
    }

    @Override
    public void close()
    {
        channel.finishAndReleaseAll();
        client.finishAndReleaseAll();
    }
}
