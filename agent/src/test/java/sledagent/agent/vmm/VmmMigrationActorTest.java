package sledagent.agent.vmm;

import static org.assertj.core.api.Assertions.assertThat;
import static sledagent.agent.vmm.LifecycleFixtures.MIGRATION_SOURCE_ADDR;
import static sledagent.agent.vmm.LifecycleFixtures.PROPOLIS_ADDR;
import static sledagent.agent.vmm.LifecycleFixtures.REGISTERED_GEN;
import static sledagent.agent.vmm.LifecycleFixtures.body;
import static sledagent.agent.vmm.LifecycleFixtures.lastLook;
import static sledagent.agent.vmm.LifecycleFixtures.migrationTarget;
import static sledagent.agent.vmm.LifecycleFixtures.observed;
import static sledagent.agent.vmm.LifecycleFixtures.status;

import java.time.Duration;
import java.time.Instant;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import sledagent.api.MigrationRuntimeState;
import sledagent.api.MigrationState;
import sledagent.api.SledVmmState;
import sledagent.api.VmmPutStateResponse;
import sledagent.api.VmmState;
import sledagent.api.VmmUnregisterResponse;
import sledagent.api.propolis.PropolisInstanceState;
import sledagent.api.propolis.PropolisMigrationState;

/**
 * Migration through a real {@link VmmActor} and {@link VmmManager}: the source address reaches the driver's start,
 * the last look is asked of the VMM's own Propolis (and only when it is worth it), and its answer is published.
 * Hand-stepped executor, hand-moved clock, recording driver; single-threaded.
 */
class VmmMigrationActorTest
{
    private static final Instant T0 = Instant.parse("2026-11-24T01:00:00Z");
    private static final Reply OK_NULL = new Reply.Ok(new VmmPutStateResponse(null));

    private final UUID propolisId = UUID.randomUUID();
    private final UUID instanceId = UUID.randomUUID();
    private final UUID inId = UUID.randomUUID();
    private final UUID outId = UUID.randomUUID();
    private FakeExecutor executor;
    private FakeClock clock;
    private FakeVmmDriver driver;
    private VmmManager manager;

    @BeforeEach
    void setUp()
    {
        executor = new FakeExecutor();
        clock = new FakeClock(T0);
        driver = new FakeVmmDriver();
        manager = new VmmManager(new ConcurrentVmmTable(), executor, driver, clock);
    }

    private SledVmmState register(final UUID migrationId)
    {
        final Reply reply = manager.register(propolisId, body(instanceId, REGISTERED_GEN, migrationId));
        assertThat(reply).isInstanceOf(Reply.Ok.class);
        return (SledVmmState)((Reply.Ok)reply).body();
    }

    private Reply call(final Event event)
    {
        final CompletableFuture<Reply> reply = manager.request(propolisId, event);
        executor.runAll();
        assertThat(reply).as("reply to %s", event).isDone();
        return reply.join();
    }

    private void deliver(final Consumer<Event> post, final Event event)
    {
        clock.advance(Duration.ofMillis(250));
        post.accept(event);
        executor.runAll();
    }

    /** A plain VMM running, then migrating out ({@link #outId}, in_progress): two publishes so far. */
    private void bringToMigratingOut()
    {
        register(null);
        assertThat(call(new Event.RunRequested())).isEqualTo(OK_NULL);
        assertThat(driver.lastStart().migrationSourceAddr()).isNull();
        deliver(driver.lastStart().post(), new Event.VmmStarted());
        deliver(driver.lastWatch().post(), observed(1, PropolisInstanceState.Running));
        deliver(driver.lastWatch().post(), observed(2, PropolisInstanceState.Migrating, null,
            status(outId, PropolisMigrationState.Sync)));
        assertThat(driver.publishes).hasSize(2);
        assertThat(driver.lastPublish().state().migrationOut().state()).isEqualTo(MigrationState.IN_PROGRESS);
    }

