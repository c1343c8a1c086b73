package sledagent.agent.vmm;

import java.io.IOException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.logging.Level;
import java.util.logging.Logger;
import sledagent.agent.LogContext;
import sledagent.agent.metrics.Metrics;
import sledagent.agent.persist.StoredVmm;
import sledagent.agent.persist.VmmStore;
import sledagent.api.SledVmmState;
import sledagent.api.VmmUnregisterResponse;
import sledagent.zones.ZoneProcess;

/**
 * The sole owner of one VMM. Requests and results arrive in its {@link Mailbox}; it runs on a shared pool only
 * while the mailbox has something (no thread per VMM), feeds each event to {@link VmmLifecycle}, keeps the
 * resulting record, answers the request, and hands the effects to the {@link VmmDriver}. It never blocks: all
 * slow work is the driver's, and comes back as a message.
 *
 * <p>Reads ({@link #snapshot()}) come from a volatile field and never go through the mailbox, so a VMM that
 * hangs can always be read.
 */
public final class VmmActor
{
    private static final Logger LOG = Logger.getLogger(VmmActor.class.getName());
    /** Messages handled per turn on the pool, so that one busy VMM cannot hog a pool thread. */
    private static final int DRAIN_LIMIT = 64;

    private final UUID propolisId;
    private final Mailbox<Message> mailbox = new Mailbox<>();
    private final AtomicBoolean scheduled = new AtomicBoolean();
    private final Executor executor;
    private final VmmDriver driver;
    private final Clock clock;
    private final VmmManager manager;
    private final VmmStore store;
    private final Metrics metrics;
    private volatile VmmRecord record;

    // Confined to the actor's turn (the scheduled flag orders the turns).
    private final List<DeferredReply> deferred = new ArrayList<>(2);
    private ZoneProcess process;
    private Cancellable startJob = Cancellable.NONE;
    private Cancellable watch = Cancellable.NONE;
    private Cancellable stopDeadline = Cancellable.NONE;
    /** When the armed stop deadline fires (wall clock, so a restarted agent keeps it), or null. */
    private Instant stopDeadlineAt;
    private int tearDownAttempts;
    private boolean removed;
    /** What the store holds for this VMM; a difference means a write is due. */
    private StoredVmm saved;

    VmmActor(final VmmRecord initial, final Executor executor, final VmmDriver driver, final Clock clock,
        final VmmManager manager, final VmmStore store, final StoredVmm saved, final Metrics metrics)
    {
        this.metrics = metrics;
        this.propolisId = initial.propolisId();
        this.record = initial;
        this.executor = executor;
        this.driver = driver;
        this.clock = clock;
        this.manager = manager;
        this.store = store;
        this.saved = saved;
    }

    /**
     * After an agent restart: takes back the zone's main process (null if it is gone) and the stop deadline at
     * its original time, then lets the lifecycle decide ({@link Event.Recovered}).
     */
    void recover(final ZoneProcess adopted, final Instant deadlineAt)
    {
        enqueueInternal(new Message.Recover(adopted, deadlineAt));
    }

    private void onRecover(final Message.Recover recover)
    {
        if (recover.adopted() != null)
        {
            onSpawned(recover.adopted());
        }
        if (recover.deadlineAt() != null && record.phase() == Phase.ACTIVE)
        {
            stopDeadlineAt = recover.deadlineAt();
            metrics.stopDeadlineArmed();
            stopDeadline = driver.armStopDeadline(Duration.between(clock.instant(), stopDeadlineAt).toMillis(),
                this::post);
        }
        handle(new Message.Internal(new Event.Recovered(recover.adopted() != null && recover.adopted().isAlive())));
    }

    public UUID propolisId()
    {
        return propolisId;
    }

    /** The newest state, without going through the mailbox. */
    public SledVmmState snapshot()
    {
        return record.current();
    }

    /** The whole record, for diagnostics and tests. */
    public VmmRecord record()
    {
        return record;
    }

    /**
     * Offers a request; false (at once) if its lane is full. Unregister and force-terminate use the terminate
     * lane so that a full request lane never holds them back.
     */
    public boolean offer(final Event request, final CompletableFuture<Reply> reply)
    {
        final Message message = new Message.Request(request, reply);
        final boolean terminating = request instanceof Event.UnregisterRequested
            || request instanceof Event.ForceTerminateRequested;
        final boolean accepted = terminating ? mailbox.offerTerminate(message) : mailbox.offerRequest(message);
        if (accepted)
        {
            schedule();
        }
        return accepted;
    }

    /** Posts a result or observation from the actor's own work. */
    public void post(final Event event)
    {
        enqueueInternal(new Message.Internal(event));
    }

    private void enqueueInternal(final Message message)
    {
        if (!mailbox.offerInternal(message))
        {
            // Cannot happen while the actor keeps one piece of each kind of work in flight; say so if it does.
            LOG.severe(() -> "vmm " + propolisId + ": internal lane full, dropped " + message);
            return;
        }
        schedule();
    }

