package sledagent.agent.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PipedInputStream;
import java.io.PipedOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import sledagent.agent.cli.VmmCommand;
import sledagent.agent.demo.AgentHttpClient;
import sledagent.agent.demo.ExampleBodies;
import sledagent.agent.demo.GuestSerial;
import sledagent.agent.demo.RecordingNexus;
import sledagent.agent.demo.TinyGuest;
import sledagent.agent.testing.TestGuests;
import sledagent.agent.testing.TestZones;
import sledagent.api.VmmState;

/**
 * Real guests through the agent's HTTP API: the agent runs propolis-qemu (QEMU under TCG here, its direct child, in
 * the VMM's cgroup zone) booting the tiny guest ({@link TinyGuest}). Run, reboot, stop, a guest that powers itself
 * off, force-terminate of a running guest / a frozen QEMU / a frozen propolis-qemu, QEMU killed from outside, and a
 * SIGKILLed agent re-adopting a live guest. At most two guests boot at once. Skipped without QEMU or a Debian kernel,
 * failed then when {@code SLED_AGENT_REQUIRE_TOOLS=1} (CI).
 */
class RealGuestTest
{
    private static final Duration BOOT = Duration.ofSeconds(60);
    private static final int GUEST_MB = 192;
    private static TinyGuest guest;

    private final List<AutoCloseable> cleanup = new ArrayList<>();

    @BeforeAll
    static void buildGuest() throws Exception
    {
        guest = TestGuests.buildOrSkip();
    }

    @AfterEach
    void tearDown() throws Exception
    {
        // Last made, first closed: agents before their zone roots; every zone (and the QEMU in it) killed.
        Exception first = null;
        for (int i = cleanup.size() - 1; i >= 0; i--)
        {
            try
            {
                cleanup.get(i).close();
            }
            catch (final Exception ex)
            {
                first = first == null ? ex : first;
            }
        }
        if (first != null)
        {
            throw first;
        }
    }

    @Test
    void shouldRunRebootAndStopARealGuest() throws Exception
    {
        final AgentFixture fixture = fixture(guest.vmm());
        final AgentHttpClient.Answer health = fixture.client.send("GET", "/health", null);
        assertThat(health.body()).as("GET /health names the VMM").contains("\"vmm\":\"qemu (propolis-qemu");
        final Guest vm = register(fixture);
        run(fixture, vm);
        awaitMarkers(vm, 1);
        final long qemu = vm.qemuPid(fixture);

        assertThat(fixture.client.putState(vm.id, "reboot").status()).isEqualTo(200);
        awaitMarkers(vm, 2);
        assertThat(AgentProcess.running(qemu)).as("a reboot keeps QEMU").isTrue();
        assertThat(states(fixture.nexus, vm.id)).as("Nexus saw the reboot")
            .containsSubsequence(VmmState.RUNNING, VmmState.REBOOTING, VmmState.RUNNING);

        final List<Long> pids = fixture.zonePids(vm.id);
        assertThat(fixture.client.putState(vm.id, "stopped").status()).isEqualTo(200);
        awaitPublished(fixture.nexus, vm.id, VmmState.DESTROYED);
        assertThat(states(fixture.nexus, vm.id)).containsSubsequence(VmmState.REBOOTING, VmmState.RUNNING,
            VmmState.STOPPING, VmmState.DESTROYED);
        assertEndedOnce(fixture, vm, VmmState.DESTROYED, pids);
    }

