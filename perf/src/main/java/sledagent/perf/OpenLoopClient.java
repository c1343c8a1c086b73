package sledagent.perf;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseDecoder;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.EventExecutor;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.HdrHistogram.Histogram;

/**
 * A load generator for HTTP/1.1 on Netty: {@code connections} kept-alive connections, at most one request in
 * flight on each (no pipelining, as Nexus's client does), spread over {@code ioThreads} event loops.
 *
 * <p><b>Open loop</b> ({@link Spec#closed()} false): request {@code k} of a lane is due at
 * {@code t0 + offset + k * interval}, whatever happened to the requests before it. It is sent at its due time on an
 * idle connection; if every connection is busy it waits, and goes out on the next connection to become free. Its
 * latency is measured from its <em>due</em> time, not from when it was sent: a server that stalls for 10 ms is
 * charged for every request that should have gone out during those 10 ms (the coordinated-omission correction, as
 * in wrk2). How late the client itself was at sending a request on an idle connection is kept apart
 * ({@link Result#sendLag()}), so that a client that cannot keep its schedule shows.
 *
 * <p><b>Closed loop</b> ({@link Spec#closed()} true): every connection sends its next request as soon as the
 * previous answer is in, for the duration; the completion rate is the server's maximum throughput for that many
 * connections (latency is from the send, as nothing is scheduled).
 *
 * <p>Requests are pre-encoded bytes, taken in turn from an array; answers are parsed by Netty's
 * {@link HttpResponseDecoder}. A status other than 200, a connection lost with a request on it, or an answer that
 * does not parse is an error. All of a lane's state lives on its event loop: no locks.
 */
final class OpenLoopClient implements AutoCloseable
{
    /** Latencies are recorded in nanoseconds, up to a minute, 3 significant digits. */
    static final long HIGHEST_NS = TimeUnit.SECONDS.toNanos(60);
    /** How long past its scheduled end an open-loop run may go on, draining a backlog, before it gives up. */
    static final long DRAIN_BOUND_NS = TimeUnit.SECONDS.toNanos(20);

    /**
     * One run.
     *
     * @param target      server address
     * @param closed      closed loop (maximum throughput) instead of a fixed rate
     * @param ratePerSec  open loop: requests per second over all connections
     * @param durationNs  how long requests are issued
     * @param connections kept-alive connections
     */
    record Spec(InetSocketAddress target, boolean closed, double ratePerSec, long durationNs, int connections)
    {
    }

    /**
     * What a run measured.
     *
     * @param latency    ns, from the due time (open loop) or the send (closed loop) to the last byte of the answer
     * @param sendLag    ns, open loop: how late requests were written when a connection was idle (the client's own lag)
     * @param sent       requests written
     * @param completed  answers with status 200
     * @param errors     other statuses, unparsable answers, requests lost with their connection
     * @param unsent     open loop: requests due but never sent (the server fell so far behind that the run gave up)
     * @param elapsedNs  from the first due time to the last answer
     * @param cpuNs      CPU time of the client's event-loop threads during the run
     */
    record Result(Histogram latency, Histogram sendLag, long sent, long completed, long errors, long unsent,
        long elapsedNs, long cpuNs)
    {
        double achievedPerSec()
        {
            return elapsedNs == 0 ? 0 : completed * 1e9 / elapsedNs;
        }
    }

    private final EventLoopGroup group;
    private final List<Thread> threads = new ArrayList<>();
    private final boolean epoll;

    OpenLoopClient(final int ioThreads)
    {
        epoll = Epoll.isAvailable();
        final IoHandlerFactory io = epoll ? EpollIoHandler.newFactory() : NioIoHandler.newFactory();
        final ThreadFactory factory = runnable ->
        {
            final Thread thread = new Thread(runnable, "load-client-" + threads.size());
            thread.setDaemon(true);
            synchronized (threads)
            {
                threads.add(thread);
            }
            return thread;
        };
        group = new MultiThreadIoEventLoopGroup(ioThreads, factory, io);
    }

