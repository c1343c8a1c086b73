package sledagent.agent.vmm;

import org.jctools.queues.MpscArrayQueue;
import org.jctools.queues.MpscChunkedArrayQueue;

/**
 * One VMM's inbox: three bounded multi-producer, single-consumer lanes, polled in priority order.
 * <ol>
 * <li>terminate lane (unregister, force-terminate): a full request lane never holds these back;</li>
 * <li>internal lane (results of the actor's own work, observations, the timer): bounded by construction,
 *     since the actor keeps at most one of each kind of work in flight, with a hard cap as a backstop;</li>
 * <li>request lane (run, stop, reboot): a full lane is answered with 503 at once, never waited on.</li>
 * </ol>
 */
final class Mailbox<M>
{
    /** omicron's per-VMM queue size. */
    static final int REQUEST_CAPACITY = 32;
    static final int TERMINATE_CAPACITY = 32;
    static final int INTERNAL_CAPACITY = 4096;

    private final MpscArrayQueue<M> terminate = new MpscArrayQueue<>(TERMINATE_CAPACITY);
    private final MpscChunkedArrayQueue<M> internal = new MpscChunkedArrayQueue<>(64, INTERNAL_CAPACITY);
    private final MpscArrayQueue<M> requests = new MpscArrayQueue<>(REQUEST_CAPACITY);

    boolean offerTerminate(final M message)
    {
        return terminate.offer(message);
    }

    boolean offerInternal(final M message)
    {
        return internal.offer(message);
    }

    boolean offerRequest(final M message)
    {
        return requests.offer(message);
    }

    /** The next message by priority, or null. Single consumer only. */
    M poll()
    {
        M message = terminate.poll();
        if (message == null)
        {
            message = internal.poll();
        }
        if (message == null)
        {
            message = requests.poll();
        }
        return message;
    }

    boolean isEmpty()
    {
        return terminate.isEmpty() && internal.isEmpty() && requests.isEmpty();
    }
}