    @Test
    void shouldAttachTheSerialConsoleThroughTheCli() throws Exception
    {
        final AgentFixture fixture = fixture(guest.vmm());
        final Guest vm = register(fixture);
        run(fixture, vm);
        awaitMarkers(vm, 1);
        final String agentUrl = "http://127.0.0.1:" + fixture.agent.server().address().getPort();

        // vmm get shows where the VMM's Propolis listens.
        final ByteArrayOutputStream got = new ByteArrayOutputStream();
        assertThat(VmmCommand.run(List.of("get", vm.id.toString(), "--agent", agentUrl),
            new PrintStream(got, true, StandardCharsets.UTF_8), System.err)).isZero();
        assertThat(got.toString(StandardCharsets.UTF_8).lines())
            .anyMatch(line -> line.startsWith("propolis addr") && line.strip().endsWith(" " + vm.addr));

        // Attached: the guest's ticks arrive, typed input reaches its shell, Ctrl-] detaches with status 0.
        try (Attached console = Attached.start(List.of("console", vm.id.toString(), "--agent", agentUrl)))
        {
            await().atMost(BOOT).until(() -> console.ticks() >= 2);
            console.type("echo cli-$((6*7))-typed\n".getBytes(StandardCharsets.US_ASCII));
            await().atMost(BOOT).until(() -> console.out().contains("cli-42-typed"));
            console.type(new byte[] {0x1d});
            assertThat(console.status.get(10, TimeUnit.SECONDS)).as(console.err()).isZero();
            assertThat(console.err()).contains("Ctrl-] detaches", "detached");
        }

        // Read-only: the ticks arrive, typed input does not reach the guest; the end of stdin detaches.
        try (Attached console = Attached.start(List.of("console", vm.id.toString(), "--read-only", "--agent",
            agentUrl)))
        {
            console.type("echo ro-$((6*7))-typed\n".getBytes(StandardCharsets.US_ASCII));
            final int ticks = console.ticks();
            await().atMost(BOOT).during(Duration.ofSeconds(3)).until(() -> !console.out().contains("ro-42-typed")
                && !vm.serial.all().contains("ro-42-typed"));
            assertThat(console.ticks()).isGreaterThan(ticks);
            console.keys.close();
            assertThat(console.status.get(10, TimeUnit.SECONDS)).as(console.err()).isZero();
        }
    }

    /** {@code sled-agent vmm console} running on a thread, its stdin a pipe the test types into. */
    private static final class Attached implements AutoCloseable
    {
        final PipedOutputStream keys = new PipedOutputStream();
        final ByteArrayOutputStream out = new ByteArrayOutputStream();
        final ByteArrayOutputStream err = new ByteArrayOutputStream();
        CompletableFuture<Integer> status;

        static Attached start(final List<String> args) throws IOException
        {
            final Attached attached = new Attached();
            final PipedInputStream stdin = new PipedInputStream(attached.keys);
            attached.status = CompletableFuture.supplyAsync(() -> VmmCommand.run(args, stdin,
                new PrintStream(attached.out, true, StandardCharsets.UTF_8),
                new PrintStream(attached.err, true, StandardCharsets.UTF_8)));
            return attached;
        }

        void type(final byte[] bytes) throws IOException
        {
            keys.write(bytes);
            keys.flush();
        }

        String out()
        {
            return out.toString(StandardCharsets.ISO_8859_1);
        }

        String err()
        {
            return err.toString(StandardCharsets.UTF_8);
        }

        int ticks()
        {
            return out().split("tick ", -1).length - 1;
        }

        @Override
        public void close() throws Exception
        {
            keys.close();
            status.get(10, TimeUnit.SECONDS);
        }
    }

    @Test
    void shouldDestroyAGuestThatPowersItselfOffWithNoRequest() throws Exception
    {
        // PID 1 is busybox poweroff: 3 s (guest time) after boot it powers the machine off through ACPI.
        final AgentFixture fixture = fixture(guest.vmm(guest.append() + " rdinit=/bin/poweroff -- -f -d 3"));
        final Guest vm = register(fixture);
        run(fixture, vm);
        final List<Long> pids = fixture.zonePids(vm.id);

        awaitPublished(fixture.nexus, vm.id, VmmState.DESTROYED);
        assertThat(states(fixture.nexus, vm.id)).containsSubsequence(VmmState.RUNNING, VmmState.STOPPING,
            VmmState.DESTROYED);
        assertEndedOnce(fixture, vm, VmmState.DESTROYED, pids);
    }

    @Test
    void shouldForceTerminateARunningGuestAFrozenQemuAndAFrozenPropolisQemu() throws Exception
    {
        final AgentFixture fixture = fixture(guest.vmm());
        final Guest running = register(fixture);
        final Guest frozenQemu = register(fixture);
        run(fixture, running);
        run(fixture, frozenQemu);
        awaitMarkers(running, 1);
        signal("STOP", frozenQemu.qemuPid(fixture));
        forceTerminate(fixture, running);
        forceTerminate(fixture, frozenQemu);

        // The third boots only once the first two are gone: at most two guests boot at once.
        final Guest frozenServer = register(fixture);
        run(fixture, frozenServer);
        signal("STOP", frozenServer.serverPid(fixture));
        forceTerminate(fixture, frozenServer);
    }

