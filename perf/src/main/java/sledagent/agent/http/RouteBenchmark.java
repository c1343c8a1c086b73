package sledagent.agent.http;

import io.netty.handler.codec.http.HttpMethod;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The agent's routing step, {@link Route#match}, on the paths the API sees: {@code GET /vmms/{id}/state} (the hot
 * path: Nexus's and operators' polls, {@code LoadTool get-state}), {@code PUT /vmms/{id}}, {@code GET /vmms},
 * {@code GET /health}, and the refusals (404, 405, a bad id).
 *
 * <p>It lives in the agent's package (in the perf module: same package name, same class loader in the shaded
 * jar) so that it measures the real, package-private {@code Route} without making it public.
 *
 * <p><b>Decision</b> (figures in RESULTS.md): route by splitting the path on {@code /} instead of one regex per
 * route; JFR had {@code Route.match} at 20 to 33 % of the event loop's samples under {@code LoadTool get-state}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class RouteBenchmark
{
    private final String id = UUID.fromString("0b5a5e5c-7d4e-4c1a-9a6f-3f2e1d0c9b8a").toString();
    private final String statePath = "/vmms/" + id + "/state";
    private final String vmmPath = "/vmms/" + id;
    private final String badIdPath = "/vmms/not-a-uuid/state";

    /** {@code GET /vmms/{id}/state}: the hot path. */
    @Benchmark
    public Object getState()
    {
        return Route.match(HttpMethod.GET, statePath);
    }

    /** {@code PUT /vmms/{id}}: the first route in the table. */
    @Benchmark
    public Object register()
    {
        return Route.match(HttpMethod.PUT, vmmPath);
    }

    /** {@code GET /vmms}. */
    @Benchmark
    public Object list()
    {
        return Route.match(HttpMethod.GET, "/vmms");
    }

    /** {@code GET /health}: the last routes in the table. */
    @Benchmark
    public Object health()
    {
        return Route.match(HttpMethod.GET, "/health");
    }

    /** An unknown path: every route tried. */
    @Benchmark
    public Object notFound()
    {
        return Route.match(HttpMethod.GET, "/no/such/path");
    }

    /** {@code POST /vmms/{id}/state}: 405. */
    @Benchmark
    public Object methodNotAllowed()
    {
        return Route.match(HttpMethod.POST, statePath);
    }

    /** {@code GET /vmms/not-a-uuid/state}: 400. */
    @Benchmark
    public Object badId()
    {
        return Route.match(HttpMethod.GET, badIdPath);
    }
}
