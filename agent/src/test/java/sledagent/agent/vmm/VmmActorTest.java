package sledagent.agent.vmm;

import static org.assertj.core.api.Assertions.assertThat;
import static sledagent.agent.vmm.LifecycleFixtures.PROPOLIS_ADDR;
import static sledagent.agent.vmm.LifecycleFixtures.REGISTERED_GEN;
import static sledagent.agent.vmm.LifecycleFixtures.body;
import static sledagent.agent.vmm.LifecycleFixtures.observed;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import sledagent.api.SledVmmState;
import sledagent.api.VmmPutStateResponse;
import sledagent.api.VmmState;
import sledagent.api.VmmUnregisterResponse;
import sledagent.api.propolis.PropolisInstanceState;
import sledagent.api.propolis.PropolisStateRequested;

/**
 * A real {@link VmmActor} behind a real {@link VmmManager}, with a hand-stepped executor, a hand-moved clock and
 * a recording driver whose results the test delivers itself. Single-threaded and deterministic.
 */
class VmmActorTest
{
    private static final Instant T0 = Instant.parse("2026-11-24T01:00:00Z");

    private final UUID propolisId = UUID.randomUUID();
    private final UUID instanceId = UUID.randomUUID();
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

    // ---------------------------------------------------------------- helpers

    private SledVmmState register()
    {
        final Reply reply = manager.register(propolisId, body(instanceId, REGISTERED_GEN));
        assertThat(reply).isInstanceOf(Reply.Ok.class);
        return (SledVmmState)((Reply.Ok)reply).body();
    }

    private CompletableFuture<Reply> request(final Event event)
    {
        return manager.request(propolisId, event);
    }

    /** Sends a request, runs the actor, and returns its (by then complete) reply. */
    private Reply call(final Event event)
    {
        final CompletableFuture<Reply> reply = request(event);
        executor.runAll();
        assertThat(reply).as("reply to %s", event).isDone();
        return reply.join();
    }

    /** Delivers a result the way the driver would (on some other thread: here, the test's), then runs the actor. */
    private void deliver(final Consumer<Event> post, final Event event)
    {
        clock.advance(Duration.ofMillis(250));
        post.accept(event);
        executor.runAll();
    }

    private VmmActor actor()
    {
        return manager.table().get(propolisId);
    }

    /** Registered, started, and observed Running: published running at gen registered + 1. */
    private void bringToRunning()
    {
        register();
        assertThat(call(new Event.RunRequested())).isEqualTo(new Reply.Ok(new VmmPutStateResponse(null)));
        deliver(driver.lastStart().post(), new Event.VmmStarted());
        deliver(driver.lastWatch().post(), observed(1, PropolisInstanceState.Running));
        assertThat(manager.state(propolisId).vmmState().state()).isEqualTo(VmmState.RUNNING);
        assertThat(driver.publishes).hasSize(1);
    }

    private static SledVmmState okState(final Reply reply)
    {
        assertThat(reply).isInstanceOf(Reply.Ok.class);
        return (SledVmmState)((Reply.Ok)reply).body();
    }

    // ---------------------------------------------------------------- the whole life

