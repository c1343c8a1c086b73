package sledagent.agent.vmm;

import java.io.IOException;
import java.time.Clock;
import java.time.Instant;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;
import java.util.logging.Level;
import java.util.logging.Logger;
import sledagent.agent.log.LogContext;
import sledagent.agent.metrics.Metrics;
import sledagent.api.SledVmmState;
import sledagent.api.VmmUnregisterResponse;
import sledagent.zones.ZoneProcess;

/**
 * The sole owner of one VMM, as a runner: requests and results arrive in its {@link Mailbox}; it runs on a shared
 * pool only while the mailbox has something (no thread per VMM), and each message is one step: the event goes to
 * {@link VmmLifecycle}, the resulting record is written by its {@link RecordKeeper} (the one blocking thing a turn
 * does: it waits for the store's group commit), the request is answered, and the effects go to its
 * {@link VmmEffects}, which hand everything slow to the {@link VmmDriver} (results come back as messages). Two
 * kinds of step do not wait for their own write: a kill ({@link Effect.JournalKill}: journalled, then killed while
 * the record is written) and a terminal step ({@link Effect.WriteBehind}); the next turn that writes, publishes or
 * answers waits for it.
 *
 * <p>A record that cannot be written refuses a request that can wait (507) but never a kill: a stop,
 * force-terminate or unregister goes ahead, is kept in the kill journal, and the write is retried. An exception
 * while handling an event ends the VMM ({@link Event.Faulted}); a second one wrecks it (zone killed and removed
 * without the lifecycle). Reads ({@link #snapshot()}) come from a volatile field, so a VMM that hangs can always be
 * read.
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
    private final Clock clock;
    private final Metrics metrics;
    private final RecordKeeper keeper;
    private final VmmEffects effects;
    private volatile VmmRecord record;

    // Confined to the actor's turns (the scheduled flag orders them).
    /** Events whose handling threw; the first ends the VMM through the lifecycle, a second wrecks it. */
    private int faults;
    /** The lifecycle itself failed for this VMM: it is torn down and dropped without it. */
    private boolean wrecked;

    /**
     * @param removed told (once) when the VMM leaves the table
     * @param saved   what the store holds for this VMM now
     */
    VmmActor(final VmmRecord initial, final Executor executor, final VmmDriver driver, final Clock clock,
        final Consumer<VmmActor> removed, final VmmStore store, final StoredVmm saved, final Metrics metrics)
    {
        this.propolisId = initial.propolisId();
        this.record = initial;
        this.executor = executor;
        this.clock = clock;
        this.metrics = metrics;
        this.keeper = new RecordKeeper(propolisId, store, saved, driver, metrics,
            () -> enqueueInternal(new Message.RetrySave()));
        this.effects = new VmmEffects(propolisId, driver, clock, metrics, keeper, this::post,
            process -> enqueueInternal(new Message.Spawned(process)), () -> removed.accept(this));
    }

    /**
     * After an agent restart: takes back the zone's main process (null if it is gone) and the kills the old agent
     * journalled, then lets the lifecycle decide ({@link Event.Recovered}); the stop deadline is in the record.
     */
    void recover(final ZoneProcess adopted, final List<KillIntent> kills)
    {
        enqueueInternal(new Message.Recover(adopted, kills));
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
        final boolean terminating = request.kind() == Event.Kind.UNREGISTER_REQUESTED
            || request.kind() == Event.Kind.FORCE_TERMINATE_REQUESTED;
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
        if (message instanceof Message.Request request)
        {
            if (effects.gone())
            {
                // Left the table after the request found it: an unregister is answered as for a DONE VMM (and as
                // the manager answers once it is gone), with the final state; anything else is too late.
                request.reply().complete(request.event().kind() == Event.Kind.UNREGISTER_REQUESTED
                    ? new Reply.Ok(new VmmUnregisterResponse(record.current()))
                    : new Reply.Failed(ApiError.tearingDown()));
                return;
            }
            step(request.event(), request.reply());
        }
        else if (message instanceof Message.Internal internal)
        {
            step(internal.event(), null);
        }
        else if (message instanceof Message.Spawned spawned)
        {
            onSpawned(spawned.process());
        }
        else if (message instanceof Message.Recover recover)
        {
            if (recover.adopted() != null)
            {
                onSpawned(recover.adopted());
            }
            step(new Event.Recovered(recover.adopted() != null && recover.adopted().isAlive(), recover.kills()),
                null);
        }
        else if (message instanceof Message.RetrySave)
        {
            if (!effects.gone())
            {
                keeper.retry(record, effects.process());
            }
        }
        else if (message instanceof Message.WriteDone)
        {
            if (!effects.gone())
            {
                keeper.onWriteDone();
            }
        }
        else
        {
            throw new IllegalStateException("no handler for " + message);
        }
    }

    /** One step: the lifecycle's transition, written, answered, carried out. */
    private void step(final Event event, final CompletableFuture<Reply> reply)
    {
        logResult(event);
        final VmmRecord before = record;
        final Instant now = clock.instant();
        final Transition transition = VmmLifecycle.apply(before, event, now);
        boolean reportAnyway = false;
        final Effect.JournalKill ahead = journalKill(transition.effects());
        // A write that goes behind the kill is queued after the effects: its serialization (some hundreds of
        // microseconds of cold code) is then not on the way to the kill. No later turn runs before it is queued.
        Runnable queueBehindKill = null;
        if (transition.effects().contains(new Effect.RemoveFromTable()))
        {
            // Nothing to write (the record goes), but what this step answers waits for the records before it.
            keeper.awaitPending();
        }
        else if (ahead != null && keeper.journalAhead(new KillIntent(ahead.kind(), null)))
        {
            // The kill goes now; its record is written meanwhile. Should the agent die before that write is on
            // disk, the journal slot (in the page cache) makes the restart fold the kill in; should the host die,
            // nothing was told yet (later turns wait for the write), and the VMM died with the host.
            final ZoneProcess process = effects.process();
            queueBehindKill = () -> keeper.writeAhead(transition.next(), process, true,
                () -> enqueueInternal(new Message.WriteDone()));
        }
        else if (transition.effects().contains(new Effect.TearDownAhead()))
        {
            // The VMM ended by itself: a restart from the record before this one halts it the same way, so the
            // teardown need not wait for this write (the publish after it does).
            final ZoneProcess process = effects.process();
            queueBehindKill = () -> keeper.writeAhead(transition.next(), process, false,
                () -> enqueueInternal(new Message.WriteDone()));
        }
        else if (transition.effects().contains(new Effect.WriteBehind()))
        {
            keeper.awaitPending();
            keeper.writeAhead(transition.next(), effects.process(), false,
                () -> enqueueInternal(new Message.WriteDone()));
        }
        else
        {
            final IOException failure = keeper.write(transition.next(), effects.process());
            if (failure != null)
            {
                final KillIntent kill = reply == null ? null : KillIntent.of(event, transition.next().stopDeadlineAt());
                if (reply != null && kill == null)
                {
                    // Nothing half-done: the request is refused and the VMM stays as it was.
                    reply.complete(new Reply.Failed(ApiError.storageFailed(propolisId, failure)));
                    return;
                }
                if (kill != null)
                {
                    // A kill never waits on the disk: it goes ahead, kept by the journal for a restart.
                    final boolean journalled = keeper.journal(kill);
                    LogContext.log(LOG, Level.WARNING, propolisId, before.gen(), "vmm " + propolisId + ": "
                        + simpleName(event) + " carried out although its record cannot be written ("
                        + ApiError.describe(failure) + "); " + (journalled ? "kept in the kill journal"
                        : "NOT journalled: a restart before the record is written may not know of it"));
                    reportAnyway = true;
                }
                // An observation is a fact: it is kept in memory, and the retry catches the store up.
                keeper.fellBehind(transition.next(), failure);
            }
        }
        record = transition.next();
        count(event, before.phase(), record.phase());
        if (record.current() != before.current())
        {
            final SledVmmState after = record.current();
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
            effects.perform(effect, record, reportAnyway);
        }
        if (queueBehindKill != null)
        {
            queueBehindKill.run();
        }
    }

    /** The transition's {@link Effect.JournalKill}, or null. */
    private static Effect.JournalKill journalKill(final List<Effect> effects)
    {
        for (final Effect effect : effects)
        {
            if (effect instanceof Effect.JournalKill kill)
            {
                return kill;
            }
        }
        return null;
    }

    /** Failures the driver reports are logged here, with the VMM's generation. */
    private void logResult(final Event event)
    {
        final String problem = switch (event.kind())
        {
            case ZONE_TEARDOWN_FAILED -> "zone teardown failed, will retry: " + ((Event.ZoneTeardownFailed)event)
                .reason();
            case START_FAILED -> "start failed: " + ((Event.StartFailed)event).reason();
            case PROPOLIS_LOST -> "Propolis lost the VM: " + ((Event.PropolisLost)event).reason();
            case FAULTED -> "ending the VMM after an internal error: " + ((Event.Faulted)event).reason();
            case RUN_REQUESTED, STOP_REQUESTED, REBOOT_REQUESTED, MIGRATION_TARGET_REQUESTED, UNREGISTER_REQUESTED,
                FORCE_TERMINATE_REQUESTED, VMM_STARTED, PROPOLIS_OBSERVED, LAST_LOOK, PROCESS_EXITED,
                STOP_GRACE_EXPIRED, ZONE_TORN_DOWN, RECOVERED, PUBLISH_SETTLED -> null;
        };
        if (problem != null)
        {
            LogContext.log(LOG, Level.WARNING, propolisId, record.gen(), "vmm " + propolisId + ": " + problem);
        }
    }

    /** Forced kills and crashes, counted where the lifecycle acted on them. */
    private void count(final Event event, final Phase before, final Phase after)
    {
        if (after != Phase.HALTING || before == Phase.HALTING)
        {
            return;
        }
        switch (event.kind())
        {
            case STOP_GRACE_EXPIRED -> metrics.forcedKill("grace_expired");
            case FORCE_TERMINATE_REQUESTED -> metrics.forcedKill("force_terminate");
            case PROCESS_EXITED -> metrics.crash("process_exit");
            case PROPOLIS_LOST -> metrics.crash("propolis_lost");
            case START_FAILED -> metrics.crash("start_failed");
            default ->
            {
                // Stops, unregisters, faults and recoveries are not forced kills or crashes.
            }
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
            effects.defer(event.kind() == Event.Kind.UNREGISTER_REQUESTED, reply);
        }
        else
        {
            reply.complete(answer);
        }
    }

    private void onSpawned(final ZoneProcess spawned)
    {
        if (effects.adopt(spawned, record.phase()))
        {
            // The pid is what a restarted agent adopts: store it now (if it cannot be, the retry does).
            keeper.save(record, effects.process());
        }
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
                step(new Event.Faulted(String.valueOf(ex)), null);
                return;
            }
            catch (final RuntimeException | Error again)
            {
                LOG.log(Level.SEVERE, "vmm " + propolisId + ": ending it through its lifecycle failed too", again);
            }
        }
        wrecked = true;
        LOG.severe(() -> "vmm " + propolisId + ": wrecked; killing its zone and dropping it without publishing");
        effects.wreck();
    }

    private void handleWrecked(final Message message)
    {
        if (message instanceof Message.Request request)
        {
            request.reply().complete(new Reply.Failed(ApiError.tearingDown()));
        }
        else if (message instanceof Message.Spawned spawned)
        {
            spawned.process().close();
        }
        else if (message instanceof Message.Internal internal)
        {
            final Event.Kind kind = internal.event().kind();
            if (kind == Event.Kind.ZONE_TORN_DOWN || kind == Event.Kind.ZONE_TEARDOWN_FAILED)
            {
                effects.onWreckedTeardown(kind == Event.Kind.ZONE_TORN_DOWN);
            }
        }
        // Recover, RetrySave and WriteDone: nothing to do for a wrecked VMM.
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

        /** After an agent restart: the adopted process (or null) and the kills the old agent journalled. */
        record Recover(ZoneProcess adopted, List<KillIntent> kills) implements Message
        {
        }

        /** Time to try writing a record that is behind again. */
        record RetrySave() implements Message
        {
        }

        /** A record write queued without waiting for it has completed. */
        record WriteDone() implements Message
        {
        }
    }
}
