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
import sledagent.agent.log.LogContext;
import sledagent.agent.metrics.Metrics;
import sledagent.api.SledVmmState;
import sledagent.api.VmmUnregisterResponse;
import sledagent.zones.ZoneProcess;

/**
 * The sole owner of one VMM. Requests and results arrive in its {@link Mailbox}; it runs on a shared pool only
 * while the mailbox has something (no thread per VMM), feeds each event to {@link VmmLifecycle}, keeps the
 * resulting record, answers the request, and hands the effects to the {@link VmmDriver}. Slow work (start,
 * Propolis calls, teardown) is the driver's and comes back as a message; the one blocking thing a turn does is
 * write the VMM's record (temp file, fsync, rename), on the actor pool. A kill never waits on that write: if it
 * fails the kill goes ahead, is kept in the kill journal, and the write is retried.
 *
 * <p>Reads ({@link #snapshot()}) come from a volatile field and never go through the mailbox, so a VMM that
 * hangs can always be read.
 */
public final class VmmActor
{
    private static final Logger LOG = Logger.getLogger(VmmActor.class.getName());
    /** Messages handled per turn on the pool, so that one busy VMM cannot hog a pool thread. */
    private static final int DRAIN_LIMIT = 64;
    /** Back-off of a record write that failed: 100 ms doubling up to 5 s, for as long as it fails. */
    private static final long SAVE_RETRY_FIRST_MS = 100;
    private static final long SAVE_RETRY_MAX_MS = 5_000;

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
    /** The deadline the current transition leads to (decided once per step, from the lifecycle's effects). */
    private Instant plannedDeadlineAt;
    private int tearDownAttempts;
    private boolean removed;
    /** What the store holds for this VMM; a difference means a write is due. */
    private StoredVmm saved;
    /** The record could not be written: a retry is scheduled, and non-terminal publishes wait for it. */
    private boolean behind;
    private int saveAttempts;
    private boolean saveRetryPending;
    private Cancellable saveRetry = Cancellable.NONE;
    /** A publish held back while the record was behind: Nexus must not hear what a restart could not repeat. */
    private boolean publishHeld;
    /** Events whose handling threw; the first ends the VMM through the lifecycle, a second wrecks it. */
    private int faults;
    /** The lifecycle itself failed for this VMM: it is torn down and dropped without it. */
    private boolean wrecked;

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
     * After an agent restart: takes back the zone's main process (null if it is gone), the stop deadline at its
     * original time, and the kills the old agent journalled, then lets the lifecycle decide
     * ({@link Event.Recovered}).
     */
    void recover(final ZoneProcess adopted, final Instant deadlineAt, final List<KillIntent> kills)
    {
        enqueueInternal(new Message.Recover(adopted, deadlineAt, kills));
    }

    private void onRecover(final Message.Recover recover)
    {
        if (recover.adopted() != null)
        {
            onSpawned(recover.adopted());
        }
        Instant deadlineAt = recover.deadlineAt();
        for (final KillIntent kill : recover.kills())
        {
            if (deadlineAt == null && kill.stopDeadlineAt() != null)
            {
                deadlineAt = kill.stopDeadlineAt();
            }
        }
        // Known before the step, so that the record it writes keeps the deadline; armed after it, if still due.
        stopDeadlineAt = deadlineAt;
        if (deadlineAt != null)
        {
            metrics.stopDeadlineArmed();
        }
        handle(new Message.Internal(new Event.Recovered(recover.adopted() != null && recover.adopted().isAlive(),
            recover.kills())));
        if (wrecked)
        {
            return;
        }
        if (record.phase() == Phase.ACTIVE && record.stopRequested())
        {
            // The grace keeps its original wall-clock end across the restart.
            if (stopDeadlineAt == null)
            {
                stopDeadlineAt = clock.instant().plusMillis(driver.stopGraceMs());
                metrics.stopDeadlineArmed();
            }
            stopDeadline = driver.armStopDeadline(Duration.between(clock.instant(), stopDeadlineAt).toMillis(),
                this::post);
            final IOException failure = save(record, stopDeadlineAt);
            if (failure != null)
            {
                fellBehind(failure);
            }
        }
        else if (stopDeadlineAt != null)
        {
            stopDeadlineAt = null;
            metrics.stopDeadlineDone();
        }
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
                if (wrecked)
                {
                    handleWrecked(message);
                }
                else
                {
                    handle(message);
                }
            }
            catch (final RuntimeException | Error ex)
            {
                // One VMM's bug must never take the actor (or the pool thread) down with it, nor leave the VMM
                // unstoppable: it is ended as a force-terminate would end it.
                onFault(message, ex);
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
        if (message instanceof Message.RetrySave)
        {
            onRetrySave();
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
        final Instant deadlineAt = plannedDeadline(transition, now);
        final IOException writeFailure = persist(transition, deadlineAt);
        boolean reportAnyway = false;
        if (writeFailure != null)
        {
            final KillIntent kill = reply == null ? null : KillIntent.of(event, deadlineAt);
            if (reply != null && kill == null)
            {
                // Nothing half-done: the request is refused and the VMM stays as it was.
                reply.complete(new Reply.Failed(ApiError.storageFailed(propolisId, writeFailure)));
                return;
            }
            if (kill != null)
            {
                // A kill never waits on the disk: it goes ahead, and the journal (allocated at start) keeps it
                // for a restart.
                final boolean journalled = store.journalKill(propolisId, kill);
                metrics.killWithoutRecord(journalled);
                LogContext.log(LOG, Level.WARNING, propolisId, before.gen(), "vmm " + propolisId + ": "
                    + simpleName(event) + " carried out although its record cannot be written ("
                    + ApiError.describe(writeFailure) + "); " + (journalled ? "kept in the kill journal"
                    : "NOT journalled: a restart before the record is written may not know of it"));
                reportAnyway = true;
            }
            // An observation is a fact: keep it in memory; the retry catches the store up.
            fellBehind(writeFailure);
        }
        plannedDeadlineAt = deadlineAt;
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
            perform(effect, reportAnyway);
        }
    }

