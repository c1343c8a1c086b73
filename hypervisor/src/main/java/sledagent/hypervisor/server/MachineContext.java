package sledagent.hypervisor.server;

import sledagent.api.propolis.InstanceMigrationStatus;
import sledagent.api.propolis.InstanceProperties;
import sledagent.api.propolis.InstanceStateMonitorResponse;
import sledagent.api.propolis.PropolisInstanceState;

/** What a {@link Machine} sees of its {@link PropolisInstance}: how it publishes, and the instance lock. */
public interface MachineContext
{
    /**
     * Publishes a new generation (takes the lock if the caller does not hold it) and wakes every monitor waiter.
     *
     * @param state        the new state
     * @param migrationIn  the new migration-in status, or null to keep the current one
     * @param migrationOut the new migration-out status, or null to keep the current one
     */
    void publish(PropolisInstanceState state, InstanceMigrationStatus migrationIn,
        InstanceMigrationStatus migrationOut);

    /** Publishes a new state, keeping both migration statuses. */
    default void publish(final PropolisInstanceState state)
    {
        publish(state, null, null);
    }

    /**
     * Runs {@code call} with the instance lock held, so that a check of the latest state and a publish are one step.
     *
     * @param call what to run
     * @param <T>  its result
     * @return its result
     * @throws PropolisRefusal if {@code call} refuses
     */
    <T> T locked(LockedCall<T> call) throws PropolisRefusal;

    /**
     * Takes the instance lock (reentrant). Pair with {@link #unlock()} in a {@code finally}: a machine's own timers
     * and threads take it to check their state and publish as one step.
     */
    void lock();

    /** Releases the instance lock; the outermost release runs what {@link #afterUnlock} queued. */
    void unlock();

    /** Runs {@code task} once the outermost holder releases the lock (or at once if nobody holds it). */
    void afterUnlock(Runnable task);

    /** The latest published state (never null once the machine exists). */
    InstanceStateMonitorResponse latest();

    /** The instance's properties, as ensured. */
    InstanceProperties properties();

    /**
     * The request queue's rules for a migration out ({@code MigrateAsSource}): passes only for a Running VM that is
     * not already a migration source. Call with the lock held.
     *
     * @throws PropolisRefusal 403 with Propolis's reason otherwise
     */
    void requireMigratableOut() throws PropolisRefusal;

    /**
     * Runs {@code action} (once the lock is released, before the answer goes out) as soon as some watcher has seen
     * generation {@code gen}: a state-monitor request asks for a later generation while {@code gen} is published (a
     * watcher asks for the next one after it took in the last), or a request for generation 0 (a first or a last
     * look) is answered with {@code gen} or later. Call with the lock held.
     *
     * @param gen    a published generation
     * @param action what to run; it must not block for long
     */
    void onceSeen(long gen, Runnable action);

    /** Where the machine says what went wrong (stderr of the server by default). */
    void log(String message);

    /** A call under the instance lock. */
    @FunctionalInterface
    interface LockedCall<T>
    {
        /**
         * @return the result
         * @throws PropolisRefusal to refuse
         */
        T call() throws PropolisRefusal;
    }
}
