package sledagent.hypervisor.sim;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import sledagent.api.propolis.InstanceEnsureRequest;
import sledagent.api.propolis.InstanceInitializationMethod;
import sledagent.api.propolis.InstanceMigrationStatus;
import sledagent.api.propolis.PropolisInstanceState;
import sledagent.api.propolis.PropolisMigrationState;
import sledagent.hypervisor.server.Machine;
import sledagent.hypervisor.server.MachineContext;
import sledagent.hypervisor.server.PropolisRefusal;

import static sledagent.api.propolis.PropolisInstanceState.Creating;
import static sledagent.api.propolis.PropolisInstanceState.Destroyed;
import static sledagent.api.propolis.PropolisInstanceState.Failed;
import static sledagent.api.propolis.PropolisInstanceState.Migrating;
import static sledagent.api.propolis.PropolisInstanceState.Rebooting;
import static sledagent.api.propolis.PropolisInstanceState.Running;
import static sledagent.api.propolis.PropolisInstanceState.Starting;
import static sledagent.api.propolis.PropolisInstanceState.Stopped;
import static sledagent.api.propolis.PropolisInstanceState.Stopping;
import static sledagent.api.propolis.PropolisMigrationState.Device;
import static sledagent.api.propolis.PropolisMigrationState.Error;
import static sledagent.api.propolis.PropolisMigrationState.Finish;
import static sledagent.api.propolis.PropolisMigrationState.Pause;
import static sledagent.api.propolis.PropolisMigrationState.RamPull;
import static sledagent.api.propolis.PropolisMigrationState.RamPush;
import static sledagent.api.propolis.PropolisMigrationState.RamPushDirty;
import static sledagent.api.propolis.PropolisMigrationState.Resume;
import static sledagent.api.propolis.PropolisMigrationState.Sync;

/**
 * The simulated VM of one propolis-sim, the {@link Machine} behind its {@link sledagent.hypervisor.server
 * .PropolisInstance}: the transitions each accepted request goes through, one per step, and both ends of a live
 * migration ({@link SimMigration}). The instance judges requests; this only plays them out.
 *
 * <p>A request's first state is published inside the call (under the instance lock, before the HTTP answer); the rest
 * follow one per step on the stepper thread. A later request that preempts a plan (a Stop while starting) replaces it;
 * the epoch makes the replaced plan's pending step a no-op.
 *
 * <p>Migration out runs as a plan (Sync, RamPush, Pause, RamPushDirty, Device, one per {@code vm.migrateStepMs()}), then
 * waits for the target's finish call (Finish, and Destroyed {@code vm.rundownMs()} later). Migration in is driven by the
 * target: it calls the source through the {@link SimMigration.Link} and publishes its own phases (Sync, RamPull,
 * Device, Resume, then Running with Finish), each at least {@code vm.migrateStepMs()} after the last and none before the
 * source has reached the matching phase. Calls on the link and completions of source-side polls run only once the
 * lock is released, so two VMs wired together in one JVM never hold each other's locks.
 */
final class SimMachine implements Machine
{
    private final MachineContext ctx;
    private final SimVm vm;
    private final ArrayDeque<Step> plan = new ArrayDeque<>();
    private long planEpoch;
    private ObjectNode spec;
    private long migrations;
    private MigrationIn in;
    private MigrationOut out;

    /**
     * Called under the instance lock by the first ensure.
     *
     * @param ctx     the instance
     * @param vm      the sim's settings (stepper, delays, link, fault)
     * @param request the ensure request
     */
    SimMachine(final MachineContext ctx, final SimVm vm, final InstanceEnsureRequest request)
    {
        this.ctx = ctx;
        this.vm = vm;
        if (request.init() instanceof InstanceInitializationMethod.MigrationTarget target)
        {
            final MigrationIn migration = new MigrationIn(target.value().migrationId(), target.value().srcAddr());
            in = migration;
            ctx.afterUnlock(() -> vm.link().start(migration.srcAddr, migration.id, vm.migrateStepMs())
                .whenComplete((report, failure) -> migrationInStarted(migration, report, failure)));
        }
        else if (request.init() instanceof InstanceInitializationMethod.Spec fromSpec)
        {
            spec = fromSpec.value().spec();
        }
        else
        {
            throw new IllegalStateException("unreachable: " + request.init());
        }
    }

    @Override
    public void start()
    {
        replacePlan(List.of(Starting, vm.fault() == SimFault.FAIL_START ? Failed : Running));
    }

    @Override
    public void stop(final PropolisInstanceState from)
    {
        final boolean hang = vm.fault() == SimFault.HANG_STOP;
        switch (from)
        {
            // A migration target that has not finished: its migration in ends in Error.
            case Creating, Starting, Migrating -> replacePlan(hang ? List.of(Stopping) : List.of(Stopped, Destroyed));
            default -> replacePlan(hang ? List.of(Stopping) : List.of(Stopping, Stopped, Destroyed));
        }
    }

