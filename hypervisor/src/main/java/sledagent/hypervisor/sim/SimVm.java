package sledagent.hypervisor.sim;

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

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;
import sledagent.api.propolis.InstanceEnsureRequest;
import sledagent.api.propolis.InstanceEnsureResponse;
import sledagent.api.propolis.InstanceGetResponse;
import sledagent.api.propolis.InstanceInitializationMethod;
import sledagent.api.propolis.InstanceMigrateStatusResponse;
import sledagent.api.propolis.InstanceMigrationStatus;
import sledagent.api.propolis.InstanceProperties;
import sledagent.api.propolis.InstanceStateMonitorResponse;
import sledagent.api.propolis.PropolisInstanceState;
import sledagent.api.propolis.PropolisMigrationState;
import sledagent.api.propolis.PropolisStateRequested;

/**
 * The simulated VM of one propolis-sim: its properties, its published state with Propolis's own generation, the
 * request queue's rules, the state-monitor wait, and both ends of a live migration ({@link SimMigration}).
 *
 * <p>A request is judged and its first state published under the lock, before the HTTP answer; the rest of its
 * transitions follow one per step on the stepper thread. A later request that preempts a plan (a Stop while
 * starting) replaces it; the epoch makes the replaced plan's pending step a no-op. Every publish (a new state, or a
 * new phase of either migration) bumps the generation by one and wakes all monitor waiters.
 *
 * <p>Migration out runs as a plan (Sync, RamPush, Pause, RamPushDirty, Device, one per {@code migrateStepMs}), then
 * waits for the target's finish call (Finish, and Destroyed {@code rundownMs} later). Migration in is driven by the
 * target: it calls the source through the {@link SimMigration.Link} and publishes its own phases (Sync, RamPull,
 * Device, Resume, then Running with Finish), each at least {@code migrateStepMs} after the last and none before the
 * source has reached the matching phase. Calls on the link and completions of source-side polls run only once the
 * lock is released, so two VMs wired together in one JVM never hold each other's locks.
 */
final class SimVm
{
    private static final InstanceMigrateStatusResponse NO_MIGRATION = InstanceMigrateStatusResponse.NONE;

    private final ReentrantLock lock = new ReentrantLock();
    private final Condition published = lock.newCondition();
    private final List<Runnable> afterUnlock = new ArrayList<>();
    private final Stepper stepper;
    private final long stepMs;
    private final long migrateStepMs;
    private final long rundownMs;
    private final SimMigration.Link link;
    private final ArrayDeque<Step> plan = new ArrayDeque<>();
    private long planEpoch;
    private InstanceProperties properties;
    private ObjectNode spec;
    private long migrations;
    private InstanceEnsureResponse ensureResponse;
    private InstanceStateMonitorResponse latest;
    private SimFault fault = SimFault.NONE;
    private MigrationIn in;
    private MigrationOut out;
    private Consumer<InstanceStateMonitorResponse> observer = published -> { };
    private Consumer<String> log = message -> System.err.println("propolis-sim: " + message);

    /**
     * A VM whose migration steps and rundown take {@code stepMs} too, and that cannot reach a migration source.
     *
     * @param stepper runs the delayed transitions (one thread is enough; tests step by hand)
     * @param stepMs  delay between simulated transitions
     */
    SimVm(final Stepper stepper, final long stepMs)
    {
        this(stepper, stepMs, stepMs, stepMs, SimMigration.UNREACHABLE);
    }

    /**
     * @param stepper       runs the delayed transitions (one thread is enough; tests step by hand)
     * @param stepMs        delay between simulated transitions
     * @param migrateStepMs delay between migration phases, on either side
     * @param rundownMs     delay from a finished migration out to Destroyed
     * @param link          how a migration target reaches its source
     */
    SimVm(final Stepper stepper, final long stepMs, final long migrateStepMs, final long rundownMs,
        final SimMigration.Link link)
    {
        for (final long delay : new long[] {stepMs, migrateStepMs, rundownMs})
        {
            if (delay < 0)
            {
                throw new IllegalArgumentException("delays must be >= 0: " + delay);
            }
        }
        this.stepper = stepper;
        this.stepMs = stepMs;
        this.migrateStepMs = migrateStepMs;
        this.rundownMs = rundownMs;
        this.link = link;
    }

