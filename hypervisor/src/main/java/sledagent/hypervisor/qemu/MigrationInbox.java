package sledagent.hypervisor.qemu;

import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * What one migration driver waits on: QEMU's events ({@link QmpEvent}) and the other server's messages
 * ({@link MigrationChannel.Message}, {@link MigrationChannel.Ended}) in arrival order, in a bounded queue, and every
 * wait with a deadline. Offering never blocks: it runs on QMP's reader thread under the instance lock.
 */
final class MigrationInbox
{
    /** Far more than one migration produces (a few dozen events and messages). */
    static final int CAPACITY = 4096;

    /** Thrown by a wait that ran out of time or by a migration that must end; its message says why. */
    static final class Failure extends Exception
    {
        private static final long serialVersionUID = 1L;

        Failure(final String message)
        {
            super(message, null, false, false);
        }
    }

    /** Put in the inbox to wake the driver when the migration is aborted (a Stop, QEMU gone). */
    record Aborted(String why)
    {
    }

    private final LinkedBlockingQueue<Object> queue = new LinkedBlockingQueue<>(CAPACITY);
    private volatile boolean overflowed;
    /** The other server, as failures name it: "source" or "target". */
    private final String peer;

    MigrationInbox(final String peer)
    {
        this.peer = peer;
    }

    /** Adds an item; never blocks. A full inbox marks the migration as failed rather than losing it silently. */
    void offer(final Object item)
    {
        if (!queue.offer(item))
        {
            overflowed = true;
        }
    }

    /**
     * The next item, waiting until {@code deadlineNs} ({@link System#nanoTime()}).
     *
     * @param what what is awaited, for the failure's message
     * @throws Failure on timeout, or if the inbox overflowed
     */
    Object next(final long deadlineNs, final String what) throws Failure, InterruptedException
    {
        if (overflowed)
        {
            throw new Failure("migration inbox overflowed");
        }
        final Object item = queue.poll(Math.max(0, deadlineNs - System.nanoTime()), TimeUnit.NANOSECONDS);
        if (item == null)
        {
            throw new Failure("timed out waiting for " + what);
        }
        return item;
    }

    /**
     * Waits for the other server's message of {@code type}, passing over QEMU's events on the way (a migration that
     * QEMU reports failed or cancelled ends the wait); anything else ends the migration ({@link #endedBy}).
     */
    MigrationChannel.Message expect(final String type, final long deadlineNs) throws Failure, InterruptedException
    {
        while (true)
        {
            final Object item = next(deadlineNs, "the " + peer + "'s " + type);
            if (item instanceof MigrationChannel.Message message && message.type().equals(type))
            {
                return message;
            }
            if (item instanceof QmpEvent event)
            {
                final String status = event.data().path("status").asText("");
                if (event.name().equals("MIGRATION") && (status.equals("failed") || status.equals("cancelled")))
                {
                    throw new Failure("QEMU's migration " + status);
                }
                continue;
            }
            throw endedBy(item);
        }
    }

    /** The failure an item other than the one awaited means: the peer went away, failed, or said something else. */
    Failure endedBy(final Object item)
    {
        if (item instanceof MigrationChannel.Ended ended)
        {
            return new Failure("the " + peer + " went away (" + ended.why() + ")");
        }
        if (item instanceof MigrationChannel.Message message && message.type().equals("error"))
        {
            return new Failure("the " + peer + " failed: " + message.body().path("message").asText());
        }
        if (item instanceof Aborted aborted)
        {
            return new Failure(aborted.why());
        }
        return new Failure("unexpected from the " + peer + ": " + item);
    }

    /** Deadline {@code ms} from now. */
    static long deadline(final long ms)
    {
        return System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(ms);
    }
}