    @Test
    void aMigrationTargetStartsPullingFromTheSourceAndPublishesItsProgress()
    {
        final SledVmmState registered = register(inId);
        assertThat(registered.vmmState().state()).isEqualTo(VmmState.MIGRATING);
        assertThat(registered.migrationIn()).isEqualTo(new MigrationRuntimeState(inId, MigrationState.PENDING, 1,
            T0));

        assertThat(call(migrationTarget())).isEqualTo(OK_NULL);
        assertThat(driver.starts).hasSize(1);
        assertThat(driver.lastStart().migrationSourceAddr()).isEqualTo(MIGRATION_SOURCE_ADDR);
        // Again while starting: accepted, nothing started twice.
        assertThat(call(migrationTarget())).isEqualTo(OK_NULL);
        assertThat(driver.starts).hasSize(1);

        deliver(driver.lastStart().post(), new Event.VmmStarted());
        deliver(driver.lastWatch().post(), observed(1, PropolisInstanceState.Migrating,
            status(inId, PropolisMigrationState.Sync), null));
        deliver(driver.lastWatch().post(), observed(2, PropolisInstanceState.Running,
            status(inId, PropolisMigrationState.Finish), null));
        assertThat(driver.publishedStates()).extracting(s -> s.migrationIn().state())
            .containsExactly(MigrationState.IN_PROGRESS, MigrationState.COMPLETED);
        assertThat(driver.publishedStates()).extracting(s -> s.migrationIn().gen()).containsExactly(2L, 3L);
        assertThat(driver.publishedStates()).extracting(s -> s.vmmState().gen())
            .containsExactly(REGISTERED_GEN + 1, REGISTERED_GEN + 2);
        assertThat(manager.state(propolisId)).isEqualTo(driver.lastPublish().state());

        // Active now: another migration_target is a conflict.
        final Reply again = call(migrationTarget());
        assertThat(again).isInstanceOf(Reply.Failed.class);
        assertThat(((Reply.Failed)again).error().status()).isEqualTo(409);
    }

    @Test
    void aMigrationTargetRequestForAVmmRegisteredWithoutMigrationIdIsAConflict()
    {
        register(null);
        final Reply reply = call(migrationTarget());
        assertThat(reply).isInstanceOf(Reply.Failed.class);
        assertThat(((Reply.Failed)reply).error().status()).isEqualTo(409);
        assertThat(driver.starts).isEmpty();
    }

    @Test
    void forceTerminateOfAMigratingSourceTakesALastLookThatSavesTheCompletedMigration()
    {
        bringToMigratingOut();
        final CompletableFuture<Reply> kill = manager.request(propolisId, new Event.ForceTerminateRequested());
        executor.runAll();
        assertThat(kill).isNotDone();
        assertThat(driver.tearDowns).hasSize(1);
        assertThat(driver.lastTearDown().lastLookAddr()).isEqualTo(PROPOLIS_ADDR);

        // The last look finds the migration finished: published at once.
        deliver(driver.lastTearDown().post(), lastLook(null, status(outId, PropolisMigrationState.Finish)));
        assertThat(driver.publishes).hasSize(3);
        final SledVmmState completed = driver.lastPublish().state();
        assertThat(completed.migrationOut()).isEqualTo(new MigrationRuntimeState(outId, MigrationState.COMPLETED, 3,
            clock.instant()));
        assertThat(completed.vmmState().state()).isEqualTo(VmmState.MIGRATING);
        assertThat(kill).isNotDone();

        deliver(driver.lastTearDown().post(), new Event.ZoneTornDown());
        final Reply reply = kill.join();
        assertThat(reply).isInstanceOf(Reply.Ok.class);
        final SledVmmState destroyed = (SledVmmState)((Reply.Ok)reply).body();
        assertThat(destroyed.vmmState().state()).isEqualTo(VmmState.DESTROYED);
        assertThat(destroyed.migrationOut()).isEqualTo(completed.migrationOut());
        assertThat(driver.lastPublish().state()).isEqualTo(destroyed);
        assertThat(driver.publishedStates()).extracting(s -> s.vmmState().gen())
            .containsExactly(REGISTERED_GEN + 1, REGISTERED_GEN + 2, REGISTERED_GEN + 3, REGISTERED_GEN + 4);

        deliver(driver.lastPublish().post(), new Event.PublishSettled(destroyed.vmmState().gen()));
        assertThat(manager.table().get(propolisId)).isNull();
    }

