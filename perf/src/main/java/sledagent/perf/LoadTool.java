package sledagent.perf;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.Deque;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.FileHandler;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.Logger;
import java.util.logging.SimpleFormatter;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import javax.management.MBeanServer;
import javax.management.ObjectName;
import jdk.jfr.Configuration;
import jdk.jfr.Recording;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordedFrame;
import jdk.jfr.consumer.RecordedStackTrace;
import jdk.jfr.consumer.RecordingFile;
import org.HdrHistogram.Histogram;
import sledagent.agent.SledAgent;
import sledagent.agent.config.AgentConfig;
import sledagent.agent.demo.AgentHttpClient;
import sledagent.agent.demo.ExampleBodies;
import sledagent.agent.demo.RecordingNexus;
import sledagent.agent.persist.FileVmmStore;
import sledagent.agent.vmm.StoredVmm;
import sledagent.agent.vmm.VmmRecord;
import sledagent.api.InstanceEnsureBody;
import sledagent.api.Json;
import sledagent.api.VmmState;
import sledagent.zones.Zone;
import sledagent.zones.linux.CgroupRoot;
import sledagent.zones.linux.CgroupZoneBackend;

/**
 * End-to-end load tool. One command per scenario; each starts its own agent in this JVM
 * ({@link SledAgent#launch} on 127.0.0.1:0, state directory in {@code /dev/shm}), prints a summary table, and
 * writes one {@code .hgrm} percentile file per measurement (values in microseconds) and a {@code .summary.md}
 * fragment into {@code --out}:
 *
 * <pre>
 * java -cp perf/target/benchmarks.jar sledagent.perf.LoadTool get-state [options]   # agent vs bare Netty
 * java -cp perf/target/benchmarks.jar sledagent.perf.LoadTool lifecycle [options]   # real sims, root
 * java -cp perf/target/benchmarks.jar sledagent.perf.LoadTool scale [options]       # 100,000 VMMs, heap
 * java -cp perf/target/benchmarks.jar sledagent.perf.LoadTool report --results DIR [--jmh FILE] [--splice FILE]
 * java -cp perf/target/benchmarks.jar sledagent.perf.LoadTool jfr-top FILE [--frames N]
 * </pre>
 *
 * <p>The load generator ({@link OpenLoopClient}) runs by default in a second JVM ({@code --client separate}),
 * started by this one and driven over its stdin/stdout, so that its allocations and GC pauses are not charged to
 * the server; {@code --client same} runs it in this JVM. Either way it shares the machine's cores with the
 * server, so each measurement reports the CPU the server JVM, the client and the whole machine used.
 */
public final class LoadTool
{
    private static final ObjectMapper PLAIN = new ObjectMapper();
    private static final Path DEFAULT_OUT = Path.of("perf/target/results/loadtool");
    private static final String BEGIN_MARK = "<!-- loadtool:begin";
    private static final String END_MARK = "<!-- loadtool:end -->";

    private LoadTool()
    {
    }

    public static void main(final String[] args)
    {
        if (args.length == 0)
        {
            usage();
            System.exit(2);
        }
        final Options options = Options.parse(args);
        try
        {
            Hiccups.start();
            switch (args[0])
            {
                case "get-state" -> new GetState(options).run();
                case "lifecycle" -> new Lifecycle(options).run();
                case "scale" -> new Scale(options).run();
                case "client" -> ChildClient.serve();
                case "report" -> Report.run(options);
                case "jfr-top" -> JfrTop.print(Path.of(options.positional(0)), options.integer("frames", 25),
                    System.out);
                default ->
                {
                    usage();
                    System.exit(2);
                }
            }
        }
        catch (final Exception ex)
        {
            System.err.println("LoadTool " + args[0] + " failed: " + ex);
            ex.printStackTrace();
            System.exit(1);
        }
        System.exit(0);
    }

    private static void usage()
    {
        System.err.println("""
            usage: java -cp perf/target/benchmarks.jar sledagent.perf.LoadTool <command> [options]
              get-state  GET /vmms/{id}/state against the agent and a bare Netty server, same run
                         --rates 1000,5000,10000,20000 --duration-s 10 --warmup-s 5 --connections 16
                         --max-connections 16 --vmms 100 --repeat 1 [--jfr]
                         [--idle-connections N (held open to the agent, no request, during the measured runs)]
              lifecycle  register, run, stop, destroyed with real sims in cgroup zones (root)
                         --vmms 24 --concurrency 4 --warmup 0 [--rate R (open loop, lifecycles/s)]
              scale      100,000 registered VMMs (fake zones): heap used and GET /state p99 vs a small table
                         --vmms 100000 --baseline-vmms 100 --rate 20000 --duration-s 10 --warmup-s 5
                         --register-threads 8 --repeat 1 [--jfr] [--disk-dir DIR]
              report     --results DIR [--jmh FILE] [--splice perf/RESULTS.md]
              jfr-top    FILE [--frames 25]
            common: --out DIR (perf/target/results/loadtool) --client separate|same --client-threads 1
                    --client-jvm-opts "-Xms512m -Xmx512m" --agent-log warning|info""");
    }

    // ------------------------------------------------------------------------------------------------------------
    // get-state

    /** GET /state at fixed rates and at the maximum, agent and bare Netty server interleaved. */
    private static final class GetState
    {
        private final Options options;

        GetState(final Options options)
        {
            this.options = options;
        }

        void run() throws Exception
        {
            final List<Double> rates = options.doubles("rates", "1000,5000,10000,20000");
            final long durationNs = TimeUnit.SECONDS.toNanos(options.integer("duration-s", 10));
            final long warmupNs = TimeUnit.SECONDS.toNanos(options.integer("warmup-s", 5));
            final int connections = options.integer("connections", 16);
            final int maxConnections = options.integer("max-connections", 16);
            final int vmms = options.integer("vmms", 100);
            final Path out = options.out();
            final Report.Summary summary = new Report.Summary("get-state", options);
            try (Cleanup undo = new Cleanup())
            {
                final AgentLog log = AgentLog.configure(options, out.resolve("get-state.agent.log"), Level.WARNING);
                undo.push("close agent log", log::close);
                final Path stateDir = tmpfsDir(undo);
                final SledAgent agent = launchAgent(stateDir, "fake", null, List.of());
                undo.push("close agent", agent::close);
                final BareNettyServer bare = BareNettyServer.start(new InetSocketAddress("127.0.0.1", 0), 1);
                undo.push("close bare server", bare::close);
                final InetSocketAddress agentAddr = loopback(agent);
                final List<UUID> ids = Register.all(agentAddr, vmms, 4, null).ids();
                final Path paths = writePaths(out.resolve("get-state.paths"), ids);
                final LoadGen gen = LoadGen.create(options, undo);
                final Target agentTarget = new Target("agent", agentAddr);
                final Target bareTarget = new Target("bare-netty", bare.address());
                System.out.printf("get-state: agent %s, bare Netty %s, %d VMMs, load generator %s%n", agentAddr,
                    bare.address(), vmms, gen.describe());

                // JIT warm-up of both servers (and of the client), not recorded.
                for (final Target target : List.of(agentTarget, bareTarget))
                {
                    Measure.run(gen, target, true, 0, warmupNs, maxConnections, paths);
                    Measure.run(gen, target, false, rates.get(rates.size() - 1), warmupNs, connections, paths);
                }
                final int idleConnections = options.integer("idle-connections", 0);
                if (idleConnections > 0)
                {
                    final List<java.nio.channels.SocketChannel> idle = openIdle(agentAddr, idleConnections);
                    undo.push("close idle connections", () -> closeAll(idle));
                    summary.line(String.format(Locale.ROOT, "%d idle connections held open to the agent during "
                        + "the measured runs (opened after the warm-up, no request sent on them).", idle.size()));
                    System.out.printf("  %d idle connections held to the agent%n", idle.size());
                }
                final int repeat = options.integer("repeat", 1);
                final List<Measure.Row> rows = new ArrayList<>();
                for (int round = 1; round <= repeat; round++)
                {
                    final String label = repeat == 1 ? null : "round " + round;
                    for (final double rate : rates)
                    {
                        for (final Target target : List.of(agentTarget, bareTarget))
                        {
                            rows.add(Measure.run(gen, target, false, rate, durationNs, connections, paths)
                                .labelled(label));
                            System.out.println("  " + rows.get(rows.size() - 1).oneLine());
                        }
                    }
                    for (final Target target : List.of(agentTarget, bareTarget))
                    {
                        rows.add(Measure.run(gen, target, true, 0, durationNs, maxConnections, paths)
                            .labelled(label));
                        System.out.println("  " + rows.get(rows.size() - 1).oneLine());
                    }
                }
                for (final Measure.Row row : rows)
                {
                    row.writeHgrm(out, "get-state");
                }
                summary.table(Measure.table(rows));
                final List<Double> ratios = new ArrayList<>();
                final List<Measure.Row> agentMax = rows.stream().filter(r -> r.closed() && r.target().equals("agent"))
                    .toList();
                final List<Measure.Row> bareMax = rows.stream()
                    .filter(r -> r.closed() && r.target().equals("bare-netty")).toList();
                for (int i = 0; i < agentMax.size(); i++)
                {
                    ratios.add(agentMax.get(i).result().achievedPerSec() / bareMax.get(i).result().achievedPerSec());
                }
                summary.line(String.format(Locale.ROOT, "Maximum throughput, agent / bare Netty (each round: "
                        + "the two runs back to back, %d connections, closed loop): **%s** (target: at least 0.5). "
                        + "Server CPU per request at the maximum: agent %.1f us, bare Netty %.1f us (median round); "
                        + "the client used %s cores against the bare server, so that figure is partly the client's "
                        + "limit and the ratio errs towards 1.",
                    maxConnections, ratios.stream().map(r -> String.format(Locale.ROOT, "%.2f", r))
                        .collect(Collectors.joining(", ")), medianUsPerRequest(agentMax),
                    medianUsPerRequest(bareMax), bareMax.stream().map(r -> String.format(Locale.ROOT, "%.2f",
                        r.clientCores())).collect(Collectors.joining(", "))));
                for (final Target target : List.of(agentTarget, bareTarget))
                {
                    final List<Measure.Row> at20k = rows.stream().filter(r -> r.target().equals(target.name())
                        && !r.closed() && r.offered() == 20_000).toList();
                    if (!at20k.isEmpty())
                    {
                        summary.line(String.format(Locale.ROOT, "%s p99 at 20,000 requests/s (each round): **%s ms**%s.",
                            target.name(), p99s(at20k), target == agentTarget ? " (target: at most 1 ms)" : ""));
                    }
                }
                if (options.flag("jfr"))
                {
                    final Path jfr = out.resolve("get-state.agent.jfr");
                    final Recording recording = startJfr(jfr);
                    final Measure.Row profiled = Measure.run(gen, agentTarget, true, 0, durationNs, maxConnections,
                        paths);
                    recording.stop();
                    recording.close();
                    System.out.println("  profiled (JFR " + jfr + "): " + profiled.oneLine());
                    summary.line("JFR of a closed-loop run against the agent: `" + jfr + "` ("
                        + "`java -cp perf/target/benchmarks.jar sledagent.perf.LoadTool jfr-top " + jfr + "`).");
                    JfrTop.print(jfr, 25, System.out);
                }
                System.out.println();
                System.out.println(Measure.table(rows));
                summary.write(out);
            }
        }
    }

