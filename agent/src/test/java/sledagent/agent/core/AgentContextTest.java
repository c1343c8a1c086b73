package sledagent.agent.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.netty.util.HashedWheelTimer;
import io.netty.util.Timeout;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import sledagent.agent.config.AgentConfig;
import sledagent.agent.config.VmmChoice;
import sledagent.agent.demo.AgentHttpClient;
import sledagent.agent.demo.ExampleBodies;
import sledagent.agent.metrics.Metrics;
import sledagent.agent.vmm.StoredVmm;
import sledagent.agent.vmm.VmmStore;
import sledagent.api.InstanceEnsureBody;
import sledagent.api.Json;
import sledagent.hypervisor.qemu.BootSource;
import sledagent.hypervisor.qemu.ClassArchive;
import sledagent.hypervisor.qemu.PropolisQemuLauncher;
import sledagent.zones.ZoneBackend;
import sledagent.zones.fake.FakeZoneBackend;

/** {@link SledAgent#launch(AgentContext)}: given parts are used and stay the caller's; made parts are the agent's. */
class AgentContextTest
{
    private static final Instant FIXED = Instant.parse("2030-01-02T03:04:05Z");

    @TempDir
    Path stateDir;

    @Test
    void shouldUseGivenPartsAndLeaveThemOpen() throws Exception
    {
        final FakeZoneBackend zones = new FakeZoneBackend();
        final RecordingStore store = new RecordingStore();
        final Metrics metrics = new Metrics();
        final HashedWheelTimer timer = AgentContext.newTimer(Thread::new);
        try
        {
            final UUID id = UUID.randomUUID();
            try (SledAgent agent = SledAgent.launch(new AgentContext().config(config("auto"))
                .zones(zones).store(store).clock(Clock.fixed(FIXED, ZoneOffset.UTC)).metrics(metrics).timer(timer)))
            {
                assertThat(agent.zones()).isSameAs(zones);
                assertThat(agent.timer()).isSameAs(timer);
                assertThat(agent.manager().metrics()).isSameAs(metrics);

                agent.manager().register(id, Json.mapper().readerFor(InstanceEnsureBody.class)
                    .readValue(ExampleBodies.ensureBody(UUID.randomUUID(), "127.0.0.1:12400", 1)));

                assertThat(store.saved).as("the record went to the given store").anyMatch(v -> v.propolisId()
                    .equals(id));
                final AgentHttpClient client = new AgentHttpClient(URI.create("http://127.0.0.1:"
                    + agent.server().address().getPort()), Duration.ofSeconds(10));
                assertThat(client.putState(id, "stopped").status()).isEqualTo(200);
                // The next state is stamped by the given clock (the registered one carries the body's time).
                await().atMost(Duration.ofSeconds(10)).until(() -> store.saved.stream()
                    .anyMatch(v -> v.record(AgentConfig.DEFAULT_STOP_GRACE_MS).current().vmmState().timeUpdated()
                        .equals(FIXED)));
            }
            assertThat(zones.isClosed()).as("the caller's zones are not closed by the agent").isFalse();
            final Timeout timeout = timer.newTimeout(t -> { }, 1, TimeUnit.HOURS);
            assertThat(timeout.cancel()).as("the caller's timer still runs").isTrue();
        }
        finally
        {
            timer.stop();
            zones.close();
        }
    }

    @Test
    void shouldCloseWhatItMadeItself() throws Exception
    {
        final ZoneBackend made;
        final HashedWheelTimer timer;
        try (SledAgent agent = SledAgent.launch(config("fake")))
        {
            made = agent.zones();
            timer = agent.timer();
        }
        assertThat(((FakeZoneBackend)made).isClosed()).isTrue();
        assertThatThrownBy(() -> timer.newTimeout(t -> { }, 1, TimeUnit.HOURS))
            .isInstanceOf(IllegalStateException.class);
    }

