package sledagent.hypervisor.sim;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import org.assertj.core.api.ThrowableAssert.ThrowingCallable;
import org.junit.jupiter.api.Test;
import sledagent.api.propolis.InstanceEnsureRequest;
import sledagent.api.propolis.InstanceInitializationMethod;
import sledagent.api.propolis.InstanceMigrationStatus;
import sledagent.api.propolis.InstanceStateMonitorResponse;
import sledagent.api.propolis.PropolisInstanceState;
import sledagent.api.propolis.PropolisMigrationState;
import sledagent.hypervisor.server.PropolisRefusal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;
import static sledagent.api.propolis.PropolisInstanceState.Creating;
import static sledagent.api.propolis.PropolisInstanceState.Destroyed;
import static sledagent.api.propolis.PropolisInstanceState.Failed;
import static sledagent.api.propolis.PropolisInstanceState.Migrating;
import static sledagent.api.propolis.PropolisInstanceState.Running;
import static sledagent.api.propolis.PropolisInstanceState.Stopped;
import static sledagent.api.propolis.PropolisMigrationState.Device;
import static sledagent.api.propolis.PropolisMigrationState.Error;
import static sledagent.api.propolis.PropolisMigrationState.Finish;
import static sledagent.api.propolis.PropolisMigrationState.Pause;
import static sledagent.api.propolis.PropolisMigrationState.RamPull;
import static sledagent.api.propolis.PropolisMigrationState.RamPush;
import static sledagent.api.propolis.PropolisMigrationState.RamPushDirty;
import static sledagent.api.propolis.PropolisMigrationState.Resume;
import static sledagent.api.propolis.PropolisMigrationState.Sync;
import static sledagent.api.propolis.PropolisStateRequested.Reboot;
import static sledagent.api.propolis.PropolisStateRequested.Run;
import static sledagent.api.propolis.PropolisStateRequested.Stop;

/**
 * Live migration between two {@link SimVm}s wired by a {@link DirectLink}, on one virtual clock: every phase on both
 * sides, at the times the steps say, with no threads and no real time.
 */
class SimVmMigrationTest
{
    private static final long STEP = 10;
    private static final long MIGRATE_STEP = 10;
    private static final long RUNDOWN = 30;
    private static final String SOURCE = "10.0.0.1:12400";
    private static final String OTHER_SOURCE = "10.0.0.3:12400";
    private static final UUID MIGRATION = UUID.fromString("0f8b1d5e-3c3a-4e79-9a0a-6a2b3a5e7d21");
    private static final UUID SECOND = UUID.fromString("7c1f7b1a-0d2e-4c43-b1a6-7a0de3a5f1c2");

    private final VirtualStepper clock = new VirtualStepper();
    private final DirectLink link = new DirectLink();
    private final List<String> failures = new ArrayList<>();
    private final SimVm source = vm();
    private final Published sourceLog = new Published(source);

