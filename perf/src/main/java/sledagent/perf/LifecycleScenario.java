package sledagent.perf;

import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import org.HdrHistogram.Histogram;
import sledagent.agent.core.SledAgent;
import sledagent.agent.demo.AgentHttpClient;
import sledagent.agent.demo.ExampleBodies;
import sledagent.agent.demo.RecordingNexus;
import sledagent.api.VmmState;

/** register -> run -> published running -> stop -> published destroyed, with real sims in cgroup zones. */
final class LifecycleScenario
{
    private static final Duration STEP_BOUND = Duration.ofSeconds(60);
    private final LoadOptions options;

    LifecycleScenario(final LoadOptions options)
    {
        this.options = options;
    }

    /** What one VMM's lifecycle measured (ns), or the reason it failed. */
    private record Sample(long registerNs, long runToRunningNs, long stopToDestroyedNs, long totalNs,
        long destroyedAtNs, String failure)
    {
    }

    void run() throws Exception
    {
        final int vmms = options.integer("vmms", 24);
        final int concurrency = options.integer("concurrency", 4);
        final double rate = options.decimal("rate", 0);
        final Path out = options.out();
        final Report.Summary summary = new Report.Summary("lifecycle", options);
        try (Cleanup undo = new Cleanup())
        {
            final AgentLog log = AgentLog.configure(options, out.resolve("lifecycle.agent.log"), Level.INFO);
            undo.push("close agent log", log::close);
            final Path zoneRoot = PerfZones.uniqueRoot("");
            undo.push("remove zone root " + zoneRoot, () -> PerfZones.removeRoot(zoneRoot));
            final Path stateDir = LoadAgent.tmpfsDir(undo);
            final RecordingNexus nexus = new RecordingNexus();
            undo.push("close recording nexus", nexus::close);
            final SledAgent agent = LoadAgent.launchAgent(stateDir, "cgroup", zoneRoot, List.of(nexus.url()));
            undo.push("close agent", agent::close);
            final InetSocketAddress addr = LoadAgent.loopback(agent);
            final AgentHttpClient client = new AgentHttpClient(URI.create("http://" + addr.getHostString() + ":"
                + addr.getPort()), Duration.ofSeconds(10));
            System.out.printf("lifecycle: agent %s, zone root %s, %d VMMs, %s%n", addr, zoneRoot, vmms,
                rate > 0 ? "open loop at " + rate + " lifecycles/s (at most " + concurrency + " at once)"
                    : "closed loop, " + concurrency + " at once");
            final ExecutorService workers = Executors.newFixedThreadPool(concurrency, LoadAgent.daemon("lifecycle"));
            undo.push("stop lifecycle workers", workers::shutdownNow);
            final int warmup = options.integer("warmup", 0);
            for (int i = 0; i < warmup; i++)
            {
                // Not recorded: the first registers and starts pay for class loading and JIT in the agent.
                final Sample sample = one(client, nexus, 0);
                if (sample.failure() != null)
                {
                    throw new IllegalStateException("warm-up lifecycle failed: " + sample.failure());
                }
            }
            final long simCpuBefore = Probes.cgroupCpuUs(zoneRoot);
            final long cpuBefore = Probes.processCpuNs();
            final long[] machineBefore = Probes.machineJiffies();
            final long t0 = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(50);
            final List<Future<Sample>> futures = new ArrayList<>();
            for (int i = 0; i < vmms; i++)
            {
                final long dueNs = rate > 0 ? t0 + (long)(i * 1e9 / rate) : 0;
                futures.add(workers.submit(() -> one(client, nexus, dueNs)));
            }
            final List<Sample> samples = new ArrayList<>();
            for (final Future<Sample> future : futures)
            {
                samples.add(future.get(STEP_BOUND.toMillis() * 3 * vmms, TimeUnit.MILLISECONDS));
            }
            final long machineBusyNs = Probes.machineBusyNs(machineBefore, Probes.machineJiffies());
            final long serverCpuNs = Probes.processCpuNs() - cpuBefore;
            final long simCpuUs = Probes.cgroupCpuUs(zoneRoot) - simCpuBefore;
            final Histogram register = Measure.histogram();
            final Histogram toRunning = Measure.histogram();
            final Histogram toDestroyed = Measure.histogram();
            final Histogram total = Measure.histogram();
            long lastNs = t0;
            final List<String> failures = new ArrayList<>();
            for (final Sample sample : samples)
            {
                if (sample.failure() != null)
                {
                    failures.add(sample.failure());
                    continue;
                }
                register.recordValue(sample.registerNs());
                toRunning.recordValue(sample.runToRunningNs());
                toDestroyed.recordValue(sample.stopToDestroyedNs());
                total.recordValue(sample.totalNs());
                lastNs = Math.max(lastNs, sample.destroyedAtNs());
            }
            final long wallNs = lastNs - t0;
            final long done = total.getTotalCount();
            final double perSec = done * 1e9 / wallNs;
            // Every VMM leaves the table once its destroyed state is acknowledged; wait (bounded) for that.
            final long emptyBy = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (agent.manager().table().size() > 0 && System.nanoTime() - emptyBy < 0)
            {
                Thread.sleep(20);
            }
            final Map<String, Histogram> steps = new LinkedHashMap<>();
            steps.put("register (PUT /vmms/{id} answered)", register);
            steps.put("run -> Nexus got running", toRunning);
            steps.put("stop -> Nexus got destroyed", toDestroyed);
            steps.put(rate > 0 ? "total, from the scheduled start" : "total", total);
            final StringBuilder table = new StringBuilder();
            table.append("| step | n | p50 ms | p90 ms | p99 ms | max ms |\n|---|---|---|---|---|---|\n");
            for (final Map.Entry<String, Histogram> step : steps.entrySet())
            {
                final Histogram h = step.getValue();
                table.append(String.format(Locale.ROOT, "| %s | %d | %s | %s | %s | %s |%n", step.getKey(),
                    h.getTotalCount(), Measure.ms(h.getValueAtPercentile(50)), Measure.ms(h.getValueAtPercentile(90)),
                    Measure.ms(h.getValueAtPercentile(99)), Measure.ms(h.getMaxValue())));
                Measure.writeHgrm(out.resolve("lifecycle." + Measure.slug(step.getKey()) + ".hgrm"), h);
            }
            System.out.println();
            System.out.println(table);
            final String line = String.format(Locale.ROOT, "Throughput: **%.2f lifecycles/s** (%d of %d VMMs "
                    + "registered, run, stopped and published destroyed in %.1f s, %d at a time, after %d not "
                    + "recorded; %d failed). CPU over the run: agent JVM %.2f cores; the sims (zone root's "
                    + "`cpu.stat`) %.2f cores, %.2f CPU-seconds per VMM; whole machine %.2f of %d cores.",
                perSec, done, vmms, wallNs / 1e9, concurrency, warmup, failures.size(),
                serverCpuNs / (double)wallNs, simCpuUs * 1e3 / wallNs, simCpuUs / 1e6 / Math.max(1, done),
                machineBusyNs / (double)wallNs, Runtime.getRuntime().availableProcessors());
            System.out.println(line);
            failures.forEach(f -> System.out.println("  failed: " + f));
            summary.table(table.toString());
            summary.line(line);
            if (agent.manager().table().size() > 0)
            {
                summary.line("Note: " + agent.manager().table().size() + " VMM(s) still in the table 30 s after "
                    + "the last destroyed.");
            }
            summary.write(out);
        }
        System.out.println("lifecycle: zone root removed; leftover sledperf cgroups: " + LoadAgent.leftoverRoots());
    }

