package sledagent.agent.vmm;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import sledagent.api.MigrationRuntimeState;
import sledagent.api.MigrationState;
import sledagent.api.SledVmmState;
import sledagent.api.VmmPutStateResponse;
import sledagent.api.VmmState;
import sledagent.api.VmmUnregisterResponse;
import sledagent.api.propolis.InstanceMigrateStatusResponse;
import sledagent.api.propolis.InstanceMigrationStatus;
import sledagent.api.propolis.InstanceStateMonitorResponse;
import sledagent.api.propolis.PropolisInstanceState;
import sledagent.api.propolis.PropolisStateRequested;
import sledagent.hypervisor.PropolisStates;

/**
 * THE VMM state machine: {@code (record, event) -> (next record, effects, reply)}. Pure: no clock (the time is
 * passed in), no I/O, no threads. No other class changes a VMM's state.
 *
 * <p>Rules (DESIGN.md): every change of the published state raises the generation by exactly one; Propolis
 * {@code Stopped} is published as {@code stopping}; a terminal VMM never changes again; the terminal state
 * ({@code destroyed} or {@code failed}) is published only once the zone is gone, and the VMM leaves the table
 * only once that publish is settled; after an unregister nothing is published.
 *
 * <p>Writes (the actor's rule): a step's record is on disk before its effects run, except that a step with
 * {@link Effect.JournalKill} kills at once (the kill kept in the journal) while its record is written, a step with
 * {@link Effect.TearDownAhead} (a VMM that ended by itself, halted as a restart would halt it) tears down while its
 * record is written, and a step with {@link Effect.WriteBehind} writes its record after its effects; either way an
 * effect never runs before every earlier record of the VMM is on disk, so nothing is published or answered that a
 * restart could not repeat.
 *
 * <table>
 * <caption>(phase, event) -&gt; (next phase, effects, reply). "-" = unchanged / no-op.</caption>
 * <tr><th>phase</th><th>event</th><th>next</th><th>effects</th><th>reply</th></tr>
 * <tr><td>REGISTERED</td><td>Run</td><td>STARTING</td><td>StartVmm</td><td>200 null (progress is published; omicron
 *     #4691)</td></tr>
 * <tr><td>REGISTERED</td><td>Stop</td><td>DONE, destroyed</td><td>Publish</td><td>200 destroyed (nothing spawned;
 *     omicron #2517)</td></tr>
 * <tr><td>REGISTERED</td><td>ForceTerminate</td><td>DONE, destroyed</td><td>Publish</td><td>200 destroyed</td></tr>
 * <tr><td>REGISTERED</td><td>Unregister</td><td>DONE, failed, owner Nexus</td><td>RemoveFromTable</td><td>200
 *     failed</td></tr>
 * <tr><td>STARTING</td><td>Run</td><td>-</td><td>-</td><td>200 null</td></tr>
 * <tr><td>STARTING, ACTIVE</td><td>PropolisLost</td><td>HALTING(failed)</td><td>TearDownZone</td><td></td></tr>
 * <tr><td>ACTIVE</td><td>Run, after a stop</td><td>-</td><td>-</td><td>409</td></tr>
 * <tr><td>REGISTERED (with migration_id)</td><td>MigrationTarget</td><td>STARTING</td><td>StartVmm(source)</td><td>200
 *     null</td></tr>
 * <tr><td>REGISTERED (no migration_id)</td><td>MigrationTarget</td><td>-</td><td>-</td><td>409</td></tr>
 * <tr><td>STARTING / ACTIVE</td><td>MigrationTarget</td><td>-</td><td>-</td><td>200 null / 409</td></tr>
 * <tr><td>STARTING</td><td>VmmStarted</td><td>ACTIVE</td><td>WatchPropolis(0)</td><td></td></tr>
 * <tr><td>STARTING</td><td>StartFailed</td><td>HALTING(failed)</td><td>TearDownZone</td><td></td></tr>
 * <tr><td>STARTING</td><td>Stop</td><td>HALTING(destroyed), stopping</td><td>Publish, TearDownZone</td>
 *     <td>200 stopping (the guest never ran: killing is the stop)</td></tr>
 * <tr><td>ACTIVE</td><td>Run</td><td>-</td><td>SendPropolisState(Run)</td><td>200 null</td></tr>
 * <tr><td>ACTIVE</td><td>Stop (first)</td><td>-, stopping; deadline = now + the record's stop
 *     grace</td><td>ArmStopDeadline(deadline), Publish, SendPropolisState(Stop)</td>
 *     <td>200 stopping (never waits on the VMM)</td></tr>
 * <tr><td>ACTIVE</td><td>Stop (again)</td><td>-</td><td>SendPropolisState(Stop); the deadline is not
 *     re-armed</td><td>200 current</td></tr>
 * <tr><td>ACTIVE</td><td>Reboot, while running</td><td>-, rebooting</td><td>Publish,
 *     SendPropolisState(Reboot)</td><td>200 rebooting</td></tr>
 * <tr><td>ACTIVE</td><td>PropolisObserved</td><td>- or HALTING on Destroyed/Failed</td>
 *     <td>Publish if the mapped state or a migration changed; WatchPropolis(gen+1), or TearDownZone(last
 *     look), with TearDownAhead when nothing is published and the terminal is the one a restart would reach from
 *     the record before (failed, unless Propolis had reported Stopped)</td><td></td></tr>
 * <tr><td>HALTING</td><td>LastLook</td><td>migrations updated</td><td>Publish if a migration changed</td><td></td></tr>
 * <tr><td>STARTING, ACTIVE</td><td>ProcessExited</td><td>HALTING(failed; destroyed if Propolis had reported
 *     Stopped)</td><td>TearDownAhead, TearDownZone</td><td></td></tr>
 * <tr><td>STARTING, ACTIVE</td><td>StopGraceExpired</td><td>HALTING(destroyed, not failed: no auto-restart of a VM the
 *     user stopped)</td><td>JournalKill, TearDownZone (the kill goes ahead while the record is
 *     written)</td><td></td></tr>
 * <tr><td>STARTING, ACTIVE</td><td>ForceTerminate</td><td>HALTING(destroyed)</td><td>JournalKill,
 *     TearDownZone (the kill goes ahead while the record is written)</td><td>deferred: the final state</td></tr>
 * <tr><td>STARTING, ACTIVE</td><td>Unregister</td><td>HALTING(failed), owner Nexus,
 *     failed</td><td>JournalKill, TearDownZone</td><td>deferred: failed</td></tr>
 * <tr><td>HALTING</td><td>Unregister</td><td>owner Nexus, failed</td><td>-</td><td>deferred: failed</td></tr>
 * <tr><td>HALTING</td><td>ZoneTornDown</td><td>DONE, terminal; unfinished migrations failed, completed ones
 *     stay</td><td>owner agent: WriteBehind, Publish, AnswerDeferred (after the HALTING record's write, not this
 *     one's); owner Nexus: AnswerDeferred, RemoveFromTable</td><td></td></tr>
 * <tr><td>HALTING</td><td>ZoneTeardownFailed</td><td>-</td><td>RetryTearDown (never given up, never
 *     ignored)</td><td></td></tr>
 * <tr><td>HALTING, DONE</td><td>Run, Reboot, ForceTerminate, MigrationTarget</td><td>-</td><td>-</td><td>410
 *     NO_SUCH_INSTANCE</td></tr>
 * <tr><td>HALTING, DONE</td><td>Stop</td><td>-</td><td>-</td><td>200 current (idempotent)</td></tr>
 * <tr><td>any</td><td>PublishSettled(gen)</td><td>acked gen raised</td><td>-</td><td></td></tr>
 * <tr><td>DONE</td><td>PublishSettled(terminal gen)</td><td>-</td><td>RemoveFromTable</td><td></td></tr>
 * <tr><td>not DONE</td><td>Recovered, current gen above the acked one</td><td>-</td><td>Publish(current)
 *     first</td><td>never heard by Nexus</td></tr>
 * <tr><td>DONE</td><td>Unregister</td><td>owner Nexus</td><td>RemoveFromTable</td><td>200 final</td></tr>
 * <tr><td>any</td><td>Recovered with journalled kills</td><td>each kill folded in first, as its request would
 *     have changed the record (its effects dropped); then the rows below on the result</td><td></td>
 *     <td>a record behind what Nexus was told catches up: the same gens, the same states</td></tr>
 * <tr><td>REGISTERED</td><td>Recovered</td><td>-</td><td>-</td><td>(agent restarted)</td></tr>
 * <tr><td>STARTING</td><td>Recovered, process alive</td><td>-</td><td>ResumeStart</td><td>the start goes on with the
 *     same process: ensure if needed, Run</td></tr>
 * <tr><td>STARTING</td><td>Recovered, process gone</td><td>HALTING(failed)</td><td>TearDownZone</td><td></td></tr>
 * <tr><td>ACTIVE</td><td>Recovered, process alive</td><td>-</td><td>if a stop was requested: ArmStopDeadline(the
 *     record's deadline), SendPropolisState(Stop); WatchPropolis(0)</td><td>re-adopted</td></tr>
 * <tr><td>ACTIVE</td><td>Recovered, process gone</td><td>HALTING(as
 *     ProcessExited)</td><td>TearDownZone</td><td></td></tr>
 * <tr><td>HALTING</td><td>Recovered</td><td>-</td><td>TearDownZone</td><td>finish the teardown</td></tr>
 * <tr><td>DONE</td><td>Recovered</td><td>-</td><td>Publish again (owner agent) or RemoveFromTable</td><td></td></tr>
 * <tr><td>REGISTERED</td><td>Faulted</td><td>DONE, failed</td><td>Publish</td><td>handling an event threw</td></tr>
 * <tr><td>STARTING, ACTIVE</td><td>Faulted</td><td>HALTING(failed)</td><td>TearDownZone</td><td>as a force-terminate,
 *     but failed: the agent ended it, not the user</td></tr>
 * <tr><td>HALTING</td><td>Faulted</td><td>-</td><td>TearDownZone (idempotent)</td><td></td></tr>
 * <tr><td>DONE</td><td>Faulted</td><td>-</td><td>Publish again (owner agent) or RemoveFromTable</td><td></td></tr>
 * <tr><td>any</td><td>Reboot when not running</td><td>-</td><td>-</td><td>409</td></tr>
 * <tr><td>any</td><td>anything else</td><td>-</td><td>-</td><td>late results of cancelled work are ignored</td></tr>
 * </table>
 */
