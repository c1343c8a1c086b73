package sledagent.agent.demo;

import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.List;
import java.util.UUID;
import sledagent.agent.config.AgentConfig;
import sledagent.agent.core.SledAgent;
import sledagent.api.VmmState;
import sledagent.zones.linux.CgroupRoot;
import sledagent.zones.linux.CgroupZoneBackend;

/**
 * {@code sled-agent demo}: the agent with an embedded recording Nexus, driven through its HTTP API. Where QEMU and the
 * tiny guest can be had: a real guest boots under propolis-qemu (its serial lines shown), is stopped with its zone
 * frozen (ending at the grace deadline), another is force-terminated, and every state Nexus received is printed.
 * Elsewhere (or with {@code --sim}) one propolis-sim VMM is run and stopped, and the demo says it is the simulator.
 */
public final class Demo
{
    private static final DateTimeFormatter TIME = DateTimeFormatter.ofPattern("HH:mm:ss.SSS").withZone(ZoneOffset.UTC);
    private static final Duration WAIT = Duration.ofSeconds(30);
    /** A guest under TCG on a loaded machine may take this long to its marker. */
    private static final Duration BOOT = Duration.ofSeconds(90);
    private static final int GUEST_MB = 192;

    private Demo()
    {
    }

    /**
     * Runs the demo: real guests under QEMU where QEMU and the tiny guest can be had (unless {@code sim}), the
     * simulator otherwise, said so plainly. Returns the process exit status.
     */
    public static int run(final PrintStream out, final long stopGraceMs, final boolean sim) throws Exception
    {
        if (sim)
        {
            out.println("Running the simulator (propolis-sim), as asked: simulated VMs, no QEMU.");
            return runSim(out, stopGraceMs);
        }
        final String missing = TinyGuest.missing();
        if (missing != null)
        {
            out.println("QEMU cannot be had here (missing: " + missing + "): running the SIMULATOR (propolis-sim)"
                + " instead, so these are simulated VMs, not real guests.");
            out.println("For real guests (Debian, as root): apt-get install --no-install-recommends qemu-system-x86"
                + " linux-image-amd64 busybox-static cpio xz-utils");
            out.println();
            return runSim(out, stopGraceMs);
        }
        final Path cache = guestCache();
        final TinyGuest guest;
        try
        {
            out.println("Building the tiny guest (Debian kernel + busybox initramfs) in " + cache + " ...");
            guest = TinyGuest.build(cache);
        }
        catch (final java.io.IOException ex)
        {
            out.println("The tiny guest could not be built (" + ex.getMessage() + "): running the SIMULATOR"
                + " (propolis-sim) instead, so these are simulated VMs, not real guests.");
            out.println();
            return runSim(out, stopGraceMs);
        }
        return runQemu(out, stopGraceMs, guest);
    }

    /** {@code $XDG_CACHE_HOME/sled-agent/guest}, else {@code ~/.cache/sled-agent/guest}. */
    static Path guestCache()
    {
        final String xdg = System.getenv("XDG_CACHE_HOME");
        final Path base = xdg != null && !xdg.isBlank() ? Path.of(xdg)
            : Path.of(System.getProperty("user.home"), ".cache");
        return base.resolve("sled-agent").resolve("guest");
    }

