package sledagent.agent.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import sledagent.agent.config.AgentConfig;
import sledagent.agent.core.SledAgent;
import sledagent.agent.demo.AgentHttpClient;
import sledagent.agent.demo.ExampleBodies;
import sledagent.agent.demo.RecordingNexus;
import sledagent.agent.vmm.StoredVmm;
import sledagent.api.Json;
import sledagent.api.VmmState;
import sledagent.zones.linux.CgroupRoot;

/**
 * The state dir is a 256 KiB tmpfs, filled to the last page: a register or a run is refused with 507 and the
 * Error body naming the cause, nothing enters the table, and no record is left half-written or as a temporary
 * file; but a stop, a force-terminate and an unregister go ahead and are reported (issue 10: a kill never waits
 * on the disk). Once space is freed everything works again.
 */
class FullDiskTest
{
    private static final Duration WAIT = Duration.ofSeconds(30);

    private Path mountPoint;
    private boolean mounted;
    private Path zoneRoot;
    private RecordingNexus nexus;
    private SledAgent agent;
    private AgentHttpClient client;

    @BeforeEach
    void mountTinyStateDir() throws Exception
    {
        mountPoint = Files.createTempDirectory("sled-fulldisk");
        final Process mount = new ProcessBuilder("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs",
            mountPoint.toString()).redirectErrorStream(true).start();
        final boolean done = mount.waitFor(10, TimeUnit.SECONDS);
        final String output = new String(mount.getInputStream().readAllBytes());
        mounted = done && mount.exitValue() == 0;
        Assumptions.assumeTrue(mounted, () -> "cannot mount a tmpfs (need root): " + output);
        zoneRoot = CgroupRoot.agentCgroupDir().resolve("sledtest-" + UUID.randomUUID());
        nexus = new RecordingNexus();
        agent = SledAgent.launch(new AgentConfig(new InetSocketAddress("127.0.0.1", 0), List.of(nexus.url()),
            mountPoint, 60_000, zoneRoot, UUID.randomUUID(), AgentConfig.DEFAULT_START_TIMEOUT_MS));
        client = new AgentHttpClient(URI.create("http://127.0.0.1:" + agent.server().address().getPort()),
            Duration.ofSeconds(10));
    }

    @AfterEach
    void cleanUp() throws Exception
    {
        try
        {
            if (agent != null)
            {
                agent.close();
            }
        }
        finally
        {
            try
            {
                if (nexus != null)
                {
                    nexus.close();
                }
                if (zoneRoot != null)
                {
                    // Also kills the sims, which hold their logs on the tmpfs open.
                    AgentFixture.removeZones(zoneRoot);
                }
            }
            finally
            {
                unmount();
            }
        }
    }

    @Test
    void shouldRefuseWhatCanWaitWith507AndStillKillStopAndUnregisterWhenStateDirIsFull() throws Exception
    {
        final UUID registered = UUID.randomUUID();
        final UUID stopped = UUID.randomUUID();
        final UUID forced = UUID.randomUUID();
        assertThat(client.register(registered, body()).status()).isEqualTo(200);
        for (final UUID id : List.of(stopped, forced))
        {
            assertThat(client.register(id, body()).status()).isEqualTo(200);
            assertThat(client.putState(id, "running").status()).isEqualTo(200);
        }
        for (final UUID id : List.of(stopped, forced))
        {
            await().atMost(WAIT).pollInterval(Duration.ofMillis(10)).until(() -> nexus.received(id).stream()
                .anyMatch(r -> r.state().vmmState().state() == VmmState.RUNNING));
        }
        final JsonNode registeredBefore = state(registered);
        final long stoppedGen = state(stopped).at("/vmm_state/gen").asLong();
        final List<Long> stoppedPids = AgentProcess.zonePids(zoneRoot, stopped);
        final List<Long> forcedPids = AgentProcess.zonePids(zoneRoot, forced);
        assertThat(stoppedPids).isNotEmpty();
        assertThat(forcedPids).isNotEmpty();

        final Path filler = mountPoint.resolve("filler");
        final long filled = fill(filler);
        assertThat(filled).as("bytes written before ENOSPC").isPositive();
        assertThat(Files.getFileStore(mountPoint).getUsableSpace()).as("space left").isLessThan(4096);

        // Registers: 507 with the Error body naming the cause, not in the table.
        final List<UUID> refused = List.of(UUID.randomUUID(), UUID.randomUUID(), UUID.randomUUID());
        for (final UUID id : refused)
        {
            final AgentHttpClient.Answer answer = client.register(id, body());
            assertThat(answer.status()).as("register on a full disk: %s", answer.body()).isEqualTo(507);
            final JsonNode error = AgentFixture.json(answer.body());
            assertThat(error.hasNonNull("request_id")).as(answer.body()).isTrue();
            assertThat(error.path("message").asText()).as(answer.body()).contains("No space left on device");
            final AgentHttpClient.Answer get = client.state(id);
            assertThat(get.status()).as("a refused register leaves nothing in the table").isEqualTo(404);
            assertThat(AgentFixture.json(get.body()).path("error_code").asText()).isEqualTo("NO_SUCH_INSTANCE");
        }

        // A run can wait for the disk: 507, nothing applied, nothing spawned.
        final AgentHttpClient.Answer run = client.putState(registered, "running");
        assertThat(run.status()).as("run on a full disk: %s", run.body()).isEqualTo(507);
        assertThat(AgentFixture.json(run.body()).path("message").asText()).contains("No space left on device");
        assertThat(state(registered)).as("registered VMM unchanged").isEqualTo(registeredBefore);
        assertThat(nexus.received(registered)).isEmpty();

        // A stop, a force-terminate and an unregister cannot: each goes ahead and is reported.
        final AgentHttpClient.Answer stop = client.putState(stopped, "stopped");
        assertThat(stop.status()).as("stop on a full disk: %s", stop.body()).isEqualTo(200);
        assertThat(AgentFixture.json(stop.body()).at("/updated_runtime/vmm_state/state").asText())
            .isEqualTo("stopping");
        assertThat(AgentFixture.json(stop.body()).at("/updated_runtime/vmm_state/gen").asLong())
            .isEqualTo(stoppedGen + 1);
        final AgentHttpClient.Answer force = client.forceTerminate(forced);
        assertThat(force.status()).as("force-terminate on a full disk: %s", force.body()).isEqualTo(200);
        assertThat(AgentFixture.json(force.body()).at("/vmm_state/state").asText()).isEqualTo("destroyed");
        AgentFixture.assertGone(forcedPids);
        final AgentHttpClient.Answer delete = client.unregister(registered);
        assertThat(delete.status()).as("unregister on a full disk: %s", delete.body()).isEqualTo(200);

        for (final UUID id : List.of(stopped, forced))
        {
            await().atMost(WAIT).pollInterval(Duration.ofMillis(10)).until(() -> client.state(id).status() == 404);
            assertThat(nexus.received(id).stream().filter(r -> r.state().vmmState().state() == VmmState.DESTROYED))
                .as("destroyed published once for %s", id).hasSize(1);
            assertThat(AgentProcess.zoneDir(zoneRoot, id)).as("zone of %s removed", id).doesNotExist();
        }
        AgentFixture.assertGone(stoppedPids);
        assertThat(client.state(registered).status()).isEqualTo(404);
        assertRecordsWhole(Set.of());

        // Space again: everything works.
        Files.delete(filler);
        final UUID again = refused.get(0);
        final AgentHttpClient.Answer registerAgain = client.register(again, body());
        assertThat(registerAgain.status()).as(registerAgain.body()).isEqualTo(200);
        assertThat(client.state(again).status()).isEqualTo(200);
        assertRecordsWhole(Set.of(again));
    }

