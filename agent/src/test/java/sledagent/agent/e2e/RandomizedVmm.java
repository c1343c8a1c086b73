package sledagent.agent.e2e;

import java.time.Instant;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicReference;

/**
 * What the randomized test knows about one VMM id: how it was registered, what was done to it, and when its first
 * {@code DELETE} was answered. One id is one VMM: the test never registers an id again once anything but a
 * register was sent for it, so every published state of an id belongs to one lifecycle.
 */
final class RandomizedVmm
{
    /** How a VMM's process misbehaves from its start (chosen at register). */
    enum StartFault
    {
        NONE, FAIL_START, EXIT_AT_START, NEVER_UP
    }

    final UUID id;
    final UUID instanceId;
    final String addr;
    final long registeredGen;
    final StartFault startFault;

    /**
     * Set (under the slot's lock) before anything but a register is sent for this id; a register of the same id is
     * only sent while it is false, so a register can never bring a finished VMM back under the same id.
     */
    volatile boolean touched;
    volatile boolean runSent;
    volatile boolean deleteSent;
    /** Some request for this id was answered 404: it has left the table (for good, as it is never re-registered). */
    volatile boolean seenGone;
    /** The fault injected after it was seen running (hang_stop, hang_http, exit_now, sigstop), or null. */
    final AtomicReference<String> runtimeFault = new AtomicReference<>();
    /** When the first {@code DELETE} of this id was answered 200. */
    final AtomicReference<Instant> deleteAnsweredAt = new AtomicReference<>();

    RandomizedVmm(final UUID id, final UUID instanceId, final String addr, final long registeredGen,
        final StartFault startFault)
    {
        this.id = id;
        this.instanceId = instanceId;
        this.addr = addr;
        this.registeredGen = registeredGen;
        this.startFault = startFault;
    }

    void deleteAnswered(final Instant at)
    {
        deleteAnsweredAt.compareAndSet(null, at);
    }

    @Override
    public String toString()
    {
        return id + " (addr " + addr + ", gen " + registeredGen + ", start fault " + startFault + ", runtime fault "
            + runtimeFault.get() + (deleteSent ? ", deleted" : "") + ")";
    }
}
