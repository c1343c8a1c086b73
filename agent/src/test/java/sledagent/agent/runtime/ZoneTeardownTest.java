package sledagent.agent.runtime;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import sledagent.agent.metrics.Metrics;
import sledagent.agent.testing.TestZones;
import sledagent.agent.vmm.Cancellable;
import sledagent.hypervisor.PropolisClient;
import sledagent.zones.Zone;
import sledagent.zones.ZoneBackend;
import sledagent.zones.linux.CgroupZoneBackend;

/**
 * The kill ahead of the teardown, on a real cgroup zone with a real process: it kills at once on the caller's
 * thread only when nothing must come first (a last look, a start sequence still running).
 */
class ZoneTeardownTest
{
    private static final Duration BOUND = Duration.ofSeconds(5);

    @TempDir
    Path stateDir;
    private Path root;
    private CgroupZoneBackend zones;
    private PropolisClient client;
    private ZoneTeardown teardown;

    @BeforeEach
    void setUp()
    {
        root = TestZones.uniqueRoot();
        zones = new CgroupZoneBackend(root);
        client = new PropolisClient(Duration.ofSeconds(1));
        teardown = new ZoneTeardown(zones, client, new RuntimeSettings(stateDir, 1_000, 10_000, 1_000, 1_000,
            BOUND.toMillis(), addr -> List.of("true"), UUID.randomUUID(), null), new Metrics());
    }

    @AfterEach
    void tearDown() throws InterruptedException
    {
        client.close();
        zones.close();
        TestZones.removeAll(root);
    }

    private Zone zoneWithSleeper(final UUID propolisId)
    {
        final Zone zone = zones.create(ZoneBackend.ZONE_PREFIX + propolisId);
        // Only the pidfd is released here; the process lives on in the zone.
        zones.spawn(zone, List.of("sleep", "600"), stateDir.resolve(propolisId + ".log")).close();
        assertThat(zones.isEmpty(zone)).isFalse();
        return zone;
    }

    @Test
    void shouldKillAtOnceOnTheCallersThreadWhenNothingMustComeFirst() throws Exception
    {
        assertThat(zones.killsAtOnce()).as("cgroup.kill on this host").isTrue();
        final UUID id = UUID.randomUUID();
        final Zone zone = zoneWithSleeper(id);

        teardown.killAhead(id, null, Cancellable.NONE);

        assertThat(zones.awaitEmpty(zone, BOUND)).as("killed, no teardown run").isTrue();
        assertThat(Files.isDirectory(zone.path())).as("removal is the teardown's").isTrue();
    }

    @Test
    void shouldLeaveTheKillToTheTeardownWhenALastLookOrAStartComesFirst() throws Exception
    {
        final UUID looked = UUID.randomUUID();
        final Zone lookedZone = zoneWithSleeper(looked);
        teardown.killAhead(looked, "127.0.0.1:1", Cancellable.NONE);

        final UUID starting = UUID.randomUUID();
        final Zone startingZone = zoneWithSleeper(starting);
        teardown.killAhead(starting, null, new Cancellable()
        {
            @Override
            public void cancel()
            {
            }

            @Override
            public CompletableFuture<Void> finished()
            {
                return new CompletableFuture<>();
            }
        });

        assertThat(zones.awaitEmpty(lookedZone, Duration.ofMillis(300))).as("a last look comes first").isFalse();
        assertThat(zones.awaitEmpty(startingZone, Duration.ofMillis(300))).as("a start still running").isFalse();
    }
}
