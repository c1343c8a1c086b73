package sledagent.agent.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.extension.TestWatcher;
import sledagent.agent.config.VmmChoice;
import sledagent.agent.demo.AgentHttpClient;
import sledagent.agent.demo.ExampleBodies;
import sledagent.agent.demo.GuestSerial;
import sledagent.agent.demo.RecordingNexus;
import sledagent.agent.demo.TinyGuest;
import sledagent.agent.testing.TestGuests;
import sledagent.api.Json;
import sledagent.api.MigrationRuntimeState;
import sledagent.api.MigrationState;
import sledagent.api.SledVmmState;
import sledagent.api.VmmState;
import sledagent.hypervisor.qemu.BootSource;
import sledagent.hypervisor.qemu.PropolisQemuLauncher;

/**
 * Live migration of a real guest (propolis-qemu, QEMU under TCG, the ticking tiny guest) driven through the agent's
 * API exactly as Nexus drives it, a target killed mid-transfer, and the seed's hazard on real QEMU: a source
 * force-terminated around the moment its migration completes is reported {@code completed} (never
 * {@code failed}) whenever the target runs, and one force-terminated mid-transfer is reported {@code failed} with
 * the target failed too.
 *
 * <p>One guest boots once and is migrated along a chain of VMMs (at most two guests at once: source and target).
 * propolis-qemu runs with {@code --hold-switchover-ms}: each source holds at QEMU's {@code pre-switchover} (phase
 * Pause, guest paused) for {@link #HOLD_MS}, which gives the test a known moment just before completion, and
 * {@code --monitor-delay-ms}: the agent's monitor hears of each state {@link #MONITOR_DELAY_MS} after it is
 * published, so a force-terminate right after Finish lands before the agent has seen it (only its last look can).
 */
class RealGuestMigrationTest
{
    private static final Duration BOOT = Duration.ofSeconds(60);
    private static final Duration WAIT = Duration.ofSeconds(60);
    private static final int GUEST_MB = 192;
    private static final long HOLD_MS = 500;
    /** How long the agent's monitor learns of a new state after it is published (its last look is not held). */
    private static final long MONITOR_DELAY_MS = 300;
    private static final Pattern TICK = Pattern.compile("tick (\\d+)\r?\n");
    private static TinyGuest guest;

    private AgentFixture fixture;
    /** Where every propolis-qemu of the test keeps its VMs' sockets (one sub-directory per VMM). */
    private Path runDir;
    private final List<PropolisWatch> watches = new ArrayList<>();

    @BeforeAll
    static void buildGuest() throws Exception
    {
        guest = TestGuests.buildOrSkip();
    }

    /** On a failure, the Propolis servers' own logs (they go with the state dir). */
    @RegisterExtension
    final TestWatcher vmmLogsOnFailure = new TestWatcher()
    {
        @Override
        public void testFailed(final ExtensionContext context, final Throwable cause)
        {
            // Runs after @AfterEach, when the state dir is gone: the tails were kept by tearDown.
            System.err.println("VMM logs of the failed test:\n" + failedLogs);
        }
    };
    private String failedLogs = "";

    @AfterEach
    void tearDown() throws Exception
    {
        watches.forEach(PropolisWatch::stop);
        if (fixture != null)
        {
            failedLogs = fixture.vmmLogTails(40);
        }
        if (fixture != null)
        {
            fixture.close();
        }
        if (runDir != null)
        {
            try (var paths = Files.walk(runDir))
            {
                paths.sorted(java.util.Comparator.reverseOrder()).forEach(path -> path.toFile().delete());
            }
        }
    }

