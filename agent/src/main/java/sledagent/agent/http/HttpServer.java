package sledagent.agent.http;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import java.net.InetSocketAddress;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.logging.Logger;
import sledagent.agent.config.HttpLimits;
import sledagent.agent.metrics.PrometheusText;
import sledagent.agent.vmm.VmmManager;

/** The agent's HTTP server: bind on start, bounded graceful close. Epoll where available, else NIO. */
public final class HttpServer implements AutoCloseable
{
    private static final Logger LOG = Logger.getLogger(HttpServer.class.getName());
    private static final long QUIET_MS = 50;
    private static final long CLOSE_BOUND_MS = 3_000;

    /** How long a shutdown waits for requests already being answered. */
    private static final long IN_FLIGHT_BOUND_MS = 5_000;

    private final EventLoopGroup group;
    private final Channel channel;
    private final AtomicInteger inFlight;
    private final boolean tls;

    private HttpServer(final EventLoopGroup group, final Channel channel, final AtomicInteger inFlight,
        final boolean tls)
    {
        this.group = group;
        this.channel = channel;
        this.inFlight = inFlight;
        this.tls = tls;
    }

    /** Binds {@code address} (port 0 picks a free one) and starts serving plain HTTP, with the default limits. */
    public static HttpServer start(final InetSocketAddress address, final int eventLoopThreads,
        final VmmManager manager, final Executor blocking, final PrometheusText prometheus)
        throws InterruptedException
    {
        return start(address, eventLoopThreads, manager, blocking, prometheus, HttpLimits.DEFAULTS, null);
    }

    /** Binds {@code address} and starts serving within {@code limits}, over {@code tls} unless it is null. */
    public static HttpServer start(final InetSocketAddress address, final int eventLoopThreads,
        final VmmManager manager, final Executor blocking, final PrometheusText prometheus, final HttpLimits limits,
        final ServerTls tls)
        throws InterruptedException
    {
        return start(address, eventLoopThreads, manager, blocking, prometheus, limits, tls, "unknown");
    }

    /** ... and {@code vmm}: which VMM the agent runs, shown by {@code GET /health}. */
    public static HttpServer start(final InetSocketAddress address, final int eventLoopThreads,
        final VmmManager manager, final Executor blocking, final PrometheusText prometheus, final HttpLimits limits,
        final ServerTls tls, final String vmm)
        throws InterruptedException
    {
        final boolean epoll = Epoll.isAvailable();
        final IoHandlerFactory io = epoll ? EpollIoHandler.newFactory() : NioIoHandler.newFactory();
        final Class<? extends ServerChannel> channelType = epoll
            ? EpollServerSocketChannel.class : NioServerSocketChannel.class;
        final EventLoopGroup group = new MultiThreadIoEventLoopGroup(eventLoopThreads, io);
        final AtomicInteger inFlight = new AtomicInteger();
        try
        {
            final Channel channel = new ServerBootstrap()
                .group(group)
                .channel(channelType)
                .option(ChannelOption.SO_BACKLOG, 1024)
                .option(ChannelOption.SO_REUSEADDR, true)
                .childOption(ChannelOption.TCP_NODELAY, true)
                .handler(new ConnectionLimiter(limits, manager.metrics()))
                .childHandler(new HttpServerInitializer(new VmmEndpoints(manager, blocking, prometheus, vmm), inFlight,
                    limits, tls))
                .bind(address).sync().channel();
            LOG.info(() -> "listening on " + channel.localAddress() + " (" + (epoll ? "epoll" : "nio") + ", "
                + (tls == null ? "HTTP" : tls.clientAuth() ? "HTTPS, client certificate required" : "HTTPS") + ")");
            return new HttpServer(group, channel, inFlight, tls != null);
        }
        catch (final Exception ex)
        {
            // Also a BindException, which Netty throws without declaring it.
            group.shutdownGracefully(0, CLOSE_BOUND_MS, TimeUnit.MILLISECONDS);
            throw ex;
        }
    }

    public InetSocketAddress address()
    {
        return (InetSocketAddress)channel.localAddress();
    }

    /** True if the API is served over TLS (https). */
    public boolean tls()
    {
        return tls;
    }

    /** Stops accepting connections, lets requests already being answered finish (bounded), then stops. */
    @Override
    public void close()
    {
        channel.close().awaitUninterruptibly(CLOSE_BOUND_MS);
        final long deadlineNs = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(IN_FLIGHT_BOUND_MS);
        while (inFlight.get() > 0 && System.nanoTime() - deadlineNs < 0)
        {
            try
            {
                Thread.sleep(5);
            }
            catch (final InterruptedException ex)
            {
                Thread.currentThread().interrupt();
                break;
            }
        }
        if (inFlight.get() > 0)
        {
            LOG.warning(() -> inFlight.get() + " request(s) still unanswered after " + IN_FLIGHT_BOUND_MS + " ms");
        }
        group.shutdownGracefully(QUIET_MS, CLOSE_BOUND_MS, TimeUnit.MILLISECONDS)
            .awaitUninterruptibly(CLOSE_BOUND_MS + QUIET_MS);
    }
}
