package sledagent.perf;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import sledagent.agent.demo.AgentHttpClient;
import sledagent.agent.demo.ExampleBodies;
import sledagent.agent.demo.RecordingNexus;
import sledagent.agent.demo.TinyGuest;
import sledagent.api.VmmState;

/**
 * {@code StopLatency guest-lifecycle --vmm sim|qemu --vmms N --concurrency C}: lifecycle throughput on real guests
 * (or sims). N full lifecycles through the agent's HTTP API, C at once (closed loop): register -> run -> running at
 * Nexus -> the guest's marker on its serial console (qemu) -> stop -> {@code destroyed} at Nexus -> unregister ->
 * the VMM gone ({@code GET /state} 404, zone directory gone). Lifecycles/s over the whole batch and each phase's
 * percentiles. With qemu, the floor in the same run, after ours: the same guest in bare QEMU, C at once, exec ->
 * marker -> QMP {@code quit} -> exit ({@link BareQemu}), as lifecycles/s.
 *
 * <p>A separate scenario rather than a mode of {@code LoadTool lifecycle}: it needs {@link GuestScenario}'s agent
 * (propolis-qemu, the tiny guest, the bare-QEMU floor), and on two cores with TCG guests the figure is bound by the
 * guests' boot, not by the agent, so LoadTool's open-loop rates and CPU accounting would say nothing more.
 */
final class GuestLifecycleScenario
{
    private static final Duration STEP_BOUND = Duration.ofSeconds(120);
    static final String TOTAL = "lifecycle, register -> VMM gone (ms)";
    static final String FLOOR_TOTAL = "floor: bare QEMU exec -> marker -> quit -> exit (ms)";
    /** Unregisters answered 410 (still tearing down) rather than 200 (already gone). */
    private static final AtomicInteger UNREGISTER_410 = new AtomicInteger();

    /** One lifecycle's phases (ms, in order) and its bounds ({@code nanoTime}). */
    record Lifecycle(Map<String, Double> phasesMs, long startNs, long endNs)
    {
    }

    /** A batch: how many lifecycles in how long. */
    record Throughput(int done, long wallNs)
    {
        double perSecond()
        {
            return done * 1e9 / wallNs;
        }
    }

    private GuestLifecycleScenario()
    {
    }

    static void run(final StopLatency.Options options, final Cleanup cleanup) throws Exception
    {
        final String loadBefore = loadAverage();
        final GuestScenario scenario = GuestScenario.start(options, cleanup);
        final PerfAgent perf = scenario.perf();
        final TinyGuest guest = scenario.guest();
        final ExecutorService workers = Executors.newFixedThreadPool(options.concurrency, runnable ->
        {
            final Thread thread = new Thread(runnable, "guest-lifecycle");
            thread.setDaemon(true);
            return thread;
        });
        cleanup.push("stop lifecycle workers", () ->
        {
            // Interrupted workers close their bare QEMU (a child of this JVM) on the way out; wait for that.
            workers.shutdownNow();
            workers.awaitTermination(30, TimeUnit.SECONDS);
        });
        for (int i = 0; i < options.warmup; i++)
        {
            // Not recorded: the first lifecycles pay for class loading and JIT in the agent and in this tool.
            ours(perf, guest != null);
        }
        final FigureTable table = new FigureTable();
        System.out.printf("  ours: %d lifecycles, %d at once%n", options.vmms, options.concurrency);
        final Throughput ours = batch(workers, options.vmms, () -> ours(perf, guest != null), table);
        Throughput floor = null;
        if (guest != null)
        {
            System.out.printf("  floor: %d bare QEMU lifecycles, %d at once%n", options.vmms, options.concurrency);
            floor = batch(workers, options.vmms, () -> bare(guest, scenario.bareDir()), table);
        }
        final String report = report(options, loadBefore, loadAverage(), table, ours, floor)
            + String.format(Locale.ROOT, "unregister: %d of %d answered 410 NO_SUCH_INSTANCE (still tearing down after"
            + " destroyed), the others 200%n", UNREGISTER_410.get(), options.vmms + options.warmup);
        System.out.print(report);
        Files.createDirectories(options.out);
        Files.writeString(options.out.resolve("guest-lifecycle-" + options.vmm + ".txt"), report);
    }

    /** The printed report: title, table, lifecycles/s of ours and of the floor. */
    static String report(final StopLatency.Options options, final String loadBefore, final String loadAfter,
        final FigureTable table, final Throughput ours, final Throughput floor)
    {
        final StringBuilder out = new StringBuilder();
        out.append(String.format(Locale.ROOT, "guest-lifecycle --vmm %s, %d lifecycles, %d at once, %d warm-up; load "
            + "average %s before, %s after%n", options.vmm, options.vmms, options.concurrency, options.warmup,
            loadBefore, loadAfter));
        out.append(table.format());
        out.append(String.format(Locale.ROOT, "ours: %.3f lifecycles/s (%d in %.2f s)%n", ours.perSecond(),
            ours.done(), ours.wallNs() / 1e9));
        if (floor != null)
        {
            out.append(String.format(Locale.ROOT, "floor, bare QEMU (exec -> marker -> QMP quit -> exit): %.3f "
                + "lifecycles/s (%d in %.2f s); ours / floor = %.2f%n", floor.perSecond(), floor.done(),
                floor.wallNs() / 1e9, ours.perSecond() / floor.perSecond()));
            out.append("Both are bound by the guest's boot under TCG (no usable KVM here, 2 cores shared): a ratio,"
                + " not an agent's rate.\n");
        }
        return out.toString();
    }

