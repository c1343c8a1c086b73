package sledagent.agent.vmm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static sledagent.agent.vmm.LifecycleFixtures.REGISTERED_GEN;
import static sledagent.agent.vmm.LifecycleFixtures.body;
import static sledagent.agent.vmm.LifecycleFixtures.observed;

import java.io.IOException;
import java.nio.file.FileSystemException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import sledagent.agent.metrics.Metrics;
import sledagent.api.SledVmmState;
import sledagent.api.VmmPutStateResponse;
import sledagent.api.VmmState;
import sledagent.api.propolis.PropolisInstanceState;

/**
 * A force-terminate's kill does not wait for its record's write (issue 14): the kill is journalled first (without
 * a sync), the zone is killed while the record is written, and the terminal publish and the answer wait for that
 * write; the terminal record itself is written behind them. The store's writes complete only when the test says
 * so; the actor runs on a hand-stepped executor, on a thread of its own when a step is expected to wait.
 */
class VmmActorKillAheadTest
{
    private static final Instant T0 = Instant.parse("2026-12-03T03:00:00Z");

    private final UUID propolisId = UUID.randomUUID();
    private final UUID instanceId = UUID.randomUUID();
    private FakeExecutor executor;
    private FakeClock clock;
    private FakeVmmDriver driver;
    private HeldStore store;
    private VmmManager manager;
    private Thread stepping;

    /** Writes complete when {@link #completeAll} or {@link #failAll} says so; the journal is kept in memory. */
    private final class HeldStore implements VmmStore
    {
        volatile boolean acceptKills = true;
        /** False: writes complete at once (bringing the VMM up); true: they wait for the test. */
        volatile boolean hold;
        final List<StoredVmm> queued = new CopyOnWriteArrayList<>();
        final List<CompletableFuture<Void>> writes = new CopyOnWriteArrayList<>();
        /** Each kill journalled ahead, with the number of teardowns the driver had been asked for by then. */
        final List<Integer> journalledAtTearDowns = new CopyOnWriteArrayList<>();
        final List<UUID> settled = new CopyOnWriteArrayList<>();
        volatile int journalSyncs;

        @Override
        public void save(final StoredVmm vmm) throws IOException
        {
            try
            {
                saveAsync(vmm).get(10, TimeUnit.SECONDS);
            }
            catch (final Exception ex)
            {
                throw new IOException(ex);
            }
        }

        @Override
        public CompletableFuture<Void> saveAsync(final StoredVmm vmm)
        {
            final CompletableFuture<Void> write = hold ? new CompletableFuture<>()
                : CompletableFuture.completedFuture(null);
            queued.add(vmm);
            writes.add(write);
            return write;
        }

        @Override
        public void delete(final UUID id)
        {
        }

        @Override
        public List<StoredVmm> loadAll()
        {
            return List.of();
        }

        @Override
        public boolean journalKillAhead(final UUID id, final KillIntent intent)
        {
            if (!acceptKills)
            {
                return false;
            }
            journalledAtTearDowns.add(driver.tearDowns.size());
            return true;
        }

        @Override
        public boolean syncJournal()
        {
            journalSyncs++;
            return true;
        }

        @Override
        public void settled(final UUID id)
        {
            settled.add(id);
        }

        int pendingWrites()
        {
            return (int)writes.stream().filter(w -> !w.isDone()).count();
        }

        void completeAll()
        {
            writes.forEach(w -> w.complete(null));
        }

        void failAll()
        {
            writes.forEach(w -> w.completeExceptionally(
                new FileSystemException("vmms/x.json.tmp", null, "No space left on device")));
        }
    }

    @BeforeEach
    void setUp()
    {
        executor = new FakeExecutor();
        clock = new FakeClock(T0);
        driver = new FakeVmmDriver();
        store = new HeldStore();
        manager = new VmmManager(new ConcurrentVmmTable(), executor, driver, clock, store, new Metrics());
    }

    @AfterEach
    void releaseTheActor() throws InterruptedException
    {
        // Never leave a stepping thread blocked on a write.
        store.completeAll();
        if (stepping != null)
        {
            stepping.join(10_000);
        }
    }

    /** Runs the executor on a thread of its own (a step may wait for a write). */
    private void stepInBackground()
    {
        stepping = new Thread(executor::runAll, "actor-steps");
        stepping.start();
    }

    private void awaitStepsDone() throws InterruptedException
    {
        stepping.join(10_000);
        assertThat(stepping.isAlive()).as("the actor's steps finished").isFalse();
    }

    private void runNow(final Runnable action)
    {
        action.run();
        executor.runAll();
    }

    private void deliver(final Consumer<Event> post, final Event event)
    {
        clock.advance(Duration.ofMillis(250));
        post.accept(event);
    }

