package sledagent.perf;

import java.time.Clock;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
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
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;
import sledagent.agent.demo.ExampleBodies;
import sledagent.agent.vmm.Cancellable;
import sledagent.agent.vmm.ConcurrentVmmTable;
import sledagent.agent.vmm.Event;
import sledagent.agent.vmm.NonBlockingVmmTable;
import sledagent.agent.vmm.VmmActor;
import sledagent.agent.vmm.VmmDriver;
import sledagent.agent.vmm.VmmManager;
import sledagent.agent.vmm.VmmTable;
import sledagent.api.InstanceEnsureBody;
import sledagent.api.Json;
import sledagent.api.SledVmmState;
import sledagent.api.propolis.PropolisStateRequested;
import sledagent.zones.ZoneProcess;

/**
 * The VMM table ({@link VmmTable}): {@link NonBlockingVmmTable} (JCTools {@code NonBlockingHashMap}) against
 * {@link ConcurrentVmmTable} ({@code ConcurrentHashMap}), holding real {@link VmmActor}s (made by
 * {@link VmmManager#register} with a driver that does nothing), at 1,000 and 100,000 entries.
 *
 * <ul>
 * <li>{@code get}, {@code get2}: a hit, from 1 and 2 threads ({@code GET /state}, every request to a VMM);</li>
 * <li>{@code putRemove}, {@code putRemove2}: {@code putIfAbsent} then {@code remove(id, actor)} of a key not in
 *     the table, from 1 and 2 threads, each thread on its own 65,536 spare keys (register and removal);</li>
 * <li>{@code readWrite}: one thread reading while another puts and removes (the agent's shape: event loops
 *     read, the manager writes).</li>
 * </ul>
 *
 * <p><b>Decision</b> (figures in RESULTS.md): <b>ConcurrentHashMap</b>, which {@code SledAgent} now uses
 * ({@link ConcurrentVmmTable}; it used {@link NonBlockingVmmTable} before these results). On JDK 17, 2 cores: a hit
 * ({@code get}, the path of every {@code GET /state} and every request to a VMM) took about 5 ns against NBHM's 9
 * to 12 at 1,000 entries, and 80 to 120 against 110 to 130 at 100,000 (cache misses, within the noise of each
 * other); put + remove was 3 to 5 times faster at 1,000 entries (1 and 2 threads) and the same at 100,000. Only the
 * writer of {@code readWrite} (one thread writing while another reads) was slower on CHM, and the agent writes at
 * register rates, hundreds per second at most. The differences are tens of ns against a request's 10 us of CPU, so
 * the choice is also the simpler one: the JDK's map, no {@code sun.misc.Unsafe}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class TableBenchmark
{
    /** Spare keys per thread for put/remove (a power of two). */
    static final int SPARES = 1 << 16;

    @Param({"nbhm", "chm"})
    public String impl;

    @Param({"1000", "100000"})
    public int size;

    VmmTable table;
    /** The keys in the table, shuffled: lookups walk memory in no particular order. */
    UUID[] lookups;
    VmmActor spareActor;
    /** Spare keys, {@link #SPARES} per thread (for up to 2 threads). */
    UUID[] spares;
    final AtomicInteger threads = new AtomicInteger();

    @Setup(Level.Trial)
    public void setUp() throws Exception
    {
        table = switch (impl)
        {
            case "nbhm" -> new NonBlockingVmmTable();
            case "chm" -> new ConcurrentVmmTable();
            default -> throw new IllegalArgumentException("impl: " + impl);
        };
        final VmmManager source = new VmmManager(new NonBlockingVmmTable(), Runnable::run, new NoopDriver(),
            Clock.systemUTC());
        final InstanceEnsureBody body = Json.mapper().readerFor(InstanceEnsureBody.class)
            .readValue(ExampleBodies.ensureBody(UUID.randomUUID(), "127.0.0.1:12400", 1));
        final List<UUID> keys = new ArrayList<>(size);
        for (int i = 0; i < size; i++)
        {
            final UUID id = UUID.randomUUID();
            source.register(id, body);
            table.putIfAbsent(id, source.table().get(id));
            keys.add(id);
        }
        Collections.shuffle(keys);
        lookups = keys.toArray(new UUID[0]);
        final UUID spareId = UUID.randomUUID();
        source.register(spareId, body);
        spareActor = source.table().get(spareId);
        spares = new UUID[2 * SPARES];
        for (int i = 0; i < spares.length; i++)
        {
            spares[i] = UUID.randomUUID();
        }
    }

    /** Per-thread position in the lookups and in the thread's own spare keys. */
    @State(Scope.Thread)
    public static class Cursor
    {
        int lookup;
        int spareBase;
        int spare;

        @Setup(Level.Trial)
        public void setUp(final TableBenchmark bench)
        {
            final int thread = bench.threads.getAndIncrement() & 1;
            spareBase = thread * SPARES;
            lookup = thread * 7919 % bench.lookups.length;
        }
    }

    private VmmActor lookup(final Cursor cursor)
    {
        int i = cursor.lookup + 1;
        if (i == lookups.length)
        {
            i = 0;
        }
        cursor.lookup = i;
        return table.get(lookups[i]);
    }

    private boolean putThenRemove(final Cursor cursor)
    {
        final UUID id = spares[cursor.spareBase + (cursor.spare++ & (SPARES - 1))];
        table.putIfAbsent(id, spareActor);
        return table.remove(id, spareActor);
    }

    @Benchmark
    @Threads(1)
    public VmmActor get(final Cursor cursor)
    {
        return lookup(cursor);
    }

    @Benchmark
    @Threads(2)
    public VmmActor get2(final Cursor cursor)
    {
        return lookup(cursor);
    }

    @Benchmark
    @Threads(1)
    public boolean putRemove(final Cursor cursor)
    {
        return putThenRemove(cursor);
    }

    @Benchmark
    @Threads(2)
    public boolean putRemove2(final Cursor cursor)
    {
        return putThenRemove(cursor);
    }

    @Benchmark
    @Group("readWrite")
    @GroupThreads(1)
    public VmmActor readWhileWriting(final Cursor cursor)
    {
        return lookup(cursor);
    }

    @Benchmark
    @Group("readWrite")
    @GroupThreads(1)
    public boolean writeWhileReading(final Cursor cursor)
    {
        return putThenRemove(cursor);
    }

    /** A driver that does nothing: registered VMMs never start, so none of this is called. */
    static final class NoopDriver implements VmmDriver
    {
        @Override
        public Cancellable start(final UUID propolisId, final InstanceEnsureBody registration,
            final String migrationSourceAddr, final Consumer<ZoneProcess> onSpawned, final Consumer<Event> post)
        {
            return Cancellable.NONE;
        }

        @Override
        public void sendState(final String propolisAddr, final PropolisStateRequested request,
            final Consumer<Event> post)
        {
        }

        @Override
        public Cancellable watch(final String propolisAddr, final long gen, final Consumer<Event> post)
        {
            return Cancellable.NONE;
        }

        @Override
        public long stopGraceMs()
        {
            return 600_000;
        }

        @Override
        public Cancellable armStopDeadline(final long delayMs, final Consumer<Event> post)
        {
            return Cancellable.NONE;
        }

        @Override
        public Cancellable resumeStart(final UUID propolisId, final InstanceEnsureBody registration,
            final ZoneProcess process, final Consumer<Event> post)
        {
            return Cancellable.NONE;
        }

        @Override
        public Cancellable later(final long delayMs, final Runnable task)
        {
            return Cancellable.NONE;
        }

        @Override
        public void tearDown(final UUID propolisId, final int attempt, final String lastLookAddr,
            final Cancellable startJob, final ZoneProcess process, final Consumer<Event> post)
        {
        }

        @Override
        public void publish(final UUID propolisId, final SledVmmState state, final Consumer<Event> post)
        {
        }

        @Override
        public void forget(final UUID propolisId)
        {
        }
    }
}