    @Test
    void shouldStepBothSidesThroughEveryPhaseAndRunDownTheSource() throws Exception
    {
        running(source);
        link.add(SOURCE, source);
        final SimVm target = vm();
        final Published targetLog = new Published(target);
        final long t0 = clock.now();

        assertThat(target.ensure(targetRequest(MIGRATION, SOURCE)).migrate().migrationId()).isEqualTo(MIGRATION);
        clock.advance(200);

        // The target: gen 1 at ensure, then one phase per step, each once the source is far enough along.
        assertThat(targetLog.entries()).containsExactly(
            entry(t0, 1, Migrating, in(Sync)),
            entry(t0 + 10, 2, Migrating, in(RamPull)),
            entry(t0 + 40, 3, Migrating, in(Device)),
            entry(t0 + 50, 4, Migrating, in(Resume)),
            entry(t0 + 60, 5, Running, in(Finish)));
        // The source: its own phases up to Device, Finish on the target's call, Destroyed a rundown later.
        assertThat(sourceLog.entriesAfter(3)).containsExactly(
            entry(t0, 4, Migrating, out(Sync)),
            entry(t0 + 10, 5, Migrating, out(RamPush)),
            entry(t0 + 20, 6, Migrating, out(Pause)),
            entry(t0 + 30, 7, Migrating, out(RamPushDirty)),
            entry(t0 + 40, 8, Migrating, out(Device)),
            entry(t0 + 60, 9, Migrating, out(Finish)),
            entry(t0 + 60 + RUNDOWN, 10, Destroyed, out(Finish)));
        assertThat(target.migrations()).isEqualTo(1);
        assertThat(target.migrationStatus().migrationIn()).isEqualTo(new InstanceMigrationStatus(MIGRATION, Finish));
        assertThat(source.migrationStatus().migrationOut()).isEqualTo(new InstanceMigrationStatus(MIGRATION, Finish));
        assertRefused(() -> source.awaitGeneration(11), 410, "NoInstance");
        // The guest runs on the target now: it takes requests like any running VM.
        target.request(Reboot);
        clock.advance(STEP);
        assertThat(target.latest().state()).isEqualTo(Running);
        assertThat(target.latest().migration().migrationIn().state()).isEqualTo(Finish);
    }

    @Test
    void shouldFailPartWayUnderFailMigrationAndThenMigrateOnceItIsCleared() throws Exception
    {
        running(source);
        link.add(SOURCE, source);
        source.fault(SimFault.FAIL_MIGRATION);
        final SimVm target = vm();
        final Published targetLog = new Published(target);

        target.ensure(targetRequest(MIGRATION, SOURCE));
        clock.advance(200);

        assertThat(sourceLog.statesAfter(3)).containsExactly(
            state(Migrating, out(Sync)), state(Migrating, out(RamPush)), state(Migrating, out(Pause)),
            state(Running, out(Error)));
        assertThat(targetLog.states()).containsExactly(
            state(Migrating, in(Sync)), state(Migrating, in(RamPull)), state(Failed, in(Error)));
        assertThat(failures).containsExactly(
            "migration out " + MIGRATION + " failed: fault fail_migration",
            "migration in " + MIGRATION + " from " + SOURCE + " failed: the source failed the migration");
        assertRefused(() -> target.awaitGeneration(4), 410, "NoInstance");

        // The source runs on, and may migrate out again.
        source.fault(SimFault.NONE);
        final SimVm second = vm();
        second.ensure(targetRequest(SECOND, SOURCE));
        clock.advance(200);
        assertThat(second.latest().state()).isEqualTo(Running);
        assertThat(source.latest().state()).isEqualTo(Destroyed);
        assertThat(source.latest().migration().migrationOut()).isEqualTo(new InstanceMigrationStatus(SECOND, Finish));
    }

    @Test
    void shouldFailTheTargetWhenTheSourceIsNotRunningOrNotThere() throws Exception
    {
        source.ensure(SimVmTest.ensureRequest("vm"));
        link.add(SOURCE, source);
        final SimVm target = vm();

        target.ensure(targetRequest(MIGRATION, SOURCE));
        clock.runDue();

        assertThat(target.latest()).isEqualTo(monitor(2, Failed, in(Error)));
        assertThat(source.latest()).isEqualTo(monitor(1, Creating, InstanceMigrationStatusPair.NONE));
        assertForbidden(() -> source.migrateOutStart(SECOND, MIGRATE_STEP), "Operation requires an active instance");
        source.request(Run);
        assertForbidden(() -> source.migrateOutStart(SECOND, MIGRATE_STEP), "Instance is currently starting");

        final SimVm orphan = vm();
        orphan.ensure(targetRequest(SECOND, OTHER_SOURCE));
        assertThat(orphan.latest()).isEqualTo(monitor(2, Failed, new InstanceMigrationStatusPair(
            new InstanceMigrationStatus(SECOND, Error), null)));
    }