    @Test
    void registerRunStopAndTearDownThroughTheActor()
    {
        final SledVmmState registered = register();
        assertThat(registered.vmmState().state()).isEqualTo(VmmState.STARTING);
        assertThat(registered.vmmState().gen()).isEqualTo(REGISTERED_GEN);
        assertThat(executor.pending()).isZero();

        // run: 200 with a null body, start called once
        final CompletableFuture<Reply> run = request(new Event.RunRequested());
        assertThat(run).isNotDone();
        assertThat(driver.starts).isEmpty();
        executor.runAll();
        assertThat(run.join()).isEqualTo(new Reply.Ok(new VmmPutStateResponse(null)));
        assertThat(driver.starts).hasSize(1);
        assertThat(driver.lastStart().propolisId()).isEqualTo(propolisId);
        assertThat(driver.lastStart().registration().instanceId()).isEqualTo(instanceId);
        assertThat(driver.publishes).isEmpty();

        // started: watched from Propolis gen 0
        deliver(driver.lastStart().post(), new Event.VmmStarted());
        assertThat(driver.watches).hasSize(1);
        assertThat(driver.lastWatch().propolisAddr()).isEqualTo(PROPOLIS_ADDR);
        assertThat(driver.lastWatch().gen()).isZero();
        assertThat(actor().record().phase()).isEqualTo(Phase.ACTIVE);

        // Propolis Running: published running at registered gen + 1, watched onwards
        deliver(driver.lastWatch().post(), observed(1, PropolisInstanceState.Running));
        assertThat(driver.publishes).hasSize(1);
        final FakeVmmDriver.PublishCall running = driver.lastPublish();
        assertThat(running.propolisId()).isEqualTo(propolisId);
        assertThat(running.state().vmmState().state()).isEqualTo(VmmState.RUNNING);
        assertThat(running.state().vmmState().gen()).isEqualTo(REGISTERED_GEN + 1);
        assertThat(running.state().vmmState().timeUpdated()).isEqualTo(clock.instant());
        assertThat(driver.watches).hasSize(2);
        assertThat(driver.watches.get(0).job().cancelled()).isTrue();
        assertThat(driver.lastWatch().gen()).isEqualTo(2);
        assertThat(manager.state(propolisId)).isEqualTo(running.state());

        // stop: 200 stopping at once, deadline armed once, Propolis asked to stop
        final Reply stop = call(new Event.StopRequested());
        final SledVmmState stopping = ((VmmPutStateResponse)((Reply.Ok)stop).body()).updatedRuntime();
        assertThat(stopping.vmmState().state()).isEqualTo(VmmState.STOPPING);
        assertThat(stopping.vmmState().gen()).isEqualTo(REGISTERED_GEN + 2);
        assertThat(driver.deadlines).hasSize(1);
        assertThat(driver.sends).extracting(FakeVmmDriver.SendStateCall::request)
            .containsExactly(PropolisStateRequested.Stop);
        assertThat(driver.publishedStates()).last().isEqualTo(stopping);

        // a second stop: 200 current, the deadline is not armed again
        final Reply again = call(new Event.StopRequested());
        assertThat(again).isEqualTo(new Reply.Ok(new VmmPutStateResponse(stopping)));
        assertThat(driver.deadlines).hasSize(1);
        assertThat(driver.publishes).hasSize(2);

        // Propolis Destroyed: the zone is torn down; nothing published yet
        deliver(driver.lastWatch().post(), observed(3, PropolisInstanceState.Destroyed));
        assertThat(driver.tearDowns).hasSize(1);
        final FakeVmmDriver.TearDownCall tearDown = driver.lastTearDown();
        assertThat(tearDown.propolisId()).isEqualTo(propolisId);
        assertThat(tearDown.attempt()).isZero();
        assertThat(tearDown.startJob()).isSameAs(driver.lastStart().job());
        assertThat(driver.deadlines.get(0).job().cancelled()).isTrue();
        assertThat(driver.lastWatch().job().cancelled()).isTrue();
        assertThat(driver.publishes).hasSize(2);
        assertThat(manager.state(propolisId)).isEqualTo(stopping);
        assertThat(call(new Event.RunRequested())).isEqualTo(new Reply.Failed(ApiError.tearingDown()));

        // zone gone: destroyed published at the next generation
        deliver(tearDown.post(), new Event.ZoneTornDown());
        assertThat(driver.publishes).hasSize(3);
        final SledVmmState destroyed = driver.lastPublish().state();
        assertThat(destroyed.vmmState().state()).isEqualTo(VmmState.DESTROYED);
        assertThat(destroyed.vmmState().gen()).isEqualTo(REGISTERED_GEN + 3);
        assertThat(manager.state(propolisId)).isEqualTo(destroyed);
        assertThat(manager.table().get(propolisId)).isNotNull();

        // publish settled: the VMM leaves the table and is 404 from then on
        deliver(driver.lastPublish().post(), new Event.PublishSettled(destroyed.vmmState().gen()));
        assertThat(manager.table().get(propolisId)).isNull();
        assertThat(manager.table().size()).isZero();
        assertThat(manager.state(propolisId)).isNull();
        assertThat(driver.forgotten).containsExactly(propolisId);
        final CompletableFuture<Reply> gone = request(new Event.RunRequested());
        assertThat(gone).isDone();
        assertThat(gone.join()).isEqualTo(new Reply.Failed(ApiError.noSuchInstance()));
        assertThat(((Reply.Failed)gone.join()).error().status()).isEqualTo(404);

        assertThat(driver.publishedStates()).extracting(s -> s.vmmState().gen())
            .containsExactly(REGISTERED_GEN + 1, REGISTERED_GEN + 2, REGISTERED_GEN + 3);
        assertThat(driver.starts).hasSize(1);
        assertThat(driver.tearDowns).hasSize(1);
        assertThat(executor.pending()).isZero();
    }