    /**
     * Real guests: one boots (its serial lines shown), then stops with its zone frozen (SIGSTOP on propolis-qemu
     * and QEMU) and ends at the grace deadline; another is force-terminated while running.
     */
    private static int runQemu(final PrintStream out, final long stopGraceMs, final TinyGuest guest)
        throws Exception
    {
        final Path stateDir = Files.createTempDirectory("sled-agent-demo");
        final Path zoneRoot = CgroupRoot.agentCgroupDir().resolve("sled-agent-demo-" + ProcessHandle.current().pid());
        final UUID first = UUID.randomUUID();
        final UUID second = UUID.randomUUID();
        final String firstAddr = "127.0.0.1:" + freePort();
        final String secondAddr = "127.0.0.1:" + freePort();
        try (RecordingNexus nexus = new RecordingNexus();
             SledAgent agent = SledAgent.launch(new AgentConfig(new InetSocketAddress("127.0.0.1", 0),
                 List.of(nexus.url()), stateDir, stopGraceMs, zoneRoot, UUID.randomUUID(),
                 AgentConfig.DEFAULT_START_TIMEOUT_MS).withVmm(guest.vmm())))
        {
            final URI agentUrl = URI.create("http://127.0.0.1:" + agent.server().address().getPort());
            final AgentHttpClient client = new AgentHttpClient(agentUrl, Duration.ofSeconds(10));
            out.println("sled-agent at " + agentUrl + ", recording Nexus at " + nexus.url() + ", zones under "
                + zoneRoot);
            out.println("GET    /health -> " + client.send("GET", "/health", null).body());
            final Instant started = Instant.now();

            out.println();
            out.println("1. A real guest boots (QEMU, " + GUEST_MB + " MiB, 1 vCPU), its serial console as it comes:");
            out.println("PUT    /vmms/" + first + "  -> " + client.register(first,
                ExampleBodies.ensureBody(UUID.randomUUID(), firstAddr, 1, null, GUEST_MB)).status());
            out.println("PUT    /vmms/" + first + "/state running -> " + client.putState(first, "running").status());
            awaitPublished(nexus, first, VmmState.RUNNING);
            showSerial(out, new GuestSerial(firstAddr), started);

            out.println();
            out.println("2. Stop a guest whose zone is frozen: SIGSTOP on its propolis-qemu and QEMU, so nothing"
                + " answers;");
            out.println("   the agent kills the zone at the stop grace deadline (" + stopGraceMs + " ms) and"
                + " reports destroyed.");
            final List<Long> frozen = zonePids(zoneRoot, first);
            for (final long pid : frozen)
            {
                signal("STOP", pid);
            }
            out.println("SIGSTOP " + frozen + " (" + commands(frozen) + ")");
            final Instant stopAt = Instant.now();
            out.println("PUT    /vmms/" + first + "/state stopped -> " + client.putState(first, "stopped").status());
            awaitPublished(nexus, first, VmmState.DESTROYED, Duration.ofMillis(stopGraceMs).plus(WAIT));
            out.println("destroyed " + Duration.between(stopAt, Instant.now()).toMillis() + " ms after the stop"
                + " request; zone left: " + Files.exists(zoneRoot.resolve("oxz_propolis-server_" + first)));

            out.println();
            out.println("3. Force-terminate a running guest:");
            out.println("PUT    /vmms/" + second + "  -> " + client.register(second,
                ExampleBodies.ensureBody(UUID.randomUUID(), secondAddr, 1, null, GUEST_MB)).status());
            out.println("PUT    /vmms/" + second + "/state running -> " + client.putState(second, "running").status());
            awaitPublished(nexus, second, VmmState.RUNNING);
            final GuestSerial secondSerial = new GuestSerial(secondAddr);
            awaitMarker(secondSerial);
            out.println("guest 2 is up: " + firstLine(secondSerial.all(), TinyGuest.MARKER));
            final Instant killAt = Instant.now();
            out.println("POST   /vmms/" + second + "/force-terminate -> " + client.forceTerminate(second).status());
            awaitPublished(nexus, second, VmmState.DESTROYED);
            out.println("destroyed " + Duration.between(killAt, Instant.now()).toMillis() + " ms after the request;"
                + " zone left: " + Files.exists(zoneRoot.resolve("oxz_propolis-server_" + second)));
            awaitGone(client, first);
            awaitGone(client, second);
            out.println("zones left: " + agent.zones().list().size());

            printReceived(out, nexus, first, started);
            printReceived(out, nexus, second, started);
            return 0;
        }
        finally
        {
            removeZones(zoneRoot);
        }
    }

