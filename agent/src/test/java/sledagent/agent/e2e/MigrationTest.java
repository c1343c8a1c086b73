package sledagent.agent.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import sledagent.agent.demo.AgentHttpClient;
import sledagent.agent.demo.ExampleBodies;
import sledagent.agent.demo.RecordingNexus;
import sledagent.api.MigrationRuntimeState;
import sledagent.api.MigrationState;
import sledagent.api.SledVmmState;
import sledagent.api.VmmState;
import sledagent.hypervisor.sim.PropolisSimLauncher;

/**
 * Honest migrations between two real sims on this machine: the target pulls from the source over the sims' own
 * protocol, both report Propolis migration phases, and the agent publishes migration_in / migration_out with
 * their own generations. A migration seen completed is never reported failed; one in progress when its VMM is
 * killed is.
 */
class MigrationTest
{
    private static final Duration WAIT = Duration.ofSeconds(30);
    /** Slow enough phases to kill a VMM mid-migration; a rundown that lets a test act between Finish and Destroyed. */
    private static final long MIGRATE_STEP_MS = 300;
    private static final long RUNDOWN_MS = 3_000;

    private AgentFixture fixture;

    @BeforeEach
    void start() throws Exception
    {
        fixture = new AgentFixture(60_000, 10_000, addr ->
        {
            final List<String> argv = new ArrayList<>(PropolisSimLauncher.command(addr));
            argv.addAll(List.of("--migrate-step-ms", Long.toString(MIGRATE_STEP_MS),
                "--rundown-ms", Long.toString(RUNDOWN_MS)));
            return argv;
        });
    }

    @AfterEach
    void stop() throws Exception
    {
        fixture.close();
    }

    @Test
    void shouldMigrateAndReportCompletedOnBothSidesEvenWhenTheSourceIsForceTerminatedAfter() throws Exception
    {
        final UUID instance = UUID.randomUUID();
        final UUID source = UUID.randomUUID();
        final String sourceAddr = AgentFixture.freeAddr();
        runSource(instance, source, sourceAddr);

        final UUID target = UUID.randomUUID();
        final UUID migration = UUID.randomUUID();
        startTarget(instance, target, migration, sourceAddr);

        awaitVmm(target, s -> s.vmmState().state() == VmmState.RUNNING && migrationIs(s.migrationIn(),
            MigrationState.COMPLETED));
        awaitVmm(source, s -> migrationIs(s.migrationOut(), MigrationState.COMPLETED));
        // The source has finished migrating out but has not run down yet: kill it now.
        final AgentHttpClient.Answer force = fixture.client.forceTerminate(source);
        assertThat(force.status()).as(force.body()).isIn(200, 404, 410);
        awaitVmm(source, s -> s.vmmState().state() == VmmState.DESTROYED);

        final SledVmmState sourceFinal = last(source);
        assertThat(sourceFinal.migrationOut().migrationId()).isEqualTo(migration);
        assertThat(sourceFinal.migrationOut().state()).isEqualTo(MigrationState.COMPLETED);
        assertThat(last(target).migrationIn().migrationId()).isEqualTo(migration);
        assertNoMigrationEverFailed(source);
        assertNoMigrationEverFailed(target);
        assertGenerationsMonotonic(source);
        assertGenerationsMonotonic(target);

        assertThat(fixture.client.putState(target, "stopped").status()).isEqualTo(200);
        awaitVmm(target, s -> s.vmmState().state() == VmmState.DESTROYED);
    }

