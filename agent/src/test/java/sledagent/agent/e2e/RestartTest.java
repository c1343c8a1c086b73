package sledagent.agent.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import sledagent.agent.demo.AgentHttpClient;
import sledagent.agent.demo.ExampleBodies;
import sledagent.agent.demo.RecordingNexus;
import sledagent.agent.vmm.Phase;
import sledagent.agent.vmm.StoredVmm;
import sledagent.api.Json;
import sledagent.api.VmmState;
import sledagent.zones.Zone;
import sledagent.zones.ZoneBackend;
import sledagent.zones.ZoneProcess;
import sledagent.zones.linux.CgroupRoot;
import sledagent.zones.linux.CgroupZoneBackend;

/**
 * DESIGN.md "Restart": the agent runs as a separate process and is SIGKILLed or SIGTERMed with VMMs running;
 * another agent started on the same state dir and zone root re-adopts the very same VMM processes, continues
 * their generations, fails the ones that died meanwhile, sweeps zones it has no record of, and finishes a stop
 * at its original deadline. One {@link RecordingNexus} (in this JVM) sees both lifetimes.
 */
class RestartTest
{
    private static final Duration WAIT = Duration.ofSeconds(40);
    /** The stop grace of the pending-stop scenario. */
    private static final String GRACE = "4s";
    private static final long GRACE_MS = 4_000;
    /** The full-disk stop's grace: long enough that a restart on a loaded machine comes before its deadline. */
    private static final String FULL_DISK_GRACE = "10s";
    private static final long FULL_DISK_GRACE_MS = 10_000;
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();

    private Path zoneRoot;
    private Path work;
    private Path stateDir;
    private RecordingNexus nexus;
    private final List<AgentProcess> agents = new ArrayList<>();
    private int lifetimes;

    @BeforeEach
    void setUp() throws Exception
    {
        zoneRoot = CgroupRoot.agentCgroupDir().resolve("sledtest-" + UUID.randomUUID());
        work = Files.createTempDirectory("sled-restart-test");
        stateDir = work.resolve("state");
        nexus = new RecordingNexus();
    }

    @AfterEach
    void tearDown() throws Exception
    {
        try
        {
            for (final AgentProcess agent : agents)
            {
                agent.close();
            }
        }
        finally
        {
            try
            {
                nexus.close();
            }
            finally
            {
                AgentFixture.removeZones(zoneRoot);
                deleteTree(work);
            }
        }
    }

    /** a) SIGKILL with ten VMMs running: the same ten processes are re-adopted, generations continue. */
    @Test
    void shouldReadoptRunningVmmsAfterSigkillAndContinueTheirGenerations() throws Exception
    {
        final AgentProcess first = startAgent("60s");
        final List<UUID> ids = new ArrayList<>();
        for (int i = 0; i < 10; i++)
        {
            final UUID id = UUID.randomUUID();
            ids.add(id);
            final AgentHttpClient.Answer registered = first.client.register(id,
                ExampleBodies.ensureBody(UUID.randomUUID(), AgentFixture.freeAddr(), 1));
            assertThat(registered.status()).as(registered.body()).isEqualTo(200);
            final AgentHttpClient.Answer run = first.client.putState(id, "running");
            assertThat(run.status()).as(run.body()).isEqualTo(200);
        }
        for (final UUID id : ids)
        {
            awaitPublished(first, id, VmmState.RUNNING);
        }
        final Map<UUID, Long> gens = new LinkedHashMap<>();
        final Map<UUID, Map<Long, Long>> processes = new LinkedHashMap<>();
        for (final UUID id : ids)
        {
            final JsonNode state = stateOf(first, id);
            assertThat(state.at("/vmm_state/state").asText()).isEqualTo("running");
            gens.put(id, state.at("/vmm_state/gen").asLong());
            assertThat(newestGen(id)).as("Nexus has the newest gen of %s", id).isEqualTo(gens.get(id));
            processes.put(id, identities(AgentProcess.zonePids(zoneRoot, id)));
            assertThat(processes.get(id)).as("the sim's wrapper, the sim and its child").hasSizeGreaterThanOrEqualTo(3);
        }

        first.kill9();
        final AgentProcess second = startAgent("60s");

        for (final UUID id : ids)
        {
            assertThat(identities(AgentProcess.zonePids(zoneRoot, id)))
                .as("the very same processes run in the zone of %s (never restarted); log:\n%s", id, second.logTail())
                .isEqualTo(processes.get(id));
            final JsonNode state = stateOf(second, id);
            assertThat(state.at("/vmm_state/state").asText()).as("state of %s after restart", id)
                .isEqualTo("running");
            assertThat(state.at("/vmm_state/gen").asLong()).as("gen of %s after restart", id).isEqualTo(gens.get(id));
        }

        for (final UUID id : ids)
        {
            final AgentHttpClient.Answer stop = second.client.putState(id, "stopped");
            assertThat(stop.status()).as(stop.body()).isEqualTo(200);
        }
        for (final UUID id : ids)
        {
            awaitPublished(second, id, VmmState.DESTROYED);
        }
        for (final UUID id : ids)
        {
            awaitGone(second, id);
            AgentFixture.assertGone(List.copyOf(processes.get(id).keySet()));
            final List<RecordingNexus.Received> received = nexus.received(id);
            assertGensStrictlyRise(id, received);
            assertThat(received.stream().filter(r -> r.state().vmmState().state().isTerminal())
                .map(r -> r.state().vmmState().state()).toList()).containsExactly(VmmState.DESTROYED);
            assertThat(received.get(received.size() - 1).state().vmmState().gen()).isGreaterThan(gens.get(id));
        }
        assertThat(zoneNames()).as("no zone left; log:\n%s", second.logTail()).isEmpty();
    }