    /** Prints the guest's serial lines until its ready marker and two ticks have come. */
    private static void showSerial(final PrintStream out, final GuestSerial serial, final Instant started)
        throws Exception
    {
        final long deadlineNs = System.nanoTime() + BOOT.toNanos();
        long offset = 0;
        final StringBuilder partial = new StringBuilder();
        int ticks = 0;
        while (ticks < 2)
        {
            if (System.nanoTime() - deadlineNs > 0)
            {
                throw new IllegalStateException("the guest did not print " + TinyGuest.MARKER + " and two ticks"
                    + " within " + BOOT);
            }
            final GuestSerial.Chunk chunk = serial.read(offset);
            offset += chunk.text().getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
            partial.append(chunk.text());
            int newline;
            while ((newline = partial.indexOf("\n")) >= 0)
            {
                // Terminal escapes (the shell's prompt asks for the cursor position) and control bytes dropped.
                final String line = partial.substring(0, newline).replaceAll("\u001b\\[[0-9;?]*[A-Za-z]", "")
                    .replaceAll("[\\p{Cntrl}&&[^\t]]", "");
                partial.delete(0, newline + 1);
                if (line.isBlank())
                {
                    continue;
                }
                out.printf("  serial +%5d ms | %s%n", Duration.between(started, Instant.now()).toMillis(), line);
                if (line.startsWith("tick "))
                {
                    ticks++;
                }
            }
            Thread.sleep(50);
        }
    }

    private static void awaitMarker(final GuestSerial serial) throws InterruptedException
    {
        final long deadlineNs = System.nanoTime() + BOOT.toNanos();
        while (serial.count(TinyGuest.MARKER) == 0)
        {
            if (System.nanoTime() - deadlineNs > 0)
            {
                throw new IllegalStateException("the guest did not print " + TinyGuest.MARKER + " within " + BOOT);
            }
            Thread.sleep(50);
        }
    }

    private static String firstLine(final String text, final String containing)
    {
        for (final String line : text.split("\r?\n"))
        {
            if (line.contains(containing))
            {
                return line.strip();
            }
        }
        return "";
    }

    private static List<Long> zonePids(final Path zoneRoot, final UUID id) throws java.io.IOException
    {
        final List<Long> pids = new java.util.ArrayList<>();
        for (final String line : Files.readAllLines(zoneRoot.resolve("oxz_propolis-server_" + id)
            .resolve("cgroup.procs")))
        {
            if (!line.isBlank())
            {
                pids.add(Long.parseLong(line.strip()));
            }
        }
        return pids;
    }

    private static String commands(final List<Long> pids)
    {
        final List<String> names = new java.util.ArrayList<>();
        for (final long pid : pids)
        {
            try
            {
                names.add(Files.readString(Path.of("/proc", Long.toString(pid), "comm")).strip());
            }
            catch (final java.io.IOException ex)
            {
                names.add("?");
            }
        }
        return String.join(", ", names);
    }

    private static void signal(final String name, final long pid) throws Exception
    {
        final Process kill = new ProcessBuilder("kill", "-" + name, Long.toString(pid)).start();
        if (!kill.waitFor(5, java.util.concurrent.TimeUnit.SECONDS) || kill.exitValue() != 0)
        {
            kill.destroyForcibly();
            throw new IllegalStateException("kill -" + name + " " + pid + " failed");
        }
    }

    /** Kills and removes every zone left under the demo's root (a demo that failed half-way), then the root. */
    private static void removeZones(final Path zoneRoot) throws Exception
    {
        if (!Files.isDirectory(zoneRoot))
        {
            return;
        }
        try (CgroupZoneBackend zones = new CgroupZoneBackend(zoneRoot))
        {
            zones.killAndRemoveAll(Duration.ofSeconds(5));
        }
        Files.deleteIfExists(zoneRoot);
    }

    private static void printReceived(final PrintStream out, final RecordingNexus nexus, final UUID propolisId,
        final Instant started)
    {
        out.println();
        out.println("States received by Nexus (PUT /vmms/" + propolisId + "):");
        out.printf("  %-3s %-12s %-11s %-4s %9s%n", "#", "received", "state", "gen", "+ms");
        int row = 1;
        for (final RecordingNexus.Received received : nexus.received(propolisId))
        {
            out.printf("  %-3d %-12s %-11s %-4d %9d%n", row++, TIME.format(received.at()),
                received.state().vmmState().state().wireName(), received.state().vmmState().gen(),
                Duration.between(started, received.at()).toMillis());
        }
    }