    @Test
    void anUnregisterThatFoundTheVmmJustBeforeItLeftTheTableGetsItsFinalState()
    {
        register();
        call(new Event.RunRequested());
        deliver(driver.lastStart().post(), new Event.VmmStarted());
        deliver(driver.lastWatch().post(), observed(1, PropolisInstanceState.Running));
        final CompletableFuture<Reply> force = request(new Event.ForceTerminateRequested());
        executor.runAll();
        deliver(driver.lastTearDown().post(), new Event.ZoneTornDown());
        final SledVmmState destroyed = driver.lastPublish().state();
        assertThat(force.join()).isEqualTo(new Reply.Ok(destroyed));

        // A DELETE that found the actor in the table just before Nexus's acknowledgement removed it: answered as
        // for a DONE VMM, 200 with the final state, not 410.
        final VmmActor found = actor();
        deliver(driver.lastPublish().post(), new Event.PublishSettled(destroyed.vmmState().gen()));
        assertThat(manager.table().get(propolisId)).isNull();
        final CompletableFuture<Reply> unregister = new CompletableFuture<>();
        assertThat(found.offer(new Event.UnregisterRequested(), unregister)).isTrue();
        executor.runAll();
        assertThat(unregister.join()).isEqualTo(new Reply.Ok(new VmmUnregisterResponse(destroyed)));
    }

    // ---------------------------------------------------------------- mailbox

    @Test
    void aFullRequestLaneIs503AtOnceWhileUnregisterStillGetsIn()
    {
        register();
        final List<CompletableFuture<Reply>> queued = new ArrayList<>();
        for (int i = 0; i < Mailbox.REQUEST_CAPACITY; i++)
        {
            queued.add(request(new Event.RunRequested()));
        }
        assertThat(queued).hasSize(32).allMatch(f -> !f.isDone());

        final CompletableFuture<Reply> overflow = request(new Event.RunRequested());
        assertThat(overflow).isDone();
        final ApiError error = ((Reply.Failed)overflow.join()).error();
        assertThat(error.status()).isEqualTo(503);
        assertThat(error.errorCode()).isEqualTo(ApiError.INSTANCE_CHANNEL_FULL);
        assertThat(request(new Event.StopRequested()).join()).isEqualTo(new Reply.Failed(ApiError.channelFull()));

        // The terminate lane is separate and goes first.
        final CompletableFuture<Reply> unregister = request(new Event.UnregisterRequested());
        assertThat(unregister).isNotDone();
        executor.runAll();
        assertThat(unregister.join()).isInstanceOf(Reply.Ok.class);
        final VmmUnregisterResponse response = (VmmUnregisterResponse)((Reply.Ok)unregister.join()).body();
        assertThat(response.updatedRuntime().vmmState().state()).isEqualTo(VmmState.FAILED);
        assertThat(response.updatedRuntime().vmmState().gen()).isEqualTo(REGISTERED_GEN + 1);

        // The queued runs came after it: the VMM was gone by then, and nothing was ever started.
        assertThat(queued).allMatch(CompletableFuture::isDone);
        assertThat(queued).extracting(CompletableFuture::join)
            .allMatch(r -> r.equals(new Reply.Failed(ApiError.tearingDown())));
        assertThat(driver.starts).isEmpty();
        assertThat(driver.publishes).isEmpty();
        assertThat(manager.table().get(propolisId)).isNull();
    }

    @Test
    void theSnapshotIsAnsweredWhileRequestsAreQueued()
    {
        final SledVmmState registered = register();
        final CompletableFuture<Reply> run = request(new Event.RunRequested());
        final CompletableFuture<Reply> stop = request(new Event.StopRequested());
        assertThat(run).isNotDone();
        assertThat(stop).isNotDone();
        assertThat(manager.state(propolisId)).isEqualTo(registered);
        assertThat(actor().snapshot()).isEqualTo(registered);
        assertThat(executor.pending()).isEqualTo(1);

        executor.runAll();
        assertThat(run.join()).isEqualTo(new Reply.Ok(new VmmPutStateResponse(null)));
        // Stop of a starting VMM: stopping at once, the zone is killed.
        final SledVmmState stopping = ((VmmPutStateResponse)((Reply.Ok)stop.join()).body()).updatedRuntime();
        assertThat(stopping.vmmState().state()).isEqualTo(VmmState.STOPPING);
        assertThat(manager.state(propolisId)).isEqualTo(stopping);
        assertThat(driver.tearDowns).hasSize(1);
        assertThat(driver.deadlines).isEmpty();
    }