    /** {@code count} connections to {@code address} that send nothing (the agent's idle timeout is 120 s). */
    private static List<java.nio.channels.SocketChannel> openIdle(final InetSocketAddress address, final int count)
        throws IOException
    {
        final List<java.nio.channels.SocketChannel> idle = new ArrayList<>(count);
        try
        {
            for (int i = 0; i < count; i++)
            {
                idle.add(java.nio.channels.SocketChannel.open(address));
            }
        }
        catch (final IOException ex)
        {
            closeAll(idle);
            throw ex;
        }
        return idle;
    }

    private static void closeAll(final List<java.nio.channels.SocketChannel> channels)
    {
        for (final java.nio.channels.SocketChannel channel : channels)
        {
            try
            {
                channel.close();
            }
            catch (final IOException ex)
            {
                // Closing a socket of ours: nothing to do about a failure.
            }
        }
    }

    // ------------------------------------------------------------------------------------------------------------
    // lifecycle

    /** register -> run -> published running -> stop -> published destroyed, with real sims in cgroup zones. */
    private static final class Lifecycle
    {
        private static final Duration STEP_BOUND = Duration.ofSeconds(60);
        private final Options options;

        Lifecycle(final Options options)
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
                final Path zoneRoot = CgroupRoot.agentCgroupDir().resolve("sledperf-" + UUID.randomUUID());
                undo.push("remove zone root " + zoneRoot, () -> removeZoneRoot(zoneRoot));
                final Path stateDir = tmpfsDir(undo);
                final RecordingNexus nexus = new RecordingNexus();
                undo.push("close recording nexus", nexus::close);
                final SledAgent agent = launchAgent(stateDir, "cgroup", zoneRoot, List.of(nexus.url()));
                undo.push("close agent", agent::close);
                final InetSocketAddress addr = loopback(agent);
                final AgentHttpClient client = new AgentHttpClient(URI.create("http://" + addr.getHostString() + ":"
                    + addr.getPort()), Duration.ofSeconds(10));
                System.out.printf("lifecycle: agent %s, zone root %s, %d VMMs, %s%n", addr, zoneRoot, vmms,
                    rate > 0 ? "open loop at " + rate + " lifecycles/s (at most " + concurrency + " at once)"
                        : "closed loop, " + concurrency + " at once");
                final ExecutorService workers = Executors.newFixedThreadPool(concurrency, daemon("lifecycle"));
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
                final long simCpuBefore = cgroupCpuUs(zoneRoot);
                final long cpuBefore = processCpuNs();
                final long[] machineBefore = machineJiffies();
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
                final long machineBusyNs = machineBusyNs(machineBefore, machineJiffies());
                final long serverCpuNs = processCpuNs() - cpuBefore;
                final long simCpuUs = cgroupCpuUs(zoneRoot) - simCpuBefore;
                final Histogram register = histogram();
                final Histogram toRunning = histogram();
                final Histogram toDestroyed = histogram();
                final Histogram total = histogram();
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
                    writeHgrm(out.resolve("lifecycle." + slug(step.getKey()) + ".hgrm"), h);
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
            System.out.println("lifecycle: zone root removed; leftover sledperf cgroups: " + leftoverRoots());
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
                final String addr = freeAddr();
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
            final long deadline = System.nanoTime() + STEP_BOUND.toNanos();
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
                        throw new IllegalStateException("published failed while waiting for " + state);
                    }
                }
                Thread.sleep(2);
            }
            throw new IllegalStateException("not published " + state + " within " + STEP_BOUND);
        }
    }

    // ------------------------------------------------------------------------------------------------------------
    // scale

    /** 100,000 registered VMMs: heap used, GET /state p99 against a small table, register cost, fsync cost. */
    private static final class Scale
    {
        private final Options options;

        Scale(final Options options)
        {
            this.options = options;
        }

        void run() throws Exception
        {
            final int vmms = options.integer("vmms", 100_000);
            final int baseline = options.integer("baseline-vmms", 100);
            final double rate = options.decimal("rate", 20_000);
            final long durationNs = TimeUnit.SECONDS.toNanos(options.integer("duration-s", 10));
            final long warmupNs = TimeUnit.SECONDS.toNanos(options.integer("warmup-s", 5));
            final int connections = options.integer("connections", 16);
            final int registerThreads = options.integer("register-threads", 8);
            final Path out = options.out();
            final Report.Summary summary = new Report.Summary("scale", options);
            try (Cleanup undo = new Cleanup())
            {
                final AgentLog log = AgentLog.configure(options, out.resolve("scale.agent.log"), Level.WARNING);
                undo.push("close agent log", log::close);
                final Path stateDir = tmpfsDir(undo);
                final long heapEmpty = heapUsedAfterGc();
                final SledAgent agent = launchAgent(stateDir, "fake", null, List.of());
                undo.push("close agent", agent::close);
                final InetSocketAddress addr = loopback(agent);
                final LoadGen gen = LoadGen.create(options, undo);
                final Target target = new Target("agent", addr);
                System.out.printf("scale: agent %s, state dir %s, %d VMMs (baseline %d), GET /state at %.0f/s, "
                    + "load generator %s, max heap %d MB%n", addr, stateDir, vmms, baseline, rate, gen.describe(),
                    Runtime.getRuntime().maxMemory() >> 20);

                final List<UUID> small = Register.all(addr, baseline, 4, null).ids();
                final Path smallPaths = writePaths(out.resolve("scale.small.paths"), small);
                Measure.run(gen, target, true, 0, warmupNs, connections, smallPaths);
                Measure.run(gen, target, false, rate, warmupNs, connections, smallPaths);
                final int repeat = options.integer("repeat", 1);
                final List<Measure.Row> smallRows = new ArrayList<>();
                for (int round = 1; round <= repeat; round++)
                {
                    smallRows.add(Measure.run(gen, target, false, rate, durationNs, connections, smallPaths)
                        .labelled(baseline + " VMMs" + (repeat == 1 ? "" : ", round " + round)));
                    System.out.println("  " + smallRows.get(smallRows.size() - 1).oneLine());
                }
                final long heapSmall = heapUsedAfterGc();

                final Histogram registerNs = histogram();
                final long regStart = System.nanoTime();
                final List<UUID> rest = Register.all(addr, vmms - baseline, registerThreads, registerNs).ids();
                final long regNs = System.nanoTime() - regStart;
                System.out.printf("  registered %d more in %.1f s (%.0f/s, %d threads); register p50 %s ms, p99 %s ms%n",
                    rest.size(), regNs / 1e9, rest.size() * 1e9 / regNs, registerThreads,
                    Measure.ms(registerNs.getValueAtPercentile(50)), Measure.ms(registerNs.getValueAtPercentile(99)));
                writeHgrm(out.resolve("scale.register.hgrm"), registerNs);
                final long heapLarge = heapUsedAfterGc();
                final int inTable = agent.manager().table().size();
                final String classes = classHistogram(20);
                Files.writeString(out.resolve("scale.class-histogram.txt"), classes);

                final List<UUID> all = new ArrayList<>(small);
                all.addAll(rest);
                Collections.shuffle(all);
                final Path allPaths = writePaths(out.resolve("scale.all.paths"), all);
                Measure.run(gen, target, false, rate, warmupNs, connections, allPaths);
                final List<Measure.Row> largeRows = new ArrayList<>();
                for (int round = 1; round <= repeat; round++)
                {
                    largeRows.add(Measure.run(gen, target, false, rate, durationNs, connections, allPaths)
                        .labelled(inTable + " VMMs" + (repeat == 1 ? "" : ", round " + round)));
                    System.out.println("  " + largeRows.get(largeRows.size() - 1).oneLine());
                }
                if (options.flag("jfr"))
                {
                    // A run of its own: the recording (1 ms sampling) slows the server, so it is not the measurement.
                    final Path jfr = out.resolve("scale.agent.jfr");
                    final Recording recording = startJfr(jfr);
                    final Measure.Row profiled = Measure.run(gen, target, false, rate, durationNs, connections,
                        allPaths).labelled(inTable + " VMMs, under JFR");
                    recording.stop();
                    recording.close();
                    System.out.println("  profiled (JFR " + jfr + "): " + profiled.oneLine());
                    JfrTop.print(jfr, 25, System.out);
                    summary.line("JFR of one more run with " + inTable + " VMMs (not the measurement): `" + jfr + "`.");
                }
                for (final Measure.Row row : smallRows)
                {
                    row.writeHgrm(out, "scale");
                }
                for (final Measure.Row row : largeRows)
                {
                    row.writeHgrm(out, "scale");
                }

                final Fsync.Cost tmpfs = Fsync.measure(stateDir.resolve("fsync-probe"), 500);
                final Path diskDir = Files.createTempDirectory(Path.of(options.string("disk-dir",
                    System.getProperty("java.io.tmpdir"))), "sledperf-fsync");
                undo.push("remove " + diskDir, () -> deleteTree(diskDir));
                final Fsync.Cost disk = Fsync.measure(diskDir, 200);

                final long perVmm = (heapLarge - heapSmall) / Math.max(1, inTable - baseline);
                final List<Measure.Row> rows = new ArrayList<>(smallRows);
                rows.addAll(largeRows);
                final String table = Measure.table(rows);
                final StringBuilder heap = new StringBuilder();
                heap.append("| heap used after full GC | MB |\n|---|---|\n");
                heap.append(String.format(Locale.ROOT, "| this JVM before the agent started | %.1f |%n", heapEmpty / 1e6));
                heap.append(String.format(Locale.ROOT, "| agent with %d VMMs | %.1f |%n", baseline, heapSmall / 1e6));
                heap.append(String.format(Locale.ROOT, "| agent with %d VMMs | **%.1f** |%n", inTable, heapLarge / 1e6));
                heap.append(String.format(Locale.ROOT, "| per registered VMM | %d bytes |%n", perVmm));
                System.out.println();
                System.out.println(table);
                System.out.println(heap);
                System.out.println("largest classes after full GC:\n" + classes);
                summary.table(table);
                summary.table(heap.toString());
                summary.line(String.format(Locale.ROOT, "Registering: %d VMMs over HTTP in %.1f s (%.0f/s, %d "
                        + "client threads); `PUT /vmms/{id}` p50 %s ms, p99 %s ms, max %s ms (each writes and fsyncs "
                        + "its record, then the directory).", rest.size(), regNs / 1e9, rest.size() * 1e9 / regNs,
                    registerThreads, Measure.ms(registerNs.getValueAtPercentile(50)),
                    Measure.ms(registerNs.getValueAtPercentile(99)), Measure.ms(registerNs.getMaxValue())));
                summary.line(String.format(Locale.ROOT, "One record write (`FileVmmStore.save`: write, fsync, rename, "
                        + "fsync dir), alone: tmpfs `%s` p50 %s ms, p99 %s ms; disk `%s` p50 %s ms, p99 %s ms.",
                    stateDir, Measure.ms(tmpfs.saveNs().getValueAtPercentile(50)),
                    Measure.ms(tmpfs.saveNs().getValueAtPercentile(99)), diskDir,
                    Measure.ms(disk.saveNs().getValueAtPercentile(50)), Measure.ms(disk.saveNs().getValueAtPercentile(99))));
                summary.line("Largest classes on the heap with " + inTable + " VMMs (`GC.class_histogram`, "
                    + "full list in `scale.class-histogram.txt`):");
                summary.code(classes.lines().limit(14).collect(Collectors.joining("\n")));
                summary.line(String.format(Locale.ROOT, "GET /state p99 at %.0f requests/s (each round): **%s ms** "
                        + "with %d VMMs, **%s ms** with %d; heap used %.0f MB of a %d MB maximum heap; the "
                        + "collector's threads used %s cores during the runs with %d VMMs, %s with %d (target: at "
                        + "most 1 GB of heap with 100,000, p99 unchanged).", rate, p99s(smallRows), baseline,
                    p99s(largeRows), inTable, heapLarge / 1e6, Runtime.getRuntime().maxMemory() >> 20,
                    gcCores(smallRows), baseline, gcCores(largeRows), inTable));
                summary.write(out);
            }
        }
    }

    // ------------------------------------------------------------------------------------------------------------
    // measurement plumbing

    static String gcCores(final List<Measure.Row> rows)
    {
        return rows.stream().map(r -> String.format(Locale.ROOT, "%.2f", r.serverGcCores()))
            .collect(Collectors.joining(", "));
    }

    /** Median over rows of the server's CPU time per answered request, in microseconds. */
    static double medianUsPerRequest(final List<Measure.Row> rows)
    {
        final List<Double> values = rows.stream()
            .map(r -> r.serverCores() * 1e6 / Math.max(1, r.result().achievedPerSec())).sorted().toList();
        return values.isEmpty() ? 0 : values.get(values.size() / 2);
    }

    /** Each row's p99 in ms, and their median when there are several. */
    static String p99s(final List<Measure.Row> rows)
    {
        final List<Long> values = rows.stream().map(r -> r.result().latency().getValueAtPercentile(99)).toList();
        final String each = values.stream().map(Measure::ms).collect(Collectors.joining(", "));
        if (values.size() < 2)
        {
            return each;
        }
        final List<Long> sorted = values.stream().sorted().toList();
        return each + " (median " + Measure.ms(sorted.get(sorted.size() / 2)) + ")";
    }

    /** A server under load. */
    record Target(String name, InetSocketAddress address)
    {
    }

    /** One load run and what it cost. */
    static final class Measure
    {
        private Measure()
        {
        }

        /** A measured run. CPU figures are in cores (CPU time / wall time). */
        record Row(String target, boolean closed, double offered, int connections, OpenLoopClient.Result result,
            double serverCores, double clientCores, double machineCores, Gc serverGc, Gc clientGc,
            double serverGcCores, long serverAllocBytes, long serverHiccupMaxNs, long clientHiccupMaxNs,
            String label)
        {
            Row labelled(final String text)
            {
                return new Row(target, closed, offered, connections, result, serverCores, clientCores, machineCores,
                    serverGc, clientGc, serverGcCores, serverAllocBytes, serverHiccupMaxNs, clientHiccupMaxNs, text);
            }

            /** CPU the rest of the machine used meanwhile (other builds): the noise in this row. */
            double otherCores()
            {
                return Math.max(0, machineCores - serverCores - clientCores);
            }

            long allocPerRequest()
            {
                final long answered = result.completed() + result.errors();
                return answered == 0 ? 0 : serverAllocBytes / answered;
            }

            String name()
            {
                return (label == null ? target : target + ", " + label)
                    + (closed ? ", max" : String.format(Locale.ROOT, ", %.0f/s", offered));
            }

            String oneLine()
            {
                final Histogram h = result.latency();
                return String.format(Locale.ROOT, "%-28s %8.0f/s  p50 %s  p99 %s  p99.9 %s  max %s ms  err %d  "
                        + "cpu server %.2f (gc threads %.2f) client %.2f others %.2f  gc server %s client %s  "
                        + "%d B/req  stalls server %s client %s ms", name(),
                    result.achievedPerSec(), ms(h.getValueAtPercentile(50)), ms(h.getValueAtPercentile(99)),
                    ms(h.getValueAtPercentile(99.9)), ms(h.getMaxValue()), result.errors() + result.unsent(),
                    serverCores, serverGcCores, clientCores, otherCores(), serverGc, clientGc, allocPerRequest(),
                    ms(serverHiccupMaxNs), ms(clientHiccupMaxNs));
            }

            void writeHgrm(final Path dir, final String scenario) throws IOException
            {
                final String file = scenario + "." + target + (label == null ? "" : "." + slug(label))
                    + (closed ? ".max-c" + connections : "." + (long)offered) + ".hgrm";
                LoadTool.writeHgrm(dir.resolve(file), result.latency());
            }
        }

        static Row run(final LoadGen gen, final Target target, final boolean closed, final double rate,
            final long durationNs, final int connections, final Path requests) throws Exception
        {
            final long cpuBefore = processCpuNs();
            final long[] machineBefore = machineJiffies();
            final Gc gcBefore = Gc.now();
            final long gcCpuBefore = gcThreadsCpuNs();
            final Allocated allocBefore = Allocated.now();
            Hiccups.interval();
            final long wallStart = System.nanoTime();
            final LoadGen.Outcome outcome = gen.run(new OpenLoopClient.Spec(target.address(), closed, rate,
                durationNs, connections), requests);
            final long wallNs = System.nanoTime() - wallStart;
            final long serverCpu = processCpuNs() - cpuBefore - (gen.inProcess() ? outcome.clientCpuNs() : 0);
            final long machine = machineBusyNs(machineBefore, machineJiffies());
            final Gc serverGc = Gc.now().minus(gcBefore);
            final long gcCpu = gcThreadsCpuNs() - gcCpuBefore;
            final long alloc = allocBefore.since();
            final long serverHiccup = Hiccups.interval().getMaxValue();
            return new Row(target.name(), closed, rate, connections, outcome.result(), serverCpu / (double)wallNs,
                outcome.clientCpuNs() / (double)wallNs, machine / (double)wallNs,
                serverGc, outcome.clientGc(), gcCpu / (double)wallNs, alloc, serverHiccup,
                gen.inProcess() ? serverHiccup : outcome.clientHiccupMaxNs(), null);
        }

        static String table(final List<Row> rows)
        {
            final StringBuilder table = new StringBuilder();
            table.append("| server | offered req/s | achieved req/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms "
                + "| errors | client send lag p99 ms | longest stall (hiccup meter) server / client ms "
                + "| CPU server (of it GC threads) / client / other processes, cores "
                + "| GC pauses server; client | server alloc B/req |\n");
            table.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
            for (final Row row : rows)
            {
                final Histogram h = row.result().latency();
                table.append(String.format(Locale.ROOT, "| %s | %s | %.0f | %s | %s | %s | %s | %s | %d | %s | "
                        + "%s / %s | %.2f (%.2f) / %.2f / %.2f | %s; %s | %d |%n",
                    row.label() == null ? row.target() : row.target() + ", " + row.label(),
                    row.closed() ? "max (" + row.connections() + " conns, closed loop)" : String.format(Locale.ROOT,
                        "%.0f", row.offered()),
                    row.result().achievedPerSec(), ms(h.getValueAtPercentile(50)), ms(h.getValueAtPercentile(90)),
                    ms(h.getValueAtPercentile(99)), ms(h.getValueAtPercentile(99.9)), ms(h.getMaxValue()),
                    row.result().errors() + row.result().unsent(),
                    row.closed() ? "-" : ms(row.result().sendLag().getValueAtPercentile(99)),
                    ms(row.serverHiccupMaxNs()), ms(row.clientHiccupMaxNs()),
                    row.serverCores(), row.serverGcCores(), row.clientCores(), row.otherCores(), row.serverGc(),
                    row.clientGc(),
                    row.allocPerRequest()));
            }
            return table.toString();
        }

        static String ms(final long nanos)
        {
            final double ms = nanos / 1e6;
            return ms < 10 ? String.format(Locale.ROOT, "%.3f", ms) : String.format(Locale.ROOT, "%.1f", ms);
        }
    }

    /** The load generator: in this JVM, or in a child JVM driven over stdin/stdout. */
    interface LoadGen extends AutoCloseable
    {
        /** A run's result and the client's CPU time (ns) over it. */
        record Outcome(OpenLoopClient.Result result, long clientCpuNs, Gc clientGc, long clientHiccupMaxNs)
        {
        }

        Outcome run(OpenLoopClient.Spec spec, Path requests) throws Exception;

        boolean inProcess();

        String describe();

        static LoadGen create(final Options options, final Cleanup undo) throws Exception
        {
            final int threads = options.integer("client-threads", 1);
            final String mode = options.string("client", "separate");
            final LoadGen gen = switch (mode)
            {
                case "same" -> new InProcess(threads);
                case "separate" -> ChildJvm.start(threads, options.string("client-jvm-opts", "-Xms512m -Xmx512m"));
                default -> throw new IllegalArgumentException("--client must be same or separate: " + mode);
            };
            undo.push("stop load generator", gen::close);
            return gen;
        }
    }

    /** The client in this JVM. */
    static final class InProcess implements LoadGen
    {
        private final OpenLoopClient client;
        private final int threads;
        private final Map<String, byte[][]> requests = new HashMap<>();

        InProcess(final int threads)
        {
            this.threads = threads;
            this.client = new OpenLoopClient(threads);
        }

        @Override
        public Outcome run(final OpenLoopClient.Spec spec, final Path file) throws Exception
        {
            final byte[][] bytes = requests.computeIfAbsent(file + "@" + spec.target(), key ->
                OpenLoopClient.getRequests(readLines(file), spec.target()));
            final OpenLoopClient.Result result = client.run(spec, bytes);
            // One JVM: its GC pauses are counted on the server's side.
            return new Outcome(result, result.cpuNs(), new Gc(0, 0), 0);
        }

        @Override
        public boolean inProcess()
        {
            return true;
        }

        @Override
        public String describe()
        {
            return "in this JVM (" + threads + " event-loop thread(s), " + client.transport() + ")";
        }

        @Override
        public void close()
        {
            client.close();
        }
    }

    /** The client in a second JVM ({@code LoadTool client}), one JSON line per run each way. */
    static final class ChildJvm implements LoadGen
    {
        private final Process process;
        private final BufferedWriter stdin;
        private final BufferedReader stdout;
        private final String description;

        private ChildJvm(final Process process, final String description)
        {
            this.process = process;
            this.description = description;
            this.stdin = new BufferedWriter(new OutputStreamWriter(process.getOutputStream(), StandardCharsets.UTF_8));
            this.stdout = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
        }

        static ChildJvm start(final int threads, final String jvmOpts) throws IOException
        {
            final List<String> command = new ArrayList<>();
            command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
            for (final String opt : jvmOpts.trim().split("\\s+"))
            {
                if (!opt.isEmpty())
                {
                    command.add(opt);
                }
            }
            command.add("-Dsledperf.client.threads=" + threads);
            command.add("-cp");
            command.add(System.getProperty("java.class.path"));
            command.add(LoadTool.class.getName());
            command.add("client");
            final Process process = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
            final ChildJvm child = new ChildJvm(process, "in a second JVM (pid " + process.pid() + ", " + jvmOpts
                + ", " + threads + " event-loop thread(s))");
            final String ready = child.stdout.readLine();
            if (ready == null || !ready.startsWith("READY"))
            {
                process.destroyForcibly();
                throw new IllegalStateException("load generator JVM did not start: " + ready);
            }
            return child;
        }

        @Override
        public Outcome run(final OpenLoopClient.Spec spec, final Path requests) throws Exception
        {
            final ObjectNode command = PLAIN.createObjectNode()
                .put("host", spec.target().getHostString())
                .put("port", spec.target().getPort())
                .put("closed", spec.closed())
                .put("rate", spec.ratePerSec())
                .put("durationNs", spec.durationNs())
                .put("connections", spec.connections())
                .put("requests", requests.toAbsolutePath().toString());
            stdin.write(PLAIN.writeValueAsString(command));
            stdin.newLine();
            stdin.flush();
            final String line = stdout.readLine();
            if (line == null || !line.startsWith("RESULT "))
            {
                throw new IllegalStateException("load generator JVM: " + line);
            }
            final JsonNode json = PLAIN.readTree(line.substring("RESULT ".length()));
            if (json.has("error"))
            {
                throw new IllegalStateException("load generator JVM: " + json.get("error").asText());
            }
            final OpenLoopClient.Result result = new OpenLoopClient.Result(decode(json.get("latency").asText()),
                decode(json.get("sendLag").asText()), json.get("sent").asLong(), json.get("completed").asLong(),
                json.get("errors").asLong(), json.get("unsent").asLong(), json.get("elapsedNs").asLong(),
                json.get("cpuNs").asLong());
            return new Outcome(result, json.get("processCpuNs").asLong(), new Gc(json.get("gcCount").asLong(),
                json.get("gcMs").asLong()), json.get("hiccupMaxNs").asLong());
        }

        @Override
        public boolean inProcess()
        {
            return false;
        }

        @Override
        public String describe()
        {
            return description;
        }

        @Override
        public void close() throws Exception
        {
            try
            {
                stdin.write("quit");
                stdin.newLine();
                stdin.flush();
            }
            catch (final IOException ex)
            {
                // Already gone.
            }
            if (!process.waitFor(5, TimeUnit.SECONDS))
            {
                process.destroyForcibly();
            }
        }
    }

    /** The child side: {@code READY}, then one {@code RESULT {json}} per command line, until {@code quit}. */
    static final class ChildClient
    {
        private ChildClient()
        {
        }

        static void serve() throws Exception
        {
            final int threads = Integer.getInteger("sledperf.client.threads", 1);
            final BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
            final PrintStream out = new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), true,
                StandardCharsets.UTF_8);
            final Map<String, byte[][]> cache = new HashMap<>();
            Hiccups.start();
            try (OpenLoopClient client = new OpenLoopClient(threads))
            {
                out.println("READY " + client.transport());
                String line;
                while ((line = in.readLine()) != null && !line.equals("quit"))
                {
                    try
                    {
                        final JsonNode command = PLAIN.readTree(line);
                        final InetSocketAddress target = new InetSocketAddress(command.get("host").asText(),
                            command.get("port").asInt());
                        final Path file = Path.of(command.get("requests").asText());
                        final byte[][] requests = cache.computeIfAbsent(file + "@" + target, key ->
                            OpenLoopClient.getRequests(readLines(file), target));
                        // Start each run with an empty young generation, and with the request bytes (12 MB for
                        // 100,000 VMMs) already in the old one: their first copy would otherwise be a pause of tens
                        // of ms inside the run, charged to the server by the coordinated-omission correction.
                        System.gc();
                        Hiccups.interval();
                        final long cpuBefore = processCpuNs();
                        final Gc gcBefore = Gc.now();
                        final OpenLoopClient.Result result = client.run(new OpenLoopClient.Spec(target,
                            command.get("closed").asBoolean(), command.get("rate").asDouble(),
                            command.get("durationNs").asLong(), command.get("connections").asInt()), requests);
                        final long processCpu = processCpuNs() - cpuBefore;
                        final Gc gc = Gc.now().minus(gcBefore);
                        final ObjectNode answer = PLAIN.createObjectNode()
                            .put("latency", encode(result.latency()))
                            .put("sendLag", encode(result.sendLag()))
                            .put("sent", result.sent())
                            .put("completed", result.completed())
                            .put("errors", result.errors())
                            .put("unsent", result.unsent())
                            .put("elapsedNs", result.elapsedNs())
                            .put("cpuNs", result.cpuNs())
                            .put("processCpuNs", processCpu)
                            .put("gcCount", gc.count())
                            .put("gcMs", gc.ms())
                            .put("hiccupMaxNs", Hiccups.interval().getMaxValue());
                        out.println("RESULT " + PLAIN.writeValueAsString(answer));
                    }
                    catch (final Exception ex)
                    {
                        out.println("RESULT " + PLAIN.writeValueAsString(PLAIN.createObjectNode()
                            .put("error", String.valueOf(ex))));
                    }
                }
            }
        }
    }

    static String encode(final Histogram histogram)
    {
        final ByteBuffer buffer = ByteBuffer.allocate(histogram.getNeededByteBufferCapacity());
        final int length = histogram.encodeIntoCompressedByteBuffer(buffer);
        return Base64.getEncoder().encodeToString(java.util.Arrays.copyOf(buffer.array(), length));
    }

    static Histogram decode(final String base64) throws Exception
    {
        return Histogram.decodeFromCompressedByteBuffer(ByteBuffer.wrap(Base64.getDecoder().decode(base64)), 0);
    }

    // ------------------------------------------------------------------------------------------------------------
    // registering VMMs

    /** Registers VMMs over HTTP, {@code threads} at a time. */
    static final class Register
    {
        private Register()
        {
        }

        record Registered(List<UUID> ids)
        {
        }

        /** Registers {@code count} VMMs; {@code latencyNs} (may be null) gets each {@code PUT}'s time. */
        static Registered all(final InetSocketAddress agent, final int count, final int threads,
            final Histogram latencyNs) throws Exception
        {
            final AgentHttpClient client = new AgentHttpClient(URI.create("http://" + agent.getHostString() + ":"
                + agent.getPort()), Duration.ofSeconds(30));
            final List<UUID> ids = new ArrayList<>(count);
            for (int i = 0; i < count; i++)
            {
                ids.add(UUID.randomUUID());
            }
            final AtomicInteger next = new AtomicInteger();
            final AtomicLong failures = new AtomicLong();
            final List<Histogram> perThread = new ArrayList<>();
            final ExecutorService pool = Executors.newFixedThreadPool(threads, daemon("register"));
            try
            {
                final List<Future<?>> futures = new ArrayList<>();
                for (int t = 0; t < threads; t++)
                {
                    final Histogram mine = histogram();
                    perThread.add(mine);
                    futures.add(pool.submit(() ->
                    {
                        int i;
                        while ((i = next.getAndIncrement()) < count)
                        {
                            final UUID id = ids.get(i);
                            final long start = System.nanoTime();
                            final AgentHttpClient.Answer answer = client.register(id,
                                ExampleBodies.ensureBody(UUID.randomUUID(), "127.0.0.1:" + (20_000 + i % 40_000), 1));
                            mine.recordValue(Math.min(OpenLoopClient.HIGHEST_NS, System.nanoTime() - start));
                            if (answer.status() != 200 && failures.incrementAndGet() == 1)
                            {
                                System.err.println("register " + id + ": " + answer.status() + " " + answer.body());
                            }
                            if (i > 0 && i % 20_000 == 0)
                            {
                                System.out.printf("  registered %d/%d%n", i, count);
                            }
                        }
                        return null;
                    }));
                }
                for (final Future<?> future : futures)
                {
                    future.get();
                }
            }
            finally
            {
                pool.shutdownNow();
            }
            if (failures.get() > 0)
            {
                throw new IllegalStateException(failures.get() + " of " + count + " registers failed");
            }
            if (latencyNs != null)
            {
                perThread.forEach(latencyNs::add);
            }
            return new Registered(ids);
        }
    }

    /** The cost of one durable record write ({@link FileVmmStore#save}) in a directory. */
    static final class Fsync
    {
        private Fsync()
        {
        }

        record Cost(Histogram saveNs)
        {
        }

        static Cost measure(final Path dir, final int writes) throws Exception
        {
            final FileVmmStore store = new FileVmmStore(dir);
            final InstanceEnsureBody body = Json.mapper().readerFor(InstanceEnsureBody.class)
                .readValue(ExampleBodies.ensureBody(UUID.randomUUID(), "127.0.0.1:12400", 1));
            final Histogram saveNs = histogram();
            for (int i = 0; i < writes; i++)
            {
                final StoredVmm stored = StoredVmm.of(VmmRecord.registered(UUID.randomUUID(), body, Instant.now(),
                    600_000), 0, 0);
                final long start = System.nanoTime();
                store.save(stored);
                saveNs.recordValue(Math.min(OpenLoopClient.HIGHEST_NS, System.nanoTime() - start));
            }
            deleteTree(dir);
            return new Cost(saveNs);
        }
    }

    // ------------------------------------------------------------------------------------------------------------
    // agent, zones, files

    static SledAgent launchAgent(final Path stateDir, final String zones, final Path zoneRoot, final List<URI> nexus)
        throws Exception
    {
        return SledAgent.launch(new AgentConfig(new InetSocketAddress("127.0.0.1", 0), nexus, stateDir,
            AgentConfig.DEFAULT_STOP_GRACE_MS, zoneRoot, UUID.randomUUID(), AgentConfig.DEFAULT_START_TIMEOUT_MS,
            zones, AgentConfig.DEFAULT_SWEEP_INTERVAL_MS));
    }

    static InetSocketAddress loopback(final SledAgent agent)
    {
        return new InetSocketAddress("127.0.0.1", agent.server().address().getPort());
    }

    /** A fresh state directory on tmpfs ({@code /dev/shm}; the JVM's temp dir if there is none), removed at the end. */
    static Path tmpfsDir(final Cleanup undo) throws IOException
    {
        final Path shm = Path.of("/dev/shm");
        final Path parent = Files.isDirectory(shm) && Files.isWritable(shm) ? shm
            : Path.of(System.getProperty("java.io.tmpdir"));
        final Path dir = Files.createTempDirectory(parent, "sledperf-state");
        undo.push("remove state dir " + dir, () -> deleteTree(dir));
        return dir;
    }

    static Path writePaths(final Path file, final List<UUID> ids) throws IOException
    {
        Files.createDirectories(file.getParent());
        Files.write(file, ids.stream().map(id -> "/vmms/" + id + "/state").toList());
        return file;
    }

    static List<String> readLines(final Path file)
    {
        try
        {
            return Files.readAllLines(file);
        }
        catch (final IOException ex)
        {
            throw new IllegalStateException("cannot read " + file, ex);
        }
    }

    static String freeAddr() throws IOException
    {
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress()))
        {
            return "127.0.0.1:" + socket.getLocalPort();
        }
    }

    /** Kills and removes every zone under {@code root} (each wait bounded), then the root. */
    static void removeZoneRoot(final Path root) throws Exception
    {
        if (!Files.isDirectory(root))
        {
            return;
        }
        try (CgroupZoneBackend zones = new CgroupZoneBackend(root))
        {
            for (final String name : zones.list())
            {
                final Zone zone = zones.open(name);
                if (zone != null)
                {
                    zones.killAll(zone);
                    if (!zones.awaitEmpty(zone, Duration.ofSeconds(5)))
                    {
                        System.err.println("cleanup: zone " + zone.path() + " not empty 5 s after the kill");
                    }
                    zones.destroy(zone);
                }
            }
        }
        Files.deleteIfExists(root);
    }

    /** {@code usage_usec} of a cgroup v2 directory's {@code cpu.stat} (its processes and descendants'), or 0. */
    static long cgroupCpuUs(final Path cgroup)
    {
        try
        {
            return Files.readAllLines(cgroup.resolve("cpu.stat")).stream().filter(l -> l.startsWith("usage_usec "))
                .mapToLong(l -> Long.parseLong(l.substring("usage_usec ".length()).trim())).findFirst().orElse(0);
        }
        catch (final IOException | RuntimeException ex)
        {
            return 0;
        }
    }

    static List<Path> leftoverRoots()
    {
        try (Stream<Path> dirs = Files.list(CgroupRoot.agentCgroupDir()))
        {
            return dirs.filter(p -> p.getFileName().toString().startsWith("sledperf-")).toList();
        }
        catch (final IOException | RuntimeException ex)
        {
            return List.of();
        }
    }

    static void deleteTree(final Path dir) throws IOException
    {
        if (!Files.exists(dir))
        {
            return;
        }
        try (Stream<Path> paths = Files.walk(dir))
        {
            for (final Path path : (Iterable<Path>)paths.sorted((a, b) -> b.getNameCount() - a.getNameCount())::iterator)
            {
                Files.deleteIfExists(path);
            }
        }
    }

    static void writeHgrm(final Path file, final Histogram histogram) throws IOException
    {
        Files.createDirectories(file.getParent());
        try (PrintStream out = new PrintStream(Files.newOutputStream(file), false, StandardCharsets.UTF_8))
        {
            histogram.outputPercentileDistribution(out, 1000.0);
        }
    }

    static Histogram histogram()
    {
        return new Histogram(OpenLoopClient.HIGHEST_NS, 3);
    }

    static String slug(final String text)
    {
        return text.toLowerCase(Locale.ROOT).replaceAll("[^a-z0-9]+", "-").replaceAll("(^-|-$)", "");
    }

    static java.util.concurrent.ThreadFactory daemon(final String prefix)
    {
        final AtomicInteger count = new AtomicInteger();
        return runnable ->
        {
            final Thread thread = new Thread(runnable, prefix + "-" + count.incrementAndGet());
            thread.setDaemon(true);
            return thread;
        };
    }

    // ------------------------------------------------------------------------------------------------------------
    // CPU, heap, JFR

    static long processCpuNs()
    {
        return ((com.sun.management.OperatingSystemMXBean)ManagementFactory.getOperatingSystemMXBean())
            .getProcessCpuTime();
    }

    /** {@code /proc/stat}'s first line: busy and total jiffies of all CPUs. */
    static long[] machineJiffies()
    {
        try
        {
            final String[] fields = Files.readAllLines(Path.of("/proc/stat")).get(0).trim().split("\\s+");
            long total = 0;
            for (int i = 1; i < Math.min(fields.length, 9); i++)
            {
                total += Long.parseLong(fields[i]);
            }
            final long idle = Long.parseLong(fields[4]) + Long.parseLong(fields[5]);
            return new long[] {total - idle, total};
        }
        catch (final IOException | RuntimeException ex)
        {
            return new long[] {0, 0};
        }
    }

    /** CPU time (ns) all cores spent busy between two {@link #machineJiffies()} readings (USER_HZ = 100). */
    static long machineBusyNs(final long[] before, final long[] after)
    {
        return (after[0] - before[0]) * 10_000_000L;
    }

    /**
     * A hiccup meter (as jHiccup): a thread that sleeps 1 ms over and over and records how much longer each sleep
     * took. What it sees (safepoints, the OS not running the JVM's threads) stalls every thread of the JVM; run in
     * both JVMs, it tells a stall of the server from one of the client or of the whole machine.
     */
    static final class Hiccups
    {
        private static final org.HdrHistogram.Recorder RECORDER = new org.HdrHistogram.Recorder(
            OpenLoopClient.HIGHEST_NS, 2);
        private static volatile boolean started;

        private Hiccups()
        {
        }

        static synchronized void start()
        {
            if (started)
            {
                return;
            }
            started = true;
            final Thread thread = new Thread(() ->
            {
                final long periodNs = TimeUnit.MILLISECONDS.toNanos(1);
                while (true)
                {
                    final long before = System.nanoTime();
                    java.util.concurrent.locks.LockSupport.parkNanos(periodNs);
                    RECORDER.recordValue(Math.min(OpenLoopClient.HIGHEST_NS,
                        Math.max(0, System.nanoTime() - before - periodNs)));
                }
            }, "hiccup-meter");
            thread.setDaemon(true);
            thread.start();
        }

        /** The hiccups recorded since the last call. */
        static Histogram interval()
        {
            return RECORDER.getIntervalHistogram();
        }
    }

    /** Collections and their accumulated time (ms) over all of this JVM's collectors. */
    record Gc(long count, long ms)
    {
        static Gc now()
        {
            long count = 0;
            long ms = 0;
            for (final java.lang.management.GarbageCollectorMXBean gc : ManagementFactory.getGarbageCollectorMXBeans())
            {
                count += Math.max(0, gc.getCollectionCount());
                ms += Math.max(0, gc.getCollectionTime());
            }
            return new Gc(count, ms);
        }

        Gc minus(final Gc before)
        {
            return new Gc(count - before.count, ms - before.ms);
        }

        @Override
        public String toString()
        {
            return count + " (" + ms + " ms)";
        }
    }

    /**
     * CPU time (ns) used so far by this JVM's collector threads ({@code GC Thread#n}, {@code G1 ...}: evacuation,
     * concurrent marking, refinement), from {@code /proc/self/task/<tid>/stat}; 0 where there is no /proc.
     */
    static long gcThreadsCpuNs()
    {
        long ticks = 0;
        try (Stream<Path> tasks = Files.list(Path.of("/proc/self/task")))
        {
            for (final Path task : (Iterable<Path>)tasks::iterator)
            {
                try
                {
                    final String comm = Files.readString(task.resolve("comm")).trim();
                    if (!comm.startsWith("GC Thread") && !comm.startsWith("G1 "))
                    {
                        continue;
                    }
                    final String stat = Files.readString(task.resolve("stat"));
                    final String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
                    // After the command: state(0) ... utime(11) stime(12).
                    ticks += Long.parseLong(fields[11]) + Long.parseLong(fields[12]);
                }
                catch (final IOException | RuntimeException ex)
                {
                    // The thread ended meanwhile.
                }
            }
        }
        catch (final IOException ex)
        {
            return 0;
        }
        return ticks * 10_000_000L;
    }

    /** Per-thread allocation counters at one moment, so that threads that end in between do not count. */
    record Allocated(long[] ids, long[] bytes)
    {
        static Allocated now()
        {
            final com.sun.management.ThreadMXBean mx =
                (com.sun.management.ThreadMXBean)ManagementFactory.getThreadMXBean();
            final long[] ids = mx.getAllThreadIds();
            return new Allocated(ids, mx.getThreadAllocatedBytes(ids));
        }

        /** Bytes allocated since {@code this} by the threads alive then and now. */
        long since()
        {
            final long[] later = ((com.sun.management.ThreadMXBean)ManagementFactory.getThreadMXBean())
                .getThreadAllocatedBytes(ids);
            long total = 0;
            for (int i = 0; i < ids.length; i++)
            {
                if (bytes[i] >= 0 && later[i] >= bytes[i])
                {
                    total += later[i] - bytes[i];
                }
            }
            return total;
        }
    }

    static long heapUsedAfterGc() throws InterruptedException
    {
        for (int i = 0; i < 3; i++)
        {
            System.gc();
            Thread.sleep(200);
        }
        return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
    }

    /** The top {@code rows} of {@code jcmd GC.class_histogram}, from this JVM. */
    static String classHistogram(final int rows)
    {
        try
        {
            final MBeanServer server = ManagementFactory.getPlatformMBeanServer();
            final String text = (String)server.invoke(new ObjectName("com.sun.management:type=DiagnosticCommand"),
                "gcClassHistogram", new Object[] {new String[0]}, new String[] {String[].class.getName()});
            return text.lines().limit(rows + 3L).collect(Collectors.joining("\n"));
        }
        catch (final Exception ex)
        {
            return "class histogram unavailable: " + ex;
        }
    }

    static Recording startJfr(final Path file) throws Exception
    {
        Files.createDirectories(file.getParent());
        final Recording recording = new Recording(Configuration.getConfiguration("profile"));
        // Denser than "profile" (10 and 20 ms): a 10 s run of one busy event loop gets thousands of samples.
        recording.enable("jdk.ExecutionSample").withPeriod(Duration.ofMillis(1));
        recording.enable("jdk.NativeMethodSample").withPeriod(Duration.ofMillis(5));
        recording.setDestination(file);
        recording.start();
        return recording;
    }

    /** The hottest methods of a JFR file (execution samples), self and inclusive, and its GC pauses. */
    static final class JfrTop
    {
        private JfrTop()
        {
        }

        static void print(final Path file, final int frames, final PrintStream out) throws IOException
        {
            final Map<String, Integer> self = new HashMap<>();
            final Map<String, Integer> inclusive = new HashMap<>();
            final Map<String, Integer> threads = new HashMap<>();
            final Map<String, Integer> nativeTop = new HashMap<>();
            int samples = 0;
            int nativeSamples = 0;
            int gcs = 0;
            double gcPauseMs = 0;
            double gcMaxMs = 0;
            try (RecordingFile recording = new RecordingFile(file))
            {
                while (recording.hasMoreEvents())
                {
                    final RecordedEvent event = recording.readEvent();
                    final String type = event.getEventType().getName();
                    if (type.equals("jdk.ExecutionSample"))
                    {
                        final RecordedStackTrace stack = event.getStackTrace();
                        if (stack == null || stack.getFrames().isEmpty())
                        {
                            continue;
                        }
                        samples++;
                        final String thread = event.getThread("sampledThread") == null ? "?"
                            : event.getThread("sampledThread").getJavaName();
                        threads.merge(thread == null ? "?" : thread.replaceAll("\\d+", "N"), 1, Integer::sum);
                        self.merge(frameName(stack.getFrames().get(0)), 1, Integer::sum);
                        final java.util.Set<String> seen = new java.util.HashSet<>();
                        for (final RecordedFrame frame : stack.getFrames())
                        {
                            final String name = frameName(frame);
                            if (seen.add(name))
                            {
                                inclusive.merge(name, 1, Integer::sum);
                            }
                        }
                    }
                    else if (type.equals("jdk.NativeMethodSample"))
                    {
                        final RecordedStackTrace stack = event.getStackTrace();
                        if (stack != null && !stack.getFrames().isEmpty())
                        {
                            nativeSamples++;
                            nativeTop.merge(frameName(stack.getFrames().get(0)) + " <- "
                                + (stack.getFrames().size() > 1 ? frameName(stack.getFrames().get(1)) : ""), 1,
                                Integer::sum);
                        }
                    }
                    else if (type.equals("jdk.GarbageCollection"))
                    {
                        gcs++;
                        final double pause = event.getDuration("sumOfPauses").toNanos() / 1e6;
                        gcPauseMs += pause;
                        gcMaxMs = Math.max(gcMaxMs, event.getDuration("longestPause").toNanos() / 1e6);
                    }
                }
            }
            out.printf("JFR %s: %d Java execution samples (every 1 ms); %d GCs, pauses %.1f ms in all, longest %.2f ms%n", file,
                samples, gcs, gcPauseMs, gcMaxMs);
            out.printf("threads in native code: %d samples (every 5 ms), by method:%n", nativeSamples);
            top(nativeTop, 8, nativeSamples, out);
            out.println("Java samples by thread:");
            top(threads, 10, samples, out);
            out.println("hottest methods (self):");
            top(self, frames, samples, out);
            out.println("hottest methods (inclusive):");
            top(inclusive, frames, samples, out);
        }

        private static String frameName(final RecordedFrame frame)
        {
            return frame.getMethod().getType().getName() + "." + frame.getMethod().getName();
        }

        private static void top(final Map<String, Integer> counts, final int limit, final int total,
            final PrintStream out)
        {
            counts.entrySet().stream().sorted(Map.Entry.<String, Integer>comparingByValue().reversed()).limit(limit)
                .forEach(e -> out.printf("  %5.1f%%  %s%n", 100.0 * e.getValue() / Math.max(1, total), e.getKey()));
        }
    }

    // ------------------------------------------------------------------------------------------------------------
    // report: RESULTS.md's generated block

    /** Summaries of scenario runs, and the block of RESULTS.md made from them and from JMH's JSON. */
    static final class Report
    {
        private Report()
        {
        }

        /** One scenario's markdown fragment, written to {@code <out>/<scenario>.summary.md}. */
        static final class Summary
        {
            private final String scenario;
            private final StringBuilder text = new StringBuilder();

            Summary(final String scenario, final Options options)
            {
                this.scenario = scenario;
                text.append("Command: `").append(commandLine(options)).append("`  \n");
                text.append("Run at ").append(DateTimeFormatter.ISO_INSTANT.format(Instant.now()
                    .truncatedTo(java.time.temporal.ChronoUnit.SECONDS)))
                    .append(", load average before: ").append(loadAverage()).append(".\n\n");
            }

            void table(final String markdown)
            {
                text.append(markdown.strip()).append("\n\n");
            }

            void line(final String markdown)
            {
                text.append(markdown).append("\n\n");
            }

            void code(final String block)
            {
                text.append("```\n").append(block.strip()).append("\n```\n\n");
            }

            void write(final Path out) throws IOException
            {
                Files.createDirectories(out);
                Files.writeString(out.resolve(scenario + ".summary.md"), text.toString());
                System.out.println("summary: " + out.resolve(scenario + ".summary.md"));
            }

            private static String commandLine(final Options options)
            {
                final List<String> jvm = ManagementFactory.getRuntimeMXBean().getInputArguments().stream()
                    .filter(a -> !a.startsWith("-Djava.") && !a.startsWith("-Dsun.")).toList();
                return ("java " + String.join(" ", jvm) + " -cp perf/target/benchmarks.jar " + LoadTool.class.getName()
                    + " " + String.join(" ", options.raw())).replaceAll("\\s+", " ");
            }
        }

        static void run(final Options options) throws Exception
        {
            final Path results = Path.of(options.string("results", DEFAULT_OUT.toString()));
            final StringBuilder block = new StringBuilder();
            block.append(BEGIN_MARK).append(" generated by perf/scripts/run-all.sh (LoadTool report); edits inside "
                + "are overwritten -->\n");
            block.append(String.format(Locale.ROOT, "Generated %s. Machine: %s. JDK: %s %s.%n%n",
                DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm 'UTC'").format(Instant.now().atOffset(ZoneOffset.UTC)),
                machine(), System.getProperty("java.vm.name"), System.getProperty("java.runtime.version")));
            final String jmh = options.string("jmh", null);
            if (jmh != null && Files.exists(Path.of(jmh)))
            {
                block.append("#### JMH\n\n");
                final String command = options.string("jmh-command", null);
                if (command != null)
                {
                    block.append("Command: `").append(command).append("`\n\n");
                }
                block.append(jmhTable(Path.of(jmh))).append('\n');
            }
            for (final String scenario : List.of("get-state", "lifecycle", "scale"))
            {
                final Path file = results.resolve(scenario + ".summary.md");
                if (Files.exists(file))
                {
                    block.append("#### LoadTool ").append(scenario).append("\n\n").append(Files.readString(file));
                }
            }
            block.append(END_MARK).append('\n');
            final Path generated = results.resolve("RESULTS.generated.md");
            Files.createDirectories(results);
            Files.writeString(generated, block.toString());
            System.out.println("wrote " + generated);
            final String splice = options.string("splice", null);
            if (splice != null)
            {
                splice(Path.of(splice), block.toString());
            }
        }

        /** Replaces the generated block of {@code file} (re-read now), or appends it if there is none. */
        static void splice(final Path file, final String block) throws IOException
        {
            final String text = Files.readString(file);
            final int begin = text.indexOf(BEGIN_MARK);
            final int end = text.indexOf(END_MARK);
            final String updated;
            if (begin >= 0 && end > begin)
            {
                updated = text.substring(0, begin) + block + text.substring(end + END_MARK.length() + 1);
            }
            else
            {
                updated = text + (text.endsWith("\n") ? "\n" : "\n\n") + block;
            }
            final Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
            Files.writeString(tmp, updated);
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            System.out.println("updated the generated block of " + file);
        }

        static String jmhTable(final Path json) throws IOException
        {
            final JsonNode runs = PLAIN.readTree(json.toFile());
            final StringBuilder table = new StringBuilder();
            table.append("| benchmark | params | threads | score | error (99.9%) | unit | alloc B/op |\n");
            table.append("|---|---|---|---|---|---|---|\n");
            for (final JsonNode run : runs)
            {
                final String name = run.get("benchmark").asText().replace("sledagent.perf.", "");
                final List<String> params = new ArrayList<>();
                if (run.has("params"))
                {
                    run.get("params").fields().forEachRemaining(e -> params.add(e.getKey() + "=" + e.getValue().asText()));
                }
                final JsonNode primary = run.get("primaryMetric");
                final JsonNode alloc = run.path("secondaryMetrics").path("gc.alloc.rate.norm");
                table.append(String.format(Locale.ROOT, "| %s | %s | %d | %s | %s | %s | %s |%n", name,
                    String.join(", ", params), run.get("threads").asInt(), number(primary.get("score").asDouble()),
                    primary.get("scoreError").isNumber() ? number(primary.get("scoreError").asDouble()) : "-",
                    primary.get("scoreUnit").asText(),
                    alloc.isMissingNode() ? "-" : String.format(Locale.ROOT, "%.0f", alloc.get("score").asDouble())));
                // The threads of a @Group benchmark, each on a row of its own.
                run.path("secondaryMetrics").fields().forEachRemaining(e ->
                {
                    if (!e.getKey().startsWith("gc.") && !e.getKey().startsWith("·"))
                    {
                        table.append(String.format(Locale.ROOT, "| %s:%s | %s | | %s | %s | %s | |%n", name,
                            e.getKey(), String.join(", ", params), number(e.getValue().get("score").asDouble()),
                            e.getValue().get("scoreError").isNumber()
                                ? number(e.getValue().get("scoreError").asDouble()) : "-",
                            e.getValue().get("scoreUnit").asText()));
                    }
                });
            }
            return table.toString();
        }

        private static String number(final double value)
        {
            if (Double.isNaN(value))
            {
                return "-";
            }
            return value >= 100 ? String.format(Locale.ROOT, "%.0f", value) : String.format(Locale.ROOT, "%.2f", value);
        }

        static String machine()
        {
            String model = "?";
            long memKb = 0;
            try
            {
                model = Files.readAllLines(Path.of("/proc/cpuinfo")).stream().filter(l -> l.startsWith("model name"))
                    .map(l -> l.substring(l.indexOf(':') + 1).trim()).findFirst().orElse("?");
                memKb = Files.readAllLines(Path.of("/proc/meminfo")).stream().filter(l -> l.startsWith("MemTotal"))
                    .map(l -> Long.parseLong(l.replaceAll("\\D+", ""))).findFirst().orElse(0L);
            }
            catch (final IOException | RuntimeException ex)
            {
                // Leave the unknowns as they are.
            }
            String kernel = System.getProperty("os.version");
            return String.format(Locale.ROOT, "%d cores (%s), %.0f GiB, %s %s", Runtime.getRuntime().availableProcessors(),
                model, memKb / 1024.0 / 1024.0, System.getProperty("os.name"), kernel);
        }

        static String loadAverage()
        {
            try
            {
                final String[] fields = Files.readString(Path.of("/proc/loadavg")).trim().split("\\s+");
                return fields[0] + " " + fields[1] + " " + fields[2];
            }
            catch (final IOException | RuntimeException ex)
            {
                return "?";
            }
        }
    }

    // ------------------------------------------------------------------------------------------------------------
    // small things

    /** The agent's log (JUL) goes to a file, not the console, at {@code --agent-log} (default per scenario). */
    static final class AgentLog implements AutoCloseable
    {
        private final Handler handler;

        private AgentLog(final Handler handler)
        {
            this.handler = handler;
        }

        static AgentLog configure(final Options options, final Path file, final Level defaultLevel) throws IOException
        {
            final Level level = Level.parse(options.string("agent-log", defaultLevel.getName()).toUpperCase(Locale.ROOT));
            Files.createDirectories(file.getParent());
            final Logger root = Logger.getLogger("");
            for (final Handler handler : root.getHandlers())
            {
                root.removeHandler(handler);
            }
            final FileHandler handler = new FileHandler(file.toString());
            handler.setFormatter(new SimpleFormatter());
            handler.setLevel(level);
            root.addHandler(handler);
            root.setLevel(level);
            return new AgentLog(handler);
        }

        @Override
        public void close()
        {
            handler.close();
        }
    }

    /** {@code --key value} options (a key followed by another key, or last, is a flag); bare words are positional. */
    static final class Options
    {
        private final List<String> raw;
        private final Map<String, String> values = new HashMap<>();
        private final List<String> positional = new ArrayList<>();

        private Options(final List<String> raw)
        {
            this.raw = raw;
        }

        static Options parse(final String[] args)
        {
            final Options options = new Options(List.of(args));
            for (int i = 1; i < args.length; i++)
            {
                if (args[i].startsWith("--"))
                {
                    final String key = args[i].substring(2);
                    if (i + 1 < args.length && !args[i + 1].startsWith("--"))
                    {
                        options.values.put(key, args[++i]);
                    }
                    else
                    {
                        options.values.put(key, "true");
                    }
                }
                else
                {
                    options.positional.add(args[i]);
                }
            }
            return options;
        }

        List<String> raw()
        {
            return raw;
        }

        String positional(final int index)
        {
            if (index >= positional.size())
            {
                throw new IllegalArgumentException("missing argument " + (index + 1));
            }
            return positional.get(index);
        }

        String string(final String key, final String fallback)
        {
            return values.getOrDefault(key, fallback);
        }

        int integer(final String key, final int fallback)
        {
            return values.containsKey(key) ? Integer.parseInt(values.get(key).replace("_", "")) : fallback;
        }

        double decimal(final String key, final double fallback)
        {
            return values.containsKey(key) ? Double.parseDouble(values.get(key).replace("_", "")) : fallback;
        }

        boolean flag(final String key)
        {
            return Boolean.parseBoolean(values.getOrDefault(key, "false"));
        }

        List<Double> doubles(final String key, final String fallback)
        {
            final List<Double> list = new ArrayList<>();
            for (final String part : values.getOrDefault(key, fallback).split(","))
            {
                list.add(Double.parseDouble(part.trim().replace("_", "")));
            }
            return list;
        }

        Path out() throws IOException
        {
            final Path out = Path.of(string("out", DEFAULT_OUT.toString()));
            Files.createDirectories(out);
            return out;
        }
    }
}