    /**
     * {@code PUT /instance}. The first ensure creates the VM at gen 1: {@code Creating} from a spec, or
     * {@code Migrating} (migration_in {@code Sync}) for a migration target, which then pulls the VM from its source
     * and runs it without a Run request. A second ensure with the same properties answers as the first did; with
     * other properties it is a 409.
     */
    InstanceEnsureResponse ensure(final InstanceEnsureRequest request) throws SimRefusal
    {
        lock.lock();
        try
        {
            if (properties != null)
            {
                if (properties.equals(request.properties()))
                {
                    return ensureResponse;
                }
                throw new SimRefusal(409, "AlreadyInitialized", "instance already initialized");
            }
            properties = request.properties();
            if (request.init() instanceof InstanceInitializationMethod.MigrationTarget target)
            {
                final UUID migrationId = target.value().migrationId();
                ensureResponse = new InstanceEnsureResponse(new InstanceEnsureResponse.MigrateInitiate(migrationId));
                in = new MigrationIn(migrationId, target.value().srcAddr());
                latest = new InstanceStateMonitorResponse(1, Migrating,
                    new InstanceMigrateStatusResponse(new InstanceMigrationStatus(migrationId, Sync), null));
                final MigrationIn migration = in;
                afterUnlock.add(() -> link.start(migration.srcAddr, migration.id, migrateStepMs)
                    .whenComplete((report, failure) -> migrationInStarted(migration, report, failure)));
            }
            else if (request.init() instanceof InstanceInitializationMethod.Spec fromSpec)
            {
                spec = fromSpec.value().spec();
                ensureResponse = new InstanceEnsureResponse(null);
                latest = new InstanceStateMonitorResponse(1, Creating, NO_MIGRATION);
            }
            else
            {
                throw new IllegalStateException("unreachable: " + request.init());
            }
            observer.accept(latest);
            published.signalAll();
            return ensureResponse;
        }
        finally
        {
            unlock();
        }
    }

    /** {@code GET /instance}: the properties and the latest state; 424 before the first ensure. */
    InstanceGetResponse instance() throws SimRefusal
    {
        lock.lock();
        try
        {
            requireEnsured();
            return new InstanceGetResponse(new InstanceGetResponse.Instance(properties, latest.state()));
        }
        finally
        {
            unlock();
        }
    }

    /** {@code GET /instance/migration-status}: the newest migration in each direction; 424 before ensure. */
    InstanceMigrateStatusResponse migrationStatus() throws SimRefusal
    {
        lock.lock();
        try
        {
            requireEnsured();
            return latest.migration();
        }
        finally
        {
            unlock();
        }
    }

    /**
     * {@code PUT /instance/state}, judged as Propolis's request queue judges it: a repeated or moot request is
     * ignored (204), a request a pending or finished halt (or a migration out) forecloses is a 403.
     */
    void request(final PropolisStateRequested requested) throws SimRefusal
    {
        lock.lock();
        try
        {
            requireEnsured();
            switch (requested)
            {
                case Run -> run();
                case Stop -> stop();
                case Reboot -> reboot();
                default -> throw new IllegalStateException("unreachable: " + requested);
            }
        }
        finally
        {
            unlock();
        }
    }

    /**
     * {@code GET /instance/state-monitor}: the newest state once its generation is at least {@code gen}, waiting
     * for it if need be. Once the VM is {@code Destroyed} or {@code Failed} no generation will follow, so a wait
     * beyond the last one ends in 410 {@code NoInstance}, as on the real server.
     */
    InstanceStateMonitorResponse awaitGeneration(final long gen) throws SimRefusal, InterruptedException
    {
        lock.lock();
        try
        {
            requireEnsured();
            while (latest.gen() < gen)
            {
                if (isFinal())
                {
                    throw new SimRefusal(410, "NoInstance",
                        "No instance present; will never reach generation " + gen);
                }
                published.await();
            }
            return latest;
        }
        finally
        {
            unlock();
        }
    }

