package sledagent.perf;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Locale;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import sledagent.agent.demo.AgentHttpClient;
import sledagent.agent.demo.ExampleBodies;
import sledagent.api.VmmState;

/**
 * {@code StopLatency guest-deadline --vmm qemu|sim --vmms N --grace-ms G}: a stop whose VMM does not cooperate still
 * ends at its grace deadline. The agent runs with stop grace G (the record takes the agent's setting at
 * registration); each round registers and runs a VMM, waits for the guest's marker (qemu) or {@code running} (sim),
 * SIGSTOPs the zone's Propolis server JVM (propolis-qemu, or the sim; QEMU keeps running), sends stop, and takes:
 * stop -> {@code destroyed} at Nexus minus G (the lateness), the agent's own moments (stop -> its
 * {@code cgroup.kill} minus G, kill -> empty, empty -> Nexus), and stop -> zone directory gone minus G. The timer's
 * own lateness with 10,000 pending is what {@code deadlines} measures.
 *
 * <p>A stopped process still dies of SIGKILL: the agent's {@code cgroup.kill} ends it, and should the tool fail
 * first, a clean-up step SIGKILLs it (through a {@link ProcessHandle}, which checks the start time, so a reused pid
 * is never hit) before the agent is closed, and the zone root's removal kills whatever is left.
 */
final class GuestDeadlineScenario
{
    private static final Duration BOUND = Duration.ofSeconds(90);
    static final long DEFAULT_GRACE_MS = 1_000;
    static final String LATENESS = "lateness: stop -> destroyed at Nexus, minus the grace (ms)";

    private final GuestScenario scenario;
    private final PerfAgent perf;
    private final boolean qemu;
    private final long graceMs;
    private final Cleanup cleanup;
    private final FigureTable table = new FigureTable();

    private GuestDeadlineScenario(final GuestScenario scenario, final long graceMs, final Cleanup cleanup)
    {
        this.scenario = scenario;
        this.perf = scenario.perf();
        this.qemu = scenario.guest() != null;
        this.graceMs = graceMs;
        this.cleanup = cleanup;
    }

    static void run(final StopLatency.Options options, final Cleanup cleanup) throws Exception
    {
        if (options.graceMs == 0)
        {
            options.graceMs = DEFAULT_GRACE_MS;
        }
        final String loadBefore = GuestLifecycleScenario.loadAverage();
        final GuestDeadlineScenario deadline = new GuestDeadlineScenario(GuestScenario.start(options, cleanup),
            options.graceMs, cleanup);
        System.out.println("stop grace: " + options.graceMs + " ms");
        for (int i = 0; i < options.warmup + options.vmms; i++)
        {
            deadline.one(i >= options.warmup);
            System.out.printf("  %d/%d rounds%n", i + 1, options.warmup + options.vmms);
        }
        final String report = String.format(Locale.ROOT, "guest-deadline --vmm %s, grace %d ms, n=%d, %d warm-up;"
            + " load average %s before, %s after%n", options.vmm, options.graceMs, options.vmms, options.warmup,
            loadBefore, GuestLifecycleScenario.loadAverage()) + deadline.table.format();
        System.out.print(report);
        Files.createDirectories(options.out);
        Files.writeString(options.out.resolve("guest-deadline-" + options.vmm + ".txt"), report);
    }