    @Test
    void shouldRefuseASecondMigrationOutWhileOneIsUnderWay() throws Exception
    {
        running(source);
        link.add(SOURCE, source);
        final SimVm first = vm();
        final SimVm second = vm();

        first.ensure(targetRequest(MIGRATION, SOURCE));
        clock.advance(MIGRATE_STEP);
        second.ensure(targetRequest(SECOND, SOURCE));

        assertThat(second.latest()).isEqualTo(monitor(2, Failed, new InstanceMigrationStatusPair(
            new InstanceMigrationStatus(SECOND, Error), null)));
        assertForbidden(() -> source.migrateOutStart(SECOND, MIGRATE_STEP), "Instance is already a migration source");
        assertRefused(() -> source.migrateOutPoll(SECOND, Sync), 404, "NoSuchMigration");
        clock.advance(200);
        assertThat(first.latest().state()).isEqualTo(Running);
        assertThat(source.latest().migration().migrationOut()).isEqualTo(new InstanceMigrationStatus(MIGRATION, Finish));
    }

    @Test
    void shouldApplyTheRequestQueueToAMigrationSource() throws Exception
    {
        running(source);
        link.add(SOURCE, source);
        final SimVm target = vm();
        target.ensure(targetRequest(MIGRATION, SOURCE));
        clock.advance(MIGRATE_STEP);
        final long gen = source.latest().gen();

        assertForbidden(() -> source.request(Stop), "Operation cannot be performed on a migration source");
        assertForbidden(() -> source.request(Reboot), "Operation cannot be performed on a migration source");
        source.request(Run);
        assertThat(source.latest().gen()).isEqualTo(gen);

        // Finished, running down: a Stop is moot, anything else is too late.
        clock.advance(5 * MIGRATE_STEP);
        assertThat(source.latest()).extracting(InstanceStateMonitorResponse::state).isEqualTo(Migrating);
        assertThat(source.latest().migration().migrationOut().state()).isEqualTo(Finish);
        final long finishGen = source.latest().gen();
        source.request(Stop);
        assertForbidden(() -> source.request(Run), "Instance has migrated out and is being torn down");
        assertForbidden(() -> source.migrateOutStart(SECOND, MIGRATE_STEP),
            "Instance has migrated out and is being torn down");
        assertThat(source.migrateOutFinish(MIGRATION).phase()).isEqualTo(Finish);
        assertThat(source.latest().gen()).isEqualTo(finishGen);
        clock.advance(RUNDOWN);
        assertThat(source.latest()).isEqualTo(monitor(finishGen + 1, Destroyed, out(Finish)));
        source.request(Stop);
        assertForbidden(() -> source.request(Run), "Instance has migrated out and is being torn down");
    }

    @Test
    void shouldFailTheTargetWhenTheSourceVanishesMidMigration() throws Exception
    {
        running(source);
        link.add(SOURCE, source);
        final SimVm target = vm();
        target.ensure(targetRequest(MIGRATION, SOURCE));
        clock.advance(2 * MIGRATE_STEP);
        assertThat(target.latest().migration().migrationIn().state()).isEqualTo(RamPull);

        // The target waits on a poll for the source to leave Pause; the source is killed.
        link.cut(SOURCE);

        assertThat(target.latest()).isEqualTo(monitor(3, Failed, in(Error)));
        assertThat(failures).singleElement().asString().endsWith("poll failed: java.io.IOException: connection reset");
    }

    @Test
    void shouldResumeTheSourceWhenTheTargetFallsSilent() throws Exception
    {
        running(source);
        link.add(SOURCE, source);
        final SimVm target = vm();
        target.ensure(targetRequest(MIGRATION, SOURCE));
        clock.advance(MIGRATE_STEP);

        // Stopping the target ends its migration in (Error); it never calls the source again.
        target.request(Stop);
        assertThat(target.latest()).isEqualTo(monitor(3, Stopped, in(Error)));
        clock.advance(STEP);
        assertThat(target.latest()).isEqualTo(monitor(4, Destroyed, in(Error)));

        final long silentMs = SimMigration.contactTimeoutMs(MIGRATE_STEP);
        clock.advance(silentMs - 2 * MIGRATE_STEP);
        assertThat(source.latest()).isEqualTo(monitor(source.latest().gen(), Migrating, out(Device)));
        clock.advance(2 * MIGRATE_STEP);
        assertThat(source.latest().state()).isEqualTo(Running);
        assertThat(source.latest().migration().migrationOut()).isEqualTo(new InstanceMigrationStatus(MIGRATION, Error));
        assertThat(failures).containsExactly(
            "migration out " + MIGRATION + " failed: no call from the target for " + silentMs + " ms");
    }

