package sledagent.perf;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import sledagent.agent.config.AgentConfig;
import sledagent.agent.config.VmmChoice;
import sledagent.agent.core.AgentContext;
import sledagent.agent.core.SledAgent;
import sledagent.agent.demo.AgentHttpClient;
import sledagent.agent.demo.ExampleBodies;
import sledagent.agent.demo.RecordingNexus;
import sledagent.agent.persist.FileVmmStore;
import sledagent.api.VmmState;
import sledagent.hypervisor.qemu.ClassArchive;
import sledagent.hypervisor.sim.PropolisSimLauncher;
import sledagent.zones.ZoneBackend;
import sledagent.zones.ZoneBackends;

/**
 * A real agent (Netty HTTP, cgroup v2 zones under a unique root, propolis-sim VMMs) publishing to a
 * {@link RecordingNexus} on loopback, as the e2e tests' {@code AgentFixture} runs it. Every resource is registered
 * with a {@link Cleanup} as soon as it exists: the agent is closed, then every zone under the root is killed and
 * removed, then the root and the state directory.
 */
final class PerfAgent
{
    /** One running VMM: its id and the address its Propolis serves on. */
    record Vmm(UUID id, String addr)
    {
    }

    private static final Duration CALL_TIMEOUT = Duration.ofSeconds(10);

    final Path zoneRoot;
    final Path stateDir;
    final RecordingNexus nexus;
    final SledAgent agent;
    final AgentHttpClient client;
    final InetSocketAddress address;
    /** The agent's zone backend, with teardown moments recorded. */
    final TimedZones timedZones;
    /** The agent's record store, with each write timed. */
    final TimedStore timedStore;
    /** The class archive the agent trains for its propolis-qemu servers, or null (another VMM). */
    private final ClassArchive classArchive;

    private PerfAgent(final Path zoneRoot, final Path stateDir, final RecordingNexus nexus, final SledAgent agent,
        final TimedZones timedZones, final TimedStore timedStore, final ClassArchive classArchive)
    {
        this.classArchive = classArchive;
        this.zoneRoot = zoneRoot;
        this.stateDir = stateDir;
        this.nexus = nexus;
        this.agent = agent;
        this.timedZones = timedZones;
        this.timedStore = timedStore;
        this.address = new InetSocketAddress("127.0.0.1", agent.server().address().getPort());
        this.client = new AgentHttpClient(URI.create("http://127.0.0.1:" + address.getPort()), CALL_TIMEOUT);
        System.out.println("teardown split: on (kill, empty and rmdir timed on the teardown's thread)");
        System.out.println("record writes: timed (VmmStore writes, queued -> acknowledged), state dir " + stateDir);
    }

    /** Starts an agent on a fresh zone root; {@code startTimeoutMs} bounds each VMM's start. */
    static PerfAgent start(final Cleanup cleanup, final long startTimeoutMs) throws Exception
    {
        return start(cleanup, startTimeoutMs, (runDir) -> PropolisSimLauncher::command);
    }

    /**
     * Starts an agent on a fresh zone root running the VMM {@code vmm} makes from a directory for its sockets (under
     * the state directory, removed with it): propolis-sim, or propolis-qemu booting a real guest.
     */
    static PerfAgent start(final Cleanup cleanup, final long startTimeoutMs,
        final java.util.function.Function<Path, java.util.function.Function<String, List<String>>> vmm)
        throws Exception
    {
        return start(cleanup, startTimeoutMs, AgentConfig.DEFAULT_STOP_GRACE_MS, null, vmm);
    }

    /** As {@link #start(Cleanup, long, java.util.function.Function)}, with the agent's stop grace. */
    static PerfAgent start(final Cleanup cleanup, final long startTimeoutMs, final long stopGraceMs,
        final java.util.function.Function<Path, java.util.function.Function<String, List<String>>> vmm)
        throws Exception
    {
        return start(cleanup, startTimeoutMs, stopGraceMs, null, vmm);
    }

    /**
     * Starts an agent on a fresh zone root running the configured VMM {@code choice} through the agent's own
     * launcher, as {@code serve} does (for propolis-qemu: with the class archive the agent trains at start).
     */
    static PerfAgent start(final Cleanup cleanup, final long startTimeoutMs, final long stopGraceMs,
        final VmmChoice choice) throws Exception
    {
        return start(cleanup, startTimeoutMs, stopGraceMs, choice, null);
    }

    private static PerfAgent start(final Cleanup cleanup, final long startTimeoutMs, final long stopGraceMs,
        final VmmChoice choice,
        final java.util.function.Function<Path, java.util.function.Function<String, List<String>>> vmm)
        throws Exception
    {
        final Path zoneRoot = PerfZones.uniqueRoot("");
        final Path stateDir = Files.createTempDirectory("sledperf-state");
        cleanup.push("remove state dir " + stateDir, () -> PerfZones.deleteTree(stateDir));
        cleanup.push("remove zone root " + zoneRoot, () -> PerfZones.removeRoot(zoneRoot));
        final RecordingNexus nexus = new RecordingNexus();
        cleanup.push("close recording nexus", nexus::close);
        // The timed parts are the tool's: opened here, given to the agent, closed after it.
        final FileVmmStore store = new FileVmmStore(stateDir);
        cleanup.push("close record store", store::close);
        final ZoneBackend zones = ZoneBackends.choose(ZoneBackends.CGROUP, zoneRoot).backend();
        cleanup.push("close zone backend", zones::close);
        final TimedZones timedZones = new TimedZones(zones);
        final TimedStore timedStore = new TimedStore(store);
        final AgentConfig config = new AgentConfig(new InetSocketAddress("127.0.0.1", 0), List.of(nexus.url()),
            stateDir, stopGraceMs, zoneRoot, UUID.randomUUID(), startTimeoutMs);
        final AgentContext context = new AgentContext().config(choice == null ? config : config.withVmm(choice))
            .zones(timedZones)
            .store(timedStore);
        if (vmm != null)
        {
            context.vmmCommand(vmm.apply(stateDir.resolve("vmm-run")));
        }
        final SledAgent agent = SledAgent.launch(context);
        cleanup.push("close agent", agent::close);
        return new PerfAgent(zoneRoot, stateDir, nexus, agent, timedZones, timedStore, context.classArchive());
    }

