package sledagent.perf;

import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Group;
import org.openjdk.jmh.annotations.GroupThreads;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;
import sledagent.agent.vmm.MailboxDoor;

/**
 * A VMM's mailbox: the agent's own {@code sledagent.agent.vmm.Mailbox} (reached through {@link MailboxDoor}, since it
 * is package-private), three JCTools lanes made on their first offer and polled terminate > internal > requests.
 *
 * <ul>
 * <li>{@code offerPoll}: one request offered and polled (the usual turn of an idle VMM's actor);</li>
 * <li>{@code burstDrain}: 1 terminate + 8 internal + 8 requests offered, then all 17 polled in priority order;</li>
 * <li>{@code newMailbox}: building one (every register); run with {@code -prof gc}: {@code gc.alloc.rate.norm} is
 *     the bytes each registered VMM's mailbox costs before its first message;</li>
 * <li>{@code contended}: one thread offering to the internal lane while the owner polls.</li>
 * </ul>
 *
 * <p><b>Decision</b> (figures in RESULTS.md): <b>JCTools lanes, made on first use</b>. It was taken on hand copies of
 * the lanes: JCTools beat JDK queues ({@code ArrayBlockingQueue}/{@code LinkedBlockingQueue}) 3 to 4 times on every
 * operation (offer + poll about 7 ns against 20, a 17-message burst about 90 ns against 380), and three padded
 * JCTools queues made at construction cost 2,520 bytes per VMM before any message (JDK: 832; made lazily: 24). Those
 * copies measured code the agent does not have, so they are gone; this benchmark measures only the class the agent
 * runs, to catch a regression of it. Re-open the queue choice with a copy of the new candidate next to this.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class MailboxBenchmark
{
    private Object mailbox;
    private final Object message = new Object();

    @Setup(Level.Trial)
    public void setUp()
    {
        mailbox = MailboxDoor.newMailbox();
    }

    @Benchmark
    public Object offerPoll()
    {
        MailboxDoor.offerRequest(mailbox, message);
        return MailboxDoor.poll(mailbox);
    }

    @Benchmark
    public int burstDrain()
    {
        final Object box = mailbox;
        MailboxDoor.offerTerminate(box, message);
        for (int i = 0; i < 8; i++)
        {
            MailboxDoor.offerInternal(box, message);
            MailboxDoor.offerRequest(box, message);
        }
        int drained = 0;
        while (MailboxDoor.poll(box) != null)
        {
            drained++;
        }
        return drained;
    }

    @Benchmark
    public Object newMailbox()
    {
        return MailboxDoor.newMailbox();
    }

    @Benchmark
    @Group("contended")
    @GroupThreads(1)
    public boolean offerContended()
    {
        return MailboxDoor.offerInternal(mailbox, message);
    }

    @Benchmark
    @Group("contended")
    @GroupThreads(1)
    public Object pollContended()
    {
        return MailboxDoor.poll(mailbox);
    }
}
