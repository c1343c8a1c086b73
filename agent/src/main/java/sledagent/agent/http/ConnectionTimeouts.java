package sledagent.agent.http;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.socket.DuplexChannel;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.util.ReferenceCountUtil;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import java.util.logging.Logger;
import sledagent.agent.config.HttpLimits;
import sledagent.agent.metrics.Metrics;
import sledagent.agent.vmm.ApiError;

/**
 * One per connection, ahead of the HTTP codec (it sees raw bytes): the idle timeout, the request read timeout
 * and the lingering close. A connection is in one phase at a time:
 * <ul>
 * <li>IDLE, no request in flight: closed after the idle timeout;</li>
 * <li>READING, a request's first byte seen and the request not yet whole: answered 408 after the read timeout;</li>
 * <li>ANSWERING, the request whole and its answer not yet written: no timeout (a force-terminate may take long,
 *     and reads are paused meanwhile);</li>
 * <li>LINGERING, an answer that ends the connection written: its output is shut, what the client still sends is
 *     read and dropped (bounded in bytes and time), then it is closed, so the client reads the answer instead
 *     of a reset.</li>
 * </ul>
 * One timer per connection, re-armed only when it fires early or a phase needs an earlier deadline: nothing is
 * scheduled per request on a busy keep-alive connection.
 */
final class ConnectionTimeouts extends ChannelDuplexHandler
{
    private static final Logger LOG = Logger.getLogger(ConnectionTimeouts.class.getName());

    private enum Phase
    {
        IDLE, READING, ANSWERING, LINGERING
    }

    private final HttpLimits limits;
    private final Metrics metrics;
    private ChannelHandlerContext ctx;
    private Phase phase = Phase.IDLE;
    private long phaseStartNs;
    private long lingeredBytes;
    private ScheduledFuture<?> timer;
    private long timerDueNs;

    ConnectionTimeouts(final HttpLimits limits, final Metrics metrics)
    {
        this.limits = limits;
        this.metrics = metrics;
    }

    /** The handler of {@code ctx}'s connection, or null when the pipeline has none (unit tests). */
    static ConnectionTimeouts of(final ChannelHandlerContext ctx)
    {
        return ctx.pipeline().get(ConnectionTimeouts.class);
    }

    @Override
    public void handlerAdded(final ChannelHandlerContext context)
    {
        this.ctx = context;
        enter(Phase.IDLE);
    }

    @Override
    public void handlerRemoved(final ChannelHandlerContext context)
    {
        cancelTimer();
    }

    @Override
    public void channelInactive(final ChannelHandlerContext context) throws Exception
    {
        cancelTimer();
        super.channelInactive(context);
    }

    @Override
    public void channelRead(final ChannelHandlerContext context, final Object msg) throws Exception
    {
        if (phase == Phase.LINGERING)
        {
            if (msg instanceof ByteBuf bytes)
            {
                lingeredBytes += bytes.readableBytes();
            }
            ReferenceCountUtil.release(msg);
            if (lingeredBytes > limits.lingerBytes())
            {
                context.close();
            }
            return;
        }
        if (phase == Phase.IDLE)
        {
            enter(Phase.READING);
        }
        super.channelRead(context, msg);
    }

    /** The request is whole and is being answered (called by the handler that answers it). */
    void requestReceived()
    {
        if (phase != Phase.LINGERING)
        {
            enter(Phase.ANSWERING);
        }
    }

    /** The answer was written and the connection stays open for the next request. */
    void answered()
    {
        if (phase != Phase.LINGERING)
        {
            enter(Phase.IDLE);
        }
    }

    /** True once an answer that ends the connection was written: nothing more is read or answered. */
    boolean closing()
    {
        return phase == Phase.LINGERING;
    }

    /**
     * Ends the connection gracefully after the answer already written (or about to be written by the caller's
     * caller in this same turn): shuts the output once that is flushed, drops what the client still sends
     * (bounded), closes on the client's EOF or when a bound is reached.
     */
    void lingerAndClose()
    {
        if (phase == Phase.LINGERING)
        {
            return;
        }
        enter(Phase.LINGERING);
        // Later in this turn the answer may still be written (the aggregator writes what it is handed back):
        // the empty write queued after it flushes both, then the output is shut.
        ctx.executor().execute(() -> ctx.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(
            (ChannelFutureListener)future ->
            {
                if (!future.isSuccess() || !(ctx.channel() instanceof DuplexChannel duplex))
                {
                    ctx.close();
                    return;
                }
                duplex.shutdownOutput().addListener(ChannelFutureListener.CLOSE_ON_FAILURE);
            }));
    }

    private void enter(final Phase next)
    {
        phase = next;
        phaseStartNs = nowNs();
        if (next == Phase.LINGERING)
        {
            lingeredBytes = 0;
        }
        final long dueNs = dueNs();
        if (dueNs == Long.MAX_VALUE)
        {
            return;
        }
        // An armed timer that fires earlier than needed just re-arms itself; one that fires too late is replaced.
        if (timer == null || timerDueNs - dueNs > 0)
        {
            arm(dueNs);
        }
    }

    /** When the current phase's bound runs out; MAX_VALUE for none. */
    private long dueNs()
    {
        return switch (phase)
        {
            case IDLE -> phaseStartNs + TimeUnit.MILLISECONDS.toNanos(limits.idleTimeoutMs());
            case READING -> phaseStartNs + TimeUnit.MILLISECONDS.toNanos(limits.readTimeoutMs());
            case LINGERING -> phaseStartNs + TimeUnit.MILLISECONDS.toNanos(limits.lingerMs());
            case ANSWERING -> Long.MAX_VALUE;
        };
    }

    /**
     * The event loop's clock (a test's {@code EmbeddedChannel} moves it by hand; elsewhere {@code System.nanoTime}).
     */
    private long nowNs()
    {
        return ctx.executor().ticker().nanoTime();
    }

    private void arm(final long dueNs)
    {
        cancelTimer();
        timerDueNs = dueNs;
        timer = ctx.executor().schedule(this::fire, Math.max(0, dueNs - nowNs()), TimeUnit.NANOSECONDS);
    }

    private void cancelTimer()
    {
        if (timer != null)
        {
            timer.cancel(false);
            timer = null;
        }
    }

    private void fire()
    {
        timer = null;
        if (!ctx.channel().isOpen())
        {
            return;
        }
        final long dueNs = dueNs();
        if (dueNs == Long.MAX_VALUE)
        {
            return;
        }
        if (nowNs() - dueNs < 0)
        {
            arm(dueNs);
            return;
        }
        switch (phase)
        {
            case IDLE ->
            {
                metrics.connectionTimedOut(Metrics.TIMEOUT_IDLE);
                LOG.log(Level.FINE, () -> "closing idle connection " + ctx.channel().remoteAddress());
                ctx.close();
            }
            case READING ->
            {
                metrics.connectionTimedOut(Metrics.TIMEOUT_READ);
                LOG.fine(() -> "request from " + ctx.channel().remoteAddress() + " not read within "
                    + limits.readTimeoutMs() + " ms: 408");
                final FullHttpResponse response = ApiHandler.encode(ctx, HttpAnswer.error(new ApiError(408, null,
                    "request not received within " + limits.readTimeoutMs() + " ms")));
                HttpUtil.setContentLength(response, response.content().readableBytes());
                response.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
                // From the tail, so that the codec encodes it.
                ctx.channel().writeAndFlush(response);
                lingerAndClose();
            }
            case LINGERING -> ctx.close();
            default -> throw new IllegalStateException("no bound in phase " + phase);
        }
    }
}
