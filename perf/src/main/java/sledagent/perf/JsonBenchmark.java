package sledagent.perf;

import com.fasterxml.jackson.databind.ObjectReader;
import com.fasterxml.jackson.databind.ObjectWriter;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufOutputStream;
import io.netty.buffer.PooledByteBufAllocator;
import java.io.OutputStream;
import java.time.Instant;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;
import sledagent.agent.demo.ExampleBodies;
import sledagent.agent.vmm.Event;
import sledagent.agent.vmm.StoredVmm;
import sledagent.agent.vmm.VmmLifecycle;
import sledagent.agent.vmm.VmmRecord;
import sledagent.api.InstanceEnsureBody;
import sledagent.api.Json;
import sledagent.api.SledVmmState;
import sledagent.api.propolis.InstanceMigrateStatusResponse;
import sledagent.api.propolis.InstanceStateMonitorResponse;
import sledagent.api.propolis.PropolisInstanceState;

/**
 * JSON on the agent's paths, with {@link Json#mapper()} ({@link LifecycleBenchmark} has {@code SledVmmState} encode
 * to bytes and register decode):
 * <ul>
 * <li>{@code decodeSledVmmState}: what Nexus (and {@code RecordingNexus}) does with every publish;</li>
 * <li>{@code encodeRegisterBody}: the register body, written back inside every stored record;</li>
 * <li>{@code encodeStoredVmm}: the whole durable record (before its fsync, on register and each change);</li>
 * <li>{@code stateToByteBufUntyped}: {@code GET /state} exactly as {@code ApiHandler.encode} does it today
 *     ({@code mapper().writeValue(ByteBufOutputStream, Object)} into a pooled buffer);</li>
 * <li>{@code stateToByteBufTyped}: the same through a cached {@code writerFor(SledVmmState.class)}.</li>
 * </ul>
 *
 * <p><b>Decision</b> (figures in RESULTS.md): Jackson and {@code ApiHandler.encode} stay as they are. The typed
 * cached writer allocates the same (about 1.1 KB per encode) and was not measurably faster than the untyped
 * {@code writeValue}: Jackson caches the serializer per class either way. The JSON of {@code GET /state} is about a
 * fifth of the agent's event-loop time (LoadTool's JFR); routing is as much.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class JsonBenchmark
{
    private static final ObjectReader STATE_READER = Json.mapper().readerFor(SledVmmState.class);
    private static final ObjectWriter STATE_WRITER = Json.mapper().writerFor(SledVmmState.class);
    private static final ObjectWriter ENSURE_WRITER = Json.mapper().writerFor(InstanceEnsureBody.class);
    private static final ObjectWriter STORED_WRITER = Json.mapper().writerFor(StoredVmm.class);

    private final ByteBufAllocator alloc = PooledByteBufAllocator.DEFAULT;
    private SledVmmState state;
    private byte[] stateJson;
    private InstanceEnsureBody body;
    private StoredVmm stored;

    @Setup
    public void setUp() throws Exception
    {
        body = Json.mapper().readerFor(InstanceEnsureBody.class)
            .readValue(ExampleBodies.ensureBody(UUID.randomUUID(), "127.0.0.1:12400", 1));
        final Instant now = Instant.now();
        VmmRecord record = VmmRecord.registered(UUID.randomUUID(), body, now, 600_000);
        record = VmmLifecycle.apply(record, new Event.RunRequested(), now).next();
        record = VmmLifecycle.apply(record, new Event.VmmStarted(), now).next();
        record = VmmLifecycle.apply(record, new Event.PropolisObserved(new InstanceStateMonitorResponse(3,
            PropolisInstanceState.Running, InstanceMigrateStatusResponse.NONE)), now).next();
        state = record.current();
        stateJson = STATE_WRITER.writeValueAsBytes(state);
        stored = StoredVmm.of(record, 4242, 123456);
    }

    @Benchmark
    public SledVmmState decodeSledVmmState() throws Exception
    {
        return STATE_READER.readValue(stateJson);
    }

    @Benchmark
    public byte[] encodeRegisterBody() throws Exception
    {
        return ENSURE_WRITER.writeValueAsBytes(body);
    }

    @Benchmark
    public byte[] encodeStoredVmm() throws Exception
    {
        return STORED_WRITER.writeValueAsBytes(stored);
    }

    @Benchmark
    public int stateToByteBufUntyped() throws Exception
    {
        final ByteBuf content = alloc.buffer(256);
        try (ByteBufOutputStream out = new ByteBufOutputStream(content))
        {
            Json.mapper().writeValue((OutputStream)out, (Object)state);
        }
        final int written = content.readableBytes();
        content.release();
        return written;
    }

    @Benchmark
    public int stateToByteBufTyped() throws Exception
    {
        final ByteBuf content = alloc.buffer(256);
        try (ByteBufOutputStream out = new ByteBufOutputStream(content))
        {
            STATE_WRITER.writeValue((OutputStream)out, state);
        }
        final int written = content.readableBytes();
        content.release();
        return written;
    }
}
