package sledagent.agent.http;

import io.netty.channel.ChannelInitializer;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.http.HttpServerCodec;
import java.util.concurrent.atomic.AtomicInteger;

/** The pipeline, and nothing else: TLS when configured, codec, bounded aggregator, API handler. */
final class HttpServerInitializer extends ChannelInitializer<SocketChannel>
{
    /** DESIGN.md: a body over 1 MiB is 413. */
    static final int MAX_BODY_BYTES = 1 << 20;

    private final VmmEndpoints endpoints;
    private final AtomicInteger inFlight;
    /** Null: plain HTTP. */
    private final ServerTls tls;

    HttpServerInitializer(final VmmEndpoints endpoints, final AtomicInteger inFlight, final ServerTls tls)
    {
        this.endpoints = endpoints;
        this.inFlight = inFlight;
        this.tls = tls;
    }

    @Override
    protected void initChannel(final SocketChannel channel)
    {
        channel.pipeline()
            .addLast("codec", new HttpServerCodec())
            .addLast("aggregator", new BoundedAggregator(MAX_BODY_BYTES))
            .addLast("api", new ApiHandler(endpoints, inFlight));
        if (tls != null)
        {
            tls.addFirst(channel);
        }
    }
}