    @Test
    void aRealGuestMigratesAndAForceTerminatedSourceIsReportedAsItEnded() throws Exception
    {
        runDir = Files.createTempDirectory("pq-migration-");
        final List<String> template = new ArrayList<>(PropolisQemuLauncher.command(VmmChoice.LISTEN, null, "auto",
            new BootSource.Kernel(guest.vmlinux(), guest.initrd(), guest.append()), runDir));
        template.addAll(List.of("--hold-switchover-ms", Long.toString(HOLD_MS), "--monitor-delay-ms",
            Long.toString(MONITOR_DELAY_MS)));
        fixture = new AgentFixture(20_000, VmmChoice.command(template));
        final UUID instance = UUID.randomUUID();
        final Vmm source = runningGuest(instance);

        // 1. A plain migration: target running, source destroyed and its zone gone, both records completed.
        final Vmm first = migrate(instance, source);
        awaitVmm(first.id, s -> s.vmmState().state() == VmmState.RUNNING
            && migrationIs(s.migrationIn(), MigrationState.COMPLETED));
        awaitVmm(source.id, s -> s.vmmState().state() == VmmState.DESTROYED);
        assertThat(last(source.id).migrationOut().state()).isEqualTo(MigrationState.COMPLETED);
        assertThat(last(source.id).migrationOut().migrationId()).isEqualTo(first.migration);
        await().atMost(WAIT).until(() -> !Files.exists(fixture.zoneDir(source.id)));
        assertNeverFailed(source.id);
        assertNeverFailed(first.id);
        assertGenerationsRise(source.id);
        await().atMost(WAIT).until(() -> ticks(first.serial).size() > ticks(source.serial).size() + 1);
        assertContinuous(ticks(first.serial));

        // 2. The seed's hazard (b): the source force-terminated the moment its Propolis says Finish, before the
        //    agent's monitor has heard of it: the agent must report completed (its last look sees Finish, which also
        //    releases the target's go), and the target runs.
        final Vmm second = migrate(instance, first);
        first.watch.awaitPhase("Finish", WAIT);
        fixture.client.forceTerminate(first.id);
        awaitVmm(first.id, s -> s.vmmState().state() == VmmState.DESTROYED);
        assertThat(last(first.id).migrationOut().state()).as("source reported after a kill at Finish")
            .isEqualTo(MigrationState.COMPLETED);
        awaitVmm(second.id, s -> s.vmmState().state() == VmmState.RUNNING
            && migrationIs(s.migrationIn(), MigrationState.COMPLETED));
        assertNeverFailed(first.id);
        assertNeverFailed(second.id);

        // 3. Killed at several points around completion (before the hold ends, as it ends, and after):
        //    whatever the agent reports must be what happened: completed with the target running, or failed with
        //    the target failed.
        Vmm current = second;
        for (final long afterHoldMs : new long[] {-60, 0, 60})
        {
            final Vmm next = migrate(instance, current);
            current.watch.awaitPhase("Pause", WAIT);
            Thread.sleep(HOLD_MS + afterHoldMs);
            fixture.client.forceTerminate(current.id);
            final UUID killed = current.id;
            awaitVmm(killed, s -> s.vmmState().state() == VmmState.DESTROYED);
            awaitVmm(next.id, s -> s.vmmState().state() == VmmState.RUNNING || s.vmmState().state().isTerminal());
            final MigrationState reported = last(killed).migrationOut().state();
            final boolean targetRuns = states(next.id).contains(VmmState.RUNNING);
            System.out.println("kill " + afterHoldMs + " ms after the hold: source reported " + reported
                + ", target " + (targetRuns ? "runs" : "failed"));
            assertThat(reported).as("the source's migration_out, killed %d ms after the hold, while the target %s",
                afterHoldMs, targetRuns ? "runs" : "failed")
                .isEqualTo(targetRuns ? MigrationState.COMPLETED : MigrationState.FAILED);
            if (targetRuns)
            {
                awaitVmm(next.id, s -> migrationIs(s.migrationIn(), MigrationState.COMPLETED));
                assertNeverFailed(killed);
                assertNeverFailed(next.id);
                current = next;
            }
            else
            {
                assertThat(last(next.id).migrationIn().state()).isEqualTo(MigrationState.FAILED);
                // The guest is gone with its source: boot another for what follows.
                current = runningGuest(instance);
            }
        }

        // 4. The target killed mid-transfer (its propolis-qemu SIGKILLed while the source holds at Pause): the source
        //    runs on, ticking, with migration_out failed; the target is failed and nothing is left of it.
        final Vmm doomed = migrate(instance, current);
        current.watch.awaitPhase("Pause", WAIT);
        final List<Long> doomedPids = fixture.zonePids(doomed.id);
        final Vmm source4 = current;
        signalKill(pidOf(doomed.id, "java"));
        awaitVmm(doomed.id, s -> s.vmmState().state() == VmmState.FAILED);
        awaitVmm(source4.id, s -> migrationIs(s.migrationOut(), MigrationState.FAILED));
        assertThat(last(source4.id).vmmState().state()).isEqualTo(VmmState.RUNNING);
        assertThat(last(source4.id).migrationOut().migrationId()).isEqualTo(doomed.migration);
        final int ticksBefore = ticks(source4.serial).size();
        await().atMost(WAIT).until(() -> ticks(source4.serial).size() >= ticksBefore + 2);
        await().atMost(WAIT).until(() -> !Files.exists(fixture.zoneDir(doomed.id)));
        AgentFixture.assertGone(doomedPids);
        assertGenerationsRise(source4.id);

        // 5. The seed's hazard (a): force-terminated mid-transfer (held at Pause): failed, and the target fails.
        final Vmm lastTarget = migrate(instance, current);
        current.watch.awaitPhase("Pause", WAIT);
        final AgentHttpClient.Answer force = fixture.client.forceTerminate(current.id);
        assertThat(force.status()).as(force.body()).isEqualTo(200);
        assertThat(AgentFixture.json(force.body()).at("/migration_out/state").asText()).isEqualTo("failed");
        final UUID killed = current.id;
        awaitVmm(killed, s -> s.vmmState().state() == VmmState.DESTROYED);
        assertThat(last(killed).migrationOut().state()).isEqualTo(MigrationState.FAILED);
        awaitVmm(lastTarget.id, s -> s.vmmState().state() == VmmState.FAILED);
        assertThat(last(lastTarget.id).migrationIn().state()).isEqualTo(MigrationState.FAILED);
        assertThat(states(lastTarget.id)).doesNotContain(VmmState.RUNNING);
        await().atMost(WAIT).until(() -> fixture.client.state(lastTarget.id).status() == 404);
        await().atMost(WAIT).until(() -> !Files.exists(fixture.zoneDir(lastTarget.id)));
        assertGenerationsRise(killed);
        assertGenerationsRise(lastTarget.id);
    }

