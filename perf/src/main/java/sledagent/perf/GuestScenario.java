package sledagent.perf;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import sledagent.agent.config.AgentConfig;
import sledagent.agent.demo.AgentHttpClient;
import sledagent.agent.demo.ExampleBodies;
import sledagent.agent.demo.TinyGuest;
import sledagent.api.VmmState;
import sledagent.hypervisor.sim.PropolisSimLauncher;

/**
 * {@code StopLatency guest --vmm sim|qemu}: the lifecycle figures of one VMM at a time, on propolis-sim or on a real
 * guest (propolis-qemu, QEMU, the tiny guest): register -> running published (-> the guest's ready marker on its
 * serial console); stop -> destroyed published; force-terminate -> zone directory gone -> destroyed published; crash
 * (SIGKILL of QEMU, or of the sim's JVM) -> failed published; RSS of the Propolis server's JVM and of QEMU. Each
 * figure over {@code --vmms} VMMs, printed as min / median / max.
 */
final class GuestScenario
{
    private static final Duration BOUND = Duration.ofSeconds(90);
    /** The guest's memory: the same for ours, the bare QEMU's and libvirt's. */
    static final int GUEST_MB = 192;

    private final PerfAgent perf;
    private final boolean qemu;
    /** The guest and a directory for the bare-QEMU floors ({@code --vmm qemu} only). */
    private TinyGuest guest;
    private Path bareDir;
    private final Map<String, List<Double>> figures = new LinkedHashMap<>();

    private GuestScenario(final PerfAgent perf, final boolean qemu)
    {
        this.perf = perf;
        this.qemu = qemu;
    }

    static void run(final StopLatency.Options options, final Cleanup cleanup) throws Exception
    {
        final GuestScenario scenario = start(options, cleanup);
        final boolean qemu = scenario.qemu;
        for (int i = 0; i < options.warmup; i++)
        {
            // Warms the agent's and the tool's code on the same paths; nothing recorded.
            scenario.forceOne();
            scenario.crashOne();
        }
        scenario.figures.clear();
        if (options.warmup > 0)
        {
            System.out.printf("  %d warm-up round(s) of force-terminate and crash, not recorded%n", options.warmup);
        }
        for (int i = 0; i < options.vmms; i++)
        {
            scenario.stopOne();
            scenario.forceOne();
            scenario.crashOne();
            if (qemu)
            {
                // The floors, in the same run and round: the same zone kind killed raw, the same guest bare.
                scenario.rawZoneKillOne();
                scenario.bareQemuOne(false);
                scenario.bareQemuOne(true);
            }
            System.out.printf("  %d/%d rounds%n", i + 1, options.vmms);
        }
        scenario.print(options, "guest-" + options.vmm + ".txt",
            String.format("guest --vmm %s, n=%d each%n", options.vmm, options.vmms));
    }

    /**
     * An in-process agent (undone by {@code cleanup}) running {@code --vmm}'s VMMs: propolis-sim, or propolis-qemu
     * booting the tiny guest (built once under {@code perf/target/guest}), with a directory for the bare-QEMU floors.
     */
    static GuestScenario start(final StopLatency.Options options, final Cleanup cleanup) throws Exception
    {
        final boolean qemu = "qemu".equals(options.vmm);
        final PerfAgent perf;
        TinyGuest guest = null;
        if (qemu)
        {
            final String missing = TinyGuest.missing();
            if (missing != null)
            {
                throw new IllegalStateException("--vmm qemu needs " + missing);
            }
            guest = TinyGuest.build(Path.of("perf/target/guest").toAbsolutePath());
            // The agent's own launcher, as serve runs it: with the class archive it trains at start, awaited here so
            // that every figure is of servers that map it (a fresh agent's first seconds are not what is measured).
            perf = PerfAgent.start(cleanup, options.startTimeoutMs, graceMs(options), guest.vmm());
            final Path archive = perf.awaitClassArchive();
            System.out.println("VMM: propolis-qemu, " + guest.vmm().describe() + ", guest " + GUEST_MB + " MiB; class"
                + " archive: " + (archive == null ? "none (training failed, see the agent's log)" : archive));
        }
        else
        {
            perf = PerfAgent.start(cleanup, options.startTimeoutMs, graceMs(options),
                runDir -> PropolisSimLauncher::command);
            System.out.println("VMM: propolis-sim");
        }
        final GuestScenario scenario = new GuestScenario(perf, qemu);
        if (qemu)
        {
            scenario.guest = guest;
            scenario.bareDir = Files.createTempDirectory("sledperf-bare");
            final Path bareDir = scenario.bareDir;
            cleanup.push("remove bare QEMU dir " + bareDir, () -> PerfZones.deleteTree(bareDir));
        }
        return scenario;
    }