    @Test
    void theSnapshotOfARunningVmmIsAnsweredWhileAStopIsQueued()
    {
        bringToRunning();
        final SledVmmState running = manager.state(propolisId);
        final CompletableFuture<Reply> stop = request(new Event.StopRequested());
        assertThat(stop).isNotDone();
        assertThat(manager.state(propolisId)).isEqualTo(running);
        executor.runAll();
        assertThat(stop).isDone();
        assertThat(manager.state(propolisId).vmmState().state()).isEqualTo(VmmState.STOPPING);
    }

    // ---------------------------------------------------------------- unregister, force-terminate

    @Test
    void unregisterOfARunningVmmRepliesFailedOnlyOnceTheZoneIsGoneAndNeverPublishes()
    {
        bringToRunning();
        final FakeVmmDriver.WatchCall watch = driver.lastWatch();

        final CompletableFuture<Reply> unregister = request(new Event.UnregisterRequested());
        executor.runAll();
        assertThat(unregister).isNotDone();
        assertThat(driver.tearDowns).hasSize(1);
        assertThat(watch.job().cancelled()).isTrue();
        assertThat(driver.publishes).hasSize(1);

        // Late results in flight publish nothing.
        deliver(watch.post(), observed(2, PropolisInstanceState.Stopped));
        deliver(driver.lastTearDown().post(), new Event.ZoneTeardownFailed("still populated"));
        assertThat(driver.tearDowns).hasSize(2);
        assertThat(driver.lastTearDown().attempt()).isEqualTo(1);
        assertThat(unregister).isNotDone();
        assertThat(driver.publishes).hasSize(1);

        deliver(driver.lastTearDown().post(), new Event.ZoneTornDown());
        assertThat(unregister).isDone();
        final Object body = ((Reply.Ok)unregister.join()).body();
        assertThat(body).isInstanceOf(VmmUnregisterResponse.class);
        final SledVmmState state = ((VmmUnregisterResponse)body).updatedRuntime();
        assertThat(state.vmmState().state()).isEqualTo(VmmState.FAILED);
        assertThat(state.vmmState().gen()).isEqualTo(REGISTERED_GEN + 2);

        // Gone at once (nothing to publish first), and nothing was published after the unregister.
        assertThat(manager.table().get(propolisId)).isNull();
        assertThat(driver.forgotten).containsExactly(propolisId);
        // Late results still reach the detached actor: they must publish nothing.
        deliver(watch.post(), observed(3, PropolisInstanceState.Destroyed));
        deliver(driver.lastTearDown().post(), new Event.ZoneTornDown());
        assertThat(driver.publishes).hasSize(1);
        assertThat(driver.publishedStates()).noneMatch(s -> s.vmmState().state() == VmmState.FAILED);

        // A second DELETE is omicron's idempotent unregister: 200 with null.
        assertThat(request(new Event.UnregisterRequested()).join())
            .isEqualTo(new Reply.Ok(new VmmUnregisterResponse(null)));
    }

    @Test
    void forceTerminateRepliesWithDestroyedOnceTheZoneIsGone()
    {
        bringToRunning();
        final CompletableFuture<Reply> kill = request(new Event.ForceTerminateRequested());
        executor.runAll();
        assertThat(kill).isNotDone();
        assertThat(driver.tearDowns).hasSize(1);
        assertThat(call(new Event.ForceTerminateRequested())).isEqualTo(new Reply.Failed(ApiError.tearingDown()));

        deliver(driver.lastTearDown().post(), new Event.ZoneTornDown());
        final SledVmmState destroyed = okState(kill.join());
        assertThat(destroyed.vmmState().state()).isEqualTo(VmmState.DESTROYED);
        assertThat(destroyed.vmmState().gen()).isEqualTo(REGISTERED_GEN + 2);
        assertThat(driver.lastPublish().state()).isEqualTo(destroyed);
        assertThat(manager.table().get(propolisId)).isNotNull();

        // An older publish settling does not remove it; the terminal one does.
        deliver(driver.publishes.get(0).post(), new Event.PublishSettled(REGISTERED_GEN + 1));
        assertThat(manager.table().get(propolisId)).isNotNull();
        deliver(driver.lastPublish().post(), new Event.PublishSettled(REGISTERED_GEN + 2));
        assertThat(manager.table().get(propolisId)).isNull();
    }