public final class VmmLifecycle
{
    /** The first generation of a migration record this sled creates (Nexus's own row starts at 1). */
    static final long FRESH_MIGRATION_GEN = 2;

    private VmmLifecycle()
    {
    }

    /** Applies {@code event} to {@code record} at time {@code now}. */
    public static Transition apply(final VmmRecord record, final Event event, final Instant now)
    {
        final Step step = new Step(record, now);
        // A switch expression over the kind: an event kind with no row here does not compile.
        final Runnable row = switch (event.kind())
        {
            case RUN_REQUESTED -> () -> onRun(step);
            case STOP_REQUESTED -> () -> onStop(step);
            case REBOOT_REQUESTED -> () -> onReboot(step);
            case MIGRATION_TARGET_REQUESTED -> () -> onMigrationTarget(step,
                ((Event.MigrationTargetRequested)event).params().srcPropolisAddr());
            case UNREGISTER_REQUESTED -> () -> onUnregister(step);
            case FORCE_TERMINATE_REQUESTED -> () -> onForceTerminate(step);
            case VMM_STARTED -> () -> onStarted(step);
            case START_FAILED -> () -> onStartFailed(step);
            case PROPOLIS_OBSERVED -> () -> onObserved(step, ((Event.PropolisObserved)event).observation());
            case LAST_LOOK -> () -> onLastLook(step, ((Event.LastLook)event).observation());
            case PROPOLIS_LOST -> () -> onLost(step);
            case PROCESS_EXITED -> () -> onExited(step);
            case STOP_GRACE_EXPIRED -> () -> onGraceExpired(step);
            case ZONE_TORN_DOWN -> () -> onTornDown(step);
            case ZONE_TEARDOWN_FAILED -> () -> onTeardownFailed(step);
            case RECOVERED -> () -> onRecovered(step, ((Event.Recovered)event).processAlive(),
                ((Event.Recovered)event).kills());
            case FAULTED -> () -> onFaulted(step);
            case PUBLISH_SETTLED -> () -> onPublishSettled(step, ((Event.PublishSettled)event).gen());
        };
        row.run();
        return step.transition();
    }