    /** {@code --grace-ms}, or the agent's default stop grace. */
    private static long graceMs(final StopLatency.Options options)
    {
        return options.graceMs > 0 ? options.graceMs : AgentConfig.DEFAULT_STOP_GRACE_MS;
    }

    /** Register, run, (marker), RSS, stop -> destroyed. */
    private void stopOne() throws Exception
    {
        final UUID id = UUID.randomUUID();
        final String addr = start(id);
        rss(id);
        final Instant stopAt = Instant.now();
        check(perf.client.putState(id, "stopped"), "stop");
        record("stop -> destroyed published (ms)", stopAt, published(id, VmmState.DESTROYED));
        awaitZoneGone(id);
    }

    /**
     * Register, run, (marker), force-terminate -> answer / zone gone / destroyed published. The request goes out on
     * a connection opened and warmed (3 {@code GET /state}) beforehand, as in {@code force-terminate}, so that no
     * thread start or connection set-up of the tool is charged to the agent.
     */
    void forceOne() throws Exception
    {
        final UUID id = UUID.randomUUID();
        start(id);
        final Path zone = perf.zoneDir(id);
        final long[] sentNs = new long[1];
        final long[] answerNs = new long[1];
        final Instant[] sentAt = new Instant[1];
        final Exception[] failure = new Exception[1];
        final CountDownLatch ready = new CountDownLatch(1);
        final Thread caller = new Thread(() ->
        {
            try (RawHttp http = perf.connect())
            {
                for (int k = 0; k < 3; k++)
                {
                    http.request("GET", "/vmms/" + id + "/state", null);
                }
                ready.countDown();
                sentAt[0] = Instant.now();
                sentNs[0] = System.nanoTime();
                final RawHttp.Answer answer = http.request("POST", "/vmms/" + id + "/force-terminate", null);
                answerNs[0] = System.nanoTime();
                if (answer.status() != 200 || !answer.body().contains("\"destroyed\""))
                {
                    throw new IllegalStateException("force-terminate " + id + ": " + answer);
                }
            }
            catch (final Exception ex)
            {
                failure[0] = ex;
            }
            finally
            {
                ready.countDown();
            }
        }, "force-terminate");
        caller.start();
        if (!ready.await(BOUND.toMillis(), TimeUnit.MILLISECONDS))
        {
            throw new IllegalStateException("no connection to the agent within " + BOUND);
        }
        final long deadlineNs = System.nanoTime() + BOUND.toNanos();
        while (Files.exists(zone))
        {
            if (System.nanoTime() - deadlineNs > 0)
            {
                throw new IllegalStateException("zone of " + id + " still there after " + BOUND);
            }
            Thread.onSpinWait();
        }
        final long goneNs = System.nanoTime();
        caller.join(BOUND.toMillis());
        if (failure[0] != null || answerNs[0] == 0)
        {
            throw new IllegalStateException("force-terminate of " + id + " not answered within " + BOUND, failure[0]);
        }
        recordNs("force-terminate -> 200 destroyed answered (ms)", answerNs[0] - sentNs[0]);
        recordNs("force-terminate -> zone gone (ms)", goneNs - sentNs[0]);
        // Where the agent's time goes, from its own zone backend (moments taken on the teardown's thread).
        final TimedZones.Times times = perf.timedZones.times(PerfAgent.zoneName(id)).orElse(null);
        if (times != null && times.killStartNs != 0 && times.emptyNs != 0)
        {
            recordNs("  force, agent: request -> its cgroup.kill began (ms)", times.killStartNs - sentNs[0]);
            recordNs("  force, agent: its cgroup.kill -> its awaitEmpty saw empty (ms)",
                times.emptyNs - times.killStartNs);
        }
        record("force-terminate -> destroyed published (ms)", sentAt[0], published(id, VmmState.DESTROYED));
    }

