package sledagent.agent.http;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.util.AttributeKey;
import java.util.logging.Level;
import java.util.logging.Logger;
import sledagent.agent.config.HttpLimits;
import sledagent.agent.metrics.Metrics;

/**
 * On the listening channel: counts connections as they are accepted. Up to {@code maxConnections} are served;
 * the next {@code reserveConnections} are admitted marked {@link #RESERVE} (their one request must be health or
 * force-terminate, see {@link ApiHandler}); any more are closed at once, before they cost a pipeline.
 */
@ChannelHandler.Sharable
final class ConnectionLimiter extends ChannelInboundHandlerAdapter
{
    private static final Logger LOG = Logger.getLogger(ConnectionLimiter.class.getName());

    /** Set on a connection admitted beyond the limit, into the reserve. */
    static final AttributeKey<Boolean> RESERVE = AttributeKey.valueOf("sled-agent.reserve");

    /** Refusals are logged at most once per 10 s, not once per connection. */
    private static final long LOG_EVERY_NS = 10_000_000_000L;

    private final HttpLimits limits;
    private final Metrics metrics;
    private long lastLogNs = System.nanoTime() - LOG_EVERY_NS;

    ConnectionLimiter(final HttpLimits limits, final Metrics metrics)
    {
        this.limits = limits;
        this.metrics = metrics;
    }

    @Override
    public void channelRead(final ChannelHandlerContext ctx, final Object msg)
    {
        final Channel child = (Channel)msg;
        final int open = metrics.connectionOpened();
        if (open > limits.maxConnections() + limits.reserveConnections())
        {
            metrics.connectionClosed();
            metrics.connectionRefused(Metrics.CONNECTION_LIMIT);
            // Not registered yet: closing it here costs nothing but the descriptor, released now.
            child.unsafe().closeForcibly();
            final long nowNs = System.nanoTime();
            if (nowNs - lastLogNs >= LOG_EVERY_NS)
            {
                lastLogNs = nowNs;
                LOG.warning(() -> "connection limit reached (" + limits.maxConnections() + " + reserve "
                    + limits.reserveConnections() + "): refusing new connections");
            }
            return;
        }
        child.closeFuture().addListener(future -> metrics.connectionClosed());
        if (open > limits.maxConnections())
        {
            child.attr(RESERVE).set(Boolean.TRUE);
            LOG.log(Level.FINE, "connection admitted into the reserve: " + open + " open");
        }
        ctx.fireChannelRead(child);
    }
}