    /** Runs {@code count} lifecycles on {@code workers}; records their phases in order; the batch's throughput. */
    private static Throughput batch(final ExecutorService workers, final int count, final Callable<Lifecycle> one,
        final FigureTable table) throws Exception
    {
        final List<Future<Lifecycle>> futures = new ArrayList<>(count);
        for (int i = 0; i < count; i++)
        {
            futures.add(workers.submit(one));
        }
        long firstNs = Long.MAX_VALUE;
        long lastNs = Long.MIN_VALUE;
        int done = 0;
        for (final Future<Lifecycle> future : futures)
        {
            // Bounded: each lifecycle's steps are; a queue of count / concurrency of them at most.
            final Lifecycle lifecycle = future.get(STEP_BOUND.toMillis() * 6L * count, TimeUnit.MILLISECONDS);
            lifecycle.phasesMs().forEach(table::add);
            firstNs = Math.min(firstNs, lifecycle.startNs());
            lastNs = Math.max(lastNs, lifecycle.endNs());
            done++;
            System.out.printf("  %d/%d%n", done, count);
        }
        return new Throughput(done, lastNs - firstNs);
    }

    /** One lifecycle of ours, through the HTTP API, to the VMM gone. */
    private static Lifecycle ours(final PerfAgent perf, final boolean qemu) throws Exception
    {
        final UUID id = UUID.randomUUID();
        final String addr = PerfAgent.freeAddr();
        final Map<String, Double> phases = new LinkedHashMap<>();
        final long startNs = System.nanoTime();
        expect200("register", perf.client.register(id, ExampleBodies.ensureBody(UUID.randomUUID(), addr, 1, null,
            GuestScenario.GUEST_MB)));
        phases.put("register answered (ms)", ms(System.nanoTime() - startNs));
        final Instant runAt = Instant.now();
        expect200("run", perf.client.putState(id, "running"));
        final Instant runningAt = awaitPublished(perf.nexus, id, VmmState.RUNNING);
        phases.put("run -> running at Nexus (ms)", ms(runAt, runningAt));
        if (qemu)
        {
            phases.put("running at Nexus -> guest marker on serial (ms)",
                ms(runningAt, GuestMarker.await(id, addr, STEP_BOUND)));
        }
        final Instant stopAt = Instant.now();
        expect200("stop", perf.client.putState(id, "stopped"));
        phases.put("stop -> destroyed at Nexus (ms)", ms(stopAt, awaitPublished(perf.nexus, id, VmmState.DESTROYED)));
        final long unregisterNs = System.nanoTime();
        final AgentHttpClient.Answer unregistered = perf.client.unregister(id);
        phases.put("unregister answered (ms)", ms(System.nanoTime() - unregisterNs));
        // 200 once the VMM left the table (state null); until then (destroyed sent, not yet settled) the agent says
        // 410 NO_SUCH_INSTANCE "being torn down". Either way it is on its way out; anything else is a failure.
        if (unregistered.status() == 410 && unregistered.body().contains("NO_SUCH_INSTANCE"))
        {
            UNREGISTER_410.incrementAndGet();
        }
        else
        {
            expect200("unregister", unregistered);
        }
        final long goneBy = System.nanoTime() + STEP_BOUND.toNanos();
        while (Files.exists(perf.zoneDir(id)) || perf.client.state(id).status() != 404)
        {
            if (System.nanoTime() - goneBy > 0)
            {
                throw new IllegalStateException("VMM " + id + " not gone within " + STEP_BOUND);
            }
            Thread.sleep(2);
        }
        final long endNs = System.nanoTime();
        phases.put(TOTAL, ms(endNs - startNs));
        return new Lifecycle(phases, startNs, endNs);
    }

    /** One lifecycle of the floor: the same guest in a bare QEMU of its own directory. */
    private static Lifecycle bare(final TinyGuest guest, final Path bareDir) throws Exception
    {
        final Path dir = Files.createTempDirectory(bareDir, "lifecycle");
        try
        {
            final Map<String, Double> phases = new LinkedHashMap<>();
            final long startNs = System.nanoTime();
            try (BareQemu bare = BareQemu.start(guest, GuestScenario.GUEST_MB, "tcg", dir))
            {
                phases.put("floor: bare QEMU exec -> guest marker on serial (ms)", ms(bare.awaitMarkerNs()));
                phases.put("floor: bare QEMU's QMP quit -> exit (ms)", ms(bare.quitNs()));
            }
            final long endNs = System.nanoTime();
            phases.put(FLOOR_TOTAL, ms(endNs - startNs));
            return new Lifecycle(phases, startNs, endNs);
        }
        finally
        {
            PerfZones.deleteTree(dir);
        }
    }

    /** When Nexus received {@code state}; fails at once on {@code failed}, and after {@link #STEP_BOUND}. */
    private static Instant awaitPublished(final RecordingNexus nexus, final UUID id, final VmmState state)
        throws InterruptedException
    {
        return LifecycleScenario.awaitPublished(nexus, id, state, STEP_BOUND);
    }

    private static void expect200(final String what, final AgentHttpClient.Answer answer)
    {
        if (answer.status() != 200)
        {
            throw new IllegalStateException(what + " answered " + answer.status() + ": " + answer.body());
        }
    }

    /** The 1, 5 and 15 minute load averages, as {@code /proc/loadavg} has them. */
    static String loadAverage()
    {
        try
        {
            final String[] fields = Files.readString(Path.of("/proc/loadavg")).trim().split("\\s+");
            return fields[0] + " " + fields[1] + " " + fields[2];
        }
        catch (final IOException | ArrayIndexOutOfBoundsException ex)
        {
            return "unknown";
        }
    }

    private static double ms(final long ns)
    {
        return ns / 1e6;
    }

    private static double ms(final Instant from, final Instant to)
    {
        return Duration.between(from, to).toNanos() / 1e6;
    }
}