    private static void onStarted(final Step step)
    {
        if (step.record.phase() == Phase.STARTING)
        {
            step.record = step.record.withPhase(Phase.ACTIVE);
            step.effects.add(new Effect.WatchPropolis(0));
        }
    }

    private static void onStartFailed(final Step step)
    {
        if (step.record.phase() == Phase.STARTING)
        {
            halt(step, VmmState.FAILED);
        }
    }

    private static void onLastLook(final Step step, final InstanceStateMonitorResponse observation)
    {
        if (step.record.phase() == Phase.HALTING)
        {
            observeMigrations(step, step.record.vmmState(), observation);
        }
    }

    private static void onLost(final Step step)
    {
        if (isLive(step.record.phase()))
        {
            halt(step, VmmState.FAILED);
        }
    }

    private static void onExited(final Step step)
    {
        if (isLive(step.record.phase()))
        {
            // The record before this step, read by a restart with the process gone, gives this same terminal.
            step.effects.add(new Effect.TearDownAhead());
            halt(step, terminalAfterExit(step.record), false);
        }
    }

    /**
     * The terminal state of a VMM whose process went away: destroyed if Propolis had reported its guest halted
     * (stopped, not lost), failed otherwise, a stop in progress included (it may have crashed on the way).
     */
    private static VmmState terminalAfterExit(final VmmRecord record)
    {
        final PropolisInstanceState last = record.lastPropolisState();
        final boolean halted = last == PropolisInstanceState.Stopped || last == PropolisInstanceState.Destroyed;
        return halted ? VmmState.DESTROYED : VmmState.FAILED;
    }

