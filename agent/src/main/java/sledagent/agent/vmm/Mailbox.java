package sledagent.agent.vmm;

import java.util.concurrent.atomic.AtomicReferenceFieldUpdater;
import org.jctools.queues.MessagePassingQueue;
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
 * Each lane is made on its first offer: an idle VMM has none (JCTools queues are padded against false sharing,
 * about 2.5 KB for the three; with 100,000 registered VMMs that was 190 MB of heap, perf/RESULTS.md). JCTools was
 * chosen over the JDK's queues by an earlier JMH run (offer+poll 6.5 against 20.6 ns); {@code MailboxBenchmark} now
 * measures this class itself (about 8 ns offer+poll, perf/RESULTS.md). Creating the lanes lazily costs one CAS per
 * lane per VMM, once.
 */
final class Mailbox<M>
{
    /** omicron's per-VMM queue size. */
    static final int REQUEST_CAPACITY = 32;
    static final int TERMINATE_CAPACITY = 32;
    static final int INTERNAL_CAPACITY = 4096;

    @SuppressWarnings("rawtypes")
    private static final AtomicReferenceFieldUpdater<Mailbox, MessagePassingQueue> TERMINATE =
        AtomicReferenceFieldUpdater.newUpdater(Mailbox.class, MessagePassingQueue.class, "terminate");
    @SuppressWarnings("rawtypes")
    private static final AtomicReferenceFieldUpdater<Mailbox, MessagePassingQueue> INTERNAL =
        AtomicReferenceFieldUpdater.newUpdater(Mailbox.class, MessagePassingQueue.class, "internal");
    @SuppressWarnings("rawtypes")
    private static final AtomicReferenceFieldUpdater<Mailbox, MessagePassingQueue> REQUESTS =
        AtomicReferenceFieldUpdater.newUpdater(Mailbox.class, MessagePassingQueue.class, "requests");

    private volatile MessagePassingQueue<M> terminate;
    private volatile MessagePassingQueue<M> internal;
    private volatile MessagePassingQueue<M> requests;

    boolean offerTerminate(final M message)
    {
        MessagePassingQueue<M> lane = terminate;
        if (lane == null)
        {
            lane = create(TERMINATE, new MpscArrayQueue<>(TERMINATE_CAPACITY));
        }
        return lane.offer(message);
    }

    boolean offerInternal(final M message)
    {
        MessagePassingQueue<M> lane = internal;
        if (lane == null)
        {
            lane = create(INTERNAL, new MpscChunkedArrayQueue<>(64, INTERNAL_CAPACITY));
        }
        return lane.offer(message);
    }

    boolean offerRequest(final M message)
    {
        MessagePassingQueue<M> lane = requests;
        if (lane == null)
        {
            lane = create(REQUESTS, new MpscArrayQueue<>(REQUEST_CAPACITY));
        }
        return lane.offer(message);
    }

    /** The next message by priority, or null. Single consumer only. */
    M poll()
    {
        M message = poll(terminate);
        if (message == null)
        {
            message = poll(internal);
        }
        if (message == null)
        {
            message = poll(requests);
        }
        return message;
    }

    boolean isEmpty()
    {
        return isEmpty(terminate) && isEmpty(internal) && isEmpty(requests);
    }

    /** Installs {@code fresh} unless another producer got there first; returns the lane in place. */
    @SuppressWarnings({"unchecked", "rawtypes"})
    private MessagePassingQueue<M> create(final AtomicReferenceFieldUpdater<Mailbox, MessagePassingQueue> lane,
        final MessagePassingQueue<M> fresh)
    {
        return lane.compareAndSet(this, null, fresh) ? fresh : (MessagePassingQueue<M>)lane.get(this);
    }

    private static <M> M poll(final MessagePassingQueue<M> lane)
    {
        return lane == null ? null : lane.poll();
    }

    private static boolean isEmpty(final MessagePassingQueue<?> lane)
    {
        return lane == null || lane.isEmpty();
    }
}