    @Test
    void shouldReportFailedMigrationWhenTheSourceIsKilledMidMigration() throws Exception
    {
        final UUID instance = UUID.randomUUID();
        final UUID source = UUID.randomUUID();
        final String sourceAddr = AgentFixture.freeAddr();
        runSource(instance, source, sourceAddr);

        final UUID target = UUID.randomUUID();
        final UUID migration = UUID.randomUUID();
        startTarget(instance, target, migration, sourceAddr);
        awaitVmm(source, s -> migrationIs(s.migrationOut(), MigrationState.IN_PROGRESS));

        final AgentHttpClient.Answer force = fixture.client.forceTerminate(source);
        assertThat(force.status()).as(force.body()).isEqualTo(200);
        assertThat(AgentFixture.json(force.body()).at("/migration_out/state").asText()).isEqualTo("failed");
        awaitVmm(source, s -> s.vmmState().state() == VmmState.DESTROYED);
        assertThat(last(source).migrationOut().state()).isEqualTo(MigrationState.FAILED);

        // The target loses its source: Propolis fails it, and the agent says so on both counts.
        awaitVmm(target, s -> s.vmmState().state() == VmmState.FAILED);
        assertThat(last(target).migrationIn().state()).isEqualTo(MigrationState.FAILED);
        assertGenerationsMonotonic(source);
        assertGenerationsMonotonic(target);
        await().atMost(WAIT).until(() -> fixture.client.state(target).status() == 404);
    }

    private void runSource(final UUID instance, final UUID source, final String sourceAddr) throws Exception
    {
        assertThat(fixture.client.register(source, ExampleBodies.ensureBody(instance, sourceAddr, 1)).status())
            .isEqualTo(200);
        assertThat(fixture.client.putState(source, "running").status()).isEqualTo(200);
        awaitVmm(source, s -> s.vmmState().state() == VmmState.RUNNING);
    }

    private void startTarget(final UUID instance, final UUID target, final UUID migration, final String sourceAddr)
        throws Exception
    {
        final AgentHttpClient.Answer registered = fixture.client.register(target,
            ExampleBodies.ensureBody(instance, AgentFixture.freeAddr(), 1, migration));
        assertThat(registered.status()).isEqualTo(200);
        assertThat(AgentFixture.json(registered.body()).at("/migration_in/state").asText()).isEqualTo("pending");
        final AgentHttpClient.Answer put = fixture.client.send("PUT", "/vmms/" + target + "/state",
            "{\"state\":{\"type\":\"migration_target\",\"value\":{\"src_propolis_addr\":\"" + sourceAddr + "\"}}}");
        assertThat(put.status()).as(put.body()).isEqualTo(200);
    }

    private static boolean migrationIs(final MigrationRuntimeState migration, final MigrationState state)
    {
        return migration != null && migration.state() == state;
    }

    private void awaitVmm(final UUID id, final java.util.function.Predicate<SledVmmState> condition)
    {
        await().atMost(WAIT).pollInterval(Duration.ofMillis(5)).until(() -> fixture.nexus.received(id).stream()
            .map(RecordingNexus.Received::state).anyMatch(condition));
    }

    private SledVmmState last(final UUID id)
    {
        final List<RecordingNexus.Received> received = fixture.nexus.received(id);
        return received.get(received.size() - 1).state();
    }

    private void assertNoMigrationEverFailed(final UUID id)
    {
        for (final RecordingNexus.Received received : fixture.nexus.received(id))
        {
            for (final MigrationRuntimeState migration : new MigrationRuntimeState[] {
                received.state().migrationIn(), received.state().migrationOut()})
            {
                assertThat(migration == null || migration.state() != MigrationState.FAILED)
                    .as("%s published a failed migration: %s", id, received.state()).isTrue();
            }
        }
    }

    /** VMM gens rise by exactly one; each migration side's gen never falls and rises with each change. */
    private void assertGenerationsMonotonic(final UUID id)
    {
        final List<RecordingNexus.Received> received = fixture.nexus.received(id);
        for (int i = 1; i < received.size(); i++)
        {
            final SledVmmState before = received.get(i - 1).state();
            final SledVmmState after = received.get(i).state();
            assertThat(after.vmmState().gen()).isEqualTo(before.vmmState().gen() + 1);
            assertMigrationGen(before.migrationIn(), after.migrationIn());
            assertMigrationGen(before.migrationOut(), after.migrationOut());
        }
    }

    private static void assertMigrationGen(final MigrationRuntimeState before, final MigrationRuntimeState after)
    {
        if (before == null || after == null || !before.migrationId().equals(after.migrationId()))
        {
            return;
        }
        assertThat(after.gen()).isGreaterThanOrEqualTo(before.gen());
        if (after.state() != before.state())
        {
            assertThat(after.gen()).isGreaterThan(before.gen());
        }
    }
}