    @Test
    void shouldFailTheTargetOnAGuestStateThatDoesNotMatchItsChecksum() throws Exception
    {
        running(source);
        link.add(SOURCE, source);
        link.tamper(report -> report.state() == null ? report : new SimMigration.Report(report.migrationId(),
            report.phase(), new SimMigration.Payload(report.state().properties(), report.state().spec(),
                report.state().migrations() + 1, report.state().checksum())));
        final SimVm target = vm();

        target.ensure(targetRequest(MIGRATION, SOURCE));
        clock.advance(200);

        assertThat(target.latest()).isEqualTo(monitor(3, Failed, in(Error)));
        assertThat(failures).first().asString().endsWith("the guest state from the source does not match its checksum");
    }

    @Test
    void shouldMigrateAMigratedGuestOnward() throws Exception
    {
        running(source);
        link.add(SOURCE, source);
        final SimVm middle = vm();
        middle.ensure(targetRequest(MIGRATION, SOURCE));
        clock.advance(200);
        link.add(OTHER_SOURCE, middle);
        final SimVm last = vm();

        last.ensure(targetRequest(SECOND, OTHER_SOURCE));
        clock.advance(200);

        assertThat(last.latest()).isEqualTo(monitor(5, Running, new InstanceMigrationStatusPair(
            new InstanceMigrationStatus(SECOND, Finish), null)));
        assertThat(last.migrations()).isEqualTo(2);
        // The middle VM keeps its migration in next to its migration out.
        assertThat(middle.latest()).isEqualTo(monitor(12, Destroyed, new InstanceMigrationStatusPair(
            new InstanceMigrationStatus(MIGRATION, Finish), new InstanceMigrationStatus(SECOND, Finish))));
    }

    @Test
    void shouldHoldAPollForItsWindowAndThenAnswerWithTheSamePhase() throws Exception
    {
        running(source);
        source.migrateOutStart(MIGRATION, MIGRATE_STEP);
        clock.advance(4 * MIGRATE_STEP);

        final CompletableFuture<SimMigration.Report> poll = source.migrateOutPoll(MIGRATION, Device);

        clock.advance(SimMigration.POLL_WINDOW_MS - 1);
        assertThat(poll).isNotDone();
        clock.advance(1);
        assertThat(poll.getNow(null).phase()).isEqualTo(Device);
        assertThat(poll.getNow(null).state().intact()).isTrue();
        assertThat(source.migrateOutPoll(MIGRATION, Sync).getNow(null).phase()).isEqualTo(Device);
        assertRefused(() -> source.migrateOutFinish(SECOND), 404, "NoSuchMigration");
    }

    @Test
    void shouldRefuseFinishBeforeDeviceAndAfterAFailure() throws Exception
    {
        running(source);
        source.migrateOutStart(MIGRATION, MIGRATE_STEP);

        assertRefused(() -> source.migrateOutFinish(MIGRATION), 409, "MigrationNotReady");
        source.fault(SimFault.FAIL_MIGRATION);
        clock.advance(3 * MIGRATE_STEP);
        assertThat(source.latest().state()).isEqualTo(Running);
        assertRefused(() -> source.migrateOutFinish(MIGRATION), 409, "MigrationFailed");
    }

    // ---- helpers ----