    @Test
    void shouldPublishFailedOnceWhenQemuIsKilledFromOutside() throws Exception
    {
        final AgentFixture fixture = fixture(guest.vmm());
        final Guest vm = register(fixture);
        run(fixture, vm);
        final List<Long> pids = fixture.zonePids(vm.id);

        signal("KILL", vm.qemuPid(fixture));

        awaitPublished(fixture.nexus, vm.id, VmmState.FAILED);
        assertEndedOnce(fixture, vm, VmmState.FAILED, pids);
    }

    @Test
    void shouldReadoptALiveGuestAfterTheAgentIsSigkilled() throws Exception
    {
        final RecordingNexus nexus = new RecordingNexus();
        cleanup.add(nexus);
        final Path zoneRoot = TestZones.uniqueRoot();
        cleanup.add(() -> TestZones.removeAll(zoneRoot));
        final Path work = Files.createTempDirectory("sled-real-guest");
        final Path stateDir = work.resolve("state");
        final Path log = work.resolve("agent.log");
        final String[] flags = guest.serveFlags().toArray(String[]::new);
        final AgentProcess first = AgentProcess.start(nexus.url(), stateDir, zoneRoot, "20s", log, flags);
        cleanup.add(first);
        final UUID id = UUID.randomUUID();
        final String addr = AgentFixture.freeAddr();
        assertThat(first.client.register(id, ExampleBodies.ensureBody(UUID.randomUUID(), addr, 1, null, GUEST_MB))
            .status()).isEqualTo(200);
        assertThat(first.client.putState(id, "running").status()).isEqualTo(200);
        awaitPublished(nexus, id, VmmState.RUNNING);
        final GuestSerial serial = new GuestSerial(addr);
        await().atMost(BOOT).pollInterval(Duration.ofMillis(100)).until(() -> serial.count(TinyGuest.MARKER) == 1);
        final List<Long> pids = AgentProcess.zonePids(zoneRoot, id);

        first.kill9();
        final long offsetAtKill = serial.read(0).lastByteOffset();
        final AgentProcess second = AgentProcess.start(nexus.url(), stateDir, zoneRoot, "20s", log, flags);
        cleanup.add(second);

        assertThat(AgentProcess.zonePids(zoneRoot, id)).as("the same guest runs on; log:\n%s", second.logTail())
            .isEqualTo(pids);
        assertThat(AgentFixture.json(second.client.state(id).body()).at("/vmm_state/state").asText())
            .isEqualTo("running");
        await().atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(200))
            .untilAsserted(() -> assertThat(serial.read(offsetAtKill).text()).as("the guest keeps ticking")
                .containsPattern("tick [0-9]+\\r?\\n[\\s\\S]*tick [0-9]+"));
        assertThat(serial.count(TinyGuest.MARKER)).as("never rebooted").isEqualTo(1);

