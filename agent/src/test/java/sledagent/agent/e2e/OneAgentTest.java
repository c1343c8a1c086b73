package sledagent.agent.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import sledagent.agent.demo.AgentHttpClient;
import sledagent.agent.demo.ExampleBodies;
import sledagent.agent.persist.AgentId;
import sledagent.api.VmmState;
import sledagent.zones.Zone;
import sledagent.zones.ZoneProcess;
import sledagent.zones.linux.CgroupZoneBackend;

/**
 * Issue 10 item 4, with the agents as separate processes: a second agent on the same state directory or the
 * same zone root exits 2 naming the first one's pid and the path, and the first one's VMM is untouched; the
 * sweeper leaves zones marked by another agent alone and removes unmarked ones and its own.
 */
class OneAgentTest
{
    private static final Duration WAIT = Duration.ofSeconds(40);
    private static final Duration EXIT_WITHIN = Duration.ofSeconds(30);

    private ProcessAgents rig;

    @BeforeEach
    void setUp() throws Exception
    {
        rig = new ProcessAgents("one-agent");
    }

    @AfterEach
    void tearDown() throws Exception
    {
        rig.close();
    }

    @Test
    void shouldRefuseSecondAgentOnTheSameStateDirAndLeaveTheFirstOnesVmmAlone() throws Exception
    {
        final Path stateDir = rig.work().resolve("state");
        final AgentProcess first = start(stateDir, rig.zoneRoot("a"), "first.log");
        final UUID id = runVmm(first);
        final List<Long> pids = AgentProcess.zonePids(rig.zoneRoot("a"), id);

        final Path log = rig.work().resolve("second.log");
        final int status = AgentProcess.runToExit(rig.nexus().url(), stateDir, rig.zoneRoot("b"), log, EXIT_WITHIN);

        final String output = Files.readString(log, StandardCharsets.UTF_8);
        assertThat(status).as("second agent's exit status; log:\n%s", output).isEqualTo(2);
        assertThat(output).contains("pid " + first.pid()).contains(stateDir.toString());
        assertUntouched(first, rig.zoneRoot("a"), id, pids);
    }

    @Test
    void shouldRefuseSecondAgentOnTheSameZoneRootAndLeaveTheFirstOnesVmmAlone() throws Exception
    {
        final Path zoneRoot = rig.zoneRoot("a");
        final AgentProcess first = start(rig.work().resolve("state-1"), zoneRoot, "first.log");
        final UUID id = runVmm(first);
        final List<Long> pids = AgentProcess.zonePids(zoneRoot, id);

        final Path log = rig.work().resolve("second.log");
        final int status = AgentProcess.runToExit(rig.nexus().url(), rig.work().resolve("state-2"), zoneRoot, log,
            EXIT_WITHIN);

        final String output = Files.readString(log, StandardCharsets.UTF_8);
        assertThat(status).as("second agent's exit status; log:\n%s", output).isEqualTo(2);
        assertThat(output).contains("pid " + first.pid()).contains(zoneRoot.toString());
        assertUntouched(first, zoneRoot, id, pids);
    }

    @Test
    void shouldSweepUnmarkedAndOwnStrayZonesButNeverAnotherAgentsZone() throws Exception
    {
        final Path zoneRoot = rig.zoneRoot("a");
        final Path stateDir = Files.createDirectories(rig.work().resolve("state"));
        Files.writeString(stateDir.resolve(AgentId.FILE), "our-agent\n", StandardCharsets.US_ASCII);
        final String foreignName = "oxz_propolis-server_" + UUID.randomUUID();
        final String unmarkedName = "oxz_propolis-server_" + UUID.randomUUID();
        final String ownName = "oxz_propolis-server_" + UUID.randomUUID();
        try (CgroupZoneBackend setup = new CgroupZoneBackend(zoneRoot))
        {
            final Zone foreign = setup.create(foreignName);
            setup.markOwner(foreign, "another-agent");
            final Zone unmarked = setup.create(unmarkedName);
            final Zone own = setup.create(ownName);
            setup.markOwner(own, "our-agent");
            try (ZoneProcess foreignProcess = setup.spawn(foreign, List.of("sleep", "1000"), rig.work()
                .resolve("f.log"));
                 ZoneProcess unmarkedProcess = setup.spawn(unmarked, List.of("sleep", "1000"), rig.work()
                     .resolve("u.log"));
                 ZoneProcess ownProcess = setup.spawn(own, List.of("sleep", "1000"), rig.work().resolve("o.log")))
            {
                final AgentProcess agent = start(stateDir, zoneRoot, "agent.log", "--sweep-interval", "200ms");

                await().atMost(Duration.ofSeconds(10)).untilAsserted(() ->
                {
                    assertThat(zoneRoot.resolve(unmarkedName)).as("unmarked stray swept").doesNotExist();
                    assertThat(zoneRoot.resolve(ownName)).as("our own stray swept").doesNotExist();
                });
                assertThat(unmarkedProcess.isAlive()).isFalse();
                assertThat(ownProcess.isAlive()).isFalse();
                // Several sweeps (every 200 ms) go by: the other agent's zone and its process stay.
                await().during(Duration.ofMillis(1500)).atMost(Duration.ofSeconds(3)).failFast(() -> !agent.isAlive())
                    .until(() -> foreignProcess.isAlive() && Files.isDirectory(zoneRoot.resolve(foreignName)));
                assertThat(agent.logTail()).contains("belong to another agent");
            }
        }
    }

    private AgentProcess start(final Path stateDir, final Path zoneRoot, final String logName, final String... extra)
        throws Exception
    {
        return rig.start(stateDir, zoneRoot, "60s", logName, extra);
    }

    private UUID runVmm(final AgentProcess agent) throws Exception
    {
        final UUID id = UUID.randomUUID();
        final AgentHttpClient.Answer registered = agent.client.register(id,
            ExampleBodies.ensureBody(UUID.randomUUID(), AgentFixture.freeAddr(), 1));
        assertThat(registered.status()).as(registered.body()).isEqualTo(200);
        final AgentHttpClient.Answer run = agent.client.putState(id, "running");
        assertThat(run.status()).as(run.body()).isEqualTo(200);
        await().atMost(WAIT).pollInterval(Duration.ofMillis(10)).failFast("the agent exited", () -> !agent.isAlive())
            .until(() -> rig.nexus().received(id).stream().anyMatch(r -> r.state().vmmState()
                .state() == VmmState.RUNNING));
        return id;
    }

    /** The first agent still runs the very same VMM processes, reports running, and Nexus heard nothing else. */
    private void assertUntouched(final AgentProcess first, final Path zoneRoot, final UUID id, final List<Long> pids)
        throws Exception
    {
        assertThat(first.isAlive()).isTrue();
        assertThat(pids).isNotEmpty();
        assertThat(AgentProcess.zonePids(zoneRoot, id)).as("same processes in the zone").isEqualTo(pids);
        for (final long pid : pids)
        {
            assertThat(AgentProcess.running(pid)).as("pid %d runs", pid).isTrue();
        }
        final AgentHttpClient.Answer state = first.client.state(id);
        assertThat(AgentFixture.json(state.body()).at("/vmm_state/state").asText()).isEqualTo("running");
        assertThat(rig.nexus().received(id)).as("Nexus heard only the first agent's states")
            .allSatisfy(r -> assertThat(r.state().vmmState().state()).isIn(VmmState.STARTING, VmmState.RUNNING));
    }
}
