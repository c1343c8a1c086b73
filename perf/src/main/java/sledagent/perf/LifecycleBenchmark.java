package sledagent.perf;

import com.fasterxml.jackson.databind.ObjectReader;
import com.fasterxml.jackson.databind.ObjectWriter;
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
import sledagent.agent.vmm.Transition;
import sledagent.agent.vmm.VmmLifecycle;
import sledagent.agent.vmm.VmmRecord;
import sledagent.api.InstanceEnsureBody;
import sledagent.api.Json;
import sledagent.api.SledVmmState;
import sledagent.api.propolis.InstanceMigrateStatusResponse;
import sledagent.api.propolis.InstanceStateMonitorResponse;
import sledagent.api.propolis.PropolisInstanceState;

/**
 * The per-event costs on a VMM's hot paths: one lifecycle step (a Propolis observation, a stop request) and the
 * JSON of the state that every publish and every {@code GET /state} encodes.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class LifecycleBenchmark
{
    private static final ObjectWriter STATE_WRITER = Json.mapper().writerFor(SledVmmState.class);
    private static final ObjectReader ENSURE_READER = Json.mapper().readerFor(InstanceEnsureBody.class);

    private VmmRecord active;
    private Event runningObserved;
    private Event stop;
    private Instant now;
    private SledVmmState state;
    private String ensureJson;

    @Setup
    public void setUp() throws Exception
    {
        ensureJson = ExampleBodies.ensureBody(UUID.randomUUID(), "127.0.0.1:12400", 1);
        final InstanceEnsureBody body = ENSURE_READER.readValue(ensureJson);
        now = Instant.now();
        VmmRecord record = VmmRecord.registered(UUID.randomUUID(), body, now, 600_000);
        record = VmmLifecycle.apply(record, new Event.RunRequested(), now).next();
        active = VmmLifecycle.apply(record, new Event.VmmStarted(), now).next();
        runningObserved = new Event.PropolisObserved(new InstanceStateMonitorResponse(3,
            PropolisInstanceState.Running, InstanceMigrateStatusResponse.NONE));
        stop = new Event.StopRequested();
        state = VmmLifecycle.apply(active, runningObserved, now).next().current();
    }

    @Benchmark
    public Transition observeRunning()
    {
        return VmmLifecycle.apply(active, runningObserved, now);
    }

    @Benchmark
    public Transition requestStop()
    {
        return VmmLifecycle.apply(active, stop, now);
    }

    @Benchmark
    public byte[] encodeSledVmmState() throws Exception
    {
        return STATE_WRITER.writeValueAsBytes(state);
    }

    @Benchmark
    public InstanceEnsureBody decodeRegisterBody() throws Exception
    {
        return ENSURE_READER.readValue(ensureJson);
    }
}