    /** The simulator: one VMM registered, run and stopped. */
    private static int runSim(final PrintStream out, final long stopGraceMs) throws Exception
    {
        final Path stateDir = Files.createTempDirectory("sled-agent-demo");
        // A zone root of the demo's own, so it never meets another agent's zones.
        final Path zoneRoot = CgroupRoot.agentCgroupDir().resolve("sled-agent-demo-" + ProcessHandle.current().pid());
        final UUID propolisId = UUID.randomUUID();
        final UUID instanceId = UUID.randomUUID();
        final String propolisAddr = "127.0.0.1:" + freePort();
        try (RecordingNexus nexus = new RecordingNexus();
             SledAgent agent = SledAgent.launch(new AgentConfig(new InetSocketAddress("127.0.0.1", 0),
                 List.of(nexus.url()), stateDir, stopGraceMs, zoneRoot, UUID.randomUUID(),
                 AgentConfig.DEFAULT_START_TIMEOUT_MS)))
        {
            final URI agentUrl = URI.create("http://127.0.0.1:" + agent.server().address().getPort());
            final AgentHttpClient client = new AgentHttpClient(agentUrl, Duration.ofSeconds(10));
            out.println("sled-agent at " + agentUrl + ", recording Nexus at " + nexus.url() + ", zones under "
                + zoneRoot + ", VMM propolis-sim (simulated)");
            final Instant started = Instant.now();
            out.println("PUT    /vmms/" + propolisId + "  -> " + client.register(propolisId,
                ExampleBodies.ensureBody(instanceId, propolisAddr, 1)).status());
            out.println("PUT    /vmms/" + propolisId + "/state running -> "
                + client.putState(propolisId, "running").status());
            awaitPublished(nexus, propolisId, VmmState.RUNNING);
            final long pids = agent.zones().list().size();
            out.println("VMM running: propolis-sim at " + propolisAddr + " in " + pids + " zone(s)");
            out.println("PUT    /vmms/" + propolisId + "/state stopped -> "
                + client.putState(propolisId, "stopped").status());
            awaitPublished(nexus, propolisId, VmmState.DESTROYED);
            awaitGone(client, propolisId);
            out.println("GET    /vmms/" + propolisId + "/state -> " + client.state(propolisId).status()
                + " (the VMM has left the table)");
            out.println("zones left: " + agent.zones().list().size());
            printReceived(out, nexus, propolisId, started);
            return 0;
        }
        finally
        {
            removeZones(zoneRoot);
        }
    }

    private static void awaitPublished(final RecordingNexus nexus, final UUID propolisId, final VmmState state)
        throws InterruptedException
    {
        awaitPublished(nexus, propolisId, state, WAIT);
    }

    private static void awaitPublished(final RecordingNexus nexus, final UUID propolisId, final VmmState state,
        final Duration within) throws InterruptedException
    {
        final long deadlineNs = System.nanoTime() + within.toNanos();
        while (nexus.received(propolisId).stream().noneMatch(r -> r.state().vmmState().state() == state))
        {
            if (System.nanoTime() - deadlineNs > 0)
            {
                throw new IllegalStateException("Nexus did not receive '" + state.wireName() + "' within " + within);
            }
            Thread.sleep(5);
        }
    }

    private static void awaitGone(final AgentHttpClient client, final UUID propolisId) throws Exception
    {
        final long deadlineNs = System.nanoTime() + WAIT.toNanos();
        while (client.state(propolisId).status() != 404)
        {
            if (System.nanoTime() - deadlineNs > 0)
            {
                throw new IllegalStateException("VMM still in the table after " + WAIT);
            }
            Thread.sleep(5);
        }
    }

    static int freePort() throws java.io.IOException
    {
        try (ServerSocket socket = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress()))
        {
            return socket.getLocalPort();
        }
    }
}