    /**
     * Registers and runs {@code count} sims, {@code batch} at a time (each batch must be published running within
     * {@code perBatch}), so that JVM start-ups on a small machine do not pile up against the start timeout.
     */
    List<Vmm> startVmms(final int count, final int batch, final Duration perBatch) throws Exception
    {
        final List<Vmm> all = new ArrayList<>(count);
        while (all.size() < count)
        {
            final List<Vmm> started = new ArrayList<>(batch);
            for (int i = 0; i < batch && all.size() + started.size() < count; i++)
            {
                final Vmm vmm = new Vmm(UUID.randomUUID(), freeAddr());
                final AgentHttpClient.Answer registered = client.register(vmm.id(),
                    ExampleBodies.ensureBody(UUID.randomUUID(), vmm.addr(), 1));
                if (registered.status() != 200)
                {
                    throw new IllegalStateException("register " + vmm.id() + ": " + registered);
                }
                final AgentHttpClient.Answer run = client.putState(vmm.id(), "running");
                if (run.status() != 200)
                {
                    throw new IllegalStateException("run " + vmm.id() + ": " + run);
                }
                started.add(vmm);
            }
            for (final Vmm vmm : started)
            {
                if (awaitPublished(vmm.id(), VmmState.RUNNING, perBatch).isEmpty())
                {
                    throw new IllegalStateException("vmm " + vmm.id() + " not published running within " + perBatch
                        + "; published so far: " + nexus.received(vmm.id()).stream()
                        .map(r -> r.state().vmmState().state()).toList() + "; see " + logFile(vmm.id()));
                }
            }
            all.addAll(started);
            System.out.printf("  %d/%d VMMs running%n", all.size(), count);
        }
        return all;
    }

    /** When Nexus received {@code state} for the VMM, waiting at most {@code bound}. */
    Optional<Instant> awaitPublished(final UUID id, final VmmState state, final Duration bound)
        throws InterruptedException
    {
        final long deadline = System.nanoTime() + bound.toNanos();
        while (true)
        {
            for (final RecordingNexus.Received received : nexus.received(id))
            {
                if (received.state().vmmState().state() == state)
                {
                    return Optional.of(received.at());
                }
            }
            if (System.nanoTime() - deadline >= 0)
            {
                return Optional.empty();
            }
            Thread.sleep(2);
        }
    }

    /** Waits (bounded) until the agent no longer knows the VMM: {@code GET /state} answers 404. */
    boolean awaitRemoved(final UUID id, final Duration bound) throws Exception
    {
        final long deadline = System.nanoTime() + bound.toNanos();
        while (client.state(id).status() != 404)
        {
            if (System.nanoTime() - deadline >= 0)
            {
                return false;
            }
            Thread.sleep(5);
        }
        return true;
    }

    /** The agent's own counters of why VMMs ended ({@code GET /metrics}: crashes and forced kills by kind). */
    void printEndCounters()
    {
        try
        {
            final AgentHttpClient.Answer metrics = client.send("GET", "/metrics", null);
            metrics.body().lines()
                .filter(line -> line.startsWith("sled_agent_crashes_total{")
                    || line.startsWith("sled_agent_forced_kills_total{"))
                .forEach(line -> System.out.println("agent metric: " + line));
        }
        catch (final Exception ex)
        {
            System.out.println("agent metrics not read: " + ex);
        }
    }

    static String zoneName(final UUID id)
    {
        return ZoneBackend.ZONE_PREFIX + id;
    }

    /**
     * The propolis-qemu class archive the agent trains at start (when it runs the configured qemu VMM), once
     * written; null at once for any other VMM, and null if training did not write it within its bound (the agent
     * logged why).
     */
    Path awaitClassArchive() throws InterruptedException
    {
        if (classArchive == null)
        {
            return null;
        }
        final long deadlineNs = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(ClassArchive.TRAINING_BOUND_MS);
        while (classArchive.current() == null && System.nanoTime() - deadlineNs < 0)
        {
            Thread.sleep(50);
        }
        return classArchive.current();
    }

    Path zoneDir(final UUID id)
    {
        return zoneRoot.resolve(zoneName(id));
    }

    Path logFile(final UUID id)
    {
        return stateDir.resolve("logs").resolve(zoneName(id) + ".log");
    }

    RawHttp connect() throws IOException
    {
        return new RawHttp(address, (int)CALL_TIMEOUT.toMillis());
    }

    /** A free loopback address for a VMM. */
    static String freeAddr() throws IOException
    {
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress()))
        {
            return "127.0.0.1:" + socket.getLocalPort();
        }
    }
}
