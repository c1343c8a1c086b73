package sledagent.agent.vmm;

import static org.assertj.core.api.Assertions.assertThat;
import static sledagent.agent.vmm.LifecycleFixtures.REGISTERED_GEN;
import static sledagent.agent.vmm.LifecycleFixtures.body;
import static sledagent.agent.vmm.LifecycleFixtures.observed;

import java.io.IOException;
import java.nio.file.FileSystemException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import sledagent.agent.metrics.Metrics;
import sledagent.api.SledVmmState;
import sledagent.api.VmmPutStateResponse;
import sledagent.api.VmmState;
import sledagent.api.propolis.PropolisInstanceState;
import sledagent.api.propolis.PropolisStateRequested;

/**
 * The actor when the host is in trouble: a record that cannot be written (the kill goes ahead, is journalled,
 * and nothing Nexus hears is older than the disk), and an event whose handling throws (the VMM is ended, never
 * left unstoppable). Hand-stepped executor, hand-moved clock, recording driver, a store that can be made full.
 */
class VmmActorTroubleTest
{
    private static final Instant T0 = Instant.parse("2026-12-02T10:00:00Z");

    private final UUID propolisId = UUID.randomUUID();
    private final UUID instanceId = UUID.randomUUID();
    private FakeExecutor executor;
    private FakeClock clock;
    private FakeVmmDriver driver;
    private FullableStore store;
    private VmmManager manager;

    /** Saves succeed until {@code full}; then they fail as ENOSPC does. Kills are journalled in memory. */
    private static final class FullableStore implements VmmStore
    {
        volatile boolean full;
        final List<StoredVmm> saved = new CopyOnWriteArrayList<>();
        final List<KillIntent> journal = new CopyOnWriteArrayList<>();
        final List<UUID> settled = new CopyOnWriteArrayList<>();

        @Override
        public void save(final StoredVmm vmm) throws IOException
        {
            if (full)
            {
                throw new FileSystemException("vmms/x.json.tmp", null, "No space left on device");
            }
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
        public boolean journalKill(final UUID propolisId, final KillIntent intent)
        {
            journal.add(intent);
            return true;
        }

        @Override
        public void settled(final UUID propolisId)
        {
            settled.add(propolisId);
        }

        @Override
        public Map<UUID, List<KillIntent>> journalledKills()
        {
            return Map.of();
        }
    }

    @BeforeEach
    void setUp()
    {
        executor = new FakeExecutor();
        clock = new FakeClock(T0);
        driver = new FakeVmmDriver();
        store = new FullableStore();
        manager = new VmmManager(new ConcurrentVmmTable(), executor, driver, clock, store, new Metrics());
    }

    private Reply call(final Event event)
    {
        final CompletableFuture<Reply> reply = manager.request(propolisId, event);
        executor.runAll();
        assertThat(reply).as("reply to %s", event).isDone();
        return reply.join();
    }

    private CompletableFuture<Reply> send(final Event event)
    {
        final CompletableFuture<Reply> reply = manager.request(propolisId, event);
        executor.runAll();
        return reply;
    }

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

    private void bringToRunning(final long registeredGen)
    {
        assertThat(manager.register(propolisId, body(instanceId, registeredGen))).isInstanceOf(Reply.Ok.class);
        assertThat(call(new Event.RunRequested())).isEqualTo(new Reply.Ok(new VmmPutStateResponse(null)));
        deliver(driver.lastStart().post(), new Event.VmmStarted());
        deliver(driver.lastWatch().post(), observed(1, PropolisInstanceState.Running));
        assertThat(manager.state(propolisId).vmmState().state()).isEqualTo(VmmState.RUNNING);
    }

    private List<VmmState> published()
    {
        final List<VmmState> states = new ArrayList<>();
        driver.publishes.forEach(p -> states.add(p.state().vmmState().state()));
        return states;
    }

    // ---------------------------------------------------------------- a record that cannot be written

    @Test
    void shouldForceTerminateAndPublishDestroyedWhenTheRecordCannotBeWritten()
    {
        bringToRunning(REGISTERED_GEN);
        store.full = true;

        final CompletableFuture<Reply> force = send(new Event.ForceTerminateRequested());
        assertThat(driver.tearDowns).as("the kill did not wait on the disk").hasSize(1);
        assertThat(store.journal).containsExactly(new KillIntent(KillIntent.Kind.FORCE_TERMINATE, null));
        deliver(driver.lastTearDown().post(), new Event.ZoneTornDown());

        assertThat(force).isDone();
        assertThat(force.join()).isInstanceOf(Reply.Ok.class);
        assertThat(((SledVmmState)((Reply.Ok)force.join()).body()).vmmState().state()).isEqualTo(VmmState.DESTROYED);
        assertThat(published()).containsExactly(VmmState.RUNNING, VmmState.DESTROYED);
        assertThat(driver.laters).as("the record write is retried").isNotEmpty();
    }