    String transport()
    {
        return epoll ? "epoll" : "nio";
    }

    /** {@code GET path} requests for {@code host}, one per path, pre-encoded. */
    static byte[][] getRequests(final List<String> paths, final InetSocketAddress host)
    {
        final byte[][] requests = new byte[paths.size()][];
        for (int i = 0; i < requests.length; i++)
        {
            requests[i] = ("GET " + paths.get(i) + " HTTP/1.1\r\n"
                + "host: " + host.getHostString() + ":" + host.getPort() + "\r\n"
                + "api-version: 48.0.0\r\n"
                + "accept: application/json\r\n\r\n").getBytes(StandardCharsets.US_ASCII);
        }
        return requests;
    }

    /** Runs {@code spec} with {@code requests} (taken in turn, each lane from its own starting point). */
    Result run(final Spec spec, final byte[][] requests) throws Exception
    {
        final List<EventLoop> loops = new ArrayList<>();
        for (final EventExecutor executor : group)
        {
            loops.add((EventLoop)executor);
        }
        final int laneCount = Math.min(loops.size(), spec.connections());
        final long totalRequests = spec.closed() ? 0 : (long)Math.floor(spec.ratePerSec() * spec.durationNs() / 1e9);
        final double intervalNs = 1e9 * laneCount / Math.max(spec.ratePerSec(), 1e-9);
        final List<Lane> lanes = new ArrayList<>();
        for (int i = 0; i < laneCount; i++)
        {
            // Lane i takes requests i, i + L, i + 2L, ... of the whole schedule.
            final long laneRequests = totalRequests / laneCount + (i < totalRequests % laneCount ? 1 : 0);
            lanes.add(new Lane(loops.get(i), spec, requests, i * requests.length / laneCount, laneRequests,
                intervalNs, i * 1e9 / Math.max(spec.ratePerSec(), 1e-9)));
        }
        final Class<? extends Channel> channelType = epoll ? EpollSocketChannel.class : NioSocketChannel.class;
        final List<Channel> channels = new ArrayList<>();
        try
        {
            for (int c = 0; c < spec.connections(); c++)
            {
                final Lane lane = lanes.get(c % laneCount);
                final Conn conn = new Conn(lane);
                final Channel channel = new Bootstrap()
                    .group(lane.loop)
                    .channel(channelType)
                    .option(ChannelOption.TCP_NODELAY, true)
                    .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, 5_000)
                    .handler(new ChannelInitializer<SocketChannel>()
                    {
                        @Override
                        protected void initChannel(final SocketChannel ch)
                        {
                            ch.pipeline().addLast("decoder", new HttpResponseDecoder()).addLast("conn", conn);
                        }
                    })
                    .connect(spec.target()).sync().channel();
                conn.channel = channel;
                channels.add(channel);
                lane.loop.submit(() -> lane.all.add(conn)).sync();
            }
            final long cpuBefore = cpuNs();
            final long t0 = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(20);
            for (final Lane lane : lanes)
            {
                lane.loop.execute(() -> lane.start(t0));
            }
            final long boundNs = spec.durationNs() + DRAIN_BOUND_NS + TimeUnit.SECONDS.toNanos(5);
            try
            {
                CompletableFuture.allOf(lanes.stream().map(l -> l.done).toArray(CompletableFuture[]::new))
                    .get(boundNs, TimeUnit.NANOSECONDS);
            }
            catch (final TimeoutException ex)
            {
                // Lanes give up by themselves at DRAIN_BOUND_NS; this only catches a wedged event loop.
                throw new IllegalStateException("load run did not finish within " + boundNs / 1_000_000 + " ms", ex);
            }
            final long cpuNs = cpuNs() - cpuBefore;
            final Histogram latency = new Histogram(HIGHEST_NS, 3);
            final Histogram sendLag = new Histogram(HIGHEST_NS, 3);
            long sent = 0;
            long completed = 0;
            long errors = 0;
            long unsent = 0;
            long lastNs = t0;
            for (final Lane lane : lanes)
            {
                latency.add(lane.latency);
                sendLag.add(lane.sendLag);
                sent += lane.sent;
                completed += lane.completed;
                errors += lane.errors;
                unsent += lane.unsent;
                lastNs = Math.max(lastNs, lane.lastAnswerNs);
            }
            final long elapsedNs = spec.closed() ? spec.durationNs() : lastNs - t0;
            return new Result(latency, sendLag, sent, completed, errors, unsent, elapsedNs, cpuNs);
        }
        finally
        {
            for (final Channel channel : channels)
            {
                channel.close().awaitUninterruptibly(2_000);
            }
        }
    }

    /** CPU time used so far by the client's event-loop threads. */
    long cpuNs()
    {
        final ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        long total = 0;
        synchronized (threads)
        {
            for (final Thread thread : threads)
            {
                total += Math.max(0, mx.getThreadCpuTime(thread.getId()));
            }
        }
        return total;
    }

    @Override
    public void close()
    {
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly(3_000);
    }

    /** The connections of one event loop and their share of the schedule. Confined to {@link #loop}. */
    private static final class Lane
    {
        final EventLoop loop;
        final Spec spec;
        final byte[][] requests;
        final long total;
        final double intervalNs;
        final double offsetNs;
        final List<Conn> all = new ArrayList<>();
        final ArrayDeque<Conn> idle = new ArrayDeque<>();
        final Histogram latency = new Histogram(HIGHEST_NS, 3);
        final Histogram sendLag = new Histogram(HIGHEST_NS, 3);
        final CompletableFuture<Void> done = new CompletableFuture<>();
        int cursor;
        long t0;
        long endNs;
        /** Open loop: the index of the next request to send. */
        long next;
        long sent;
        long completed;
        long errors;
        long unsent;
        int inFlight;
        long lastAnswerNs;
        boolean tickScheduled;
        boolean stopping;

        Lane(final EventLoop loop, final Spec spec, final byte[][] requests, final int firstRequest,
            final long total, final double intervalNs, final double offsetNs)
        {
            this.loop = loop;
            this.spec = spec;
            this.requests = requests;
            this.cursor = firstRequest;
            this.total = total;
            this.intervalNs = intervalNs;
            this.offsetNs = offsetNs;
        }

        long due(final long k)
        {
            return t0 + (long)(offsetNs + k * intervalNs);
        }

        void start(final long startNs)
        {
            t0 = startNs;
            lastAnswerNs = startNs;
            endNs = startNs + spec.durationNs();
            idle.addAll(all);
            if (spec.closed())
            {
                final long delayNs = Math.max(0, t0 - System.nanoTime());
                loop.schedule(() ->
                {
                    while (!idle.isEmpty())
                    {
                        final long now = System.nanoTime();
                        send(idle.poll(), now);
                    }
                }, delayNs, TimeUnit.NANOSECONDS);
                loop.schedule(this::finishClosed, spec.durationNs() + delayNs, TimeUnit.NANOSECONDS);
                return;
            }
            // A server that stops answering must not hold the run forever.
            loop.schedule(() ->
            {
                if (!done.isDone())
                {
                    giveUp();
                }
            }, endNs + DRAIN_BOUND_NS - System.nanoTime(), TimeUnit.NANOSECONDS);
            tick();
        }

        /** Open loop: sends every request that is due on the idle connections, and sleeps until the next one. */
        void tick()
        {
            tickScheduled = false;
            if (stopping)
            {
                return;
            }
            final long now = System.nanoTime();
            while (next < total && !idle.isEmpty())
            {
                final long dueNs = due(next);
                if (dueNs > now)
                {
                    break;
                }
                sendLag.recordValue(Math.min(HIGHEST_NS, now - dueNs));
                next++;
                send(idle.poll(), dueNs);
            }
            scheduleTick(now);
            finishIfDone();
        }

        void scheduleTick(final long now)
        {
            // With every connection busy there is nothing to schedule: the next answer sends the backlog.
            if (!tickScheduled && !stopping && next < total && !idle.isEmpty())
            {
                tickScheduled = true;
                loop.schedule(this::tick, Math.max(0, due(next) - now), TimeUnit.NANOSECONDS);
            }
        }

        void send(final Conn conn, final long startNs)
        {
            conn.startNs = startNs;
            conn.busy = true;
            inFlight++;
            sent++;
            final byte[] bytes = requests[cursor];
            if (++cursor == requests.length)
            {
                cursor = 0;
            }
            final ByteBuf buf = conn.channel.alloc().ioBuffer(bytes.length).writeBytes(bytes);
            conn.channel.writeAndFlush(buf, conn.channel.voidPromise());
        }

        void onAnswer(final Conn conn, final boolean ok)
        {
            final long now = System.nanoTime();
            conn.busy = false;
            inFlight--;
            lastAnswerNs = now;
            if (ok)
            {
                completed++;
                latency.recordValue(Math.min(HIGHEST_NS, Math.max(0, now - conn.startNs)));
            }
            else
            {
                errors++;
            }
            if (spec.closed())
            {
                if (!stopping)
                {
                    send(conn, now);
                }
                else
                {
                    finishIfDone();
                }
                return;
            }
            if (!stopping && next < total && due(next) <= now)
            {
                next++;
                send(conn, due(next - 1));
            }
            else
            {
                idle.add(conn);
                scheduleTick(now);
            }
            finishIfDone();
        }

        void onLost(final Conn conn)
        {
            all.remove(conn);
            idle.remove(conn);
            if (conn.busy)
            {
                conn.busy = false;
                inFlight--;
                errors++;
            }
            if (all.isEmpty())
            {
                giveUp();
            }
            finishIfDone();
        }

        void finishClosed()
        {
            stopping = true;
            finishIfDone();
        }

        void giveUp()
        {
            stopping = true;
            unsent = total - next;
            errors += inFlight;
            inFlight = 0;
            for (final Conn conn : all)
            {
                // Answers still to come are no longer counted.
                conn.busy = false;
            }
            finishIfDone();
        }

        void finishIfDone()
        {
            final boolean finished = spec.closed() ? stopping && inFlight == 0 : (next >= total || stopping)
                && inFlight == 0;
            if (finished)
            {
                stopping = true;
                done.complete(null);
            }
        }
    }

    /** One connection: turns decoded answers into {@link Lane#onAnswer}. */
    private static final class Conn extends ChannelInboundHandlerAdapter
    {
        final Lane lane;
        Channel channel;
        long startNs;
        boolean busy;
        int status;
        boolean failed;

        Conn(final Lane lane)
        {
            this.lane = lane;
        }

        @Override
        public void channelRead(final ChannelHandlerContext ctx, final Object msg)
        {
            try
            {
                if (msg instanceof HttpResponse response)
                {
                    status = response.status().code();
                    failed = !response.decoderResult().isSuccess();
                }
                if (msg instanceof LastHttpContent last)
                {
                    final boolean ok = status == 200 && !failed && last.decoderResult().isSuccess();
                    if (busy)
                    {
                        lane.onAnswer(this, ok);
                    }
                }
            }
            finally
            {
                ReferenceCountUtil.release(msg);
            }
        }

        @Override
        public void channelInactive(final ChannelHandlerContext ctx)
        {
            lane.onLost(this);
        }

        @Override
        public void exceptionCaught(final ChannelHandlerContext ctx, final Throwable cause)
        {
            ctx.close();
        }
    }
}