    private SimVm vm()
    {
        final SimVm vm = new SimVm(clock, STEP, MIGRATE_STEP, RUNDOWN, link);
        vm.logTo(failures::add);
        return vm;
    }

    private void running(final SimVm vm) throws Exception
    {
        vm.ensure(SimVmTest.ensureRequest("vm"));
        vm.request(Run);
        clock.advance(STEP);
        assertThat(vm.latest().state()).isEqualTo(Running);
    }

    private static InstanceEnsureRequest targetRequest(final UUID migrationId, final String srcAddr)
    {
        return new InstanceEnsureRequest(SimVmTest.ensureRequest("vm").properties(),
            new InstanceInitializationMethod.MigrationTarget(new InstanceInitializationMethod.MigrationTargetValue(
                migrationId, Map.of(), srcAddr)));
    }

    private static InstanceMigrationStatusPair in(final PropolisMigrationState phase)
    {
        return new InstanceMigrationStatusPair(new InstanceMigrationStatus(MIGRATION, phase), null);
    }

    private static InstanceMigrationStatusPair out(final PropolisMigrationState phase)
    {
        return new InstanceMigrationStatusPair(null, new InstanceMigrationStatus(MIGRATION, phase));
    }

    private static InstanceStateMonitorResponse monitor(final long gen, final PropolisInstanceState state,
        final InstanceMigrationStatusPair migration)
    {
        return new InstanceStateMonitorResponse(gen, state, migration.toResponse());
    }

    private static Entry entry(final long at, final long gen, final PropolisInstanceState state,
        final InstanceMigrationStatusPair migration)
    {
        return new Entry(at, monitor(gen, state, migration));
    }

    private static State state(final PropolisInstanceState state, final InstanceMigrationStatusPair migration)
    {
        return new State(state, migration.toResponse());
    }

    private static void assertForbidden(final ThrowingCallable call, final String reason)
    {
        final PropolisRefusal refusal = catchThrowableOfType(PropolisRefusal.class, call);
        assertThat(refusal).isNotNull();
        assertThat(refusal.statusCode()).isEqualTo(403);
        assertThat(refusal.errorCode()).isEqualTo("instance state change not allowed: " + reason);
    }

    private static void assertRefused(final ThrowingCallable call, final int status, final String errorCode)
    {
        final PropolisRefusal refusal = catchThrowableOfType(PropolisRefusal.class, call);
        assertThat(refusal).isNotNull();
        assertThat(refusal.statusCode()).isEqualTo(status);
        assertThat(refusal.errorCode()).isEqualTo(errorCode);
    }

    /** migration_in and migration_out, spelled briefly. */
    private record InstanceMigrationStatusPair(InstanceMigrationStatus in, InstanceMigrationStatus out)
    {
        static final InstanceMigrationStatusPair NONE = new InstanceMigrationStatusPair(null, null);

        sledagent.api.propolis.InstanceMigrateStatusResponse toResponse()
        {
            return new sledagent.api.propolis.InstanceMigrateStatusResponse(in, out);
        }
    }

    private record Entry(long at, InstanceStateMonitorResponse published)
    {
    }

    private record State(PropolisInstanceState state, sledagent.api.propolis.InstanceMigrateStatusResponse migration)
    {
    }

    /** Every state a VM publishes, with the virtual time it was published at. */
    private final class Published
    {
        private final List<Entry> entries = new ArrayList<>();

        Published(final SimVm vm)
        {
            vm.observe(published -> entries.add(new Entry(clock.now(), published)));
        }

        List<Entry> entries()
        {
            return entries;
        }

        List<Entry> entriesAfter(final long gen)
        {
            return entries.stream().filter(entry -> entry.published().gen() > gen).toList();
        }

        List<State> states()
        {
            return entries.stream().map(entry -> new State(entry.published().state(),
                entry.published().migration())).toList();
        }

        List<State> statesAfter(final long gen)
        {
            return entriesAfter(gen).stream().map(entry -> new State(entry.published().state(),
                entry.published().migration())).toList();
        }
    }
}