    /** Registered and running with every write completing at once; from then on writes wait for the test. */
    private void bringToRunning()
    {
        assertThat(manager.register(propolisId, body(instanceId, REGISTERED_GEN))).isInstanceOf(Reply.Ok.class);
        final CompletableFuture<Reply> run = manager.request(propolisId, new Event.RunRequested());
        executor.runAll();
        assertThat(run.join()).isEqualTo(new Reply.Ok(new VmmPutStateResponse(null)));
        runNow(() -> deliver(driver.lastStart().post(), new Event.VmmStarted()));
        runNow(() -> deliver(driver.lastWatch().post(), observed(1, PropolisInstanceState.Running)));
        assertThat(manager.state(propolisId).vmmState().state()).isEqualTo(VmmState.RUNNING);
        store.hold = true;
    }

    private List<VmmState> published()
    {
        final List<VmmState> states = new ArrayList<>();
        driver.publishes.forEach(p -> states.add(p.state().vmmState().state()));
        return states;
    }

    @Test
    void shouldKillBeforeTheRecordIsWrittenAndPublishDestroyedOnlyAfterIt() throws Exception
    {
        bringToRunning();

        final CompletableFuture<Reply> force = manager.request(propolisId, new Event.ForceTerminateRequested());
        executor.runAll();
        assertThat(store.journalledAtTearDowns).as("journalled before the kill").containsExactly(0);
        assertThat(driver.tearDowns).as("killed without waiting for the record").hasSize(1);
        assertThat(store.pendingWrites()).as("the HALTING record is still being written").isEqualTo(1);
        assertThat(store.queued.get(store.queued.size() - 1).phase()).isEqualTo(Phase.HALTING);

        // The zone is gone before the record is on disk: destroyed must wait for the record.
        deliver(driver.lastTearDown().post(), new Event.ZoneTornDown());
        stepInBackground();
        await().during(Duration.ofMillis(300)).atMost(Duration.ofSeconds(5))
            .until(() -> !published().contains(VmmState.DESTROYED) && !force.isDone());
        assertThat(store.settled).as("the journal slot is kept until the record is on disk").isEmpty();

        store.writes.get(store.writes.size() - 1).complete(null);
        awaitStepsDone();
        assertThat(published()).containsExactly(VmmState.RUNNING, VmmState.DESTROYED);
        assertThat(((SledVmmState)((Reply.Ok)force.join()).body()).vmmState().state()).isEqualTo(VmmState.DESTROYED);
        assertThat(store.settled).as("slot freed once the record holds the kill").contains(propolisId);
        assertThat(store.pendingWrites()).as("the DONE record is written behind the publish").isEqualTo(1);
        assertThat(store.queued.get(store.queued.size() - 1).phase()).isEqualTo(Phase.DONE);
    }

    @Test
    void shouldTearDownACrashedVmmBeforeTheRecordIsWrittenAndPublishFailedOnlyAfterIt() throws Exception
    {
        bringToRunning();

        runNow(() -> deliver(driver.lastWatch().post(), observed(2, PropolisInstanceState.Failed)));
        assertThat(driver.tearDowns).as("torn down without waiting for the record").hasSize(1);
        assertThat(store.journalledAtTearDowns).as("nothing journalled: a restart halts it the same way").isEmpty();
        assertThat(store.pendingWrites()).isEqualTo(1);
        assertThat(store.queued.get(store.queued.size() - 1).phase()).isEqualTo(Phase.HALTING);

        deliver(driver.lastTearDown().post(), new Event.ZoneTornDown());
        stepInBackground();
        await().during(Duration.ofMillis(300)).atMost(Duration.ofSeconds(5))
            .until(() -> !published().contains(VmmState.FAILED));

        store.writes.get(store.writes.size() - 1).complete(null);
        awaitStepsDone();
        assertThat(published()).containsExactly(VmmState.RUNNING, VmmState.FAILED);
    }

    @Test
    void shouldWriteTheRecordFirstWhenTheJournalCannotTakeTheKill() throws Exception
    {
        bringToRunning();
        store.acceptKills = false;

        manager.request(propolisId, new Event.ForceTerminateRequested());
        stepInBackground();
        await().atMost(Duration.ofSeconds(5)).until(() -> store.pendingWrites() == 1);
        await().during(Duration.ofMillis(300)).atMost(Duration.ofSeconds(5)).until(() -> driver.tearDowns.isEmpty());
        store.completeAll();
        awaitStepsDone();
        assertThat(driver.tearDowns).as("killed once the record is on disk").hasSize(1);
    }

    @Test
    void shouldSyncTheJournalAndStillPublishDestroyedWhenTheKillsRecordCannotBeWritten() throws Exception
    {
        bringToRunning();

        final CompletableFuture<Reply> force = manager.request(propolisId, new Event.ForceTerminateRequested());
        executor.runAll();
        assertThat(driver.tearDowns).hasSize(1);
        final int laters = driver.laters.size();
        store.failAll();
        executor.runAll();
        assertThat(store.journalSyncs).as("the journal, not the record, now keeps the kill").isEqualTo(1);
        assertThat(driver.laters.size()).as("the record write is retried").isGreaterThan(laters);
        assertThat(store.settled).isEmpty();

        store.hold = false;
        runNow(() -> deliver(driver.lastTearDown().post(), new Event.ZoneTornDown()));
        assertThat(published()).containsExactly(VmmState.RUNNING, VmmState.DESTROYED);
        assertThat(force).isDone();
    }
}