    private void schedule()
    {
        if (scheduled.compareAndSet(false, true))
        {
            executor.execute(this::drain);
        }
    }

    private void drain()
    {
        int handled = 0;
        Message message;
        while (handled < DRAIN_LIMIT && (message = mailbox.poll()) != null)
        {
            try
            {
                handle(message);
            }
            catch (final RuntimeException | Error ex)
            {
                // One VMM's bug must never take the actor (or the pool thread) down with it.
                LOG.log(Level.SEVERE, "vmm " + propolisId + ": failed handling " + message, ex);
            }
            handled++;
        }
        scheduled.set(false);
        if (!mailbox.isEmpty())
        {
            schedule();
        }
    }

    private void handle(final Message message)
    {
        if (message instanceof Message.Spawned spawned)
        {
            onSpawned(spawned.process());
            return;
        }
        if (message instanceof Message.Recover recover)
        {
            onRecover(recover);
            return;
        }
        final Event event;
        CompletableFuture<Reply> reply = null;
        if (message instanceof Message.Request request)
        {
            event = request.event();
            reply = request.reply();
            if (removed)
            {
                reply.complete(new Reply.Failed(ApiError.tearingDown()));
                return;
            }
        }
        else
        {
            event = ((Message.Internal)message).event();
            if (event instanceof Event.ZoneTeardownFailed failed)
            {
                LogContext.log(LOG, Level.WARNING, propolisId, record.gen(), "vmm " + propolisId
                    + ": zone teardown failed (attempt " + (tearDownAttempts + 1) + "), will retry: "
                    + failed.reason());
            }
            else if (event instanceof Event.StartFailed failed)
            {
                LogContext.log(LOG, Level.WARNING, propolisId, record.gen(), "vmm " + propolisId
                    + ": start failed: " + failed.reason());
            }
        }

        final VmmRecord before = record;
        final Instant now = clock.instant();
        final Transition transition = VmmLifecycle.apply(before, event, now);
        if (!persist(transition, now))
        {
            if (reply != null)
            {
                // Nothing half-done: the request is refused and the VMM stays as it was.
                reply.complete(new Reply.Failed(ApiError.storageFailed(propolisId)));
                return;
            }
            // An observation is a fact: keep it in memory; the next successful write catches the store up.
        }
        record = transition.next();
        count(event, before.phase(), transition.next().phase());
        if (transition.next().current() != before.current())
        {
            final SledVmmState after = transition.next().current();
            LogContext.log(LOG, Level.INFO, propolisId, after.vmmState().gen(), "vmm " + propolisId + ": "
                + before.vmmState().wireName() + " -> " + after.vmmState().state().wireName() + " gen "
                + after.vmmState().gen() + " on " + simpleName(event));
        }
        if (reply != null)
        {
            answer(event, reply, transition.reply());
        }
        for (final Effect effect : transition.effects())
        {
            perform(effect);
        }
    }

    /** Forced kills and crashes, counted where the lifecycle acted on them. */
    private void count(final Event event, final Phase before, final Phase after)
    {
        if (after != Phase.HALTING || before == Phase.HALTING)
        {
            return;
        }
        if (event instanceof Event.StopGraceExpired)
        {
            metrics.forcedKill("grace_expired");
        }
        else if (event instanceof Event.ForceTerminateRequested)
        {
            metrics.forcedKill("force_terminate");
        }
        else if (event instanceof Event.ProcessExited)
        {
            metrics.crash("process_exit");
        }
        else if (event instanceof Event.PropolisLost)
        {
            metrics.crash("propolis_lost");
        }
        else if (event instanceof Event.StartFailed)
        {
            metrics.crash("start_failed");
        }
    }

    /** Writes the record the transition leads to, if it differs from what is stored; false if the write failed. */
    private boolean persist(final Transition transition, final Instant now)
    {
        Instant deadlineAt = stopDeadlineAt;
        for (final Effect effect : transition.effects())
        {
            if (effect instanceof Effect.ArmStopDeadline)
            {
                deadlineAt = now.plusMillis(driver.stopGraceMs());
            }
            else if (effect instanceof Effect.CancelStopDeadline)
            {
                deadlineAt = null;
            }
        }
        if (transition.effects().contains(new Effect.RemoveFromTable()))
        {
            return true;
        }
        return save(transition.next(), deadlineAt);
    }

    private boolean save(final VmmRecord next, final Instant deadlineAt)
    {
        final long pid = process == null ? 0 : process.pid();
        final long startTicks = process == null ? 0 : process.startTicks();
        final StoredVmm candidate = StoredVmm.of(next, deadlineAt, pid, startTicks);
        if (candidate.equals(saved))
        {
            return true;
        }
        try
        {
            store.save(candidate);
            saved = candidate;
            return true;
        }
        catch (final IOException ex)
        {
            LOG.severe(() -> "vmm " + propolisId + ": cannot persist its record: " + ex);
            return false;
        }
    }