    @Override
    public void reboot()
    {
        replacePlan(List.of(Rebooting, Running));
    }

    /**
     * {@code POST /mock/migrate/{id}/start} on the source: a Running VM becomes the source of migration {@code id}
     * (Migrating, migration_out {@code Sync}) and steps through its phases up to {@code Device} on its own.
     *
     * @param targetStepMs the target's step, which bounds how long the source waits for its next call
     * @throws PropolisRefusal 424 before ensure; 403 if the VM is not Running or already a migration source
     */
    SimMigration.Report migrateOutStart(final UUID id, final long targetStepMs) throws PropolisRefusal
    {
        ctx.lock();
        try
        {
            ctx.requireMigratableOut();
            if (spec == null)
            {
                throw new IllegalStateException("a Running VM without a spec");
            }
            out = new MigrationOut(id, Math.max(0, targetStepMs));
            plan.clear();
            planEpoch++;
            publish(new Step(Migrating, null, status(id, Sync), 0));
            for (final PropolisMigrationState phase : List.of(RamPush, Pause, RamPushDirty, Device))
            {
                plan.add(new Step(Migrating, null, status(id, phase), vm.migrateStepMs()));
            }
            scheduleNextStep();
            heardFromTarget(out);
            return report(out);
        }
        finally
        {
            ctx.unlock();
        }
    }

    /**
     * {@code POST /mock/migrate/{id}/poll} on the source: completes with the migration-out phase as soon as it is not
     * {@code after}, or with the unchanged phase after {@link SimMigration#POLL_WINDOW_MS}. Never fails once returned.
     *
     * @throws PropolisRefusal 424 before ensure; 404 if {@code id} is not this VM's newest migration out
     */
    CompletableFuture<SimMigration.Report> migrateOutPoll(final UUID id, final PropolisMigrationState after)
        throws PropolisRefusal
    {
        ctx.lock();
        try
        {
            final MigrationOut migration = requireMigrationOut(id);
            heardFromTarget(migration);
            if (migration.phase != after)
            {
                return CompletableFuture.completedFuture(report(migration));
            }
            final Poll poll = new Poll(after, new CompletableFuture<>());
            migration.polls.add(poll);
            vm.stepper().after(SimMigration.POLL_WINDOW_MS, () -> pollWindowEnded(migration, poll));
            return poll.answer;
        }
        finally
        {
            ctx.unlock();
        }
    }

    /**
     * {@code POST /mock/migrate/{id}/finish} on the source: the target has the VM. From {@code Device} the source
     * publishes migration_out {@code Finish} (still Migrating) and {@code Destroyed} {@code vm.rundownMs()} later; a
     * repeated finish answers the same.
     *
     * @throws PropolisRefusal 424 before ensure; 404 for another migration; 409 if the migration failed or is not yet
     *                    at {@code Device}
     */
    SimMigration.Report migrateOutFinish(final UUID id) throws PropolisRefusal
    {
        ctx.lock();
        try
        {
            final MigrationOut migration = requireMigrationOut(id);
            heardFromTarget(migration);
            switch (migration.phase)
            {
                case Finish ->
                {
                    // Already finished: answer as before.
                }
                case Device ->
                {
                    plan.clear();
                    planEpoch++;
                    publish(new Step(Migrating, null, status(id, Finish), 0));
                    plan.add(new Step(Destroyed, null, null, vm.rundownMs()));
                    scheduleNextStep();
                }
                case Error -> throw new PropolisRefusal(409, "MigrationFailed", "migration " + id + " failed");
                default -> throw new PropolisRefusal(409, "MigrationNotReady",
                    "migration " + id + " is in phase " + migration.phase + ", not Device");
            }
            return report(migration);
        }
        finally
        {
            ctx.unlock();
        }
    }

    /** How many migrations brought this guest here (0 for a VM made from a spec). For tests. */
    long migrations()
    {
        ctx.lock();
        try
        {
            return migrations;
        }
        finally
        {
            ctx.unlock();
        }
    }

    /**
     * Publishes the first state now and the rest one per step, dropping whatever plan was under way. A migration in
     * still under way ends in Error with the first state.
     */
    private void replacePlan(final List<PropolisInstanceState> states)
    {
        plan.clear();
        planEpoch++;
        InstanceMigrationStatus migrationIn = null;
        if (in != null && !in.done)
        {
            in.done = true;
            migrationIn = status(in.id, Error);
        }
        publish(new Step(states.get(0), migrationIn, null, 0));
        for (final PropolisInstanceState state : states.subList(1, states.size()))
        {
            plan.add(new Step(state, null, null, vm.stepMs()));
        }
        scheduleNextStep();
    }

