package sledagent.hypervisor.sim;

import java.util.ArrayDeque;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
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

import static sledagent.api.propolis.PropolisInstanceState.Creating;
import static sledagent.api.propolis.PropolisInstanceState.Destroyed;
import static sledagent.api.propolis.PropolisInstanceState.Failed;
import static sledagent.api.propolis.PropolisInstanceState.Migrating;
import static sledagent.api.propolis.PropolisInstanceState.Rebooting;
import static sledagent.api.propolis.PropolisInstanceState.Running;
import static sledagent.api.propolis.PropolisInstanceState.Starting;
import static sledagent.api.propolis.PropolisInstanceState.Stopped;
import static sledagent.api.propolis.PropolisInstanceState.Stopping;

/**
 * The simulated VM of one propolis-sim: its properties, its published state with Propolis's own generation, the
 * request queue's rules, and the state-monitor wait.
 *
 * <p>A request is judged and its first state published under the lock, before the HTTP answer; the rest of its
 * transitions follow one per {@code stepMs} on the stepper thread. A later request that preempts a plan (a Stop
 * while starting) replaces it; the epoch makes the replaced plan's pending step a no-op. Every publish bumps the
 * generation by one and wakes all monitor waiters.
 */
final class SimVm
{
    private static final InstanceMigrateStatusResponse NO_MIGRATION = InstanceMigrateStatusResponse.NONE;

    private final ReentrantLock lock = new ReentrantLock();
    private final Condition published = lock.newCondition();
    private final Stepper stepper;
    private final long stepMs;
    private final ArrayDeque<Step> plan = new ArrayDeque<>();
    private long planEpoch;
    private InstanceProperties properties;
    private InstanceEnsureResponse ensureResponse;
    private InstanceStateMonitorResponse latest;
    private SimFault fault = SimFault.NONE;

    /**
     * @param stepper runs the delayed transitions (one thread is enough; tests step by hand)
     * @param stepMs  delay between simulated transitions
     */
    SimVm(final Stepper stepper, final long stepMs)
    {
        if (stepMs < 0)
        {
            throw new IllegalArgumentException("stepMs must be >= 0: " + stepMs);
        }
        this.stepper = stepper;
        this.stepMs = stepMs;
    }

    /**
     * {@code PUT /instance}. The first ensure creates the VM at gen 1 ({@code Creating}, or {@code Migrating} for a
     * migration target, which then completes the migration on its own and runs). A second ensure with the same
     * properties answers as the first did; with other properties it is a 409.
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
                latest = new InstanceStateMonitorResponse(1, Migrating, migrationIn(migrationId,
                    PropolisMigrationState.Sync));
                // The target pulls the VM, then runs it without a Run request (the source's guest was running).
                plan.add(new Step(Migrating, migrationIn(migrationId, PropolisMigrationState.RamPull)));
                plan.add(new Step(Running, migrationIn(migrationId, PropolisMigrationState.Finish)));
                scheduleNextStep();
            }
            else
            {
                ensureResponse = new InstanceEnsureResponse(null);
                latest = new InstanceStateMonitorResponse(1, Creating, NO_MIGRATION);
            }
            published.signalAll();
            return ensureResponse;
        }
        finally
        {
            lock.unlock();
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
            lock.unlock();
        }
    }

    /**
     * {@code PUT /instance/state}, judged as Propolis's request queue judges it: a repeated or moot request is
     * ignored (204), a request a pending or finished halt forecloses is a 403.
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
            lock.unlock();
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
            lock.unlock();
        }
    }

    /** Sets the VM fault ({@code none}, {@code hang_stop}, {@code fail_start}); it applies to later requests. */
    void fault(final SimFault newFault)
    {
        lock.lock();
        try
        {
            fault = newFault;
        }
        finally
        {
            lock.unlock();
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
            lock.unlock();
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
        // Starting, Running, Rebooting, or a migration target (which starts itself): already on its way. Ignored.
    }

    private void stop()
    {
        final PropolisInstanceState state = latest.state();
        switch (state)
        {
            case Stopping, Stopped, Destroyed, Failed ->
            {
                // A halt is pending or done: Stop is idempotent.
            }
            case Creating, Starting, Migrating ->
                replacePlan(fault == SimFault.HANG_STOP ? List.of(Stopping) : List.of(Stopped, Destroyed));
            case Running, Rebooting, Repairing ->
                replacePlan(fault == SimFault.HANG_STOP ? List.of(Stopping) : List.of(Stopping, Stopped, Destroyed));
            default -> throw new IllegalStateException("unreachable: " + state);
        }
    }

    private void reboot() throws SimRefusal
    {
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

    private static void denyIfHalted(final PropolisInstanceState state) throws SimRefusal
    {
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

    /** Publishes the first state now and the rest one per step, dropping whatever plan was under way. */
    private void replacePlan(final List<PropolisInstanceState> states)
    {
        plan.clear();
        planEpoch++;
        publish(new Step(states.get(0), null));
        for (final PropolisInstanceState state : states.subList(1, states.size()))
        {
            plan.add(new Step(state, null));
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
        stepper.after(stepMs, () -> step(epoch));
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
            publish(plan.poll());
            scheduleNextStep();
        }
        finally
        {
            lock.unlock();
        }
    }

    private void publish(final Step step)
    {
        final InstanceMigrateStatusResponse migration = step.migration() == null ? latest.migration() : step.migration();
        latest = new InstanceStateMonitorResponse(latest.gen() + 1, step.state(), migration);
        published.signalAll();
    }

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

    private static InstanceMigrateStatusResponse migrationIn(final UUID id,
        final PropolisMigrationState phase)
    {
        return new InstanceMigrateStatusResponse(new InstanceMigrationStatus(id, phase), null);
    }

    /** Runs a task after a delay: a scheduled executor in the process, a hand-cranked queue in unit tests. */
    @FunctionalInterface
    interface Stepper
    {
        void after(long delayMs, Runnable task);
    }

    /** One transition of a plan; a null migration keeps the current one. */
    private record Step(PropolisInstanceState state, InstanceMigrateStatusResponse migration)
    {
    }
}