    private static void onGraceExpired(final Step step)
    {
        if (isLive(step.record.phase()))
        {
            // Destroyed, not failed: no auto-restart of a VM the user stopped. The kill does not wait for the
            // record: journalled, a restart folds it in and says destroyed too (from the record before, with the
            // process gone, it would say failed).
            step.effects.add(new Effect.JournalKill(KillIntent.Kind.GRACE_EXPIRED));
            halt(step, VmmState.DESTROYED);
        }
    }

    private static void onTeardownFailed(final Step step)
    {
        if (step.record.phase() == Phase.HALTING)
        {
            step.effects.add(new Effect.RetryTearDown());
        }
    }

    private static void onPublishSettled(final Step step, final long gen)
    {
        final VmmRecord record = step.record;
        if (gen > record.ackedGen())
        {
            step.record = record.withAckedGen(gen);
        }
        if (record.phase() == Phase.DONE && gen >= record.gen())
        {
            step.effects.add(new Effect.RemoveFromTable());
        }
    }

    private static void onRun(final Step step)
    {
        switch (step.record.phase())
        {
            case REGISTERED ->
            {
                step.record = step.record.withPhase(Phase.STARTING);
                step.effects.add(new Effect.StartVmm(null));
                step.reply = new Reply.Ok(new VmmPutStateResponse(null));
            }
            case STARTING -> step.reply = new Reply.Ok(new VmmPutStateResponse(null));
            case ACTIVE ->
            {
                if (step.record.stopRequested())
                {
                    step.reply = new Reply.Failed(ApiError.conflict("VMM is stopping"));
                }
                else
                {
                    step.effects.add(new Effect.SendPropolisState(PropolisStateRequested.Run));
                    step.reply = new Reply.Ok(new VmmPutStateResponse(null));
                }
            }
            case HALTING, DONE -> step.reply = new Reply.Failed(ApiError.tearingDown());
        }
    }

