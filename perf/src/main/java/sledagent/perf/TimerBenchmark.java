package sledagent.perf;

import io.netty.util.HashedWheelTimer;
import io.netty.util.Timeout;
import io.netty.util.TimerTask;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import sledagent.agent.core.AgentContext;

/**
 * Stop deadlines: arming one and calling it off (a stop request, then the VMM stopping in time) with 10,000 and
 * 100,000 other deadlines pending, on the agent's {@link HashedWheelTimer} (built by {@link AgentContext#newTimer},
 * as the agent builds it) against a {@link ScheduledThreadPoolExecutor}(1) with {@code setRemoveOnCancelPolicy(true)}
 * (without it, cancelled 10-minute deadlines would stay in its heap until due).
 *
 * <p>The figure is the caller's cost (an actor's turn). The wheel defers its own work to its thread (moving new
 * timeouts into buckets, unlinking cancelled ones, one bucket walked per tick); at the end of each trial the
 * timer thread's CPU time per operation is printed as {@code timer-thread-cpu-ns/op}, so that cost is not hidden.
 *
 * <p><b>Decision</b> (figures in RESULTS.md): <b>keep the shared HashedWheelTimer</b>. Neither cost grows with the
 * pending count (10,000 or 100,000: the same). The executor was cheaper and steadier per schedule + cancel (about
 * 50 ns against 115 to 490 ns with wide errors, plus about 20 ns on the wheel's thread), but a deadline is armed and
 * cancelled once per stop, a few
 * times a second at most, so the difference is under a microsecond of CPU per second; the wheel is the one timer
 * thread the agent already has (publisher back-off, sweeps), and its lateness (at most one 10 ms tick) is nothing
 * against a 10-minute grace. Revisit only if deadlines need to be finer than a tick.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class TimerBenchmark
{
    /** The agent's default stop grace: deadlines are this far out. */
    private static final long GRACE_MS = 600_000;

    @Param({"hwt", "stpe"})
    public String impl;

    @Param({"10000", "100000"})
    public int pending;

    private HashedWheelTimer wheel;
    private ScheduledThreadPoolExecutor executor;
    private final List<Thread> timerThreads = new ArrayList<>();
    private final TimerTask wheelTask = timeout -> { };
    private final Runnable executorTask = () -> { };
    private long ops;

    @Setup(Level.Trial)
    public void setUp()
    {
        final ThreadFactory threads = runnable ->
        {
            final Thread thread = new Thread(runnable, "bench-timer");
            thread.setDaemon(true);
            synchronized (timerThreads)
            {
                timerThreads.add(thread);
            }
            return thread;
        };
        final SplittableRandom random = new SplittableRandom(42);
        switch (impl)
        {
            case "hwt" ->
            {
                wheel = AgentContext.newTimer(threads);
                for (int i = 0; i < pending; i++)
                {
                    wheel.newTimeout(wheelTask, GRACE_MS / 2 + random.nextLong(GRACE_MS / 2), TimeUnit.MILLISECONDS);
                }
            }
            case "stpe" ->
            {
                executor = new ScheduledThreadPoolExecutor(1, threads);
                executor.setRemoveOnCancelPolicy(true);
                for (int i = 0; i < pending; i++)
                {
                    executor.schedule(executorTask, GRACE_MS / 2 + random.nextLong(GRACE_MS / 2),
                        TimeUnit.MILLISECONDS);
                }
            }
            default -> throw new IllegalArgumentException("impl: " + impl);
        }
    }

    @Setup(Level.Iteration)
    public void startCounting()
    {
        ops = 0;
        cpuAtStart = timerCpuNs();
    }

    private long cpuAtStart;

    @TearDown(Level.Iteration)
    public void report()
    {
        final long cpu = timerCpuNs() - cpuAtStart;
        System.out.printf("  [%s pending=%d] timer-thread-cpu-ns/op %.1f (%d ops)%n", impl, pending,
            ops == 0 ? 0.0 : (double)cpu / ops, ops);
    }

    @TearDown(Level.Trial)
    public void tearDown()
    {
        if (wheel != null)
        {
            wheel.stop();
        }
        if (executor != null)
        {
            executor.shutdownNow();
        }
    }

    @Benchmark
    public boolean scheduleCancel()
    {
        ops++;
        if (wheel != null)
        {
            final Timeout timeout = wheel.newTimeout(wheelTask, GRACE_MS, TimeUnit.MILLISECONDS);
            return timeout.cancel();
        }
        final ScheduledFuture<?> future = executor.schedule(executorTask, GRACE_MS, TimeUnit.MILLISECONDS);
        return future.cancel(false);
    }

    private long timerCpuNs()
    {
        final ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        long total = 0;
        synchronized (timerThreads)
        {
            for (final Thread thread : timerThreads)
            {
                total += Math.max(0, mx.getThreadCpuTime(thread.getId()));
            }
        }
        return total;
    }
}
