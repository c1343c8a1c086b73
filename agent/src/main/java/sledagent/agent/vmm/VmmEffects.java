package sledagent.agent.vmm;

import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;
import java.util.logging.Logger;
import sledagent.agent.metrics.Metrics;
import sledagent.api.VmmUnregisterResponse;
import sledagent.zones.ZoneProcess;

/**
 * Carries out the {@link Effect}s of one VMM's transitions, for its {@link VmmActor}, and holds what they leave
 * running: the zone's main process, the start job, the Propolis watch, the stop deadline, the teardown attempts,
 * and the requests waiting for the final state. Everything slow is the {@link VmmDriver}'s and comes back as an
 * {@link Event}. Confined to the actor's turns.
 */
final class VmmEffects
{
    private static final Logger LOG = Logger.getLogger(VmmEffects.class.getName());

    private final UUID propolisId;
    private final VmmDriver driver;
    private final Clock clock;
    private final Metrics metrics;
    private final RecordKeeper keeper;
    /** Posts an event to the actor. */
    private final Consumer<Event> post;
    /** Hands a spawned process to the actor (a turn of its own). */
    private final Consumer<ZoneProcess> spawned;
    /** Tells the owner of the table that this VMM is gone. */
    private final Runnable removed;

    private final List<DeferredReply> deferred = new ArrayList<>(2);
    private ZoneProcess process;
    private Cancellable startJob = Cancellable.NONE;
    private Cancellable watch = Cancellable.NONE;
    private Cancellable stopDeadline = Cancellable.NONE;
    private boolean deadlineArmed;
    private int tearDownAttempts;
    private boolean gone;

    VmmEffects(final UUID propolisId, final VmmDriver driver, final Clock clock, final Metrics metrics,
        final RecordKeeper keeper, final Consumer<Event> post, final Consumer<ZoneProcess> spawned,
        final Runnable removed)
    {
        this.propolisId = propolisId;
        this.driver = driver;
        this.clock = clock;
        this.metrics = metrics;
        this.keeper = keeper;
        this.post = post;
        this.spawned = spawned;
        this.removed = removed;
    }

    /** The zone's main process, or null (not spawned yet, gone, or handed back). */
    ZoneProcess process()
    {
        return process;
    }

    /** True once the VMM left the table. */
    boolean gone()
    {
        return gone;
    }

    /** Keeps {@code reply} until the final state is known ({@link Effect.AnswerDeferred}). */
    void defer(final boolean unregister, final CompletableFuture<Reply> reply)
    {
        deferred.add(new DeferredReply(unregister, reply));
    }

    /**
     * Carries out {@code effect} of a transition to {@code record}; {@code reportAnyway}: its publish goes out
     * even while the record is behind (a kill's own state, kept in the journal).
     */
    void perform(final Effect effect, final VmmRecord record, final boolean reportAnyway)
    {
        final String addr = record.registration().propolisAddr();
        if (effect instanceof Effect.StartVmm start)
        {
            startJob = driver.start(propolisId, record.registration(), start.migrationSourceAddr(), spawned, post);
        }
        else if (effect instanceof Effect.ResumeStart)
        {
            startJob = driver.resumeStart(propolisId, record.registration(), process, post);
        }
        else if (effect instanceof Effect.SendPropolisState send)
        {
            driver.sendState(addr, send.request(), post);
        }
        else if (effect instanceof Effect.WatchPropolis watchEffect)
        {
            watch.cancel();
            watch = driver.watch(addr, watchEffect.gen(), post);
        }
        else if (effect instanceof Effect.ArmStopDeadline arm)
        {
            stopDeadline.cancel();
            stopDeadline = driver.armStopDeadline(Duration.between(clock.instant(), arm.at()).toMillis(), post);
            if (!deadlineArmed)
            {
                deadlineArmed = true;
                metrics.stopDeadlineArmed();
            }
        }
        else if (effect instanceof Effect.CancelStopDeadline)
        {
            cancelDeadline();
        }
        else if (effect instanceof Effect.TearDownZone tearDown)
        {
            tearDown(tearDown.lastLook() ? addr : null);
        }
        else if (effect instanceof Effect.RetryTearDown)
        {
            retryTearDown();
        }
        else if (effect instanceof Effect.Publish publish)
        {
            final boolean mayWait = !reportAnyway && !publish.state().vmmState().state().isTerminal();
            keeper.publish(mayWait, () -> driver.publish(propolisId, publish.state(), post));
        }
        else if (effect instanceof Effect.AnswerDeferred answer)
        {
            for (final DeferredReply waiting : deferred)
            {
                final Object body = waiting.unregister()
                    ? new VmmUnregisterResponse(answer.finalState())
                    : answer.finalState();
                waiting.reply().complete(new Reply.Ok(body));
            }
            deferred.clear();
        }
        else if (effect instanceof Effect.RemoveFromTable)
        {
            remove();
        }
        else if (effect instanceof Effect.JournalKill || effect instanceof Effect.TearDownAhead
            || effect instanceof Effect.WriteBehind)
        {
            // About the record's write: the actor acted on it before the effects ran.
        }
        else
        {
            throw new IllegalStateException("no handler for effect " + effect);
        }
    }

    /** The start sequence's (or, after a restart, the adopted) process; false if the VMM is past using it. */
    boolean adopt(final ZoneProcess spawnedProcess, final Phase phase)
    {
        if (phase == Phase.HALTING || phase == Phase.DONE || gone)
        {
            // The teardown under way kills the zone by name; only the pidfd is ours to release.
            spawnedProcess.close();
            return false;
        }
        process = spawnedProcess;
        // Crash detection from the process itself, not from a failed HTTP call.
        spawnedProcess.exited().thenRun(() -> post.accept(new Event.ProcessExited()));
        return true;
    }

    /** Last resort after the lifecycle failed twice: stop everything and kill the zone, without the lifecycle. */
    void wreck()
    {
        watch.cancel();
        cancelDeadline();
        keeper.abandon();
        tearDown(null);
    }

    /** While wrecked: a teardown result. Retries a failure; on success answers everyone and leaves the table. */
    void onWreckedTeardown(final boolean tornDown)
    {
        if (!tornDown)
        {
            retryTearDown();
            return;
        }
        for (final DeferredReply waiting : deferred)
        {
            waiting.reply().complete(new Reply.Failed(ApiError.internal("VMM " + propolisId
                + " was ended after an internal error; its zone is gone")));
        }
        deferred.clear();
        remove();
    }

    private void tearDown(final String lastLookAddr)
    {
        watch.cancel();
        watch = Cancellable.NONE;
        tearDownAttempts = 0;
        driver.tearDown(propolisId, 0, lastLookAddr, startJob, process, post);
    }

    private void retryTearDown()
    {
        tearDownAttempts++;
        metrics.teardownRetry();
        driver.tearDown(propolisId, tearDownAttempts, null, startJob, process, post);
    }

    private void cancelDeadline()
    {
        stopDeadline.cancel();
        stopDeadline = Cancellable.NONE;
        if (deadlineArmed)
        {
            deadlineArmed = false;
            metrics.stopDeadlineDone();
        }
    }

    private void remove()
    {
        if (gone)
        {
            // A late result replayed the removal: the id may belong to a new VMM by now; leave it alone.
            return;
        }
        gone = true;
        process = null;
        startJob = Cancellable.NONE;
        cancelDeadline();
        removed.run();
        driver.forget(propolisId);
        keeper.delete();
        LOG.fine(() -> "vmm " + propolisId + ": gone");
    }

    private record DeferredReply(boolean unregister, CompletableFuture<Reply> reply)
    {
    }
}
