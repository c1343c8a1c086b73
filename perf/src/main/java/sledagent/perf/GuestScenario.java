package sledagent.perf;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import sledagent.agent.demo.AgentHttpClient;
import sledagent.agent.demo.ExampleBodies;
import sledagent.agent.demo.GuestSerial;
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
    /** The guest's memory, the same for ours, libvirt's and bare QEMU. */
    static final int GUEST_MB = 192;

    private final PerfAgent perf;
    private final boolean qemu;
    private final Map<String, List<Double>> figures = new LinkedHashMap<>();

    private GuestScenario(final PerfAgent perf, final boolean qemu)
    {
        this.perf = perf;
        this.qemu = qemu;
    }

    static void run(final StopLatency.Options options, final Cleanup cleanup) throws Exception
    {
        final GuestScenario scenario = start(options, cleanup);
        for (int i = 0; i < options.vmms; i++)
        {
            scenario.stopOne();
            scenario.forceOne();
            scenario.crashOne();
            System.out.printf("  %d/%d rounds%n", i + 1, options.vmms);
        }
        scenario.print(options, "guest-" + options.vmm + ".txt",
            String.format("guest --vmm %s, n=%d each%n", options.vmm, options.vmms));
    }

    /** An in-process agent (undone by {@code cleanup}) running {@code --vmm}'s VMMs: the tiny guest for qemu. */
    static GuestScenario start(final StopLatency.Options options, final Cleanup cleanup) throws Exception
    {
        final boolean qemu = "qemu".equals(options.vmm);
        final PerfAgent perf;
        if (qemu)
        {
            final TinyGuest guest = guest();
            perf = PerfAgent.start(cleanup, options.startTimeoutMs, runDir -> guest.vmm().command(runDir));
            System.out.println("VMM: propolis-qemu, " + guest.vmm().describe() + ", guest " + GUEST_MB + " MiB");
        }
        else
        {
            perf = PerfAgent.start(cleanup, options.startTimeoutMs, runDir -> PropolisSimLauncher::command);
            System.out.println("VMM: propolis-sim");
        }
        return new GuestScenario(perf, qemu);
    }

    /** The tiny guest, built once under {@code perf/target/guest}. */
    static TinyGuest guest() throws IOException, InterruptedException
    {
        final String missing = TinyGuest.missing();
        if (missing != null)
        {
            throw new IllegalStateException("a real guest needs " + missing);
        }
        return TinyGuest.build(Path.of("perf/target/guest").toAbsolutePath());
    }

    /** Register, run, (marker), RSS, stop -> destroyed. */
    void stopOne() throws Exception
    {
        final UUID id = UUID.randomUUID();
        final String addr = start(id);
        rss(id);
        final Instant stopAt = Instant.now();
        check(perf.client.putState(id, "stopped"), "stop");
        record("stop -> destroyed published (ms)", stopAt, published(id, VmmState.DESTROYED));
        awaitZoneGone(id);
    }

    /** Register, run, (marker), force-terminate -> zone gone -> destroyed published. */
    void forceOne() throws Exception
    {
        final UUID id = UUID.randomUUID();
        start(id);
        final Path zone = perf.zoneDir(id);
        final Instant forceAt = Instant.now();
        final Thread caller = new Thread(() ->
        {
            try
            {
                check(perf.client.forceTerminate(id), "force-terminate");
            }
            catch (final Exception ex)
            {
                throw new IllegalStateException(ex);
            }
        }, "force-terminate");
        caller.start();
        final long deadlineNs = System.nanoTime() + BOUND.toNanos();
        while (Files.exists(zone))
        {
            if (System.nanoTime() - deadlineNs > 0)
            {
                throw new IllegalStateException("zone of " + id + " still there after " + BOUND);
            }
            Thread.onSpinWait();
        }
        final Instant goneAt = Instant.now();
        caller.join(BOUND.toMillis());
        record("force-terminate -> zone gone (ms)", forceAt, goneAt);
        record("force-terminate -> destroyed published (ms)", forceAt, published(id, VmmState.DESTROYED));
    }

    /** Register, run, (marker), SIGKILL QEMU (or the sim's JVM) -> failed published. */
    void crashOne() throws Exception
    {
        final UUID id = UUID.randomUUID();
        start(id);
        final long victim = pidOf(id, qemu ? "qemu-system-" : "java");
        final Instant killAt = Instant.now();
        final Process kill = new ProcessBuilder("kill", "-KILL", Long.toString(victim)).start();
        if (!kill.waitFor(5, TimeUnit.SECONDS) || kill.exitValue() != 0)
        {
            throw new IllegalStateException("kill -KILL " + victim + " failed");
        }
        record("crash (SIGKILL " + (qemu ? "QEMU" : "sim JVM") + ") -> failed published (ms)", killAt,
            published(id, VmmState.FAILED));
        awaitZoneGone(id);
    }

    /** Registers and runs a VMM; records register -> running (and -> marker); returns its address. */
    String start(final UUID id) throws Exception
    {
        final String addr = PerfAgent.freeAddr();
        final Instant registerAt = Instant.now();
        check(perf.client.register(id, ExampleBodies.ensureBody(UUID.randomUUID(), addr, 1, null, GUEST_MB)),
            "register");
        check(perf.client.putState(id, "running"), "run");
        record("register -> running published (ms)", registerAt, published(id, VmmState.RUNNING));
        if (qemu)
        {
            final GuestSerial serial = new GuestSerial(addr);
            final long deadlineNs = System.nanoTime() + BOUND.toNanos();
            while (serial.count(TinyGuest.MARKER) == 0)
            {
                if (System.nanoTime() - deadlineNs > 0)
                {
                    throw new IllegalStateException("no " + TinyGuest.MARKER + " from " + id + " within " + BOUND);
                }
                Thread.sleep(10);
            }
            record("register -> guest marker on serial (ms)", registerAt, Instant.now());
        }
        return addr;
    }

    private void rss(final UUID id) throws IOException
    {
        figures.computeIfAbsent("RSS of the Propolis server JVM (MiB)", k -> new ArrayList<>())
            .add(rssKb(pidOf(id, "java")) / 1024.0);
        if (qemu)
        {
            figures.computeIfAbsent("RSS of QEMU (MiB)", k -> new ArrayList<>())
                .add(rssKb(pidOf(id, "qemu-system-")) / 1024.0);
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

    private long pidOf(final UUID id, final String commPrefix) throws IOException
    {
        for (final String line : Files.readAllLines(perf.zoneDir(id).resolve("cgroup.procs")))
        {
            if (line.isBlank())
            {
                continue;
            }
            final long pid = Long.parseLong(line.strip());
            try
            {
                if (Files.readString(Path.of("/proc", Long.toString(pid), "comm"), StandardCharsets.UTF_8).strip()
                    .startsWith(commPrefix))
                {
                    return pid;
                }
            }
            catch (final NoSuchFileException ex)
            {
                // Gone meanwhile.
            }
        }
        throw new IllegalStateException("no " + commPrefix + " in the zone of " + id);
    }

    private static long rssKb(final long pid) throws IOException
    {
        for (final String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "status")))
        {
            if (line.startsWith("VmRSS:"))
            {
                return Long.parseLong(line.replaceAll("[^0-9]", ""));
            }
        }
        return -1;
    }

    void record(final String name, final Instant from, final Instant to)
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

    /** Adds one figure in milliseconds. */
    void record(final String name, final Duration took)
    {
        figures.computeIfAbsent(name, k -> new ArrayList<>()).add(took.toNanos() / 1e6);
    }

    /** The median of a figure so far (ms), or NaN. */
    double median(final String name)
    {
        final List<Double> values = new ArrayList<>(figures.getOrDefault(name, List.of()));
        values.sort(null);
        return values.isEmpty() ? Double.NaN : values.get(values.size() / 2);
    }

    /** Prints the table (min / median / max of each figure) after {@code title}, and writes it to {@code --out}. */
    void print(final StopLatency.Options options, final String fileName, final String title) throws IOException
    {
        final StringBuilder table = new StringBuilder(title);
        table.append(String.format("%-74s %4s %9s %9s %9s%n", "figure", "n", "min", "median", "max"));
        for (final Map.Entry<String, List<Double>> entry : figures.entrySet())
        {
            final List<Double> values = new ArrayList<>(entry.getValue());
            values.sort(null);
            table.append(String.format("%-74s %4d %9.1f %9.1f %9.1f%n", entry.getKey(), values.size(), values.get(0),
                values.get(values.size() / 2), values.get(values.size() - 1)));
        }
        System.out.print(table);
        Files.createDirectories(options.out);
        Files.writeString(options.out.resolve(fileName), table);
    }
}