    /** One round: run, (marker), SIGSTOP the Propolis server, stop, wait for destroyed and the zone gone. */
    private void one(final boolean recorded) throws Exception
    {
        final UUID id = UUID.randomUUID();
        final String addr = PerfAgent.freeAddr();
        expect200("register", perf.client.register(id, ExampleBodies.ensureBody(UUID.randomUUID(), addr, 1, null,
            GuestScenario.GUEST_MB)));
        expect200("run", perf.client.putState(id, "running"));
        published(id, VmmState.RUNNING);
        if (qemu)
        {
            awaitMarker(id, addr);
        }
        final long pid = scenario.pidOf(id, "java");
        final ProcessHandle server = ProcessHandle.of(pid)
            .orElseThrow(() -> new IllegalStateException("Propolis server " + pid + " of " + id + " gone"));
        cleanup.push("SIGKILL the stopped Propolis server " + pid, () ->
        {
            // Checks the start time: a pid reused since is left alone.
            if (server.isAlive())
            {
                server.destroyForcibly();
            }
        });
        sigstop(pid);
        final Instant stopAt = Instant.now();
        final long stopNs = System.nanoTime();
        final AgentHttpClient.Answer stop = perf.client.putState(id, "stopped");
        final long answeredNs = System.nanoTime();
        expect200("stop", stop);
        final Path zone = perf.zoneDir(id);
        final long goneBy = System.nanoTime() + BOUND.toNanos() + TimeUnit.MILLISECONDS.toNanos(graceMs);
        while (Files.exists(zone))
        {
            if (System.nanoTime() - goneBy > 0)
            {
                throw new IllegalStateException("zone of " + id + " still there " + BOUND + " after its grace");
            }
            Thread.sleep(1);
        }
        final long goneNs = System.nanoTime();
        final Instant destroyedAt = published(id, VmmState.DESTROYED);
        // Its zone is empty, so it is dead; isAlive stays true until its parent (the agent, in this JVM) reaps it.
        final long reapedBy = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (server.isAlive())
        {
            if (System.nanoTime() - reapedBy > 0)
            {
                throw new IllegalStateException("the stopped Propolis server " + pid + " not reaped 10 s after its zone"
                    + " went");
            }
            Thread.sleep(1);
        }
        awaitRemoved(id);
        if (!recorded)
        {
            return;
        }
        final double graceMsD = graceMs;
        table.add("stop answered (ms)", (answeredNs - stopNs) / 1e6);
        table.add("stop -> destroyed at Nexus (ms)", Duration.between(stopAt, destroyedAt).toNanos() / 1e6);
        table.add(LATENESS, Duration.between(stopAt, destroyedAt).toNanos() / 1e6 - graceMsD);
        final TimedZones.Times times = perf.timedZones.times(PerfAgent.zoneName(id)).orElse(null);
        // The grace-expired step is the first to write a HALTING record (the stop's own step stays ACTIVE).
        final TimedStore.Write halting = perf.timedStore.writesSince(id, stopNs).stream()
            .filter(w -> "HALTING".equals(w.phase()))
            .min((a, b) -> Long.compare(a.startNs(), b.startNs())).orElse(null);
        if (halting != null)
        {
            table.add("  agent: stop -> its grace-expired step (HALTING write sent) - grace (ms)",
                (halting.startNs() - stopNs) / 1e6 - graceMsD);
            table.add("  agent: that write, submitted -> acknowledged (ms)",
                (halting.endNs() - halting.startNs()) / 1e6);
        }
        if (times != null && times.killStartNs != 0 && times.emptyNs != 0)
        {
            table.add("  agent: stop -> its cgroup.kill began, minus the grace (ms)",
                (times.killStartNs - stopNs) / 1e6 - graceMsD);
            table.add("  agent: its cgroup.kill -> its awaitEmpty saw empty (ms)",
                (times.emptyNs - times.killStartNs) / 1e6);
            table.add("  agent: empty -> Nexus got destroyed (ms)",
                Duration.between(stopAt.plusNanos(times.emptyNs - stopNs), destroyedAt).toNanos() / 1e6);
        }
        table.add("stop -> zone directory gone, minus the grace (ms)", (goneNs - stopNs) / 1e6 - graceMsD);
    }

    /** SIGSTOP (not timed: before the stop request), then waits until the kernel shows it stopped. */
    private static void sigstop(final long pid) throws IOException, InterruptedException
    {
        final Process kill = new ProcessBuilder("kill", "-STOP", Long.toString(pid)).start();
        if (!kill.waitFor(10, TimeUnit.SECONDS) || kill.exitValue() != 0)
        {
            throw new IllegalStateException("kill -STOP " + pid + " failed");
        }
        final long deadlineNs = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!isStopped(Files.readString(Path.of("/proc", Long.toString(pid), "stat"))))
        {
            if (System.nanoTime() - deadlineNs > 0)
            {
                throw new IllegalStateException(pid + " not stopped 10 s after SIGSTOP");
            }
            Thread.sleep(1);
        }
    }

    /** Whether a {@code /proc/PID/stat} line says stopped by a signal ({@code T}); the comm may hold spaces. */
    static boolean isStopped(final String stat)
    {
        final int close = stat.lastIndexOf(')');
        if (close < 0 || close + 2 >= stat.length())
        {
            throw new IllegalArgumentException("not a /proc/PID/stat line: " + stat);
        }
        return stat.charAt(close + 2) == 'T';
    }

    private void awaitMarker(final UUID id, final String addr) throws Exception
    {
        GuestMarker.await(id, addr, BOUND);
    }

    private Instant published(final UUID id, final VmmState state) throws InterruptedException
    {
        return perf.awaitPublished(id, state, BOUND.plusMillis(graceMs)).orElseThrow(() -> new IllegalStateException(
            id + " not published " + state + " within " + BOUND + " (+ grace); see " + perf.logFile(id)));
    }

    private void awaitRemoved(final UUID id) throws Exception
    {
        if (!perf.awaitRemoved(id, BOUND))
        {
            throw new IllegalStateException("VMM " + id + " still known " + BOUND + " after its zone went");
        }
    }

    private static void expect200(final String what, final AgentHttpClient.Answer answer)
    {
        if (answer.status() != 200)
        {
            throw new IllegalStateException(what + " answered " + answer.status() + ": " + answer.body());
        }
    }
}
