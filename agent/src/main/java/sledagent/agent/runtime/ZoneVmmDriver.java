package sledagent.agent.runtime;

import io.netty.util.Timeout;
import io.netty.util.Timer;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.logging.Level;
import java.util.logging.Logger;
import sledagent.agent.metrics.Metrics;
import sledagent.agent.publish.StatePublisher;
import sledagent.agent.retry.Backoff;
import sledagent.agent.vmm.Cancellable;
import sledagent.agent.vmm.Event;
import sledagent.agent.vmm.VmmDriver;
import sledagent.api.InstanceEnsureBody;
import sledagent.api.SledVmmState;
import sledagent.api.propolis.PropolisStateRequested;
import sledagent.hypervisor.PropolisClient;
import sledagent.hypervisor.PropolisHttpException;
import sledagent.zones.ZoneBackend;
import sledagent.zones.ZoneProcess;

/**
 * The real {@link VmmDriver}: zones from a {@link ZoneBackend}, Propolis over HTTP, deadlines on the one shared
 * {@link Timer}, states to the {@link StatePublisher}. Blocking work (start sequence, teardown) runs on
 * {@code blockingPool}; timer tasks only post or submit.
 */
public final class ZoneVmmDriver implements VmmDriver
{
    private static final Logger LOG = Logger.getLogger(ZoneVmmDriver.class.getName());

    private final ZoneBackend zones;
    private final PropolisClient client;
    private final Timer timer;
    private final ExecutorService blockingPool;
    private final StatePublisher publisher;
    private final RuntimeSettings settings;
    private final ZoneTeardown teardown;
    /**
     * The Propolis address each VMM was started or torn down with, so {@link #forget} can tell the client the
     * address is done with. One entry per VMM in the table: removed by forget, which every removal calls.
     */
    private final Map<UUID, String> addrs = new ConcurrentHashMap<>();

    public ZoneVmmDriver(final ZoneBackend zones, final PropolisClient client, final Timer timer,
        final ExecutorService blockingPool, final StatePublisher publisher, final RuntimeSettings settings,
        final Metrics metrics)
    {
        this.zones = zones;
        this.client = client;
        this.timer = timer;
        this.blockingPool = blockingPool;
        this.publisher = publisher;
        this.settings = settings;
        this.teardown = new ZoneTeardown(zones, client, settings, metrics);
    }

    @Override
    public Cancellable start(final UUID propolisId, final InstanceEnsureBody registration,
        final String migrationSourceAddr, final Consumer<ZoneProcess> onSpawned, final Consumer<Event> post)
    {
        final StartSequence sequence = new StartSequence(propolisId, registration, migrationSourceAddr, zones, client,
            settings);
        addrs.put(propolisId, registration.propolisAddr());
        return runStart(() -> sequence.run(onSpawned), post);
    }

    @Override
    public Cancellable resumeStart(final UUID propolisId, final InstanceEnsureBody registration,
        final ZoneProcess process, final Consumer<Event> post)
    {
        final StartSequence sequence = new StartSequence(propolisId, registration, null, zones, client, settings);
        addrs.put(propolisId, registration.propolisAddr());
        return runStart(() -> sequence.resume(process), post);
    }

    @Override
    public Cancellable later(final long delayMs, final Runnable task)
    {
        final Timeout timeout = timer.newTimeout(t -> task.run(), Math.max(0, delayMs), TimeUnit.MILLISECONDS);
        return new Cancellable()
        {
            @Override
            public void cancel()
            {
                timeout.cancel();
            }

            @Override
            public CompletableFuture<Void> finished()
            {
                return CompletableFuture.completedFuture(null);
            }
        };
    }

    /** What a start job runs: the sequence, to its result event. */
    @FunctionalInterface
    private interface StartBody
    {
        Event run() throws InterruptedException;
    }

    private Cancellable runStart(final StartBody body, final Consumer<Event> post)
    {
        final CompletableFuture<Void> finished = new CompletableFuture<>();
        final BlockingJob job = new BlockingJob(finished);
        job.submit(blockingPool, () ->
        {
            if (!job.claim())
            {
                return;
            }
            try
            {
                final Event result = body.run();
                if (!job.cancelled)
                {
                    post.accept(result);
                }
            }
            catch (final InterruptedException ex)
            {
                Thread.currentThread().interrupt();
            }
            finally
            {
                finished.complete(null);
            }
        }, post);
        return job;
    }

