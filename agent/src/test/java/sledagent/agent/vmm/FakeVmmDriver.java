package sledagent.agent.vmm;

import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import sledagent.api.InstanceEnsureBody;
import sledagent.api.SledVmmState;
import sledagent.api.propolis.PropolisStateRequested;
import sledagent.zones.ZoneProcess;

/**
 * A {@link VmmDriver} that does nothing but record each call with its {@code post} consumer, so that a test can
 * deliver the results by hand (e.g. {@code driver.starts.get(0).post().accept(new Event.VmmStarted())}).
 */
final class FakeVmmDriver implements VmmDriver
{
    /** A {@link Cancellable} that remembers being cancelled. */
    static final class FakeCancellable implements Cancellable
    {
        private final CompletableFuture<Void> finished = new CompletableFuture<>();
        private volatile boolean cancelled;

        @Override
        public void cancel()
        {
            cancelled = true;
            finished.complete(null);
        }

        @Override
        public CompletableFuture<Void> finished()
        {
            return finished;
        }

        boolean cancelled()
        {
            return cancelled;
        }
    }

    record StartCall(UUID propolisId, InstanceEnsureBody registration, Consumer<ZoneProcess> onSpawned,
        Consumer<Event> post, FakeCancellable job, String migrationSourceAddr)
    {
    }

    record SendStateCall(String propolisAddr, PropolisStateRequested request, Consumer<Event> post)
    {
    }

    record WatchCall(String propolisAddr, long gen, Consumer<Event> post, FakeCancellable job)
    {
    }

    record DeadlineCall(Consumer<Event> post, FakeCancellable job)
    {
    }

    record TearDownCall(UUID propolisId, int attempt, Cancellable startJob, ZoneProcess process,
        Consumer<Event> post, String lastLookAddr)
    {
    }

    record PublishCall(UUID propolisId, SledVmmState state, Consumer<Event> post)
    {
    }

    record ResumeCall(UUID propolisId, ZoneProcess process, Consumer<Event> post, FakeCancellable job)
    {
    }

    record LaterCall(long delayMs, Runnable task, FakeCancellable job)
    {
    }

    final List<StartCall> starts = new CopyOnWriteArrayList<>();
    final List<SendStateCall> sends = new CopyOnWriteArrayList<>();
    final List<WatchCall> watches = new CopyOnWriteArrayList<>();
    final List<DeadlineCall> deadlines = new CopyOnWriteArrayList<>();
    final List<TearDownCall> tearDowns = new CopyOnWriteArrayList<>();
    final List<PublishCall> publishes = new CopyOnWriteArrayList<>();
    final List<UUID> forgotten = new CopyOnWriteArrayList<>();
    final List<ResumeCall> resumes = new CopyOnWriteArrayList<>();
    final List<LaterCall> laters = new CopyOnWriteArrayList<>();

    @Override
    public Cancellable resumeStart(final UUID propolisId, final InstanceEnsureBody registration,
        final ZoneProcess process, final Consumer<Event> post)
    {
        final FakeCancellable job = new FakeCancellable();
        resumes.add(new ResumeCall(propolisId, process, post, job));
        return job;
    }

    @Override
    public Cancellable later(final long delayMs, final Runnable task)
    {
        final FakeCancellable job = new FakeCancellable();
        laters.add(new LaterCall(delayMs, task, job));
        return job;
    }

    @Override
    public Cancellable start(final UUID propolisId, final InstanceEnsureBody registration,
        final String migrationSourceAddr, final Consumer<ZoneProcess> onSpawned, final Consumer<Event> post)
    {
        final FakeCancellable job = new FakeCancellable();
        starts.add(new StartCall(propolisId, registration, onSpawned, post, job, migrationSourceAddr));
        return job;
    }

    @Override
    public void sendState(final String propolisAddr, final PropolisStateRequested request,
        final Consumer<Event> post)
    {
        sends.add(new SendStateCall(propolisAddr, request, post));
    }

    @Override
    public Cancellable watch(final String propolisAddr, final long gen, final Consumer<Event> post)
    {
        final FakeCancellable job = new FakeCancellable();
        watches.add(new WatchCall(propolisAddr, gen, post, job));
        return job;
    }

    @Override
    public long stopGraceMs()
    {
        return 600_000;
    }

    @Override
    public Cancellable armStopDeadline(final long delayMs, final Consumer<Event> post)
    {
        final FakeCancellable job = new FakeCancellable();
        deadlines.add(new DeadlineCall(post, job));
        return job;
    }

    @Override
    public void tearDown(final UUID propolisId, final int attempt, final String lastLookAddr,
        final Cancellable startJob, final ZoneProcess process, final Consumer<Event> post)
    {
        tearDowns.add(new TearDownCall(propolisId, attempt, startJob, process, post, lastLookAddr));
    }

    @Override
    public void publish(final UUID propolisId, final SledVmmState state, final Consumer<Event> post)
    {
        publishes.add(new PublishCall(propolisId, state, post));
    }

    @Override
    public void forget(final UUID propolisId)
    {
        forgotten.add(propolisId);
    }

    StartCall lastStart()
    {
        return starts.get(starts.size() - 1);
    }

    WatchCall lastWatch()
    {
        return watches.get(watches.size() - 1);
    }

    TearDownCall lastTearDown()
    {
        return tearDowns.get(tearDowns.size() - 1);
    }

    PublishCall lastPublish()
    {
        return publishes.get(publishes.size() - 1);
    }

    List<SledVmmState> publishedStates()
    {
        return publishes.stream().map(PublishCall::state).toList();
    }
}