    private static void onMigrationTarget(final Step step, final String sourceAddr)
    {
        final VmmRecord record = step.record;
        switch (record.phase())
        {
            case REGISTERED ->
            {
                if (record.registration().migrationId() == null)
                {
                    step.reply = new Reply.Failed(ApiError.conflict(
                        "VMM was not registered as a migration target (no migration_id)"));
                    return;
                }
                step.record = record.withPhase(Phase.STARTING);
                step.effects.add(new Effect.StartVmm(sourceAddr));
                step.reply = new Reply.Ok(new VmmPutStateResponse(null));
            }
            case STARTING -> step.reply = new Reply.Ok(new VmmPutStateResponse(null));
            case ACTIVE -> step.reply = new Reply.Failed(ApiError.conflict("VMM is already running"));
            case HALTING, DONE -> step.reply = new Reply.Failed(ApiError.tearingDown());
        }
    }

    /** Applies a Propolis observation's migration statuses (with {@code vmmState}) and publishes any change. */
    private static void observeMigrations(final Step step, final VmmState vmmState,
        final InstanceStateMonitorResponse observation)
    {
        final SledVmmState current = step.record.current();
        final InstanceMigrateStatusResponse migration = observation.migration();
        final VmmRecord next = step.record.withStates(vmmState,
            observeMigration(current.migrationIn(), migration.migrationIn(), step.now),
            observeMigration(current.migrationOut(), migration.migrationOut(), step.now), step.now);
        if (next != step.record)
        {
            step.record = next;
            publish(step);
        }
    }

    /**
     * One migration side (omicron's rules): a new id, or a first report, is a fresh record at gen 2 (Nexus's row
     * starts at 1); the same id in a new state is the next gen; a finished migration never changes again, so one
     * seen completed is never reported failed.
     */
    private static MigrationRuntimeState observeMigration(final MigrationRuntimeState current,
        final InstanceMigrationStatus observed, final Instant now)
    {
        if (observed == null)
        {
            return current;
        }
        final MigrationState mapped = PropolisStates.migrationState(observed.state());
        if (current == null || !current.migrationId().equals(observed.id()))
        {
            return new MigrationRuntimeState(observed.id(), mapped, FRESH_MIGRATION_GEN, now);
        }
        if (current.state().isTerminal() || current.state() == mapped)
        {
            return current;
        }
        return new MigrationRuntimeState(current.migrationId(), mapped, VmmRecord.nextGen(current.gen()), now);
    }

    private static void onStop(final Step step)
    {
        final VmmRecord record = step.record;
        switch (record.phase())
        {
            case REGISTERED ->
            {
                // Nothing was ever spawned: stopping it is just saying so.
                step.record = record.withTerminalState(VmmState.DESTROYED, step.now).withPhase(Phase.DONE);
                publish(step);
                step.reply = putStateReply(step.record);
            }
            case STARTING ->
            {
                // The guest never ran: killing the zone is the stop, so no grace deadline is needed.
                step.record = record.withVmmState(VmmState.STOPPING, step.now);
                publish(step);
                halt(step, VmmState.DESTROYED);
                step.reply = putStateReply(step.record);
            }
            case ACTIVE ->
            {
                if (!record.stopRequested())
                {
                    // The grace is decided once, here, and kept in the record (and so across restarts).
                    step.record = record.withStopRequested(step.now.plusMillis(record.stopGraceMs()));
                    step.effects.add(new Effect.ArmStopDeadline(step.record.stopDeadlineAt()));
                }
                final long genBefore = step.record.gen();
                step.record = step.record.withVmmState(VmmState.STOPPING, step.now);
                if (step.record.gen() != genBefore)
                {
                    publish(step);
                }
                step.effects.add(new Effect.SendPropolisState(PropolisStateRequested.Stop));
                step.reply = putStateReply(step.record);
            }
            case HALTING, DONE -> step.reply = putStateReply(record);
        }
    }

