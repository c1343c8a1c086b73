package sledagent.hypervisor.server;

import static sledagent.api.propolis.PropolisInstanceState.Creating;
import static sledagent.api.propolis.PropolisInstanceState.Destroyed;
import static sledagent.api.propolis.PropolisInstanceState.Failed;
import static sledagent.api.propolis.PropolisInstanceState.Migrating;

import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
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
 * The one instance of a Propolis server, as Propolis defines it whatever runs the VM: its properties, its published
 * state with Propolis's generation counter, the state-monitor wait, and the request queue's rules
 * ({@code bin/propolis-server/src/lib/vm/request_queue.rs}). What a request does to the VM is up to the
 * {@link Machine} (simulated or QEMU), which reports every state it reaches back through {@link #publish}.
 *
 * <p>A request is judged, and handed to the machine, under the lock, before the HTTP answer; the machine publishes a
 * request's first state inside that call. Every publish bumps the generation by one and wakes every monitor waiter.
 * Work that must not run under the lock (calls to other servers, completing futures) is queued with
 * {@link #afterUnlock} and runs when the outermost holder lets go.
 */
public final class PropolisInstance implements MachineContext
{
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition published = lock.newCondition();
    private final List<Runnable> afterUnlock = new ArrayList<>();
    private final MachineFactory factory;
    private InstanceProperties properties;
    private InstanceEnsureResponse ensureResponse;
    private InstanceStateMonitorResponse latest;
    private Machine machine;
    private Consumer<InstanceStateMonitorResponse> observer = state -> { };
    private Consumer<String> log;
    /** The newest generation some watcher is known to have seen ({@link #onceSeen}). */
    private long seenGen;
    private final List<SeenAction> seenActions = new ArrayList<>();

    /**
     * @param factory makes the machine at the first ensure
     * @param name    the server's name in its log lines (e.g. {@code propolis-sim})
     */
    public PropolisInstance(final MachineFactory factory, final String name)
    {
        this.factory = factory;
        this.log = message -> System.err.println(name + ": " + message);
    }

    /**
     * {@code PUT /instance}. The first ensure makes the machine and publishes gen 1: {@code Creating} from a spec, or
     * {@code Migrating} (migration_in {@code Sync}) for a migration target. A second ensure with the same properties
     * answers as the first did; with other properties it is a 409 {@code AlreadyInitialized}.
     *
     * @param request the ensure request
     * @return 201's body
     * @throws PropolisRefusal 409, or the machine's refusal (400 naming what it cannot honour, 500)
     */
    public InstanceEnsureResponse ensure(final InstanceEnsureRequest request) throws PropolisRefusal
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
                throw new PropolisRefusal(409, "AlreadyInitialized", "instance already initialized");
            }
            final InstanceStateMonitorResponse first;
            final InstanceEnsureResponse response;
            if (request.init() instanceof InstanceInitializationMethod.MigrationTarget target)
            {
                final UUID migrationId = target.value().migrationId();
                response = new InstanceEnsureResponse(new InstanceEnsureResponse.MigrateInitiate(migrationId));
                first = new InstanceStateMonitorResponse(1, Migrating, new InstanceMigrateStatusResponse(
                    new InstanceMigrationStatus(migrationId, PropolisMigrationState.Sync), null));
            }
            else if (request.init() instanceof InstanceInitializationMethod.Spec)
            {
                response = new InstanceEnsureResponse(null);
                first = new InstanceStateMonitorResponse(1, Creating, InstanceMigrateStatusResponse.NONE);
            }
            else
            {
                throw new IllegalStateException("unreachable: " + request.init());
            }
            // The machine sees the properties while it is made; they stay only if it is.
            properties = request.properties();
            try
            {
                machine = factory.create(request, this);
            }
            catch (final PropolisRefusal | RuntimeException e)
            {
                properties = null;
                throw e;
            }
            ensureResponse = response;
            latest = first;
            observer.accept(latest);
            published.signalAll();
            return ensureResponse;
        }
        finally
        {
            unlock();
        }
    }

    /**
     * {@code GET /instance}: the properties and the latest state.
     *
     * @return 200's body
     * @throws PropolisRefusal 424 before the first ensure
     */
    public InstanceGetResponse instance() throws PropolisRefusal
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

    /**
     * {@code GET /instance/migration-status}: the newest migration in each direction.
     *
     * @return 200's body
     * @throws PropolisRefusal 424 before ensure
     */
    public InstanceMigrateStatusResponse migrationStatus() throws PropolisRefusal
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
     *
     * @param requested Run, Stop or Reboot
     * @throws PropolisRefusal 424 before ensure; 403 if the queue denies it
     */
    public void request(final PropolisStateRequested requested) throws PropolisRefusal
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
     *
     * @param gen the generation wanted
     * @return 200's body
     * @throws PropolisRefusal      424 before ensure; 410 for a generation that will never come
     * @throws InterruptedException if the waiting thread is interrupted
     */
    public InstanceStateMonitorResponse awaitGeneration(final long gen) throws PropolisRefusal, InterruptedException
    {
        lock.lock();
        try
        {
            requireEnsured();
            if (gen >= 1 && gen - 1 <= latest.gen())
            {
                // The asker took in gen - 1 (a watcher asks for the one after the last it got).
                seen(gen - 1);
                if (!afterUnlock.isEmpty() && latest.gen() < gen)
                {
                    // What waited for it runs now, not when this wait ends (it may be what the next gen waits for).
                    unlock();
                    lock.lock();
                }
            }
            while (latest.gen() < gen)
            {
                if (isFinal())
                {
                    throw new PropolisRefusal(410, "NoInstance",
                        "No instance present; will never reach generation " + gen);
                }
                published.await();
            }
            if (gen == 0)
            {
                // A first or a last look gets the newest generation: it has seen it once this answer is out.
                seen(latest.gen());
            }
            return latest;
        }
        finally
        {
            unlock();
        }
    }

    @Override
    public void onceSeen(final long gen, final Runnable action)
    {
        lock.lock();
        try
        {
            seenActions.add(new SeenAction(gen, action));
            seen(seenGen);
        }
        finally
        {
            unlock();
        }
    }

    /** Records that {@code gen} was seen; queues the actions waiting for it (they run before the answer). */
    private void seen(final long gen)
    {
        seenGen = Math.max(seenGen, gen);
        seenActions.removeIf(waiting ->
        {
            if (waiting.gen() > seenGen)
            {
                return false;
            }
            afterUnlock.add(waiting.action());
            return true;
        });
    }

    /** An action waiting until a watcher has seen {@code gen}. */
    private record SeenAction(long gen, Runnable action)
    {
    }

    /**
     * {@code GET /instance/serial/history}, answered by the machine.
     *
     * @param query the parsed query
     * @return 200's body
     * @throws PropolisRefusal 424 before ensure; the machine's 400 for a range it no longer keeps
     */
    public SerialHistory serialHistory(final SerialQuery query) throws PropolisRefusal
    {
        final Machine current;
        lock.lock();
        try
        {
            requireEnsured();
            current = machine;
        }
        finally
        {
            unlock();
        }
        // Outside the lock: a ring read must not hold up state changes.
        return current.serialHistory(query);
    }

    /**
     * {@code GET /instance/serial}: the machine's com1.
     *
     * @return the port
     * @throws PropolisRefusal 424 before ensure
     */
    public SerialPort serialPort() throws PropolisRefusal
    {
        final Machine current;
        lock.lock();
        try
        {
            requireEnsured();
            current = machine;
        }
        finally
        {
            unlock();
        }
        return current.serialPort();
    }

    /**
     * {@code GET /instance/migrate/{migration_id}/start}: the request queue's rules for a migration out (403 unless
     * Running and not already a source), then the machine's session.
     *
     * @param migrationId the migration's id, as the target was given it
     * @return the session to run on the upgraded connection
     * @throws PropolisRefusal 424 before ensure; 403 from the queue; the machine's 400
     */
    public MigrationOutSession migrateOut(final UUID migrationId) throws PropolisRefusal
    {
        lock.lock();
        try
        {
            requireEnsured();
            requireMigratableOut();
            return machine.migrateOut(migrationId);
        }
        finally
        {
            unlock();
        }
    }

    /** The latest published state, or null before the first ensure. */
    @Override
    public InstanceStateMonitorResponse latest()
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

    @Override
    public InstanceProperties properties()
    {
        lock.lock();
        try
        {
            return properties;
        }
        finally
        {
            unlock();
        }
    }

    /** The machine, or null before the first ensure. */
    public Machine machine()
    {
        lock.lock();
        try
        {
            return machine;
        }
        finally
        {
            unlock();
        }
    }

    /**
     * Sees every published state, under the lock, in order (for tests; it must not block or call back).
     *
     * @param newObserver the observer
     */
    public void observe(final Consumer<InstanceStateMonitorResponse> newObserver)
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

    /**
     * Where machines say what went wrong (stderr by default; tests collect it).
     *
     * @param newLog the sink
     */
    public void logTo(final Consumer<String> newLog)
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

    @Override
    public void log(final String message)
    {
        final Consumer<String> sink;
        lock.lock();
        try
        {
            sink = log;
        }
        finally
        {
            unlock();
        }
        sink.accept(message);
    }

    @Override
    public void publish(final PropolisInstanceState state, final InstanceMigrationStatus migrationIn,
        final InstanceMigrationStatus migrationOut)
    {
        lock.lock();
        try
        {
            if (latest == null)
            {
                throw new IllegalStateException("publish before the instance exists: " + state);
            }
            final InstanceMigrateStatusResponse current = latest.migration();
            final InstanceMigrateStatusResponse migration = migrationIn == null && migrationOut == null ? current
                : new InstanceMigrateStatusResponse(migrationIn == null ? current.migrationIn() : migrationIn,
                    migrationOut == null ? current.migrationOut() : migrationOut);
            latest = new InstanceStateMonitorResponse(latest.gen() + 1, state, migration);
            observer.accept(latest);
            published.signalAll();
        }
        finally
        {
            unlock();
        }
    }

    @Override
    public <T> T locked(final LockedCall<T> call) throws PropolisRefusal
    {
        lock.lock();
        try
        {
            return call.call();
        }
        finally
        {
            unlock();
        }
    }

    @Override
    public void afterUnlock(final Runnable task)
    {
        lock.lock();
        try
        {
            afterUnlock.add(task);
        }
        finally
        {
            unlock();
        }
    }

    @Override
    public void requireMigratableOut() throws PropolisRefusal
    {
        lock.lock();
        try
        {
            requireEnsured();
            if (migratingOut())
            {
                throw PropolisRefusal.forbidden("Instance is already a migration source");
            }
            final PropolisInstanceState state = latest.state();
            denyIfHalted(state);
            switch (state)
            {
                case Running ->
                {
                    // The one state a VM migrates out of.
                }
                case Creating -> throw PropolisRefusal.forbidden("Operation requires an active instance");
                case Starting, Migrating -> throw PropolisRefusal.forbidden("Instance is currently starting");
                default -> throw PropolisRefusal.forbidden("Instance is not running (" + state + ")");
            }
        }
        finally
        {
            unlock();
        }
    }

    // ---- the request queue ----

    private void run() throws PropolisRefusal
    {
        final PropolisInstanceState state = latest.state();
        denyIfHalted(state);
        if (state == Creating)
        {
            machine.start();
        }
        // Starting, Running, Rebooting, migrating in (which starts itself) or out: already running. Ignored.
    }

    private void stop() throws PropolisRefusal
    {
        if (migratingOut())
        {
            // As request_queue.rs: the Stop may belong to the target, so the caller must wait for the outcome.
            throw PropolisRefusal.forbidden("Operation cannot be performed on a migration source");
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
                if (!migratedOut())
                {
                    // A migration target that has not finished: its migration in ends in Error.
                    machine.stop(state);
                }
            }
            case Creating, Starting, Running, Rebooting, Repairing -> machine.stop(state);
            default -> throw new IllegalStateException("unreachable: " + state);
        }
    }

    private void reboot() throws PropolisRefusal
    {
        if (migratingOut())
        {
            throw PropolisRefusal.forbidden("Operation cannot be performed on a migration source");
        }
        final PropolisInstanceState state = latest.state();
        denyIfHalted(state);
        switch (state)
        {
            case Creating -> throw PropolisRefusal.forbidden("Operation requires an active instance");
            case Starting, Migrating -> throw PropolisRefusal.forbidden("Instance is currently starting");
            case Running, Repairing -> machine.reboot();
            case Rebooting ->
            {
                // A reboot is already under way: ignored.
            }
            default -> throw new IllegalStateException("unreachable: " + state);
        }
    }

    private void denyIfHalted(final PropolisInstanceState state) throws PropolisRefusal
    {
        if (migratedOut())
        {
            throw PropolisRefusal.forbidden("Instance has migrated out and is being torn down");
        }
        switch (state)
        {
            case Stopping, Stopped -> throw PropolisRefusal.forbidden("Instance is preparing to stop");
            case Destroyed -> throw PropolisRefusal.forbidden("Instance has already halted");
            case Failed -> throw PropolisRefusal.forbidden("Instance failed to start or halted due to a failure");
            default ->
            {
                // Not halted.
            }
        }
    }

    /** A migration out is under way (its phase is not yet Finish or Error). */
    private boolean migratingOut()
    {
        final InstanceMigrationStatus out = latest.migration().migrationOut();
        return out != null && !out.state().isTerminal();
    }

    /** The VM has moved to a target and is running down here. */
    private boolean migratedOut()
    {
        final InstanceMigrationStatus out = latest.migration().migrationOut();
        return out != null && out.state() == PropolisMigrationState.Finish;
    }

    // ---- plumbing ----

    private boolean isFinal()
    {
        return latest.state() == Destroyed || latest.state() == Failed;
    }

    private void requireEnsured() throws PropolisRefusal
    {
        if (latest == null)
        {
            throw PropolisRefusal.noInstance();
        }
    }

    @Override
    public void lock()
    {
        lock.lock();
    }

    /** Releases the lock; the outermost release then runs what had to wait for it (link calls, poll answers). */
    @Override
    public void unlock()
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
                System.err.println("propolis: deferred task failed: " + e);
            }
        }
    }
}