    @Test
    void shouldConcludeOnceWithDefaultsAndRefuseChangesAfter()
    {
        assertThatThrownBy(() -> new AgentContext().conclude()).isInstanceOf(NullPointerException.class)
            .hasMessageContaining("config");

        final AgentContext context = new AgentContext().config(config("fake")).conclude();

        assertThat(context.clock()).isNotNull();
        assertThat(context.vmmCommand().apply("127.0.0.1:1")).isNotEmpty();
        assertThat(context.metrics()).isNotNull();
        assertThat(context.zones()).as("made by launch, not by conclude").isNull();
        assertThat(context.conclude()).isSameAs(context);
        assertThatThrownBy(() -> context.zones(new FakeZoneBackend())).isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(() -> context.clock(Clock.systemUTC())).isInstanceOf(IllegalStateException.class);
    }

    @Test
    void shouldLaunchPropolisQemuWithTheClassArchiveOnceItExistsAndNotTheSim() throws Exception
    {
        final AgentContext sim = new AgentContext().config(config("fake")).conclude();
        assertThat(sim.classArchive()).as("the sim is a test double: no archive").isNull();

        final AgentContext qemu = new AgentContext().config(config("fake").withVmm(VmmChoice.qemu(null, "tcg",
            new BootSource.Kernel(Path.of("/dev/null"), null, null)))).conclude();
        final ClassArchive archive = qemu.classArchive();
        assertThat(archive.file().getParent()).isEqualTo(stateDir.resolve(AgentContext.CLASS_ARCHIVE_DIR));
        assertThat(qemu.vmmCommand().apply("127.0.0.1:1")).noneMatch(arg -> arg.startsWith("-XX:SharedArchiveFile"));

        // Asked at each launch: a server started once the archive exists maps it.
        Files.createDirectories(archive.file().getParent());
        Files.writeString(archive.file(), "made by a training run");
        assertThat(qemu.vmmCommand().apply("127.0.0.1:1")).contains("-XX:SharedArchiveFile=" + archive.file());
    }

    @Test
    void shouldTrainTheClassArchiveInTheBackgroundAndStopTrainingWithTheAgent() throws Exception
    {
        final Path archiveDir = stateDir.resolve(AgentContext.CLASS_ARCHIVE_DIR);
        try (SledAgent agent = SledAgent.launch(config("fake").withVmm(VmmChoice.qemu(null, "tcg",
            new BootSource.Kernel(Path.of("/dev/null"), null, null)))))
        {
            // A training run started: its log is the first thing it writes.
            await().atMost(Duration.ofSeconds(30)).until(() -> Files.exists(archiveDir.resolve("training.log")));
        }
        // Closed: no trainee left (the build's leak check also looks for stray propolis-qemu JVMs).
        assertThat(ProcessHandle.current().descendants().filter(p -> p.info().commandLine().orElse("")
            .contains(PropolisQemuLauncher.MAIN_CLASS))).isEmpty();
    }

    private AgentConfig config(final String zoneBackend)
    {
        return new AgentConfig(new InetSocketAddress("127.0.0.1", 0), List.of(), stateDir,
            AgentConfig.DEFAULT_STOP_GRACE_MS, null, UUID.randomUUID(), AgentConfig.DEFAULT_START_TIMEOUT_MS,
            zoneBackend, AgentConfig.DEFAULT_SWEEP_INTERVAL_MS);
    }

    /** Keeps every record written, in order. */
    private static final class RecordingStore implements VmmStore
    {
        final List<StoredVmm> saved = new CopyOnWriteArrayList<>();

        @Override
        public void save(final StoredVmm vmm)
        {
            saved.add(vmm);
        }

        @Override
        public void delete(final UUID propolisId)
        {
        }

        @Override
        public List<StoredVmm> loadAll()
        {
            return List.of();
        }

        @Override
        public void forgetJournalledKillsBut(final Set<UUID> known)
        {
        }
    }
}