    private void scheduleNextStep()
    {
        if (plan.isEmpty())
        {
            return;
        }
        final long epoch = planEpoch;
        vm.stepper().after(plan.peek().delayMs(), () -> step(epoch));
    }

    private void step(final long epoch)
    {
        ctx.lock();
        try
        {
            if (epoch != planEpoch || plan.isEmpty())
            {
                return;
            }
            final Step next = plan.poll();
            if (vm.fault() == SimFault.FAIL_MIGRATION && next.out() != null && next.out().state() == RamPushDirty)
            {
                failMigrationOut("fault fail_migration");
                return;
            }
            publish(next);
            scheduleNextStep();
        }
        finally
        {
            ctx.unlock();
        }
    }

    /** Publishes a new generation; a null migration status in the step keeps the current one. */
    private void publish(final Step step)
    {
        ctx.publish(step.state(), step.in(), step.out());
        final InstanceMigrationStatus migrationOut = ctx.latest().migration().migrationOut();
        if (out != null && migrationOut != null && migrationOut.id().equals(out.id))
        {
            out.phase = migrationOut.state();
            answerPolls(out);
        }
    }

    // ---- migration out (source) ----

    private MigrationOut requireMigrationOut(final UUID id) throws PropolisRefusal
    {
        if (out == null || !out.id.equals(id))
        {
            throw new PropolisRefusal(404, "NoSuchMigration", "no migration out with id " + id);
        }
        return out;
    }

    private SimMigration.Report report(final MigrationOut migration)
    {
        final boolean sent = migration.phase == Device || migration.phase == Finish;
        return new SimMigration.Report(migration.id, migration.phase,
            sent ? SimMigration.Payload.of(ctx.properties(), spec, migrations) : null);
    }

    /** Answers (once the lock is released) every poll that waits for a phase other than the current one. */
    private void answerPolls(final MigrationOut migration)
    {
        final SimMigration.Report report = report(migration);
        migration.polls.removeIf(poll ->
        {
            if (poll.after == migration.phase)
            {
                return false;
            }
            ctx.afterUnlock(() -> poll.answer.complete(report));
            return true;
        });
    }

    private void pollWindowEnded(final MigrationOut migration, final Poll poll)
    {
        ctx.lock();
        try
        {
            if (migration.polls.remove(poll))
            {
                heardFromTarget(migration);
                final SimMigration.Report report = report(migration);
                ctx.afterUnlock(() -> poll.answer.complete(report));
            }
        }
        finally
        {
            ctx.unlock();
        }
    }

    /** Re-arms the watchdog: a target that stays silent for its contact timeout has gone. */
    private void heardFromTarget(final MigrationOut migration)
    {
        final long contact = ++migration.contacts;
        vm.stepper().after(SimMigration.contactTimeoutMs(migration.targetStepMs), () ->
        {
            ctx.lock();
            try
            {
                if (migration == out && migration.contacts == contact && !migration.phase.isTerminal())
                {
                    failMigrationOut("no call from the target for "
                        + SimMigration.contactTimeoutMs(migration.targetStepMs) + " ms");
                }
            }
            finally
            {
                ctx.unlock();
            }
        });
    }

    /** The migration out fails: the guest goes on running here (migration_out Error). */
    private void failMigrationOut(final String reason)
    {
        plan.clear();
        planEpoch++;
        ctx.log("migration out " + out.id + " failed: " + reason);
        publish(new Step(Running, null, status(out.id, Error), 0));
    }

    // ---- migration in (target) ----

    private void migrationInStarted(final MigrationIn migration, final SimMigration.Report report,
        final Throwable failure)
    {
        ctx.lock();
        try
        {
            if (heard(migration, "start", report, failure))
            {
                // The source is at Sync. Hold our own Sync for a step before looking for RamPush.
                scheduleAdvance(migration);
            }
        }
        finally
        {
            ctx.unlock();
        }
    }

    private void migrationInPolled(final MigrationIn migration, final SimMigration.Report report,
        final Throwable failure)
    {
        ctx.lock();
        try
        {
            if (heard(migration, "poll", report, failure))
            {
                advance(migration);
            }
        }
        finally
        {
            ctx.unlock();
        }
    }

    private void migrationInFinished(final MigrationIn migration, final SimMigration.Report report,
        final Throwable failure)
    {
        ctx.lock();
        try
        {
            if (!heard(migration, "finish", report, failure))
            {
                return;
            }
            if (report.phase() != Finish)
            {
                failMigrationIn(migration, "the source answered finish with " + report.phase());
                return;
            }
            spec = migration.payload.spec();
            migrations = migration.payload.migrations() + 1;
            migration.done = true;
            publish(new Step(Running, status(migration.id, Finish), null, 0));
        }
        finally
        {
            ctx.unlock();
        }
    }