    /**
     * Register, run, (marker), SIGKILL QEMU (or the sim's JVM) -> failed published. The signal goes from this JVM
     * ({@code kill(2)} through {@link ProcessHandle#destroyForcibly}), its moment taken right before the call, so no
     * fork/exec of a {@code kill} command is charged to the agent. The breakdown is from the agent's own moments:
     * its actor acting on the death (the step that goes HALTING submits that record's write: Propolis's
     * {@code Failed} with QEMU, the pidfd's exit with the sim), that write acknowledged (the crash path waits for it
     * before the kill), its {@code cgroup.kill}, its {@code awaitEmpty}.
     */
    void crashOne() throws Exception
    {
        final UUID id = UUID.randomUUID();
        start(id);
        final long victim = pidOf(id, qemu ? "qemu-system-" : "java");
        final ProcessHandle handle = ProcessHandle.of(victim)
            .orElseThrow(() -> new IllegalStateException("pid " + victim + " of " + id + " gone before the kill"));
        final Instant killAt = Instant.now();
        final long killNs = System.nanoTime();
        if (!handle.destroyForcibly())
        {
            throw new IllegalStateException("SIGKILL of " + victim + " (" + id + ") not sent");
        }
        final String what = qemu ? "QEMU" : "sim JVM";
        final Instant failedAt = published(id, VmmState.FAILED);
        record("crash (SIGKILL " + what + ") -> failed published (ms)", killAt, failedAt);
        final TimedStore.Write halting = perf.timedStore.writesSince(id, killNs).stream()
            .filter(w -> "HALTING".equals(w.phase()))
            .min((a, b) -> Long.compare(a.startNs(), b.startNs())).orElse(null);
        final TimedZones.Times times = perf.timedZones.times(PerfAgent.zoneName(id)).orElse(null);
        if (halting != null && times != null && times.killStartNs != 0 && times.emptyNs != 0)
        {
            recordNs("  crash, agent: SIGKILL -> its actor acted (HALTING write sent) (ms)",
                halting.startNs() - killNs);
            recordNs("  crash, agent: that write, submitted -> acknowledged (ms)", halting.endNs() - halting.startNs());
            recordNs("  crash, agent: acted on it -> its cgroup.kill began (ms)",
                times.killStartNs - halting.startNs());
            recordNs("  crash, agent: its cgroup.kill -> its awaitEmpty saw empty (ms)",
                times.emptyNs - times.killStartNs);
            record("  crash, agent: empty -> Nexus got failed (ms)",
                killAt.plusNanos(times.emptyNs - killNs), failedAt);
        }
        awaitZoneGone(id);
    }

    /**
     * Floor of the kill: a VMM started by the agent as for the others, then its zone killed from here, raw:
     * {@code 1 > cgroup.kill} -> {@code populated 0} in {@code cgroup.events} (read in a spin loop). The agent
     * notices the exit afterwards and cleans up (failed published, zone removed).
     */
    private void rawZoneKillOne() throws Exception
    {
        final UUID id = UUID.randomUUID();
        start(id);
        final Path zone = perf.zoneDir(id);
        final Path events = zone.resolve("cgroup.events");
        final long deadlineNs = System.nanoTime() + BOUND.toNanos();
        final long t0 = System.nanoTime();
        Files.writeString(zone.resolve("cgroup.kill"), "1");
        while (true)
        {
            try
            {
                if (Files.readString(events).contains("populated 0"))
                {
                    break;
                }
            }
            catch (final IOException ex)
            {
                // NoSuchFile, or ENODEV from a file whose cgroup was removed meanwhile: the agent saw it empty first.
                if (Files.isDirectory(zone))
                {
                    throw ex;
                }
                break;
            }
            if (System.nanoTime() - deadlineNs > 0)
            {
                throw new IllegalStateException("zone of " + id + " not empty " + BOUND + " after cgroup.kill");
            }
            Thread.onSpinWait();
        }
        recordNs("raw: cgroup.kill of a propolis-qemu zone -> populated 0 (ms)", System.nanoTime() - t0);
        published(id, VmmState.FAILED);
        awaitZoneGone(id);
    }

    /** Floor of start and of the end: the same guest in a bare QEMU; exec -> marker, then quit or SIGKILL -> exit. */
    void bareQemuOne(final boolean sigkill) throws Exception
    {
        try (BareQemu bare = BareQemu.start(guest, GUEST_MB, "tcg", bareDir))
        {
            recordNs("raw: bare QEMU exec -> guest marker on serial (ms)", bare.awaitMarkerNs());
            if (sigkill)
            {
                recordNs("raw: SIGKILL of bare QEMU -> exit seen by its parent (ms)", bare.sigkillNs());
            }
            else
            {
                recordNs("raw: bare QEMU's own quit (QMP) -> exit (ms)", bare.quitNs());
            }
        }
    }

    private void recordNs(final String name, final long ns)
    {
        figures.computeIfAbsent(name, k -> new ArrayList<>()).add(ns / 1e6);
    }