    private static void onReboot(final Step step)
    {
        final VmmRecord record = step.record;
        if (record.phase() == Phase.HALTING || record.phase() == Phase.DONE)
        {
            step.reply = new Reply.Failed(ApiError.tearingDown());
        }
        else if (record.phase() != Phase.ACTIVE || record.stopRequested() || record.vmmState() != VmmState.RUNNING)
        {
            step.reply = new Reply.Failed(ApiError.conflict(
                "VMM is not running (state " + record.vmmState().wireName() + ")"));
        }
        else
        {
            step.record = record.withVmmState(VmmState.REBOOTING, step.now);
            publish(step);
            step.effects.add(new Effect.SendPropolisState(PropolisStateRequested.Reboot));
            step.reply = putStateReply(step.record);
        }
    }

    private static void onUnregister(final Step step)
    {
        final VmmRecord record = step.record;
        switch (record.phase())
        {
            case REGISTERED ->
            {
                step.record = record.withTerminalState(VmmState.FAILED, step.now).withOwner(Owner.NEXUS)
                    .withPhase(Phase.DONE);
                step.effects.add(new Effect.RemoveFromTable());
                step.reply = new Reply.Ok(new VmmUnregisterResponse(step.record.current()));
            }
            case STARTING, ACTIVE ->
            {
                // Owner first: the failed state below is the reply, never a publish. Migrations are settled only
                // at ZoneTornDown, after the last look, so a migration that finished is not reported failed.
                step.record = record.withOwner(Owner.NEXUS).withStates(VmmState.FAILED,
                    record.current().migrationIn(), record.current().migrationOut(), step.now);
                step.effects.add(new Effect.JournalKill(KillIntent.Kind.UNREGISTER));
                halt(step, VmmState.FAILED);
                step.reply = Reply.DEFERRED;
            }
            case HALTING ->
            {
                // Whatever the teardown was going to publish, Nexus takes the VMM back as failed.
                step.record = record.withOwner(Owner.NEXUS).withStates(VmmState.FAILED,
                    record.current().migrationIn(), record.current().migrationOut(), step.now);
                step.reply = Reply.DEFERRED;
            }
            case DONE ->
            {
                step.record = record.withOwner(Owner.NEXUS);
                step.effects.add(new Effect.RemoveFromTable());
                step.reply = new Reply.Ok(new VmmUnregisterResponse(record.current()));
            }
        }
    }

    private static void onForceTerminate(final Step step)
    {
        final VmmRecord record = step.record;
        switch (record.phase())
        {
            case REGISTERED ->
            {
                step.record = record.withTerminalState(VmmState.DESTROYED, step.now).withPhase(Phase.DONE);
                publish(step);
                step.reply = new Reply.Ok(step.record.current());
            }
            case STARTING, ACTIVE ->
            {
                // The kill does not wait for the record: this step publishes and answers nothing itself.
                step.effects.add(new Effect.JournalKill(KillIntent.Kind.FORCE_TERMINATE));
                halt(step, VmmState.DESTROYED);
                step.reply = Reply.DEFERRED;
            }
            case HALTING, DONE -> step.reply = new Reply.Failed(ApiError.tearingDown());
        }
    }