    /**
     * {@code POST /mock/migrate/{id}/start} on the source: a Running VM becomes the source of migration {@code id}
     * (Migrating, migration_out {@code Sync}) and steps through its phases up to {@code Device} on its own.
     *
     * @param targetStepMs the target's step, which bounds how long the source waits for its next call
     * @throws SimRefusal 424 before ensure; 403 if the VM is not Running or already a migration source
     */
    SimMigration.Report migrateOutStart(final UUID id, final long targetStepMs) throws SimRefusal
    {
        lock.lock();
        try
        {
            requireEnsured();
            if (migratingOut())
            {
                throw SimRefusal.forbidden("Instance is already a migration source");
            }
            final PropolisInstanceState state = latest.state();
            denyIfHalted(state);
            switch (state)
            {
                case Running ->
                {
                    // The one state a VM migrates out of.
                }
                case Creating -> throw SimRefusal.forbidden("Operation requires an active instance");
                case Starting, Migrating -> throw SimRefusal.forbidden("Instance is currently starting");
                default -> throw SimRefusal.forbidden("Instance is not running (" + state + ")");
            }
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
                plan.add(new Step(Migrating, null, status(id, phase), migrateStepMs));
            }
            scheduleNextStep();
            heardFromTarget(out);
            return report(out);
        }
        finally
        {
            unlock();
        }
    }

    /**
     * {@code POST /mock/migrate/{id}/poll} on the source: completes with the migration-out phase as soon as it is not
     * {@code after}, or with the unchanged phase after {@link SimMigration#POLL_WINDOW_MS}. Never fails once returned.
     *
     * @throws SimRefusal 424 before ensure; 404 if {@code id} is not this VM's newest migration out
     */
    CompletableFuture<SimMigration.Report> migrateOutPoll(final UUID id, final PropolisMigrationState after)
        throws SimRefusal
    {
        lock.lock();
        try
        {
            requireEnsured();
            final MigrationOut migration = requireMigrationOut(id);
            heardFromTarget(migration);
            if (migration.phase != after)
            {
                return CompletableFuture.completedFuture(report(migration));
            }
            final Poll poll = new Poll(after, new CompletableFuture<>());
            migration.polls.add(poll);
            stepper.after(SimMigration.POLL_WINDOW_MS, () -> pollWindowEnded(migration, poll));
            return poll.answer;
        }
        finally
        {
            unlock();
        }
    }

    /**
     * {@code POST /mock/migrate/{id}/finish} on the source: the target has the VM. From {@code Device} the source
     * publishes migration_out {@code Finish} (still Migrating) and {@code Destroyed} {@code rundownMs} later; a
     * repeated finish answers the same.
     *
     * @throws SimRefusal 424 before ensure; 404 for another migration; 409 if the migration failed or is not yet
     *                    at {@code Device}
     */
    SimMigration.Report migrateOutFinish(final UUID id) throws SimRefusal
    {
        lock.lock();
        try
        {
            requireEnsured();
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
                    plan.add(new Step(Destroyed, null, null, rundownMs));
                    scheduleNextStep();
                }
                case Error -> throw new SimRefusal(409, "MigrationFailed", "migration " + id + " failed");
                default -> throw new SimRefusal(409, "MigrationNotReady",
                    "migration " + id + " is in phase " + migration.phase + ", not Device");
            }
            return report(migration);
        }
        finally
        {
            unlock();
        }
    }

    /**
     * Sets the VM fault ({@code none}, {@code hang_stop}, {@code fail_start}, {@code fail_migration}); it applies to
     * later requests, and {@code fail_migration} to a migration out already under way that has not reached
     * RamPushDirty.
     */
    void fault(final SimFault newFault)
    {
        lock.lock();
        try
        {
            fault = newFault;
        }
        finally
        {
            unlock();
        }
    }

    /** The latest published state, or null before the first ensure (for tests and logs). */
    InstanceStateMonitorResponse latest()
    {
        lock.lock();
        try
        {
            return latest;
        }
        finally
        {
            unlock();
        }
    }

    /** How many migrations brought this guest here (0 for a VM made from a spec). For tests. */
    long migrations()
    {
        lock.lock();
        try
        {
            return migrations;
        }
        finally
        {
            unlock();
        }
    }

    /** Sees every published state, under the lock, in order (for tests; it must not block or call back). */
    void observe(final Consumer<InstanceStateMonitorResponse> newObserver)
    {
        lock.lock();
        try
        {
            observer = newObserver;
        }
        finally
        {
            unlock();
        }
    }

    /** Where the VM says why a migration failed (stderr by default; tests collect it). */
    void logTo(final Consumer<String> newLog)
    {
        lock.lock();
        try
        {
            log = newLog;
        }
        finally
        {
            unlock();
        }
    }

    private void run() throws SimRefusal
    {
        final PropolisInstanceState state = latest.state();
        denyIfHalted(state);
        if (state == Creating)
        {
            replacePlan(List.of(Starting, fault == SimFault.FAIL_START ? Failed : Running));
        }
        // Starting, Running, Rebooting, migrating in (which starts itself) or out: already running. Ignored.
    }

    private void stop() throws SimRefusal
    {
        if (migratingOut())
        {
            // As request_queue.rs: the Stop may belong to the target, so the caller must wait for the outcome.
            throw SimRefusal.forbidden("Operation cannot be performed on a migration source");
        }
        final PropolisInstanceState state = latest.state();
        switch (state)
        {
            case Stopping, Stopped, Destroyed, Failed ->
            {
                // A halt is pending or done: Stop is idempotent.
            }
            case Migrating ->
            {
                if (migratedOut())
                {
                    return;
                }
                // A migration target that has not finished: its migration in ends in Error.
                replacePlan(fault == SimFault.HANG_STOP ? List.of(Stopping) : List.of(Stopped, Destroyed));
            }
            case Creating, Starting ->
                replacePlan(fault == SimFault.HANG_STOP ? List.of(Stopping) : List.of(Stopped, Destroyed));
            case Running, Rebooting, Repairing ->
                replacePlan(fault == SimFault.HANG_STOP ? List.of(Stopping) : List.of(Stopping, Stopped, Destroyed));
            default -> throw new IllegalStateException("unreachable: " + state);
        }
    }

    private void reboot() throws SimRefusal
    {
        if (migratingOut())
        {
            throw SimRefusal.forbidden("Operation cannot be performed on a migration source");
        }
        final PropolisInstanceState state = latest.state();
        denyIfHalted(state);
        switch (state)
        {
            case Creating -> throw SimRefusal.forbidden("Operation requires an active instance");
            case Starting, Migrating -> throw SimRefusal.forbidden("Instance is currently starting");
            case Running, Repairing -> replacePlan(List.of(Rebooting, Running));
            case Rebooting ->
            {
                // A reboot is already under way: ignored.
            }
            default -> throw new IllegalStateException("unreachable: " + state);
        }
    }

    private void denyIfHalted(final PropolisInstanceState state) throws SimRefusal
    {
        if (migratedOut())
        {
            throw SimRefusal.forbidden("Instance has migrated out and is being torn down");
        }
        switch (state)
        {
            case Stopping, Stopped -> throw SimRefusal.forbidden("Instance is preparing to stop");
            case Destroyed -> throw SimRefusal.forbidden("Instance has already halted");
            case Failed -> throw SimRefusal.forbidden("Instance failed to start or halted due to a failure");
            default ->
            {
                // Not halted.
            }
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
            plan.add(new Step(state, null, null, stepMs));
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
        stepper.after(plan.peek().delayMs(), () -> step(epoch));
    }

    private void step(final long epoch)
    {
        lock.lock();
        try
        {
            if (epoch != planEpoch || plan.isEmpty())
            {
                return;
            }
            final Step next = plan.poll();
            if (fault == SimFault.FAIL_MIGRATION && next.out() != null && next.out().state() == RamPushDirty)
            {
                failMigrationOut("fault fail_migration");
                return;
            }
            publish(next);
            scheduleNextStep();
        }
        finally
        {
            unlock();
        }
    }

    /** Publishes a new generation; a null migration status in the step keeps the current one. */
    private void publish(final Step step)
    {
        final InstanceMigrateStatusResponse current = latest.migration();
        final InstanceMigrateStatusResponse migration = step.in() == null && step.out() == null ? current
            : new InstanceMigrateStatusResponse(step.in() == null ? current.migrationIn() : step.in(),
                step.out() == null ? current.migrationOut() : step.out());
        latest = new InstanceStateMonitorResponse(latest.gen() + 1, step.state(), migration);
        if (out != null && migration.migrationOut() != null && migration.migrationOut().id().equals(out.id))
        {
            out.phase = migration.migrationOut().state();
            answerPolls(out);
        }
        observer.accept(latest);
        published.signalAll();
    }

    // ---- migration out (source) ----

    private boolean migratingOut()
    {
        return out != null && !out.phase.isTerminal();
    }

    private boolean migratedOut()
    {
        return out != null && out.phase == Finish;
    }

    private MigrationOut requireMigrationOut(final UUID id) throws SimRefusal
    {
        if (out == null || !out.id.equals(id))
        {
            throw new SimRefusal(404, "NoSuchMigration", "no migration out with id " + id);
        }
        return out;
    }

    private SimMigration.Report report(final MigrationOut migration)
    {
        final boolean sent = migration.phase == Device || migration.phase == Finish;
        return new SimMigration.Report(migration.id, migration.phase,
            sent ? SimMigration.Payload.of(properties, spec, migrations) : null);
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
            afterUnlock.add(() -> poll.answer.complete(report));
            return true;
        });
    }

    private void pollWindowEnded(final MigrationOut migration, final Poll poll)
    {
        lock.lock();
        try
        {
            if (migration.polls.remove(poll))
            {
                heardFromTarget(migration);
                final SimMigration.Report report = report(migration);
                afterUnlock.add(() -> poll.answer.complete(report));
            }
        }
        finally
        {
            unlock();
        }
    }

    /** Re-arms the watchdog: a target that stays silent for its contact timeout has gone. */
    private void heardFromTarget(final MigrationOut migration)
    {
        final long contact = ++migration.contacts;
        stepper.after(SimMigration.contactTimeoutMs(migration.targetStepMs), () ->
        {
            lock.lock();
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
                unlock();
            }
        });
    }

    /** The migration out fails: the guest goes on running here (migration_out Error). */
    private void failMigrationOut(final String reason)
    {
        plan.clear();
        planEpoch++;
        log.accept("migration out " + out.id + " failed: " + reason);
        publish(new Step(Running, null, status(out.id, Error), 0));
    }

    // ---- migration in (target) ----

    private void migrationInStarted(final MigrationIn migration, final SimMigration.Report report,
        final Throwable failure)
    {
        lock.lock();
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
            unlock();
        }
    }

    private void migrationInPolled(final MigrationIn migration, final SimMigration.Report report,
        final Throwable failure)
    {
        lock.lock();
        try
        {
            if (heard(migration, "poll", report, failure))
            {
                advance(migration);
            }
        }
        finally
        {
            unlock();
        }
    }

    private void migrationInFinished(final MigrationIn migration, final SimMigration.Report report,
        final Throwable failure)
    {
        lock.lock();
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
            unlock();
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
        stepper.after(migrateStepMs, () ->
        {
            lock.lock();
            try
            {
                advance(migration);
            }
            finally
            {
                unlock();
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
            afterUnlock.add(() -> link.poll(migration.srcAddr, migration.id, after)
                .whenComplete((report, failure) -> migrationInPolled(migration, report, failure)));
        }
        else if (next == Finish)
        {
            afterUnlock.add(() -> link.finish(migration.srcAddr, migration.id)
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
        log.accept("migration in " + migration.id + " from " + migration.srcAddr + " failed: " + reason);
        publish(new Step(Failed, status(migration.id, Error), null, 0));
    }

    // ---- plumbing ----

    private boolean isFinal()
    {
        return plan.isEmpty() && (latest.state() == Destroyed || latest.state() == Failed);
    }

    private void requireEnsured() throws SimRefusal
    {
        if (properties == null)
        {
            throw SimRefusal.noInstance();
        }
    }

    /** Releases the lock; the outermost release then runs what had to wait for it (link calls, poll answers). */
    private void unlock()
    {
        if (lock.getHoldCount() > 1 || afterUnlock.isEmpty())
        {
            lock.unlock();
            return;
        }
        final List<Runnable> deferred = new ArrayList<>(afterUnlock);
        afterUnlock.clear();
        lock.unlock();
        for (final Runnable task : deferred)
        {
            try
            {
                task.run();
            }
            catch (final RuntimeException e)
            {
                System.err.println("propolis-sim: deferred task failed: " + e);
            }
        }
    }

    private static InstanceMigrationStatus status(final UUID id, final PropolisMigrationState phase)
    {
        return new InstanceMigrationStatus(id, phase);
    }

    /** Runs a task after a delay: a scheduled executor in the process, a hand-cranked queue in unit tests. */
    @FunctionalInterface
    interface Stepper
    {
        void after(long delayMs, Runnable task);
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