        assertThat(second.client.putState(id, "stopped").status()).isEqualTo(200);
        awaitPublished(nexus, id, VmmState.DESTROYED);
        await().atMost(Duration.ofSeconds(20)).until(() -> !Files.exists(AgentProcess.zoneDir(zoneRoot, id)));
        AgentFixture.assertGone(pids);
        assertThat(states(nexus, id).stream().filter(VmmState::isTerminal).toList())
            .containsExactly(VmmState.DESTROYED);
    }

    // ---- helpers ----

    /** A VMM the test registered: its id and the address its Propolis server serves. */
    private record Guest(UUID id, String addr, GuestSerial serial)
    {
        /** QEMU, propolis-qemu's child in the zone. */
        long qemuPid(final AgentFixture fixture) throws IOException
        {
            return pidOf(fixture, "qemu-system-");
        }

        /** propolis-qemu, the JVM serving the Propolis API (PID 1 of the zone's PID namespace, under unshare). */
        long serverPid(final AgentFixture fixture) throws IOException
        {
            return pidOf(fixture, "java");
        }

        /**
         * The zone's process whose command name starts with {@code comm} (the name, not the argv: unshare's and
         * the JVM's argv name QEMU too).
         */
        private long pidOf(final AgentFixture fixture, final String comm) throws IOException
        {
            for (final long pid : fixture.zonePids(id))
            {
                if (comm(pid).startsWith(comm))
                {
                    return pid;
                }
            }
            throw new AssertionError("no " + comm + " in the zone of " + id + ": " + fixture.zonePids(id));
        }
    }

    private AgentFixture fixture(final sledagent.agent.config.VmmChoice vmm) throws Exception
    {
        final AgentFixture fixture = new AgentFixture(20_000, vmm);
        cleanup.add(fixture);
        return fixture;
    }

    private static Guest register(final AgentFixture fixture) throws Exception
    {
        final UUID id = UUID.randomUUID();
        final String addr = AgentFixture.freeAddr();
        final AgentHttpClient.Answer registered = fixture.client.register(id,
            ExampleBodies.ensureBody(UUID.randomUUID(), addr, 1, null, GUEST_MB));
        assertThat(registered.status()).as(registered.body()).isEqualTo(200);
        return new Guest(id, addr, new GuestSerial(addr));
    }

    private static void run(final AgentFixture fixture, final Guest vm) throws Exception
    {
        final AgentHttpClient.Answer run = fixture.client.putState(vm.id, "running");
        assertThat(run.status()).as(run.body()).isEqualTo(200);
        awaitPublished(fixture.nexus, vm.id, VmmState.RUNNING);
    }

    private static void forceTerminate(final AgentFixture fixture, final Guest vm) throws Exception
    {
        final List<Long> pids = fixture.zonePids(vm.id);
        final AgentHttpClient.Answer answer = fixture.client.forceTerminate(vm.id);
        assertThat(answer.status()).as(answer.body()).isEqualTo(200);
        awaitPublished(fixture.nexus, vm.id, VmmState.DESTROYED);
        assertEndedOnce(fixture, vm, VmmState.DESTROYED, pids);
    }

    /** One terminal state published, and it is {@code terminal}; the zone is gone and so is every process of it. */
    private static void assertEndedOnce(final AgentFixture fixture, final Guest vm, final VmmState terminal,
        final List<Long> pids) throws Exception
    {
        await().atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(20))
            .until(() -> !Files.exists(fixture.zoneDir(vm.id)));
        AgentFixture.assertGone(pids);
        assertThat(pids).as("the zone held unshare, propolis-qemu and QEMU").hasSizeGreaterThanOrEqualTo(3);
        await().during(Duration.ofMillis(300)).atMost(Duration.ofSeconds(2))
            .untilAsserted(() -> assertThat(states(fixture.nexus, vm.id).stream().filter(VmmState::isTerminal)
                .toList()).as("states of %s", vm.id).containsExactly(terminal));
    }

    private static void awaitMarkers(final Guest vm, final int count)
    {
        await().atMost(BOOT).pollInterval(Duration.ofMillis(100))
            .until(() -> vm.serial.count(TinyGuest.MARKER) >= count);
    }

    private static void awaitPublished(final RecordingNexus nexus, final UUID id, final VmmState state)
    {
        await().atMost(BOOT).pollInterval(Duration.ofMillis(10))
            .until(() -> states(nexus, id).contains(state));
    }

    private static List<VmmState> states(final RecordingNexus nexus, final UUID id)
    {
        return nexus.received(id).stream().map(r -> r.state().vmmState().state()).toList();
    }

    private static String comm(final long pid) throws IOException
    {
        try
        {
            return Files.readString(Path.of("/proc", Long.toString(pid), "comm"), StandardCharsets.UTF_8).strip();
        }
        catch (final NoSuchFileException ex)
        {
            return "";
        }
    }

    private static void signal(final String name, final long pid) throws Exception
    {
        final Process kill = new ProcessBuilder("kill", "-" + name, Long.toString(pid)).start();
        assertThat(kill.waitFor(5, TimeUnit.SECONDS) && kill.exitValue() == 0).as("kill -%s %d", name, pid).isTrue();
    }
}