    /** b) SIGTERM leaves VMMs running; a new agent re-adopts them and can stop them. */
    @Test
    void shouldLeaveVmmsRunningOnSigtermAndReadoptThem() throws Exception
    {
        final AgentProcess first = startAgent("60s");
        final List<UUID> ids = List.of(UUID.randomUUID(), UUID.randomUUID());
        for (final UUID id : ids)
        {
            assertThat(first.client.register(id, ExampleBodies.ensureBody(UUID.randomUUID(), AgentFixture.freeAddr(),
                3)).status()).isEqualTo(200);
            assertThat(first.client.putState(id, "running").status()).isEqualTo(200);
        }
        final Map<UUID, Long> gens = new LinkedHashMap<>();
        final Map<UUID, Map<Long, Long>> processes = new LinkedHashMap<>();
        for (final UUID id : ids)
        {
            awaitPublished(first, id, VmmState.RUNNING);
            gens.put(id, stateOf(first, id).at("/vmm_state/gen").asLong());
            processes.put(id, identities(AgentProcess.zonePids(zoneRoot, id)));
        }

        first.terminate();
        // The VMMs outlive the agent: every process keeps running, the same ones, throughout the window.
        await().during(Duration.ofMillis(300)).atMost(Duration.ofSeconds(5)).untilAsserted(() ->
        {
            for (final UUID id : ids)
            {
                for (final long pid : processes.get(id).keySet())
                {
                    assertThat(AgentProcess.running(pid)).as("pid %d of %s runs after the agent's SIGTERM", pid, id)
                        .isTrue();
                }
                assertThat(identities(AgentProcess.zonePids(zoneRoot, id))).isEqualTo(processes.get(id));
            }
        });

        final AgentProcess second = startAgent("60s");
        for (final UUID id : ids)
        {
            assertThat(identities(AgentProcess.zonePids(zoneRoot, id))).as("re-adopted, not restarted")
                .isEqualTo(processes.get(id));
            final JsonNode state = stateOf(second, id);
            assertThat(state.at("/vmm_state/state").asText()).isEqualTo("running");
            assertThat(state.at("/vmm_state/gen").asLong()).isEqualTo(gens.get(id));
            assertThat(second.client.putState(id, "stopped").status()).isEqualTo(200);
        }
        for (final UUID id : ids)
        {
            awaitPublished(second, id, VmmState.DESTROYED);
            awaitGone(second, id);
            AgentFixture.assertGone(List.copyOf(processes.get(id).keySet()));
            assertGensStrictlyRise(id, nexus.received(id));
        }
    }