    @Override
    public void sendState(final String propolisAddr, final PropolisStateRequested request,
        final Consumer<Event> post)
    {
        client.putState(propolisAddr, request, settings.callTimeout()).whenComplete((ignored, error) ->
        {
            if (error == null)
            {
                return;
            }
            final Throwable cause = error instanceof CompletionException && error.getCause() != null
                ? error.getCause() : error;
            if (cause instanceof PropolisHttpException http && PropolisWatch.NO_INSTANCE.equals(http.errorCode()))
            {
                post.accept(new Event.PropolisLost(request + ": " + http.getMessage()));
            }
            else
            {
                // The grace deadline and the process watch cover a VMM that does not answer.
                LOG.warning(() -> "Propolis " + propolisAddr + ": " + request + " failed: " + cause);
            }
        });
    }

    @Override
    public Cancellable watch(final String propolisAddr, final long gen, final Consumer<Event> post)
    {
        return new PropolisWatch(client, timer, propolisAddr, gen, settings.monitorPollMs(), post).start();
    }

    @Override
    public long stopGraceMs()
    {
        return settings.stopGraceMs();
    }

    @Override
    public Cancellable armStopDeadline(final long delayMs, final Consumer<Event> post)
    {
        return later(delayMs, () -> post.accept(new Event.StopGraceExpired()));
    }

    @Override
    public void tearDown(final UUID propolisId, final int attempt, final String lastLookAddr,
        final Cancellable startJob, final ZoneProcess process, final Consumer<Event> post)
    {
        if (lastLookAddr != null)
        {
            addrs.put(propolisId, lastLookAddr);
        }
        final Runnable work = () ->
        {
            try
            {
                post.accept(teardown.run(propolisId, lastLookAddr, startJob, process, post));
            }
            catch (final InterruptedException ex)
            {
                Thread.currentThread().interrupt();
                post.accept(new Event.ZoneTeardownFailed("interrupted"));
            }
            catch (final RuntimeException ex)
            {
                LOG.log(Level.WARNING, "vmm " + propolisId + ": teardown failed", ex);
                post.accept(new Event.ZoneTeardownFailed(String.valueOf(ex)));
            }
        };
        if (attempt == 0)
        {
            teardown.killAhead(propolisId, lastLookAddr, startJob);
            submitOrFail(work, post);
        }
        else
        {
            final long delayMs = Backoff.TEARDOWN.delayMs(attempt - 1);
            timer.newTimeout(t -> submitOrFail(work, post), delayMs, TimeUnit.MILLISECONDS);
        }
    }

    @Override
    public void publish(final UUID propolisId, final SledVmmState state, final Consumer<Event> post)
    {
        publisher.publish(propolisId, state, post);
    }

    @Override
    public void forget(final UUID propolisId)
    {
        publisher.forget(propolisId);
        final String addr = addrs.remove(propolisId);
        if (addr != null)
        {
            client.forget(addr);
        }
    }

    private void submitOrFail(final Runnable work, final Consumer<Event> post)
    {
        try
        {
            blockingPool.execute(work);
        }
        catch (final RejectedExecutionException ex)
        {
            post.accept(new Event.ZoneTeardownFailed("blocking pool saturated or closed"));
        }
    }

    /** A blocking job on the pool that can be cancelled (interrupting it) before or while it runs. */
    private static final class BlockingJob implements Cancellable
    {
        private final CompletableFuture<Void> finished;
        /** Won by whichever comes first: the job starting its body, or a cancel before it started. */
        private final java.util.concurrent.atomic.AtomicBoolean claimed =
            new java.util.concurrent.atomic.AtomicBoolean();
        private volatile boolean cancelled;
        private volatile Future<?> future;

        private BlockingJob(final CompletableFuture<Void> finished)
        {
            this.finished = finished;
        }

        private void submit(final ExecutorService pool, final Runnable work, final Consumer<Event> post)
        {
            try
            {
                future = pool.submit(work);
            }
            catch (final RejectedExecutionException ex)
            {
                claimed.set(true);
                finished.complete(null);
                post.accept(new Event.StartFailed("blocking pool saturated or closed"));
            }
        }

        /** Called first thing by the job's body; false means it was cancelled before it began. */
        private boolean claim()
        {
            return claimed.compareAndSet(false, true);
        }

        @Override
        public void cancel()
        {
            cancelled = true;
            if (claimed.compareAndSet(false, true))
            {
                // Never started, and now never will: nothing runs that could finish it, so finish it here.
                finished.complete(null);
            }
            final Future<?> running = future;
            if (running != null)
            {
                running.cancel(true);
            }
        }

        @Override
        public CompletableFuture<Void> finished()
        {
            return finished;
        }
    }
}