    @Test
    void forceTerminateWithoutALastLookAnswerFailsTheUnfinishedMigration()
    {
        bringToMigratingOut();
        final CompletableFuture<Reply> kill = manager.request(propolisId, new Event.ForceTerminateRequested());
        executor.runAll();
        // The last look timed out (nothing posted); the zone is gone.
        deliver(driver.lastTearDown().post(), new Event.ZoneTornDown());
        final SledVmmState destroyed = (SledVmmState)((Reply.Ok)kill.join()).body();
        assertThat(destroyed.vmmState().state()).isEqualTo(VmmState.DESTROYED);
        assertThat(destroyed.migrationOut().state()).isEqualTo(MigrationState.FAILED);
        assertThat(destroyed.migrationOut().gen()).isEqualTo(3);
        assertThat(driver.lastPublish().state()).isEqualTo(destroyed);
    }

    @Test
    void aProcessExitTearsDownWithoutALastLookAndARetryNeverTakesOne()
    {
        register(null);
        call(new Event.RunRequested());
        final FakeZoneProcess process = new FakeZoneProcess();
        driver.lastStart().onSpawned().accept(process);
        executor.runAll();
        deliver(driver.lastStart().post(), new Event.VmmStarted());
        deliver(driver.lastWatch().post(), observed(1, PropolisInstanceState.Migrating, null,
            status(outId, PropolisMigrationState.Sync)));

        process.exit();
        executor.runAll();
        assertThat(driver.tearDowns).hasSize(1);
        assertThat(driver.lastTearDown().lastLookAddr()).isNull();
        deliver(driver.lastTearDown().post(), new Event.ZoneTeardownFailed("still populated"));
        assertThat(driver.tearDowns).hasSize(2);
        assertThat(driver.lastTearDown().lastLookAddr()).isNull();
        deliver(driver.lastTearDown().post(), new Event.ZoneTornDown());
        final SledVmmState failed = driver.lastPublish().state();
        assertThat(failed.vmmState().state()).isEqualTo(VmmState.FAILED);
        assertThat(failed.migrationOut().state()).isEqualTo(MigrationState.FAILED);
    }

    @Test
    void unregisterOfAMigratingTargetRepliesWithTheFailedMigrationAndPublishesNothingMore()
    {
        register(inId);
        call(migrationTarget());
        deliver(driver.lastStart().post(), new Event.VmmStarted());
        deliver(driver.lastWatch().post(), observed(1, PropolisInstanceState.Migrating,
            status(inId, PropolisMigrationState.Sync), null));
        final int publishedBefore = driver.publishes.size();

        final CompletableFuture<Reply> unregister = manager.request(propolisId, new Event.UnregisterRequested());
        executor.runAll();
        assertThat(unregister).isNotDone();
        assertThat(driver.lastTearDown().lastLookAddr()).isEqualTo(PROPOLIS_ADDR);
        deliver(driver.lastTearDown().post(), new Event.ZoneTornDown());
        final Reply reply = unregister.join();
        assertThat(reply).isInstanceOf(Reply.Ok.class);
        final SledVmmState finalState = ((VmmUnregisterResponse)((Reply.Ok)reply).body()).updatedRuntime();
        assertThat(finalState.vmmState().state()).isEqualTo(VmmState.FAILED);
        assertThat(finalState.migrationIn().migrationId()).isEqualTo(inId);
        assertThat(finalState.migrationIn().state()).isEqualTo(MigrationState.FAILED);
        assertThat(finalState.migrationIn().gen()).isEqualTo(3);
        assertThat(driver.publishes).hasSize(publishedBefore);
        assertThat(manager.table().get(propolisId)).isNull();
    }
}