    @Test
    void shouldStopWithItsGraceAndJournalTheDeadlineWhenTheRecordCannotBeWritten()
    {
        bringToRunning(REGISTERED_GEN);
        store.full = true;

        final Reply stop = call(new Event.StopRequested());
        assertThat(stop).isInstanceOf(Reply.Ok.class);
        assertThat(published()).containsExactly(VmmState.RUNNING, VmmState.STOPPING);
        assertThat(driver.sends).extracting(FakeVmmDriver.SendStateCall::request).contains(PropolisStateRequested.Stop);
        assertThat(driver.deadlines).as("grace armed").hasSize(1);
        assertThat(store.journal).hasSize(1);
        assertThat(store.journal.get(0).kind()).isEqualTo(KillIntent.Kind.STOP);
        assertThat(store.journal.get(0).stopDeadlineAt()).isEqualTo(clock.instant().plusMillis(driver.stopGraceMs()));
    }

    @Test
    void shouldRefuseRunWith507NamingTheCauseAndChangeNothing()
    {
        assertThat(manager.register(propolisId, body(instanceId, REGISTERED_GEN))).isInstanceOf(Reply.Ok.class);
        store.full = true;
        final Reply run = call(new Event.RunRequested());
        assertThat(run).isInstanceOf(Reply.Failed.class);
        final ApiError error = ((Reply.Failed)run).error();
        assertThat(error.status()).isEqualTo(507);
        assertThat(error.message()).contains("No space left on device");
        assertThat(driver.starts).isEmpty();
        assertThat(actor().record().phase()).isEqualTo(Phase.REGISTERED);
        assertThat(store.journal).isEmpty();
    }

    @Test
    void shouldHoldBackObservedStatesUntilTheRecordIsWrittenAgain()
    {
        bringToRunning(REGISTERED_GEN);
        store.full = true;
        deliver(driver.lastWatch().post(), observed(2, PropolisInstanceState.Rebooting));
        assertThat(manager.state(propolisId).vmmState().state()).isEqualTo(VmmState.REBOOTING);
        assertThat(published()).as("not published while the disk does not have it").containsExactly(VmmState.RUNNING);

        // Still full at the first retry: nothing yet, another retry scheduled.
        final int retries = driver.laters.size();
        driver.laters.get(retries - 1).task().run();
        executor.runAll();
        assertThat(published()).containsExactly(VmmState.RUNNING);
        assertThat(driver.laters).hasSize(retries + 1);
        assertThat(driver.laters.get(retries).delayMs()).isGreaterThan(driver.laters.get(retries - 1).delayMs());

        store.full = false;
        driver.laters.get(retries).task().run();
        executor.runAll();
        assertThat(published()).containsExactly(VmmState.RUNNING, VmmState.REBOOTING);
        assertThat(store.saved.get(store.saved.size() - 1).current().vmmState().state()).isEqualTo(VmmState.REBOOTING);
        assertThat(store.settled).contains(propolisId);
    }

    // ---------------------------------------------------------------- an event that throws

    @Test
    void shouldEndTheVmmAsFailedWhenHandlingAnEventThrows()
    {
        // The next generation does not fit: the stop throws inside the lifecycle.
        bringToRunning(Long.MAX_VALUE - 1);
        assertThat(manager.state(propolisId).vmmState().gen()).isEqualTo(Long.MAX_VALUE);

        final Reply stop = call(new Event.StopRequested());
        assertThat(stop).isInstanceOf(Reply.Failed.class);
        assertThat(((Reply.Failed)stop).error().status()).isEqualTo(500);
        assertThat(driver.tearDowns).as("the zone is killed").hasSize(1);
        assertThat(actor().record().phase()).isEqualTo(Phase.HALTING);

        // The terminal state would need gen + 1 too: the lifecycle throws again, and the actor ends the VMM alone.
        deliver(driver.lastTearDown().post(), new Event.ZoneTornDown());
        assertThat(driver.tearDowns).hasSize(2);
        final CompletableFuture<Reply> force = send(new Event.ForceTerminateRequested());
        assertThat(force).isDone();
        deliver(driver.lastTearDown().post(), new Event.ZoneTornDown());
        assertThat(manager.state(propolisId)).as("gone from the table").isNull();
        assertThat(published()).as("never a wrapped generation").allSatisfy(s -> assertThat(s).isNotNull());
        driver.publishes.forEach(p -> assertThat(p.state().vmmState().gen()).isPositive());
    }

    @Test
    void shouldPublishFailedOnceWhenAnEffectThrows()
    {
        bringToRunning(REGISTERED_GEN);
        // A Propolis that reports an absurd generation makes the next watch overflow: the VMM is failed once.
        deliver(driver.lastWatch().post(), observed(Long.MAX_VALUE, PropolisInstanceState.Running));
        assertThat(actor().record().phase()).isEqualTo(Phase.HALTING);
        deliver(driver.lastTearDown().post(), new Event.ZoneTornDown());
        assertThat(published()).containsExactly(VmmState.RUNNING, VmmState.FAILED);
        final long failedGen = driver.lastPublish().state().vmmState().gen();
        assertThat(failedGen).isEqualTo(REGISTERED_GEN + 2);
        deliver(driver.lastPublish().post(), new Event.PublishSettled(failedGen));
        assertThat(manager.state(propolisId)).isNull();
    }
}