    private static void onObserved(final Step step, final InstanceStateMonitorResponse observation)
    {
        if (step.record.phase() != Phase.ACTIVE)
        {
            return;
        }
        // What a restart from the record before this step would publish, had the process gone meanwhile.
        final VmmState afterRestart = terminalAfterExit(step.record);
        step.record = step.record.withPropolisState(observation.state());
        final VmmState mapped = PropolisStates.vmmState(observation.state());
        if (mapped.isTerminal())
        {
            // The VMM state waits until the zone is gone ("destroyed" promises nothing is left), but a migration
            // that finished is news now.
            final int effectsBefore = step.effects.size();
            observeMigrations(step, step.record.vmmState(), observation);
            final boolean publishes = step.effects.size() > effectsBefore;
            halt(step, mapped);
            if (!publishes && mapped == afterRestart)
            {
                step.effects.add(new Effect.TearDownAhead());
            }
            return;
        }
        // After a stop, an older "running" still in flight must not move the VMM backwards.
        final boolean backwards = step.record.stopRequested() && mapped != VmmState.STOPPING;
        observeMigrations(step, backwards ? step.record.vmmState() : mapped, observation);
        step.effects.add(new Effect.WatchPropolis(VmmRecord.nextGen(observation.gen())));
    }

    private static void onRecovered(final Step step, final boolean processAlive, final List<KillIntent> kills)
    {
        // First the kills the old agent carried out but could not write down: the record catches up with what
        // Nexus may already have been told. Their effects are not wanted (the work is judged below, once).
        for (final KillIntent kill : kills)
        {
            final Step fold = new Step(step.record, step.now);
            switch (kill.kind())
            {
                case STOP -> onStop(fold);
                case FORCE_TERMINATE -> onForceTerminate(fold);
                case UNREGISTER -> onUnregister(fold);
                case GRACE_EXPIRED -> onGraceExpired(fold);
            }
            if (kill.stopDeadlineAt() != null && !step.record.stopRequested() && fold.record.stopDeadlineAt() != null)
            {
                // The grace keeps the end it was given, not a fresh one from the restart.
                fold.record = fold.record.withStopRequested(kill.stopDeadlineAt());
            }
            step.record = fold.record;
        }
        final VmmRecord record = step.record;
        if (record.phase() != Phase.DONE && record.owner() == Owner.AGENT && record.gen() > record.ackedGen())
        {
            // The old agent stopped before Nexus acknowledged this state: it was never heard, so send it now.
            step.effects.add(new Effect.Publish(record.current()));
        }
        switch (record.phase())
        {
            case REGISTERED ->
            {
                // Nothing was running; nothing to resume.
            }
            case STARTING ->
            {
                if (processAlive)
                {
                    // The start sequence died with the old agent but its VMM lives: finish the start with it.
                    step.effects.add(new Effect.ResumeStart());
                }
                else
                {
                    halt(step, VmmState.FAILED, false);
                }
            }
            case ACTIVE ->
            {
                if (processAlive)
                {
                    // Re-adopted: watch Propolis again from its newest state; a stop it may never have received
                    // is sent again (Propolis de-duplicates stops).
                    if (record.stopRequested())
                    {
                        // The grace at its original wall-clock end (at once if that has passed).
                        if (record.stopDeadlineAt() == null)
                        {
                            step.record = record.withStopRequested(step.now.plusMillis(record.stopGraceMs()));
                        }
                        step.effects.add(new Effect.ArmStopDeadline(step.record.stopDeadlineAt()));
                        step.effects.add(new Effect.SendPropolisState(PropolisStateRequested.Stop));
                    }
                    step.effects.add(new Effect.WatchPropolis(0));
                }
                else
                {
                    // Gone while the agent was away.
                    halt(step, terminalAfterExit(record), false);
                }
            }
            case HALTING -> step.effects.add(new Effect.TearDownZone(false));
            case DONE -> settleDone(step);
        }
    }

    /** A DONE VMM's terminal state goes (again) to Nexus, or, if Nexus took the VMM back, the VMM leaves. */
    private static void settleDone(final Step step)
    {
        if (step.record.owner() == Owner.AGENT)
        {
            // The terminal state may never have reached Nexus: send it again (Nexus ignores a repeat).
            step.effects.add(new Effect.Publish(step.record.current()));
        }
        else
        {
            step.effects.add(new Effect.RemoveFromTable());
        }
    }