    /** Registers and runs a VMM; records register -> running (and -> marker); returns its address. */
    private String start(final UUID id) throws Exception
    {
        final String addr = PerfAgent.freeAddr();
        final Instant registerAt = Instant.now();
        check(perf.client.register(id, ExampleBodies.ensureBody(UUID.randomUUID(), addr, 1, null, GUEST_MB)),
            "register");
        check(perf.client.putState(id, "running"), "run");
        record("register -> running published (ms)", registerAt, published(id, VmmState.RUNNING));
        if (qemu)
        {
            record("register -> guest marker on serial (ms)", registerAt, GuestMarker.await(id, addr, BOUND));
        }
        return addr;
    }

    private void rss(final UUID id) throws IOException
    {
        figures.computeIfAbsent("RSS of the Propolis server JVM (MiB)", k -> new ArrayList<>())
            .add(ProcessMemory.of(pidOf(id, "java")).rssKb() / 1024.0);
        if (qemu)
        {
            figures.computeIfAbsent("RSS of QEMU (MiB)", k -> new ArrayList<>())
                .add(ProcessMemory.of(pidOf(id, "qemu-system-")).rssKb() / 1024.0);
        }
    }

    private Instant published(final UUID id, final VmmState state) throws InterruptedException
    {
        final Optional<Instant> at = perf.awaitPublished(id, state, BOUND);
        return at.orElseThrow(() -> new IllegalStateException(id + " not published " + state + " within " + BOUND
            + "; see " + perf.logFile(id)));
    }

    private void awaitZoneGone(final UUID id) throws Exception
    {
        final long deadlineNs = System.nanoTime() + BOUND.toNanos();
        while (Files.exists(perf.zoneDir(id)) || perf.client.state(id).status() != 404)
        {
            if (System.nanoTime() - deadlineNs > 0)
            {
                throw new IllegalStateException("VMM " + id + " not gone within " + BOUND);
            }
            Thread.sleep(5);
        }
    }

    /** The pid in the VMM's zone whose {@code comm} starts with {@code commPrefix} ("java", "qemu-system-"). */
    long pidOf(final UUID id, final String commPrefix) throws IOException
    {
        return ZonePids.pidOf(perf.zoneDir(id), commPrefix);
    }

    private void record(final String name, final Instant from, final Instant to)
    {
        figures.computeIfAbsent(name, k -> new ArrayList<>()).add(Duration.between(from, to).toNanos() / 1e6);
    }

    private static void check(final AgentHttpClient.Answer answer, final String what)
    {
        if (answer.status() != 200)
        {
            throw new IllegalStateException(what + ": " + answer.status() + " " + answer.body());
        }
    }

    /** The agent this scenario runs. */
    PerfAgent perf()
    {
        return perf;
    }

    /** A directory for bare-QEMU floors ({@code --vmm qemu}), removed by the cleanup; null with sims. */
    Path bareDir()
    {
        return bareDir;
    }

    /** The tiny guest ({@code --vmm qemu}), or null. */
    TinyGuest guest()
    {
        return guest;
    }

    /** Forgets every figure so far (after warm-up rounds). */
    void clearFigures()
    {
        figures.clear();
    }

    /** Adds one sample of a figure in milliseconds. */
    void record(final String name, final Duration took)
    {
        recordNs(name, took.toNanos());
    }

    /** The median of a figure so far (ms), or NaN if it has none. */
    double median(final String name)
    {
        final List<Double> values = new ArrayList<>(figures.getOrDefault(name, List.of()));
        values.sort(null);
        return values.isEmpty() ? Double.NaN : values.get(values.size() / 2);
    }

    /** Prints {@code title} and the table (n, min / median / max of each figure), and writes it to {@code --out}. */
    void print(final StopLatency.Options options, final String fileName, final String title) throws IOException
    {
        final StringBuilder table = new StringBuilder(title);
        table.append(String.format("%-74s %4s %9s %9s %9s%n", "figure", "n", "min", "median", "max"));
        for (final Map.Entry<String, List<Double>> entry : figures.entrySet())
        {
            final List<Double> values = new ArrayList<>(entry.getValue());
            values.sort(null);
            table.append(String.format("%-74s %4d %9.2f %9.2f %9.2f%n", entry.getKey(), values.size(), values.get(0),
                values.get(values.size() / 2), values.get(values.size() - 1)));
        }
        System.out.print(table);
        Files.createDirectories(options.out);
        Files.writeString(options.out.resolve(fileName), table);
    }
}