    private void answer(final Event event, final CompletableFuture<Reply> reply, final Reply answer)
    {
        if (answer == null)
        {
            reply.complete(new Reply.Failed(ApiError.internal("no reply for " + simpleName(event))));
        }
        else if (answer instanceof Reply.Deferred)
        {
            deferred.add(new DeferredReply(event instanceof Event.UnregisterRequested, reply));
        }
        else
        {
            reply.complete(answer);
        }
    }

    private void perform(final Effect effect)
    {
        final String addr = record.registration().propolisAddr();
        if (effect instanceof Effect.StartVmm start)
        {
            startJob = driver.start(propolisId, record.registration(), start.migrationSourceAddr(),
                spawned -> enqueueInternal(new Message.Spawned(spawned)), this::post);
        }
        else if (effect instanceof Effect.SendPropolisState send)
        {
            driver.sendState(addr, send.request(), this::post);
        }
        else if (effect instanceof Effect.WatchPropolis watchEffect)
        {
            watch.cancel();
            watch = driver.watch(addr, watchEffect.gen(), this::post);
        }
        else if (effect instanceof Effect.ArmStopDeadline)
        {
            stopDeadline.cancel();
            stopDeadlineAt = clock.instant().plusMillis(driver.stopGraceMs());
            stopDeadline = driver.armStopDeadline(driver.stopGraceMs(), this::post);
            metrics.stopDeadlineArmed();
        }
        else if (effect instanceof Effect.CancelStopDeadline)
        {
            stopDeadline.cancel();
            stopDeadline = Cancellable.NONE;
            if (stopDeadlineAt != null)
            {
                metrics.stopDeadlineDone();
            }
            stopDeadlineAt = null;
        }
        else if (effect instanceof Effect.TearDownZone tearDown)
        {
            watch.cancel();
            watch = Cancellable.NONE;
            tearDownAttempts = 0;
            driver.tearDown(propolisId, 0, tearDown.lastLook() ? addr : null, startJob, process, this::post);
        }
        else if (effect instanceof Effect.RetryTearDown)
        {
            tearDownAttempts++;
            metrics.teardownRetry();
            driver.tearDown(propolisId, tearDownAttempts, null, startJob, process, this::post);
        }
        else if (effect instanceof Effect.Publish publish)
        {
            driver.publish(propolisId, publish.state(), this::post);
        }
        else if (effect instanceof Effect.AnswerDeferred answerDeferred)
        {
            for (final DeferredReply waiting : deferred)
            {
                final Object body = waiting.unregister()
                    ? new VmmUnregisterResponse(answerDeferred.finalState())
                    : answerDeferred.finalState();
                waiting.reply().complete(new Reply.Ok(body));
            }
            deferred.clear();
        }
        else if (effect instanceof Effect.RemoveFromTable)
        {
            if (removed)
            {
                // A late result replayed the removal: the id may belong to a new VMM by now; leave it alone.
                return;
            }
            removed = true;
            process = null;
            startJob = Cancellable.NONE;
            manager.remove(this);
            driver.forget(propolisId);
            try
            {
                store.delete(propolisId);
            }
            catch (final IOException ex)
            {
                // A stale record is harmless: at the next start it finds no zone and is reported failed once.
                LOG.warning(() -> "vmm " + propolisId + ": cannot delete its record: " + ex);
            }
        }
    }

    private void onSpawned(final ZoneProcess spawned)
    {
        final Phase phase = record.phase();
        if (phase == Phase.HALTING || phase == Phase.DONE)
        {
            // The teardown already under way kills the zone by name; only the pidfd is ours to release.
            spawned.close();
            return;
        }
        process = spawned;
        // The pid is what a restarted agent adopts: store it now.
        save(record, stopDeadlineAt);
        // Crash detection from the process itself, not from a failed HTTP call.
        spawned.exited().thenRun(() -> post(new Event.ProcessExited()));
    }

    private static String simpleName(final Object value)
    {
        return value.getClass().getSimpleName();
    }

    @Override
    public String toString()
    {
        return "VmmActor[" + propolisId + " " + record.phase() + " " + record.vmmState().wireName() + "]";
    }

    /** What sits in the mailbox. */
    private sealed interface Message
    {
        record Request(Event event, CompletableFuture<Reply> reply) implements Message
        {
        }

        record Internal(Event event) implements Message
        {
        }

        /** The start sequence's process, handed over as soon as it exists. */
        record Spawned(ZoneProcess process) implements Message
        {
        }

        /** After an agent restart: the adopted process (or null) and the stop deadline to keep (or null). */
        record Recover(ZoneProcess adopted, Instant deadlineAt) implements Message
        {
        }
    }

    private record DeferredReply(boolean unregister, CompletableFuture<Reply> reply)
    {
    }
}