    /** b') SIGTERM is the ordinary way to stop the daemon: it exits with status 0 (Main: "0 ok"). */
    @Test
    void shouldExitWithStatusZeroOnSigterm() throws Exception
    {
        final AgentProcess agent = startAgent("60s");
        final UUID id = UUID.randomUUID();
        assertThat(agent.client.register(id, ExampleBodies.ensureBody(UUID.randomUUID(), AgentFixture.freeAddr(), 1))
            .status()).isEqualTo(200);
        final int status = agent.terminate();
        assertThat(status).as("exit status after SIGTERM; log:\n%s", agent.logTail()).isEqualTo(0);
    }

    /**
     * c) While the agent was down: one VMM's processes were killed (reported failed, next gen, zone removed), a
     * zone with no record appeared (swept), and a stop was pending with a 4 s grace on a VMM whose stop hangs
     * (destroyed at about the original deadline: not earlier, and not a fresh grace after the restart). The new
     * agent is started about 1 s after the stop, so a fresh grace would end about 1 s after the original deadline.
     */
    @Test
    void shouldFailDeadVmmSweepStrayZoneAndKeepPendingStopDeadlineAcrossSigkill() throws Exception
    {
        final AgentProcess first = startAgent(GRACE);
        final UUID dead = UUID.randomUUID();
        final UUID stopping = UUID.randomUUID();
        final String stoppingAddr = AgentFixture.freeAddr();
        assertThat(first.client.register(dead, ExampleBodies.ensureBody(UUID.randomUUID(), AgentFixture.freeAddr(), 1))
            .status()).isEqualTo(200);
        assertThat(first.client.register(stopping, ExampleBodies.ensureBody(UUID.randomUUID(), stoppingAddr, 1))
            .status()).isEqualTo(200);
        assertThat(first.client.putState(dead, "running").status()).isEqualTo(200);
        assertThat(first.client.putState(stopping, "running").status()).isEqualTo(200);
        awaitPublished(first, dead, VmmState.RUNNING);
        awaitPublished(first, stopping, VmmState.RUNNING);
        final long deadGen = stateOf(first, dead).at("/vmm_state/gen").asLong();
        final List<Long> deadPids = AgentProcess.zonePids(zoneRoot, dead);
        final List<Long> stoppingPids = AgentProcess.zonePids(zoneRoot, stopping);
        assertThat(deadPids).isNotEmpty();
        assertThat(stoppingPids).isNotEmpty();

        sendFault(stoppingAddr, "hang_stop");
        final Instant stopSentAt = Instant.now();
        final AgentHttpClient.Answer stop = first.client.putState(stopping, "stopped");
        assertThat(stop.status()).as(stop.body()).isEqualTo(200);
        assertThat(AgentFixture.json(stop.body()).at("/updated_runtime/vmm_state/state").asText())
            .isEqualTo("stopping");
        final long stoppingGen = AgentFixture.json(stop.body()).at("/updated_runtime/vmm_state/gen").asLong();
        first.kill9();

        // The deadline as the first agent stored it.
        final StoredVmm stored = Json.mapper().readValue(stateDir.resolve("vmms").resolve(stopping + ".json").toFile(),
            StoredVmm.class);
        final Instant deadline = stored.stopDeadline();
        assertThat(deadline).as("a stop deadline is stored").isNotNull();
        assertThat(stored.stopRequested()).isTrue();

        // While the agent is down: the dead VMM's processes die, and a zone nobody knows about appears.
        for (final long pid : deadPids)
        {
            new ProcessBuilder("kill", "-9", Long.toString(pid)).start().waitFor();
        }
        await().atMost(Duration.ofSeconds(5)).pollInterval(Duration.ofMillis(5))
            .until(() -> Files.readString(AgentProcess.zoneDir(zoneRoot, dead).resolve("cgroup.events"))
                .contains("populated 0"));
        final UUID strayId = UUID.randomUUID();
        final List<Long> strayPids;
        try (CgroupZoneBackend zones = new CgroupZoneBackend(zoneRoot))
        {
            final Zone stray = zones.create(ZoneBackend.ZONE_PREFIX + strayId);
            final ZoneProcess sleeper = zones.spawn(stray, List.of("sleep", "1000"), work.resolve("stray.log"));
            sleeper.close();
            strayPids = AgentProcess.zonePids(zoneRoot, strayId);
        }
        assertThat(strayPids).isNotEmpty();

        final long untilRestartMs = 1_000 - Duration.between(stopSentAt, Instant.now()).toMillis();
        if (untilRestartMs > 0)
        {
            Thread.sleep(untilRestartMs);
        }
        final Instant restartedAt = Instant.now();
        assertThat(Duration.between(stopSentAt, restartedAt).toMillis()).as("ms from the stop to the restart")
            .isLessThan(1_500);
        final AgentProcess second = startAgent(GRACE);

        // The stray zone is swept at start, before the API serves.
        assertThat(AgentProcess.zoneDir(zoneRoot, strayId)).as("stray zone swept; log:\n%s", second.logTail())
            .doesNotExist();
        AgentFixture.assertGone(strayPids);

        // The dead VMM: failed, with the next generation, its zone removed.
        final RecordingNexus.Received failed = awaitPublished(second, dead, VmmState.FAILED);
        assertThat(failed.state().vmmState().gen()).isEqualTo(deadGen + 1);
        awaitGone(second, dead);
        assertGensStrictlyRise(dead, nexus.received(dead));

        // The pending stop: still stopping until the original deadline, then destroyed.
        if (Instant.now().isBefore(deadline.minusMillis(100)))
        {
            // Only while the deadline is ahead: a restart slowed by a loaded machine may come after it.
            final JsonNode before = stateOf(second, stopping);
            assertThat(before.at("/vmm_state/state").asText()).isEqualTo("stopping");
            assertThat(before.at("/vmm_state/gen").asLong()).isEqualTo(stoppingGen);
        }
        final RecordingNexus.Received destroyed = awaitPublished(second, stopping, VmmState.DESTROYED);
        assertThat(destroyed.at()).as("destroyed no earlier than the stored deadline %s", deadline)
            .isAfterOrEqualTo(deadline);
        assertThat(destroyed.at()).as("destroyed within a few seconds after the deadline %s; log:\n%s", deadline,
            second.logTail()).isBefore(deadline.plusSeconds(3));
        assertThat(destroyed.at()).as("destroyed before a fresh grace from the restart (%s) could end; deadline %s; "
            + "log:\n%s", restartedAt, deadline, second.logTail()).isBefore(restartedAt.plusMillis(GRACE_MS));
        assertThat(destroyed.state().vmmState().gen()).isEqualTo(stoppingGen + 1);
        awaitGone(second, stopping);
        AgentFixture.assertGone(stoppingPids);
        // The agent was killed right after sending "stopping": it cannot know whether Nexus got it, so the
        // restarted agent sends it again. Nexus ignores a repeat of a generation it has; nothing goes backwards.
        assertGensNeverFall(stopping, nexus.received(stopping));
        assertThat(zoneNames()).isEmpty();
    }

