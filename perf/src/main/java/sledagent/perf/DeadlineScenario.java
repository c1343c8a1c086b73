package sledagent.perf;

import io.netty.util.HashedWheelTimer;
import java.nio.file.Path;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BiConsumer;
import sledagent.agent.core.AgentContext;

/**
 * How late a stop-grace deadline fires with many pending: {@code --pending} timeouts at uniformly random delays in
 * [1 s, 3 s] on a Netty {@link HashedWheelTimer} built exactly as the agent builds its one shared timer
 * ({@link AgentContext#newTimer}), then the same on a {@code ScheduledThreadPoolExecutor(1)}. Each
 * task records {@code fire time - due time}; like the agent's timer tasks it does nothing else slow.
 */
final class DeadlineScenario
{
    private static final long MIN_DELAY_NS = TimeUnit.SECONDS.toNanos(1);
    private static final long MAX_DELAY_NS = TimeUnit.SECONDS.toNanos(3);

    private DeadlineScenario()
    {
    }

    static void run(final StopLatency.Options options) throws Exception
    {
        final long tickMs = AgentContext.TIMER_TICK_MS;
        final int slots = AgentContext.TIMER_WHEEL_SLOTS;
        final Metrics metrics = new Metrics("deadlines");
        metrics.define("wheel-lateness", "HashedWheelTimer(tick " + tickMs + " ms, " + slots + " slots): fire - due");
        metrics.define("stpe-lateness", "ScheduledThreadPoolExecutor(1): fire - due");
        System.out.printf("%d pending timeouts, delays uniform in [1 s, 3 s], seed %d%n", options.pending,
            options.seed);

        final HashedWheelTimer wheel = AgentContext.newTimer(daemon("perf-wheel"));
        try
        {
            wheel.start();
            measure("wheel", options, metrics, "wheel-lateness",
                (delayNs, task) -> wheel.newTimeout(t -> task.run(), delayNs, TimeUnit.NANOSECONDS));
        }
        finally
        {
            wheel.stop();
        }

        final ScheduledThreadPoolExecutor stpe = new ScheduledThreadPoolExecutor(1, daemon("perf-stpe"));
        try
        {
            stpe.prestartAllCoreThreads();
            measure("stpe", options, metrics, "stpe-lateness",
                (delayNs, task) -> stpe.schedule(task, delayNs, TimeUnit.NANOSECONDS));
        }
        finally
        {
            stpe.shutdownNow();
            stpe.awaitTermination(5, TimeUnit.SECONDS);
        }

        System.out.println();
        metrics.print(System.out);
        for (final Path file : metrics.write(options.out))
        {
            System.out.println("wrote " + file);
        }
    }

    private static void measure(final String name, final StopLatency.Options options, final Metrics metrics,
        final String metric, final BiConsumer<Long, Runnable> schedule) throws InterruptedException
    {
        final SplittableRandom random = new SplittableRandom(options.seed);
        final CountDownLatch fired = new CountDownLatch(options.pending);
        final AtomicLong early = new AtomicLong();
        final long[] lateNs = new long[options.pending];
        final long scheduling = System.nanoTime();
        for (int i = 0; i < options.pending; i++)
        {
            final int index = i;
            final long delayNs = MIN_DELAY_NS + random.nextLong(MAX_DELAY_NS - MIN_DELAY_NS + 1);
            final long dueNs = System.nanoTime() + delayNs;
            schedule.accept(delayNs, () ->
            {
                final long late = System.nanoTime() - dueNs;
                if (late < 0)
                {
                    early.incrementAndGet();
                }
                lateNs[index] = late;
                fired.countDown();
            });
        }
        final long scheduledUs = TimeUnit.NANOSECONDS.toMicros(System.nanoTime() - scheduling);
        // Bounded: the last is due within 3 s of being scheduled; allow generous slack on a loaded machine.
        if (!fired.await(MAX_DELAY_NS / 1_000_000 + 30_000, TimeUnit.MILLISECONDS))
        {
            throw new IllegalStateException(name + ": " + fired.getCount() + " of " + options.pending
                + " timeouts had not fired 30 s after the last was due");
        }
        // The latch orders the tasks' writes before these reads.
        for (final long late : lateNs)
        {
            metrics.record(metric, TimeUnit.NANOSECONDS.toMicros(late));
        }
        System.out.printf(Locale.ROOT, "  %s: scheduled %d in %.1f ms; %d fired early%n", name, options.pending,
            scheduledUs / 1000.0, early.get());
    }

    private static ThreadFactory daemon(final String name)
    {
        return runnable ->
        {
            final Thread thread = new Thread(runnable, name);
            thread.setDaemon(true);
            return thread;
        };
    }
}
