package sledagent.agent.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import sledagent.agent.demo.AgentHttpClient;
import sledagent.agent.demo.ExampleBodies;
import sledagent.agent.demo.RecordingNexus;
import sledagent.api.VmmState;

/**
 * Issue 10 item 6, VMM logs: the agent (a separate process, checking every 200 ms) rotates a running VMM's log
 * once it passes {@code --vmm-log-max-size} (one old copy kept), never removes a running VMM's log however old,
 * and removes a gone VMM's logs once {@code --vmm-log-retention} has passed since their last write. Files that
 * are not VMM logs are left alone.
 */
class VmmLogCleanupTest
{
    private static final Duration WAIT = Duration.ofSeconds(40);
    private static final int MAX_BYTES = 64 * 1024;

    private ProcessAgents rig;

    @BeforeEach
    void setUp() throws Exception
    {
        rig = new ProcessAgents("vmm-logs");
    }

    @AfterEach
    void tearDown() throws Exception
    {
        rig.close();
    }

    @Test
    void shouldRotateRunningVmmsLogAndRemoveGoneVmmsLogsAfterRetention() throws Exception
    {
        final Path stateDir = rig.work().resolve("state");
        final RecordingNexus nexus = rig.nexus();
        final Path logs = Files.createDirectories(stateDir.resolve("logs"));
        final Path longGone = logs.resolve("oxz_propolis-server_" + UUID.randomUUID() + ".log");
        Files.writeString(longGone, "an earlier VMM\n");
        Files.setLastModifiedTime(longGone, FileTime.from(Instant.now().minus(Duration.ofHours(1))));
        final Path notALog = logs.resolve("notes.txt");
        Files.writeString(notALog, "operator's notes\n");
        Files.setLastModifiedTime(notALog, FileTime.from(Instant.now().minus(Duration.ofHours(1))));

        final AgentProcess agent = rig.start(stateDir, rig.zoneRoot(), "60s", "agent.log",
            "--sweep-interval", "200ms", "--vmm-log-retention", "2s", "--vmm-log-max-size", "64KiB");
        final UUID id = UUID.randomUUID();
        final AgentHttpClient.Answer registered = agent.client.register(id,
            ExampleBodies.ensureBody(UUID.randomUUID(), AgentFixture.freeAddr(), 1));
        assertThat(registered.status()).as(registered.body()).isEqualTo(200);
        assertThat(agent.client.putState(id, "running").status()).isEqualTo(200);
        await().atMost(WAIT).pollInterval(Duration.ofMillis(10)).failFast(() -> !agent.isAlive())
            .until(() -> nexus.received(id).stream().anyMatch(r -> r.state().vmmState().state() == VmmState.RUNNING));
        final Path log = logs.resolve("oxz_propolis-server_" + id + ".log");
        final Path oldCopy = logs.resolve("oxz_propolis-server_" + id + ".log.1");
        assertThat(log).exists();

        await().atMost(Duration.ofSeconds(10)).untilAsserted(() ->
            assertThat(longGone).as("a gone VMM's log, past retention").doesNotExist());

        // The VMM writes on and on (appending, as through its own O_APPEND descriptor).
        final byte[] line = ("x".repeat(1023) + "\n").getBytes();
        for (int i = 0; i < 3 * MAX_BYTES / line.length; i++)
        {
            Files.write(log, line, StandardOpenOption.APPEND);
        }
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() ->
        {
            assertThat(oldCopy).as("the older part kept once").exists();
            assertThat(Files.size(log)).as("log size after rotation").isLessThanOrEqualTo(MAX_BYTES);
        });
        assertThat(Files.size(oldCopy)).isGreaterThan(MAX_BYTES);

        // Old, but its VMM runs: kept.
        Files.setLastModifiedTime(log, FileTime.from(Instant.now().minus(Duration.ofHours(1))));
        await().during(Duration.ofSeconds(1)).atMost(Duration.ofSeconds(3)).until(() -> Files.exists(log));

        assertThat(agent.client.forceTerminate(id).status()).isBetween(200, 299);
        await().atMost(WAIT).pollInterval(Duration.ofMillis(10)).until(() -> agent.client.state(id).status() == 404);
        await().atMost(Duration.ofSeconds(15)).untilAsserted(() ->
        {
            assertThat(log).as("gone VMM's log after retention").doesNotExist();
            assertThat(oldCopy).as("and its old copy").doesNotExist();
        });
        assertThat(notALog).as("not a VMM log: left alone").exists();
    }
}