    /** Every file in vmms/ is a whole record, there is no temporary file, and the records are exactly {@code ids}. */
    private void assertRecordsWhole(final Set<UUID> ids) throws IOException
    {
        final Path dir = mountPoint.resolve("vmms");
        final List<Path> files;
        try (Stream<Path> list = Files.list(dir))
        {
            files = list.toList();
        }
        final List<String> names = files.stream().map(p -> p.getFileName().toString()).toList();
        assertThat(names).as("no temporary file left in %s", dir).noneMatch(n -> n.endsWith(".tmp"));
        final List<UUID> stored = new ArrayList<>();
        for (final Path file : files)
        {
            final StoredVmm record = Json.mapper().readValue(Files.readAllBytes(file), StoredVmm.class);
            assertThat(file.getFileName().toString()).isEqualTo(record.propolisId() + ".json");
            stored.add(record.propolisId());
        }
        assertThat(stored.stream().collect(Collectors.toSet())).as("records in %s: %s", dir, names).isEqualTo(ids);
    }

    /** Writes {@code file} until the file system is full; returns the bytes written. */
    private static long fill(final Path file) throws IOException
    {
        long written = 0;
        try (OutputStream out = Files.newOutputStream(file))
        {
            final byte[] page = new byte[4096];
            while (true)
            {
                try
                {
                    out.write(page);
                    written += page.length;
                }
                catch (final IOException full)
                {
                    break;
                }
            }
            // Top up the last partial page, byte by byte.
            while (true)
            {
                try
                {
                    out.write(0);
                    written++;
                }
                catch (final IOException full)
                {
                    break;
                }
            }
        }
        catch (final IOException closeFailed)
        {
            // close() may fail on a full file system too; the bytes are there.
        }
        return written;
    }

    private JsonNode state(final UUID id) throws Exception
    {
        final AgentHttpClient.Answer answer = client.state(id);
        assertThat(answer.status()).as("GET state of %s: %s", id, answer.body()).isEqualTo(200);
        return AgentFixture.json(answer.body());
    }

    private long lastGen(final UUID id)
    {
        final List<RecordingNexus.Received> received = nexus.received(id);
        return received.isEmpty() ? -1 : received.get(received.size() - 1).state().vmmState().gen();
    }

    private static String body() throws IOException
    {
        return ExampleBodies.ensureBody(UUID.randomUUID(), AgentFixture.freeAddr(), 1);
    }

    private void unmount() throws Exception
    {
        if (mounted)
        {
            // A sim just killed may still hold its log open for a moment.
            for (int attempt = 0; attempt < 50 && mounted; attempt++)
            {
                final Process umount = new ProcessBuilder("umount", mountPoint.toString()).redirectErrorStream(true)
                    .start();
                mounted = !(umount.waitFor(10, TimeUnit.SECONDS) && umount.exitValue() == 0);
                if (mounted)
                {
                    Thread.sleep(100);
                }
            }
            if (mounted)
            {
                new ProcessBuilder("umount", "-l", mountPoint.toString()).start().waitFor(10, TimeUnit.SECONDS);
                mounted = false;
            }
        }
        if (mountPoint != null)
        {
            Files.deleteIfExists(mountPoint);
        }
    }
}
