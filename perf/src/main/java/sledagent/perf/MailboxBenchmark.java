package sledagent.perf;

import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReferenceFieldUpdater;
import org.jctools.queues.MpscArrayQueue;
import org.jctools.queues.MpscChunkedArrayQueue;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Group;
import org.openjdk.jmh.annotations.GroupThreads;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * A VMM's mailbox: {@code sledagent.agent.vmm.Mailbox} is package-private, so its lane structure is copied here
 * ({@link JcToolsLanes}, the mailbox as it was: terminate {@code MpscArrayQueue(32)}, internal
 * {@code MpscChunkedArrayQueue(64, 4096)}, requests {@code MpscArrayQueue(32)}, made with the mailbox, polled in
 * that order) and measured against the same lanes on JDK queues
 * ({@link JdkLanes}: {@code ArrayBlockingQueue(32)}, {@code LinkedBlockingQueue(4096)}, {@code ArrayBlockingQueue(32)}),
 * and against the JCTools lanes made on first use ({@link LazyJcToolsLanes}, what {@code Mailbox} does now).
 *
 * <ul>
 * <li>{@code offerPoll}: one request offered and polled (the usual turn of an idle VMM's actor);</li>
 * <li>{@code burstDrain}: 1 terminate + 8 internal + 8 requests offered, then all 17 polled in priority order;</li>
 * <li>{@code newMailbox}: building one (every register); run with {@code -prof gc}: {@code gc.alloc.rate.norm} is
 *     the bytes each registered VMM's mailbox costs;</li>
 * <li>{@code contended}: one thread offering to the internal lane while the owner polls.</li>
 * </ul>
 *
 * <p><b>Decision</b> (figures in RESULTS.md): <b>JCTools lanes, made on first use</b> ({@link LazyJcToolsLanes}).
 * The JCTools queues beat the JDK ones 3 to 4 times on every operation (offer + poll about 7 ns against 20, a
 * 17-message burst about 90 ns against 380), but a mailbox of three padded JCTools queues costs 2,520 bytes before
 * it holds anything (JDK: 832), which is a third of a registered VMM's heap (LoadTool scale: about 6.8 KB per VMM).
 * Made lazily they cost 24 bytes at rest and the same per operation once made. {@code sledagent.agent.vmm.Mailbox}
 * now creates each lane on its first offer (CAS through an {@code AtomicReferenceFieldUpdater}; {@code poll} and
 * {@code isEmpty} skip a lane that is still null), as {@link LazyJcToolsLanes} does; LoadTool scale measured the
 * heap of 100,000 registered VMMs before and after (RESULTS.md).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class MailboxBenchmark
{
    static final int REQUEST_CAPACITY = 32;
    static final int TERMINATE_CAPACITY = 32;
    static final int INTERNAL_CAPACITY = 4096;

    /** The three lanes, polled terminate > internal > requests. */
    interface Lanes<M>
    {
        boolean offerTerminate(M message);

        boolean offerInternal(M message);

        boolean offerRequest(M message);

        M poll();
    }

    /** The agent's lanes (a copy of {@code Mailbox}). */
    static final class JcToolsLanes<M> implements Lanes<M>
    {
        private final MpscArrayQueue<M> terminate = new MpscArrayQueue<>(TERMINATE_CAPACITY);
        private final MpscChunkedArrayQueue<M> internal = new MpscChunkedArrayQueue<>(64, INTERNAL_CAPACITY);
        private final MpscArrayQueue<M> requests = new MpscArrayQueue<>(REQUEST_CAPACITY);

        @Override
        public boolean offerTerminate(final M message)
        {
            return terminate.offer(message);
        }

        @Override
        public boolean offerInternal(final M message)
        {
            return internal.offer(message);
        }

        @Override
        public boolean offerRequest(final M message)
        {
            return requests.offer(message);
        }

        @Override
        public M poll()
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
    }

    /**
     * The agent's lanes, each made on its first offer (a CAS publishes it): a mailbox that never got a message
     * costs one small object instead of three padded queues. The price is a volatile read per lane per offer/poll.
     */
    @SuppressWarnings({"rawtypes", "unchecked"})
    static final class LazyJcToolsLanes<M> implements Lanes<M>
    {
        private static final AtomicReferenceFieldUpdater<LazyJcToolsLanes, MpscArrayQueue> TERMINATE =
            AtomicReferenceFieldUpdater.newUpdater(LazyJcToolsLanes.class, MpscArrayQueue.class, "terminate");
        private static final AtomicReferenceFieldUpdater<LazyJcToolsLanes, MpscChunkedArrayQueue> INTERNAL =
            AtomicReferenceFieldUpdater.newUpdater(LazyJcToolsLanes.class, MpscChunkedArrayQueue.class, "internal");
        private static final AtomicReferenceFieldUpdater<LazyJcToolsLanes, MpscArrayQueue> REQUESTS =
            AtomicReferenceFieldUpdater.newUpdater(LazyJcToolsLanes.class, MpscArrayQueue.class, "requests");

        private volatile MpscArrayQueue<M> terminate;
        private volatile MpscChunkedArrayQueue<M> internal;
        private volatile MpscArrayQueue<M> requests;

        @Override
        public boolean offerTerminate(final M message)
        {
            MpscArrayQueue<M> lane = terminate;
            if (lane == null)
            {
                TERMINATE.compareAndSet(this, null, new MpscArrayQueue<M>(TERMINATE_CAPACITY));
                lane = terminate;
            }
            return lane.offer(message);
        }

        @Override
        public boolean offerInternal(final M message)
        {
            MpscChunkedArrayQueue<M> lane = internal;
            if (lane == null)
            {
                INTERNAL.compareAndSet(this, null, new MpscChunkedArrayQueue<M>(64, INTERNAL_CAPACITY));
                lane = internal;
            }
            return lane.offer(message);
        }

        @Override
        public boolean offerRequest(final M message)
        {
            MpscArrayQueue<M> lane = requests;
            if (lane == null)
            {
                REQUESTS.compareAndSet(this, null, new MpscArrayQueue<M>(REQUEST_CAPACITY));
                lane = requests;
            }
            return lane.offer(message);
        }

        @Override
        public M poll()
        {
            final MpscArrayQueue<M> first = terminate;
            M message = first == null ? null : first.poll();
            if (message == null)
            {
                final MpscChunkedArrayQueue<M> second = internal;
                message = second == null ? null : second.poll();
            }
            if (message == null)
            {
                final MpscArrayQueue<M> third = requests;
                message = third == null ? null : third.poll();
            }
            return message;
        }
    }

    /** The same lanes on bounded JDK queues (a lock per queue). */
    static final class JdkLanes<M> implements Lanes<M>
    {
        private final ArrayBlockingQueue<M> terminate = new ArrayBlockingQueue<>(TERMINATE_CAPACITY);
        private final LinkedBlockingQueue<M> internal = new LinkedBlockingQueue<>(INTERNAL_CAPACITY);
        private final ArrayBlockingQueue<M> requests = new ArrayBlockingQueue<>(REQUEST_CAPACITY);

        @Override
        public boolean offerTerminate(final M message)
        {
            return terminate.offer(message);
        }

        @Override
        public boolean offerInternal(final M message)
        {
            return internal.offer(message);
        }

        @Override
        public boolean offerRequest(final M message)
        {
            return requests.offer(message);
        }

        @Override
        public M poll()
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
    }

    @Param({"jctools", "jctools-lazy", "jdk"})
    public String impl;

    private Lanes<Object> lanes;
    private final Object message = new Object();

    @Setup(Level.Trial)
    public void setUp()
    {
        lanes = newLanes();
    }

    private Lanes<Object> newLanes()
    {
        return switch (impl)
        {
            case "jctools" -> new JcToolsLanes<>();
            case "jctools-lazy" -> new LazyJcToolsLanes<>();
            case "jdk" -> new JdkLanes<>();
            default -> throw new IllegalArgumentException("impl: " + impl);
        };
    }

    @Benchmark
    public Object offerPoll()
    {
        lanes.offerRequest(message);
        return lanes.poll();
    }

    @Benchmark
    public int burstDrain()
    {
        final Lanes<Object> box = lanes;
        box.offerTerminate(message);
        for (int i = 0; i < 8; i++)
        {
            box.offerInternal(message);
            box.offerRequest(message);
        }
        int drained = 0;
        while (box.poll() != null)
        {
            drained++;
        }
        return drained;
    }

    @Benchmark
    public Lanes<Object> newMailbox()
    {
        return newLanes();
    }

    @Benchmark
    @Group("contended")
    @GroupThreads(1)
    public boolean offerContended()
    {
        return lanes.offerInternal(message);
    }

    @Benchmark
    @Group("contended")
    @GroupThreads(1)
    public Object pollContended()
    {
        return lanes.poll();
    }
}
