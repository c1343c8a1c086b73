package sledagent.hypervisor.server;

import java.util.UUID;
import sledagent.api.propolis.PropolisInstanceState;

/**
 * One VM behind a {@link PropolisInstance}: what the Propolis core asks of it once the request queue has let a
 * request through. The core judges every request (and answers 403s) itself; a machine only acts, and reports what it
 * observes through its {@link MachineContext} ({@link MachineContext#publish}).
 *
 * <p>Every method here is called with the instance lock held. None may block: a machine that has slow work to do (a
 * QMP call) hands it to its own thread. A machine may publish from inside these calls (the lock is reentrant), which
 * is how a request's first state reaches the monitor before the HTTP answer.
 */
public interface Machine
{
    /** {@code Run} from {@code Creating}: publish {@code Starting}, then {@code Running} (or {@code Failed}). */
    void start();

    /**
     * {@code Stop}, Propolis's hard halt: from a running VM {@code Stopping}, {@code Stopped}, then {@code Destroyed}
     * once everything is gone; from one that never ran, {@code Stopped} and {@code Destroyed}.
     *
     * @param from the published state when the Stop was accepted (never a halted one)
     */
    void stop(PropolisInstanceState from);

    /** {@code Reboot} of a running VM: {@code Rebooting}, then {@code Running}. */
    void reboot();

    /**
     * {@code GET /instance/serial/history} for com1.
     *
     * @param query where to start and how much to return
     * @return the bytes and the offset of the last one
     * @throws PropolisRefusal 400 if the range is no longer kept
     */
    default SerialHistory serialHistory(final SerialQuery query) throws PropolisRefusal
    {
        return SerialHistory.EMPTY;
    }

    /**
     * com1 for {@code GET /instance/serial} (the WebSocket).
     *
     * @return the port; {@link SerialPort#NONE} for a machine without a guest
     */
    default SerialPort serialPort()
    {
        return SerialPort.NONE;
    }

    /**
     * {@code GET /instance/migrate/{migration_id}/start} on a migration source, once the request queue has let it
     * through ({@link MachineContext#requireMigratableOut}): the machine publishes migration_out {@code Sync} (under
     * the lock, before the 101) and returns what drives the migration on the upgraded connection.
     *
     * @param migrationId the id the target was given
     * @return the session to run on the connection
     * @throws PropolisRefusal 400 if this machine cannot be a migration source over this endpoint
     */
    default MigrationOutSession migrateOut(final UUID migrationId) throws PropolisRefusal
    {
        throw PropolisRefusal.badRequest("this server cannot be a migration source over /instance/migrate");
    }
}