    /**
     * Takes in an answer of the source. False (and the migration failed, or was over already) unless it is a good
     * answer for this migration.
     */
    private boolean heard(final MigrationIn migration, final String call, final SimMigration.Report report,
        final Throwable failure)
    {
        if (migration != in || migration.done)
        {
            return false;
        }
        if (failure != null)
        {
            final Throwable cause = failure instanceof CompletionException && failure.getCause() != null
                ? failure.getCause() : failure;
            failMigrationIn(migration, call + " failed: " + cause);
            return false;
        }
        if (!migration.id.equals(report.migrationId()))
        {
            failMigrationIn(migration, call + " answered for migration " + report.migrationId());
            return false;
        }
        if (report.phase() == Error)
        {
            failMigrationIn(migration, "the source failed the migration");
            return false;
        }
        if (report.state() != null && migration.payload == null)
        {
            if (!report.state().intact())
            {
                failMigrationIn(migration, "the guest state from the source does not match its checksum");
                return false;
            }
            migration.payload = report.state();
        }
        migration.sourcePhase = report.phase();
        return true;
    }

    private void scheduleAdvance(final MigrationIn migration)
    {
        vm.stepper().after(vm.migrateStepMs(), () ->
        {
            ctx.lock();
            try
            {
                advance(migration);
            }
            finally
            {
                ctx.unlock();
            }
        });
    }

    /**
     * The target's next phase, if the source is far enough along (else poll it). Called a step after the last phase
     * the target published, or at once on a poll's answer (the step has passed then).
     */
    private void advance(final MigrationIn migration)
    {
        if (migration != in || migration.done)
        {
            return;
        }
        final PropolisMigrationState next = switch (migration.phase)
        {
            case Sync -> RamPull;
            case RamPull -> Device;
            case Device -> Resume;
            case Resume -> Finish;
            default -> throw new IllegalStateException("unreachable: " + migration.phase);
        };
        final boolean ready = switch (next)
        {
            case RamPull -> migration.sourcePhase != Sync;
            case Device -> migration.payload != null;
            default -> true;
        };
        if (!ready)
        {
            final PropolisMigrationState after = migration.sourcePhase;
            ctx.afterUnlock(() -> vm.link().poll(migration.srcAddr, migration.id, after)
                .whenComplete((report, failure) -> migrationInPolled(migration, report, failure)));
        }
        else if (next == Finish)
        {
            ctx.afterUnlock(() -> vm.link().finish(migration.srcAddr, migration.id)
                .whenComplete((report, failure) -> migrationInFinished(migration, report, failure)));
        }
        else
        {
            migration.phase = next;
            publish(new Step(Migrating, status(migration.id, next), null, 0));
            scheduleAdvance(migration);
        }
    }

    /** The migration in fails: there is no VM here (Failed, migration_in Error). */
    private void failMigrationIn(final MigrationIn migration, final String reason)
    {
        migration.done = true;
        plan.clear();
        planEpoch++;
        ctx.log("migration in " + migration.id + " from " + migration.srcAddr + " failed: " + reason);
        publish(new Step(Failed, status(migration.id, Error), null, 0));
    }

    // ---- plumbing ----

    private static InstanceMigrationStatus status(final UUID id, final PropolisMigrationState phase)
    {
        return new InstanceMigrationStatus(id, phase);
    }

    /** One transition of a plan: a null migration status keeps the current one. */
    private record Step(PropolisInstanceState state, InstanceMigrationStatus in, InstanceMigrationStatus out,
                        long delayMs)
    {
    }

    /** The target's side of a migration in. */
    private static final class MigrationIn
    {
        final UUID id;
        final String srcAddr;
        /** The target's own published phase. */
        PropolisMigrationState phase = Sync;
        /** The source's phase as last heard, or null before the start call is answered. */
        PropolisMigrationState sourcePhase;
        SimMigration.Payload payload;
        boolean done;

        MigrationIn(final UUID id, final String srcAddr)
        {
            this.id = id;
            this.srcAddr = srcAddr;
        }
    }

    /** The source's side of a migration out. */
    private static final class MigrationOut
    {
        final UUID id;
        final long targetStepMs;
        final List<Poll> polls = new ArrayList<>();
        PropolisMigrationState phase = Sync;
        long contacts;

        MigrationOut(final UUID id, final long targetStepMs)
        {
            this.id = id;
            this.targetStepMs = targetStepMs;
        }
    }

    /** A poll of the target waiting for the source's phase to leave {@code after}. */
    private record Poll(PropolisMigrationState after, CompletableFuture<SimMigration.Report> answer)
    {
    }
}