    /** Handling an event threw: end the VMM as a force-terminate would, as failed (the agent, not the user). */
    private static void onFaulted(final Step step)
    {
        switch (step.record.phase())
        {
            case REGISTERED ->
            {
                step.record = step.record.withTerminalState(VmmState.FAILED, step.now).withPhase(Phase.DONE);
                publish(step);
            }
            case STARTING, ACTIVE -> halt(step, VmmState.FAILED, false);
            // The teardown's own result may be what was lost: tear down again (it is idempotent).
            case HALTING -> step.effects.add(new Effect.TearDownZone(false));
            case DONE -> settleDone(step);
        }
    }

    private static void onTornDown(final Step step)
    {
        final VmmRecord record = step.record;
        if (record.phase() != Phase.HALTING)
        {
            return;
        }
        if (record.owner() == Owner.NEXUS)
        {
            step.record = record.withTerminalState(VmmState.FAILED, step.now).withPhase(Phase.DONE);
            step.effects.add(new Effect.AnswerDeferred(step.record.current()));
            step.effects.add(new Effect.RemoveFromTable());
            return;
        }
        // The HALTING record (on disk before these effects run) makes a restart publish this same state with this
        // same generation, so the DONE record need not be on disk first.
        step.effects.add(new Effect.WriteBehind());
        step.record = record.withTerminalState(record.pendingTerminal(), step.now).withPhase(Phase.DONE);
        publish(step);
        step.effects.add(new Effect.AnswerDeferred(step.record.current()));
    }

    /** Enter HALTING with {@code terminal} to publish once the zone is gone. */
    private static void halt(final Step step, final VmmState terminal)
    {
        halt(step, terminal, true);
    }

    /** As {@link #halt(Step, VmmState)}; {@code processAlive} false skips the last look (nobody to ask). */
    private static void halt(final Step step, final VmmState terminal, final boolean processAlive)
    {
        if (step.record.stopDeadlineAt() != null)
        {
            step.effects.add(new Effect.CancelStopDeadline());
            step.record = step.record.withoutStopDeadline();
        }
        // A last look can only change a migration's outcome, so it is taken only if a migration may be under
        // way (Propolis reported Migrating, or a migration is not finished) and Propolis may still answer. It
        // costs up to 100 ms on the way to the kill (perf/RESULTS.md: about 5 ms at p50 with a live sim).
        final boolean lastLook = processAlive && step.record.phase() == Phase.ACTIVE
            && migrationMayBeUnderWay(step.record);
        step.record = step.record.halting(terminal);
        step.effects.add(new Effect.TearDownZone(lastLook));
    }

    private static boolean migrationMayBeUnderWay(final VmmRecord record)
    {
        final PropolisInstanceState last = record.lastPropolisState();
        if (last != null && last.isHalted())
        {
            return false;
        }
        return last == PropolisInstanceState.Migrating || unfinished(record.current().migrationIn())
            || unfinished(record.current().migrationOut());
    }

    private static boolean unfinished(final MigrationRuntimeState migration)
    {
        return migration != null && !migration.state().isTerminal();
    }

    private static void publish(final Step step)
    {
        if (step.record.owner() == Owner.AGENT)
        {
            step.effects.add(new Effect.Publish(step.record.current()));
        }
    }

    private static boolean isLive(final Phase phase)
    {
        return phase == Phase.STARTING || phase == Phase.ACTIVE;
    }

    private static Reply putStateReply(final VmmRecord record)
    {
        return new Reply.Ok(new VmmPutStateResponse(record.current()));
    }

    /** The mutable scratch of one step; never escapes {@link #apply}. */
    private static final class Step
    {
        private final Instant now;
        private final List<Effect> effects = new ArrayList<>(4);
        private VmmRecord record;
        private Reply reply;

        private Step(final VmmRecord record, final Instant now)
        {
            this.record = record;
            this.now = now;
        }

        private Transition transition()
        {
            return new Transition(record, effects, reply);
        }
    }
}