    /**
     * A removed actor keeps feeding late internal events to the lifecycle: a late {@code PublishSettled} for its
     * terminal generation makes a DONE record emit {@code RemoveFromTable} again, and the actor then calls
     * {@code driver.forget(propolisId)} a second time, dropping the queued publishes of whatever VMM now has that
     * id in the table.
     */
    @Test
    void aLateResultToARemovedActorDoesNotForgetItsSuccessor()
    {
        bringToRunning();
        final CompletableFuture<Reply> kill = request(new Event.ForceTerminateRequested());
        executor.runAll();
        deliver(driver.lastTearDown().post(), new Event.ZoneTornDown());
        assertThat(kill).isDone();
        final FakeVmmDriver.PublishCall destroyed = driver.lastPublish();
        assertThat(destroyed.state().vmmState().state()).isEqualTo(VmmState.DESTROYED);
        // Nexus takes it back before the terminal publish settled: removed at once.
        call(new Event.UnregisterRequested());
        assertThat(manager.table().get(propolisId)).isNull();
        assertThat(driver.forgotten).hasSize(1);

        // The same id registered again (a new actor), then the old publish settles.
        register();
        final VmmActor successor = actor();
        deliver(destroyed.post(), new Event.PublishSettled(destroyed.state().vmmState().gen()));
        assertThat(actor()).isSameAs(successor);
        assertThat(driver.forgotten).as("forget calls after the successor registered").hasSize(1);
    }

    // ---------------------------------------------------------------- the process

    @Test
    void aProcessThatExitsOnItsOwnIsPublishedFailedAfterTeardown()
    {
        register();
        call(new Event.RunRequested());
        final FakeZoneProcess process = new FakeZoneProcess();
        driver.lastStart().onSpawned().accept(process);
        executor.runAll();
        deliver(driver.lastStart().post(), new Event.VmmStarted());
        deliver(driver.lastWatch().post(), observed(1, PropolisInstanceState.Running));

        process.exit();
        executor.runAll();
        assertThat(driver.tearDowns).hasSize(1);
        assertThat(driver.lastTearDown().process()).isSameAs(process);
        deliver(driver.lastTearDown().post(), new Event.ZoneTornDown());
        final SledVmmState failed = driver.lastPublish().state();
        assertThat(failed.vmmState().state()).isEqualTo(VmmState.FAILED);
        assertThat(failed.vmmState().gen()).isEqualTo(REGISTERED_GEN + 2);
    }

    @Test
    void aProcessSpawnedAfterTheTeardownBeganIsOnlyClosed()
    {
        register();
        call(new Event.RunRequested());
        call(new Event.StopRequested());
        assertThat(driver.tearDowns).hasSize(1);
        final FakeZoneProcess late = new FakeZoneProcess();
        driver.lastStart().onSpawned().accept(late);
        executor.runAll();
        assertThat(late.closed()).isTrue();
        late.exit();
        executor.runAll();
        assertThat(driver.tearDowns).hasSize(1);
    }

    // ---------------------------------------------------------------- register

    @Test
    void registeringTwiceReturnsTheCurrentStateOrRefusesAnotherInstance()
    {
        bringToRunning();
        final SledVmmState running = manager.state(propolisId);

        final Reply same = manager.register(propolisId, body(instanceId, 1));
        assertThat(same).isEqualTo(new Reply.Ok(running));
        assertThat(actor().record().registration().vmmRuntime().gen()).isEqualTo(REGISTERED_GEN);

        final Reply other = manager.register(propolisId, body(UUID.randomUUID(), REGISTERED_GEN));
        assertThat(other).isInstanceOf(Reply.Failed.class);
        assertThat(((Reply.Failed)other).error().status()).isEqualTo(409);
        assertThat(manager.table().size()).isEqualTo(1);
        assertThat(manager.state(propolisId)).isEqualTo(running);
        assertThat(driver.starts).hasSize(1);
    }

    @Test
    void requestsForAnUnknownVmmAre404ButUnregisterIsIdempotent()
    {
        assertThat(request(new Event.StopRequested()).join()).isEqualTo(new Reply.Failed(ApiError.noSuchInstance()));
        assertThat(request(new Event.ForceTerminateRequested()).join())
            .isEqualTo(new Reply.Failed(ApiError.noSuchInstance()));
        assertThat(request(new Event.UnregisterRequested()).join())
            .isEqualTo(new Reply.Ok(new VmmUnregisterResponse(null)));
        assertThat(manager.state(propolisId)).isNull();
        assertThat(executor.pending()).isZero();
    }
}
