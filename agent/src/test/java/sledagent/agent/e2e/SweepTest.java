package sledagent.agent.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import sledagent.agent.config.AgentConfig;
import sledagent.agent.core.SledAgent;
import sledagent.zones.Zone;
import sledagent.zones.ZoneProcess;
import sledagent.zones.linux.CgroupRoot;
import sledagent.zones.linux.CgroupZoneBackend;

/**
 * A stray zone (a VMM cgroup holding a running process, left by an earlier agent) is gone within a few seconds
 * of the agent's start; a cgroup outside the agent's zone root, even one named like a zone, is never touched.
 */
class SweepTest
{
    @Test
    void shouldSweepStrayZoneAtStartAndNeverTouchCgroupsOutsideItsRoot() throws Exception
    {
        final Path base = CgroupRoot.agentCgroupDir().resolve("sledtest-" + UUID.randomUUID());
        final Path zoneRoot = base.resolve("agent");
        final Path outsideRoot = base.resolve("outside");
        final Path stateDir = Files.createTempDirectory("sled-agent-sweep");
        final String strayName = "oxz_propolis-server_" + UUID.randomUUID();
        try (CgroupZoneBackend setup = new CgroupZoneBackend(zoneRoot);
             CgroupZoneBackend outside = new CgroupZoneBackend(outsideRoot))
        {
            final Zone stray = setup.create(strayName);
            final ZoneProcess strayProcess = setup.spawn(stray, List.of("sh", "-c", "sleep 1000 & exec sleep 1000"),
                stateDir.resolve("stray.log"));
            final Zone bystander = outside.create(strayName);
            final ZoneProcess bystanderProcess = outside.spawn(bystander, List.of("sleep", "1000"),
                stateDir.resolve("bystander.log"));
            try
            {
                final long startNs = System.nanoTime();
                try (SledAgent agent = SledAgent.launch(new AgentConfig(new InetSocketAddress("127.0.0.1", 0),
                    List.of(), stateDir, 60_000, zoneRoot, UUID.randomUUID(), 10_000, "cgroup", 60_000)))
                {
                    await().atMost(Duration.ofSeconds(5)).until(() -> !Files.exists(zoneRoot.resolve(strayName)));
                    final long tookMs = (System.nanoTime() - startNs) / 1_000_000;
                    assertThat(tookMs).as("swept within a few seconds of start").isLessThan(5_000);
                    await().atMost(Duration.ofSeconds(5)).until(() -> !strayProcess.isAlive());
                    assertThat(agent.zones().list()).isEmpty();
                }
                assertThat(bystanderProcess.isAlive()).as("a process outside the agent's root lives on").isTrue();
                assertThat(outsideRoot.resolve(strayName)).isDirectory();
            }
            finally
            {
                strayProcess.close();
                bystanderProcess.close();
            }
        }
        finally
        {
            AgentFixture.removeZones(zoneRoot);
            AgentFixture.removeZones(outsideRoot);
            Files.deleteIfExists(base);
        }
    }
}
