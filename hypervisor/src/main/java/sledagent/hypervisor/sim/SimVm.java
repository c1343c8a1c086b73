package sledagent.hypervisor.sim;

import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;
import sledagent.api.propolis.InstanceEnsureRequest;
import sledagent.api.propolis.InstanceEnsureResponse;
import sledagent.api.propolis.InstanceGetResponse;
import sledagent.api.propolis.InstanceMigrateStatusResponse;
import sledagent.api.propolis.InstanceStateMonitorResponse;
import sledagent.api.propolis.PropolisMigrationState;
import sledagent.api.propolis.PropolisStateRequested;
import sledagent.hypervisor.server.Machine;
import sledagent.hypervisor.server.MachineContext;
import sledagent.hypervisor.server.PropolisInstance;
import sledagent.hypervisor.server.PropolisRefusal;

/**
 * One propolis-sim's VM: the shared Propolis core ({@link PropolisInstance}: generations, monitor, request queue)
 * over a {@link SimMachine}, plus the sim's own settings (stepper, delays, migration link) and its fault. The Propolis
 * calls go to the instance; the sim's migration calls ({@code /mock/migrate}) to the machine.
 */
final class SimVm
{
    private final PropolisInstance instance;
    private final Stepper stepper;
    private final long stepMs;
    private final long migrateStepMs;
    private final long rundownMs;
    private final SimMigration.Link link;
    // Guarded by the instance lock.
    private SimFault fault = SimFault.NONE;
    private SimMachine machine;

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
        this.instance = new PropolisInstance(this::create, "propolis-sim");
    }

    private Machine create(final InstanceEnsureRequest request, final MachineContext context)
    {
        machine = new SimMachine(context, this, request);
        return machine;
    }

    /** The Propolis core this VM runs under. */
    PropolisInstance core()
    {
        return instance;
    }

    /** {@code PUT /instance} ({@link PropolisInstance#ensure}). */
    InstanceEnsureResponse ensure(final InstanceEnsureRequest request) throws PropolisRefusal
    {
        return instance.ensure(request);
    }

    /** {@code GET /instance}. */
    InstanceGetResponse instance() throws PropolisRefusal
    {
        return instance.instance();
    }

    /** {@code GET /instance/migration-status}. */
    InstanceMigrateStatusResponse migrationStatus() throws PropolisRefusal
    {
        return instance.migrationStatus();
    }

    /** {@code PUT /instance/state}. */
    void request(final PropolisStateRequested requested) throws PropolisRefusal
    {
        instance.request(requested);
    }

    /** {@code GET /instance/state-monitor}. */
    InstanceStateMonitorResponse awaitGeneration(final long gen) throws PropolisRefusal, InterruptedException
    {
        return instance.awaitGeneration(gen);
    }

    /** {@code POST /mock/migrate/{id}/start} ({@link SimMachine#migrateOutStart}); 424 before ensure. */
    SimMigration.Report migrateOutStart(final UUID id, final long targetStepMs) throws PropolisRefusal
    {
        return machine().migrateOutStart(id, targetStepMs);
    }

    /** {@code POST /mock/migrate/{id}/poll} ({@link SimMachine#migrateOutPoll}); 424 before ensure. */
    CompletableFuture<SimMigration.Report> migrateOutPoll(final UUID id, final PropolisMigrationState after)
        throws PropolisRefusal
    {
        return machine().migrateOutPoll(id, after);
    }

    /** {@code POST /mock/migrate/{id}/finish} ({@link SimMachine#migrateOutFinish}); 424 before ensure. */
    SimMigration.Report migrateOutFinish(final UUID id) throws PropolisRefusal
    {
        return machine().migrateOutFinish(id);
    }

    /**
     * Sets the VM fault ({@code none}, {@code hang_stop}, {@code fail_start}, {@code fail_migration}); it applies to
     * later requests, and {@code fail_migration} to a migration out already under way that has not reached
     * RamPushDirty.
     */
    void fault(final SimFault newFault)
    {
        instance.lock();
        try
        {
            fault = newFault;
        }
        finally
        {
            instance.unlock();
        }
    }

    /** The fault in force (read by the machine under the instance lock). */
    SimFault fault()
    {
        instance.lock();
        try
        {
            return fault;
        }
        finally
        {
            instance.unlock();
        }
    }

    /** The latest published state, or null before the first ensure (for tests and logs). */
    InstanceStateMonitorResponse latest()
    {
        return instance.latest();
    }

    /** How many migrations brought this guest here (0 for a VM made from a spec, or before ensure). For tests. */
    long migrations()
    {
        final SimMachine current = currentMachine();
        return current == null ? 0 : current.migrations();
    }

    /** Sees every published state, under the lock, in order (for tests; it must not block or call back). */
    void observe(final Consumer<InstanceStateMonitorResponse> newObserver)
    {
        instance.observe(newObserver);
    }

    /** Where the VM says why a migration failed (stderr by default; tests collect it). */
    void logTo(final Consumer<String> newLog)
    {
        instance.logTo(newLog);
    }

    Stepper stepper()
    {
        return stepper;
    }

    long stepMs()
    {
        return stepMs;
    }

    long migrateStepMs()
    {
        return migrateStepMs;
    }

    long rundownMs()
    {
        return rundownMs;
    }

    SimMigration.Link link()
    {
        return link;
    }

    private SimMachine machine() throws PropolisRefusal
    {
        final SimMachine current = currentMachine();
        if (current == null)
        {
            throw PropolisRefusal.noInstance();
        }
        return current;
    }

    private SimMachine currentMachine()
    {
        instance.lock();
        try
        {
            return machine;
        }
        finally
        {
            instance.unlock();
        }
    }

    /** Runs a task after a delay: a scheduled executor in the process, a hand-cranked queue in unit tests. */
    @FunctionalInterface
    interface Stepper
    {
        void after(long delayMs, Runnable task);
    }
}