    private Sample one(final AgentHttpClient client, final RecordingNexus nexus, final long dueNs)
        throws Exception
    {
        if (dueNs != 0)
        {
            final long waitNs = dueNs - System.nanoTime();
            if (waitNs > 0)
            {
                TimeUnit.NANOSECONDS.sleep(waitNs);
            }
        }
        final long startNs = dueNs != 0 ? dueNs : System.nanoTime();
        final UUID id = UUID.randomUUID();
        try
        {
            final String addr = PerfAgent.freeAddr();
            final long registerStart = System.nanoTime();
            expect200("register", client.register(id, ExampleBodies.ensureBody(UUID.randomUUID(), addr, 1)));
            final long registerNs = System.nanoTime() - registerStart;
            final Instant runAt = Instant.now();
            expect200("run", client.putState(id, "running"));
            final Instant runningAt = awaitPublished(nexus, id, VmmState.RUNNING);
            final Instant stopAt = Instant.now();
            expect200("stop", client.putState(id, "stopped"));
            final Instant destroyedAt = awaitPublished(nexus, id, VmmState.DESTROYED);
            final long destroyedNs = System.nanoTime();
            return new Sample(registerNs, Duration.between(runAt, runningAt).toNanos(),
                Duration.between(stopAt, destroyedAt).toNanos(), destroyedNs - startNs, destroyedNs, null);
        }
        catch (final Exception ex)
        {
            return new Sample(0, 0, 0, 0, 0, "vmm " + id + ": " + ex);
        }
    }

    private static void expect200(final String what, final AgentHttpClient.Answer answer)
    {
        if (answer.status() != 200)
        {
            throw new IllegalStateException(what + " answered " + answer.status() + ": " + answer.body());
        }
    }

    private static Instant awaitPublished(final RecordingNexus nexus, final UUID id, final VmmState state)
        throws InterruptedException
    {
        return awaitPublished(nexus, id, state, STEP_BOUND);
    }

    /** When Nexus received {@code state} for {@code id}; fails at once on {@code failed}, and after {@code bound}. */
    static Instant awaitPublished(final RecordingNexus nexus, final UUID id, final VmmState state,
        final Duration bound) throws InterruptedException
    {
        final long deadline = System.nanoTime() + bound.toNanos();
        while (System.nanoTime() - deadline < 0)
        {
            for (final RecordingNexus.Received received : nexus.received(id))
            {
                if (received.state().vmmState().state() == state)
                {
                    return received.at();
                }
                if (received.state().vmmState().state() == VmmState.FAILED)
                {
                    throw new IllegalStateException(id + " published failed while waiting for " + state);
                }
            }
            Thread.sleep(2);
        }
        throw new IllegalStateException(id + " not published " + state + " within " + bound);
    }
}