    /** Where the stop deadline stands after {@code transition}: armed now, cancelled, or as it was. */
    private Instant plannedDeadline(final Transition transition, final Instant now)
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
        return deadlineAt;
    }

    /**
     * Handling {@code message} threw. The first time, the VMM is ended through the lifecycle
     * ({@link Event.Faulted}: zone killed, failed published once); if that throws too, or a fault comes again,
     * the VMM is wrecked: torn down and dropped without the lifecycle. The request that threw is answered.
     */
    private void onFault(final Message message, final Throwable ex)
    {
        metrics.vmmFault();
        LOG.log(Level.SEVERE, "vmm " + propolisId + ": failed handling " + message + "; ending the VMM", ex);
        if (message instanceof Message.Request request)
        {
            request.reply().complete(new Reply.Failed(ApiError.internal("VMM " + propolisId
                + " failed handling this request (" + ex + "); it is being ended")));
        }
        if (wrecked)
        {
            return;
        }
        if (faults++ == 0)
        {
            try
            {
                handle(new Message.Internal(new Event.Faulted(String.valueOf(ex))));
                return;
            }
            catch (final RuntimeException | Error again)
            {
                LOG.log(Level.SEVERE, "vmm " + propolisId + ": ending it through its lifecycle failed too", again);
            }
        }
        wreck();
    }

    /** Last resort: kill and remove the zone, answer everyone, leave the table; nothing more is published. */
    private void wreck()
    {
        wrecked = true;
        watch.cancel();
        stopDeadline.cancel();
        saveRetry.cancel();
        LOG.severe(() -> "vmm " + propolisId + ": wrecked; killing its zone and dropping it without publishing");
        tearDownAttempts = 0;
        driver.tearDown(propolisId, 0, null, startJob, process, this::post);
    }

    private void handleWrecked(final Message message)
    {
        if (message instanceof Message.Request request)
        {
            request.reply().complete(new Reply.Failed(ApiError.tearingDown()));
            return;
        }
        if (message instanceof Message.Spawned spawned)
        {
            spawned.process().close();
            return;
        }
        if (!(message instanceof Message.Internal internal))
        {
            return;
        }
        if (internal.event() instanceof Event.ZoneTeardownFailed)
        {
            tearDownAttempts++;
            metrics.teardownRetry();
            driver.tearDown(propolisId, tearDownAttempts, null, startJob, process, this::post);
        }
        else if (internal.event() instanceof Event.ZoneTornDown)
        {
            for (final DeferredReply waiting : deferred)
            {
                waiting.reply().complete(new Reply.Failed(ApiError.internal("VMM " + propolisId
                    + " was ended after an internal error; its zone is gone")));
            }
            deferred.clear();
            removeFromTable();
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

    /** Writes the record the transition leads to, if it differs from what is stored; the failure, or null. */
    private IOException persist(final Transition transition, final Instant deadlineAt)
    {
        if (transition.effects().contains(new Effect.RemoveFromTable()))
        {
            return null;
        }
        return save(transition.next(), deadlineAt);
    }

    /** Writes {@code next} if it differs from what is stored; the failure, or null. */
    private IOException save(final VmmRecord next, final Instant deadlineAt)
    {
        final long pid = process == null ? 0 : process.pid();
        final long startTicks = process == null ? 0 : process.startTicks();
        final StoredVmm candidate = StoredVmm.of(next, deadlineAt, pid, startTicks);
        if (candidate.equals(saved))
        {
            return null;
        }
        try
        {
            store.save(candidate);
            saved = candidate;
        }
        catch (final IOException ex)
        {
            metrics.recordWriteFailed();
            return ex;
        }
        if (behind)
        {
            caughtUp();
        }
        return null;
    }

    /** The record could not be written: say so once, and retry with a bounded back-off until it can. */
    private void fellBehind(final IOException cause)
    {
        if (!behind)
        {
            behind = true;
            metrics.recordBehind(true);
            LogContext.log(LOG, Level.SEVERE, propolisId, record.gen(), "vmm " + propolisId
                + ": cannot persist its record (" + ApiError.describe(cause) + "); retrying until it can");
        }
        if (!saveRetryPending)
        {
            scheduleSaveRetry();
        }
    }

    private void scheduleSaveRetry()
    {
        saveRetryPending = true;
        saveAttempts++;
        final long delayMs = Math.min(SAVE_RETRY_MAX_MS, SAVE_RETRY_FIRST_MS << Math.min(10, saveAttempts - 1));
        saveRetry = driver.later(delayMs, () -> enqueueInternal(new Message.RetrySave()));
    }

    private void onRetrySave()
    {
        saveRetryPending = false;
        if (!behind || removed)
        {
            return;
        }
        if (save(record, stopDeadlineAt) != null)
        {
            scheduleSaveRetry();
        }
    }

    /** The record is on disk again: the journal's kills are in it, and what was held back may be published. */
    private void caughtUp()
    {
        behind = false;
        saveAttempts = 0;
        saveRetryPending = false;
        saveRetry.cancel();
        saveRetry = Cancellable.NONE;
        metrics.recordBehind(false);
        store.settled(propolisId);
        LogContext.log(LOG, Level.INFO, propolisId, record.gen(), "vmm " + propolisId + ": record written again");
        if (publishHeld)
        {
            publishHeld = false;
            driver.publish(propolisId, record.current(), this::post);
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

    private void perform(final Effect effect, final boolean reportAnyway)
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
        else if (effect instanceof Effect.ResumeStart)
        {
            startJob = driver.resumeStart(propolisId, record.registration(), process, this::post);
        }
        else if (effect instanceof Effect.ArmStopDeadline)
        {
            stopDeadline.cancel();
            stopDeadlineAt = plannedDeadlineAt;
            stopDeadline = driver.armStopDeadline(Duration.between(clock.instant(), stopDeadlineAt).toMillis(),
                this::post);
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
            if (behind && !reportAnyway && !publish.state().vmmState().state().isTerminal())
            {
                // What Nexus hears must be on disk (or in the kill journal), so that a restart never tells it
                // something older under a newer generation. Sent once the record is written.
                publishHeld = true;
                return;
            }
            publishHeld = false;
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
            removeFromTable();
        }
    }

    private void removeFromTable()
    {
        removed = true;
        process = null;
        startJob = Cancellable.NONE;
        saveRetry.cancel();
        if (behind)
        {
            behind = false;
            metrics.recordBehind(false);
        }
        manager.remove(this);
        driver.forget(propolisId);
        try
        {
            store.delete(propolisId);
            store.settled(propolisId);
        }
        catch (final IOException ex)
        {
            // A stale record is harmless: at the next start it finds no zone, and what it publishes then has a
            // generation Nexus already holds; the journal's kills for it are kept until then.
            LOG.warning(() -> "vmm " + propolisId + ": cannot delete its record: " + ex);
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
        // The pid is what a restarted agent adopts: store it now (if it cannot be, the retry does).
        final IOException failure = save(record, stopDeadlineAt);
        if (failure != null)
        {
            fellBehind(failure);
        }
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

        /**
         * After an agent restart: the adopted process (or null), the stop deadline to keep (or null), and the kills
         * the old agent journalled.
         */
        record Recover(ZoneProcess adopted, Instant deadlineAt, List<KillIntent> kills) implements Message
        {
        }

        /** Time to try writing a record that is behind again. */
        record RetrySave() implements Message
        {
        }
    }

    private record DeferredReply(boolean unregister, CompletableFuture<Reply> reply)
    {
    }
}
