package sledagent.agent.http;

import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.http.HttpServerCodec;
import java.util.concurrent.atomic.AtomicInteger;
import sledagent.agent.config.HttpLimits;

/** The pipeline, and nothing else: TLS when configured, timeouts (on raw bytes), codec, bounded aggregator, API. */
final class HttpServerInitializer extends ChannelInitializer<SocketChannel>
{
    /** DESIGN.md: a body over 1 MiB is 413. */
    static final int MAX_BODY_BYTES = 1 << 20;

    private final VmmEndpoints endpoints;
    private final AtomicInteger inFlight;
    private final HttpLimits limits;
    /** Null: plain HTTP. */
    private final ServerTls tls;

    HttpServerInitializer(final VmmEndpoints endpoints, final AtomicInteger inFlight, final HttpLimits limits,
        final ServerTls tls)
    {
        this.endpoints = endpoints;
        this.inFlight = inFlight;
        this.limits = limits;
        this.tls = tls;
    }

    @Override
    protected void initChannel(final SocketChannel channel)
    {
        addHandlers(channel);
    }

    /** Builds the pipeline on {@code channel} (any channel: the unit tests use an {@code EmbeddedChannel}). */
    void addHandlers(final Channel channel)
    {
        channel.pipeline()
            .addLast("timeouts", new ConnectionTimeouts(limits, endpoints.metrics()))
            .addLast("codec", new HttpServerCodec())
            .addLast("aggregator", new BoundedAggregator(MAX_BODY_BYTES))
            .addLast("api", new ApiHandler(endpoints, inFlight));
        if (tls != null)
        {
            tls.addFirst(channel);
        }
    }
}