    /**
     * d) Nexus was down when the VMM reached running and the agent was SIGKILLed before it could deliver that
     * state: the restarted agent must still deliver the newest state (DESIGN: transient failures retry forever;
     * the control plane must learn every VMM's newest state).
     */
    @Test
    void shouldDeliverNewestStateThatNexusNeverAcceptedBeforeTheRestart() throws Exception
    {
        final AgentProcess first = startAgent("60s");
        nexus.respondWith(503);
        final UUID id = UUID.randomUUID();
        assertThat(first.client.register(id, ExampleBodies.ensureBody(UUID.randomUUID(), AgentFixture.freeAddr(), 1))
            .status()).isEqualTo(200);
        assertThat(first.client.putState(id, "running").status()).isEqualTo(200);
        await().atMost(WAIT).pollInterval(Duration.ofMillis(10))
            .until(() -> "running".equals(stateOf(first, id).at("/vmm_state/state").asText()));
        final long gen = stateOf(first, id).at("/vmm_state/gen").asLong();
        first.kill9();
        nexus.respondWith(204);

        final AgentProcess second = startAgent("60s");
        assertThat(stateOf(second, id).at("/vmm_state/gen").asLong()).isEqualTo(gen);
        await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(20))
            .untilAsserted(() -> assertThat(newestGen(id)).as("Nexus gets gen %d (running) after the restart; log:\n%s",
                gen, second.logTail()).isEqualTo(gen));
        // A publish the old agent had in flight when it was killed may have reached Nexus just as it came back;
        // the new agent cannot know, and sends the same state again (Nexus ignores a repeated generation).
        assertGensNeverFall(id, nexus.received(id));
    }

    /**
     * e) Issue 10: the agent dies while a start is in flight (its VMM spawned, Propolis not yet ensured). The
     * restarted agent finds the process alive, finishes the start with it, and the VMM runs: not failed.
     */
    @Test
    void shouldResumeAStartThatWasInFlightWhenTheAgentWasKilled() throws Exception
    {
        // The kill must land between the spawn and the end of the start sequence (the sim takes ~300 ms to
        // answer); if the start happens to finish first, try again with another VMM.
        for (int attempt = 1; ; attempt++)
        {
            final AgentProcess first = startAgent("60s");
            final UUID id = UUID.randomUUID();
            assertThat(first.client.register(id, ExampleBodies.ensureBody(UUID.randomUUID(), AgentFixture.freeAddr(),
                1)).status()).isEqualTo(200);
            final Path record = stateDir.resolve("vmms").resolve(id + ".json");
            assertThat(first.client.putState(id, "running").status()).isEqualTo(200);
            await().atMost(WAIT).pollInterval(Duration.ofMillis(1)).until(() -> storedPid(record) > 0);
            first.kill9();
            final StoredVmm atKill = Json.mapper().readValue(record.toFile(), StoredVmm.class);
            if (atKill.phase() != Phase.STARTING)
            {
                assertThat(attempt).as("the start kept finishing before the kill").isLessThan(4);
                AgentFixture.removeZones(zoneRoot);
                continue;
            }
            final Map<Long, Long> before = identities(AgentProcess.zonePids(zoneRoot, id));
            assertThat(before).as("the VMM process outlives the agent").isNotEmpty();

            final AgentProcess second = startAgent("60s");
            final RecordingNexus.Received running = awaitPublished(second, id, VmmState.RUNNING);
            assertThat(running.state().vmmState().gen()).isEqualTo(2);
            assertThat(identities(AgentProcess.zonePids(zoneRoot, id))).as("the same processes, re-adopted")
                .containsAllEntriesOf(before);
            assertThat(nexus.received(id)).noneMatch(r -> r.state().vmmState().state() == VmmState.FAILED);
            assertThat(second.client.forceTerminate(id).status()).isEqualTo(200);
            awaitGone(second, id);
            return;
        }
    }

    /**
     * f) Issue 10: a stop made while the state dir is full is journalled, not written; the agent is SIGKILLed
     * during its grace, and the restarted agent (disk still full) carries the stop on: still stopping, then
     * destroyed at the original deadline with the next generation. Without the journal it would think the VMM
     * running and never stop it.
     */
    @Test
    void shouldKeepAStopMadeOnAFullDiskAcrossASigkill() throws Exception
    {
        final Path tmpfs = work.resolve("tmpfs");
        Files.createDirectories(tmpfs);
        final Process mount = new ProcessBuilder("mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", tmpfs.toString())
            .redirectErrorStream(true).start();
        assertThat(mount.waitFor(10, TimeUnit.SECONDS) && mount.exitValue() == 0).as("tmpfs mounted (root)").isTrue();
        try
        {
            stateDir = tmpfs.resolve("state");
            final AgentProcess first = startAgent(FULL_DISK_GRACE);
            final UUID id = UUID.randomUUID();
            final String addr = AgentFixture.freeAddr();
            assertThat(first.client.register(id, ExampleBodies.ensureBody(UUID.randomUUID(), addr, 1)).status())
                .isEqualTo(200);
            assertThat(first.client.putState(id, "running").status()).isEqualTo(200);
            final long runningGen = awaitPublished(first, id, VmmState.RUNNING).state().vmmState().gen();
            // Nexus's acknowledgement is written too (the acked generation): once that write is done, nothing
            // replaces a record file (and frees its pages) after the disk is filled.
            final Path record = stateDir.resolve("vmms").resolve(id + ".json");
            await().atMost(Duration.ofSeconds(10)).until(() ->
                Json.mapper().readValue(record.toFile(), StoredVmm.class).ackedGen() >= runningGen);
            final List<Long> pids = AgentProcess.zonePids(zoneRoot, id);
            sendFault(addr, "hang_stop");
            fillUp(tmpfs.resolve("filler"));

            final Instant stopSentAt = Instant.now();
            final AgentHttpClient.Answer stop = first.client.putState(id, "stopped");
            assertThat(stop.status()).as(stop.body()).isEqualTo(200);
            final long stoppingGen = AgentFixture.json(stop.body()).at("/updated_runtime/vmm_state/gen").asLong();
            first.kill9();
            final StoredVmm stored = Json.mapper().readValue(stateDir.resolve("vmms").resolve(id + ".json").toFile(),
                StoredVmm.class);
            assertThat(stored.stopRequested()).as("the stop could not be written").isFalse();

            // Restart well after the stop, so that the original deadline and a fresh grace are seconds apart.
            final long untilRestartMs = 2_000 - Duration.between(stopSentAt, Instant.now()).toMillis();
            if (untilRestartMs > 0)
            {
                Thread.sleep(untilRestartMs);
            }
            final Instant restartedAt = Instant.now();
            final AgentProcess second = startAgent(FULL_DISK_GRACE);
            final AgentHttpClient.Answer after = second.client.state(id);
            if (after.status() == 200)
            {
                // Unless a slow restart came after the deadline: stopping, the generation Nexus was told.
                assertThat(AgentFixture.json(after.body()).at("/vmm_state/state").asText()).as("log:\n%s",
                    second.logTail()).isEqualTo("stopping");
                assertThat(AgentFixture.json(after.body()).at("/vmm_state/gen").asLong()).isEqualTo(stoppingGen);
            }
            // Without the journal the restarted agent would take the VMM for running and never stop it.
            final RecordingNexus.Received destroyed = awaitPublished(second, id, VmmState.DESTROYED);
            assertThat(destroyed.state().vmmState().gen()).isEqualTo(stoppingGen + 1);
            assertThat(destroyed.at()).as("destroyed at the original deadline, not a fresh grace after the restart")
                .isBefore(restartedAt.plusMillis(FULL_DISK_GRACE_MS - 1_000));
            assertThat(destroyed.at()).as("not before the deadline").isAfterOrEqualTo(stopSentAt.plusMillis(
                FULL_DISK_GRACE_MS - 50));
            awaitGone(second, id);
            AgentFixture.assertGone(pids);
            assertThat(nexus.received(id)).noneMatch(r -> r.state().vmmState().state() == VmmState.FAILED);
            assertGensNeverFall(id, nexus.received(id));
        }
        finally
        {
            for (final AgentProcess agent : agents)
            {
                agent.close();
            }
            agents.clear();
            AgentFixture.removeZones(zoneRoot);
            new ProcessBuilder("umount", "-l", tmpfs.toString()).start().waitFor(10, TimeUnit.SECONDS);
        }
    }

    /** The pid stored in a VMM record, or 0 if there is none (yet). */
    private static long storedPid(final Path record)
    {
        try
        {
            return Json.mapper().readValue(record.toFile(), StoredVmm.class).vmmPid();
        }
        catch (final IOException ex)
        {
            return 0;
        }
    }

    /** Writes {@code file} until its file system is full. */
    private static void fillUp(final Path file)
    {
        try (java.io.OutputStream out = Files.newOutputStream(file))
        {
            final byte[] page = new byte[4096];
            while (true)
            {
                out.write(page);
            }
        }
        catch (final IOException full)
        {
            // ENOSPC: full.
        }
    }

    // ---- helpers ----

    private AgentProcess startAgent(final String stopGrace) throws Exception
    {
        lifetimes++;
        final AgentProcess agent = AgentProcess.start(nexus.url(), stateDir, zoneRoot, stopGrace,
            work.resolve("agent-" + lifetimes + ".log"));
        agents.add(agent);
        return agent;
    }

    private static JsonNode stateOf(final AgentProcess agent, final UUID id) throws Exception
    {
        final AgentHttpClient.Answer answer = agent.client.state(id);
        assertThat(answer.status()).as("GET state of %s: %s", id, answer.body()).isEqualTo(200);
        return AgentFixture.json(answer.body());
    }

    private RecordingNexus.Received awaitPublished(final AgentProcess agent, final UUID id, final VmmState state)
    {
        await().atMost(WAIT).pollInterval(Duration.ofMillis(5))
            .failFast("the agent exited", () -> !agent.isAlive())
            .until(() -> nexus.received(id).stream().anyMatch(r -> r.state().vmmState().state() == state));
        return nexus.received(id).stream().filter(r -> r.state().vmmState().state() == state).findFirst()
            .orElseThrow();
    }

    /** Out of the table (404), its zone removed. */
    private void awaitGone(final AgentProcess agent, final UUID id)
    {
        await().atMost(WAIT).pollInterval(Duration.ofMillis(10))
            .until(() -> agent.client.state(id).status() == 404);
        await().atMost(WAIT).pollInterval(Duration.ofMillis(10))
            .until(() -> !Files.exists(AgentProcess.zoneDir(zoneRoot, id)));
    }

    private long newestGen(final UUID id)
    {
        final List<RecordingNexus.Received> received = nexus.received(id);
        return received.isEmpty() ? -1 : received.get(received.size() - 1).state().vmmState().gen();
    }

    private static void assertGensStrictlyRise(final UUID id, final List<RecordingNexus.Received> received)
    {
        for (int i = 1; i < received.size(); i++)
        {
            assertThat(received.get(i).state().vmmState().gen())
                .as("gens Nexus received for %s, in arrival order: %s", id, received.stream()
                    .map(r -> r.state().vmmState().gen() + ":" + r.state().vmmState().state().wireName()).toList())
                .isGreaterThan(received.get(i - 1).state().vmmState().gen());
        }
    }

    /** Like {@link #assertGensStrictlyRise} but a state may arrive twice (resent after a crash), unchanged. */
    private static void assertGensNeverFall(final UUID id, final List<RecordingNexus.Received> received)
    {
        for (int i = 1; i < received.size(); i++)
        {
            final RecordingNexus.Received before = received.get(i - 1);
            final RecordingNexus.Received after = received.get(i);
            if (after.state().vmmState().gen() == before.state().vmmState().gen())
            {
                assertThat(after.state()).as("a resent generation must be the same state").isEqualTo(before.state());
            }
            else
            {
                assertThat(after.state().vmmState().gen()).as("gens for %s", id)
                    .isGreaterThan(before.state().vmmState().gen());
            }
        }
    }

    /** pid -> start time (field 22 of /proc/PID/stat) of the processes that exist. */
    private static Map<Long, Long> identities(final List<Long> pids) throws IOException
    {
        final Map<Long, Long> identities = new LinkedHashMap<>();
        for (final long pid : pids)
        {
            try
            {
                final String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
                final String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
                identities.put(pid, Long.parseLong(fields[19]));
            }
            catch (final NoSuchFileException ex)
            {
                // Gone: not an identity.
            }
        }
        return identities;
    }

    private List<String> zoneNames() throws IOException
    {
        if (!Files.isDirectory(zoneRoot))
        {
            return List.of();
        }
        try (Stream<Path> children = Files.list(zoneRoot))
        {
            return children.map(p -> p.getFileName().toString()).filter(n -> n.startsWith(ZoneBackend.ZONE_PREFIX))
                .toList();
        }
    }

    /** {@code PUT /mock/fault} on a sim. */
    private static void sendFault(final String addr, final String fault) throws Exception
    {
        final HttpResponse<Void> response = HTTP.send(HttpRequest.newBuilder(URI.create("http://" + addr + "/mock/fault"))
            .timeout(Duration.ofSeconds(2))
            .header("content-type", "application/json")
            .PUT(HttpRequest.BodyPublishers.ofString("\"" + fault + "\""))
            .build(), HttpResponse.BodyHandlers.discarding());
        assertThat(response.statusCode()).as("fault %s accepted", fault).isBetween(200, 299);
    }

    private static void deleteTree(final Path root) throws IOException
    {
        if (root == null || !Files.exists(root))
        {
            return;
        }
        try (Stream<Path> paths = Files.walk(root))
        {
            for (final Path path : paths.sorted(Comparator.reverseOrder()).toList())
            {
                Files.deleteIfExists(path);
            }
        }
    }
}