    // ---- helpers ----

    /** A VMM of the test: its id, its Propolis address, the migration that brought it, its Propolis watched. */
    private record Vmm(UUID id, String addr, UUID migration, GuestSerial serial, PropolisWatch watch)
    {
    }

    private Vmm register(final UUID instance, final UUID migration) throws Exception
    {
        final UUID id = UUID.randomUUID();
        final String addr = AgentFixture.freeAddr();
        final AgentHttpClient.Answer registered = fixture.client.register(id,
            ExampleBodies.ensureBody(instance, addr, 1, migration, GUEST_MB));
        assertThat(registered.status()).as(registered.body()).isEqualTo(200);
        final PropolisWatch watch = new PropolisWatch(addr);
        watches.add(watch);
        return new Vmm(id, addr, migration, new GuestSerial(addr), watch);
    }

    /** The zone's process whose command name starts with {@code comm} (unshare's and the JVM's argv name QEMU). */
    private long pidOf(final UUID id, final String comm) throws IOException
    {
        for (final long pid : fixture.zonePids(id))
        {
            try
            {
                if (Files.readString(Path.of("/proc", Long.toString(pid), "comm")).strip().startsWith(comm))
                {
                    return pid;
                }
            }
            catch (final IOException e)
            {
                // Gone meanwhile.
            }
        }
        throw new AssertionError("no " + comm + " in the zone of " + id + ": " + fixture.zonePids(id));
    }

    private static void signalKill(final long pid) throws Exception
    {
        final Process kill = new ProcessBuilder("kill", "-KILL", Long.toString(pid)).start();
        assertThat(kill.waitFor(5, java.util.concurrent.TimeUnit.SECONDS) && kill.exitValue() == 0).isTrue();
    }

    /** A VMM running the guest, a few ticks in. */
    private Vmm runningGuest(final UUID instance) throws Exception
    {
        final Vmm vmm = register(instance, null);
        assertThat(fixture.client.putState(vmm.id, "running").status()).isEqualTo(200);
        awaitVmm(vmm.id, s -> s.vmmState().state() == VmmState.RUNNING);
        await().atMost(BOOT).pollInterval(Duration.ofMillis(100)).until(() -> ticks(vmm.serial).size() >= 2);
        return vmm;
    }

    /** Registers a target and puts it in migration_target with the source's address, as Nexus does. */
    private Vmm migrate(final UUID instance, final Vmm source) throws Exception
    {
        final Vmm target = register(instance, UUID.randomUUID());
        final AgentHttpClient.Answer put = fixture.client.send("PUT", "/vmms/" + target.id + "/state",
            "{\"state\":{\"type\":\"migration_target\",\"value\":{\"src_propolis_addr\":\"" + source.addr + "\"}}}");
        assertThat(put.status()).as(put.body()).isEqualTo(200);
        return target;
    }

    private static List<Integer> ticks(final GuestSerial serial)
    {
        final List<Integer> ticks = new ArrayList<>();
        final Matcher matcher = TICK.matcher(serial.all());
        while (matcher.find())
        {
            ticks.add(Integer.parseInt(matcher.group(1)));
        }
        return ticks;
    }

    /** Every tick follows the one before: none lost, none repeated, across the migration. */
    private static void assertContinuous(final List<Integer> ticks)
    {
        for (int i = 1; i < ticks.size(); i++)
        {
            assertThat(ticks.get(i)).as("tick %d of %s", i, ticks).isEqualTo(ticks.get(i - 1) + 1);
        }
    }

    private static boolean migrationIs(final MigrationRuntimeState migration, final MigrationState state)
    {
        return migration != null && migration.state() == state;
    }

    private void awaitVmm(final UUID id, final Predicate<SledVmmState> condition)
    {
        await().atMost(WAIT).pollInterval(Duration.ofMillis(10)).until(() -> fixture.nexus.received(id).stream()
            .map(RecordingNexus.Received::state).anyMatch(condition));
    }

    private SledVmmState last(final UUID id)
    {
        final List<RecordingNexus.Received> received = fixture.nexus.received(id);
        return received.get(received.size() - 1).state();
    }

    private List<VmmState> states(final UUID id)
    {
        return fixture.nexus.received(id).stream().map(r -> r.state().vmmState().state()).toList();
    }

    private void assertNeverFailed(final UUID id)
    {
        for (final RecordingNexus.Received received : fixture.nexus.received(id))
        {
            for (final MigrationRuntimeState migration : new MigrationRuntimeState[] {
                received.state().migrationIn(), received.state().migrationOut()})
            {
                assertThat(migration == null || migration.state() != MigrationState.FAILED)
                    .as("%s published a failed migration: %s", id, received.state()).isTrue();
            }
            assertThat(received.state().vmmState().state()).isNotEqualTo(VmmState.FAILED);
        }
    }

    /** VMM generations rise by one per publish; a migration record's generation rises with each change. */
    private void assertGenerationsRise(final UUID id)
    {
        final List<RecordingNexus.Received> received = fixture.nexus.received(id);
        for (int i = 1; i < received.size(); i++)
        {
            final SledVmmState before = received.get(i - 1).state();
            final SledVmmState after = received.get(i).state();
            assertThat(after.vmmState().gen()).isEqualTo(before.vmmState().gen() + 1);
            for (final MigrationRuntimeState[] pair : new MigrationRuntimeState[][] {
                {before.migrationIn(), after.migrationIn()}, {before.migrationOut(), after.migrationOut()}})
            {
                if (pair[0] != null && pair[1] != null && pair[0].migrationId().equals(pair[1].migrationId())
                    && pair[0].state() != pair[1].state())
                {
                    assertThat(pair[1].gen()).isGreaterThan(pair[0].gen());
                }
            }
        }
    }

    /**
     * The migration_out phases of one Propolis server, from {@code GET /instance/migration-status} polled every few
     * ms on a thread of its own. Not the state-monitor: a long poll for the next generation tells propolis-qemu that
     * a watcher has seen the last one, which would let a migration complete without the agent having seen it.
     */
    private static final class PropolisWatch
    {
        private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
        private static final long POLL_MS = 3;
        private final List<String> phases = new CopyOnWriteArrayList<>();
        private final Thread thread;
        private volatile boolean stopped;

        PropolisWatch(final String addr)
        {
            thread = new Thread(() ->
            {
                while (!stopped)
                {
                    try
                    {
                        final HttpResponse<String> answer = HTTP.send(HttpRequest.newBuilder(
                                URI.create("http://" + addr + "/instance/migration-status"))
                            .timeout(Duration.ofSeconds(5)).header("api-version", "5.0.0").GET().build(),
                            HttpResponse.BodyHandlers.ofString());
                        if (answer.statusCode() == 200)
                        {
                            final String phase = Json.mapper().readTree(answer.body()).at("/migration_out/state")
                                .asText("");
                            if (!phase.isEmpty() && (phases.isEmpty() || !phases.get(phases.size() - 1).equals(phase)))
                            {
                                phases.add(phase);
                            }
                        }
                        Thread.sleep(POLL_MS);
                    }
                    catch (final IOException e)
                    {
                        sleepQuietly();
                    }
                    catch (final InterruptedException e)
                    {
                        return;
                    }
                }
            }, "watch-" + addr);
            thread.setDaemon(true);
            thread.start();
        }

        private static void sleepQuietly()
        {
            try
            {
                Thread.sleep(20);
            }
            catch (final InterruptedException e)
            {
                Thread.currentThread().interrupt();
            }
        }

        void awaitPhase(final String phase, final Duration atMost)
        {
            await().atMost(atMost).pollInterval(Duration.ofMillis(1)).until(() -> phases.contains(phase));
        }

        void stop()
        {
            stopped = true;
            thread.interrupt();
        }
    }
}
