package sledagent.agent.vmm;

import java.time.Instant;
import sledagent.agent.metrics.Metrics;

/**
 * A real {@link VmmManager} (production table) on this package's fakes, for tests in other packages (the HTTP
 * layer's): actors run only when {@link #runAll()} is called, the driver only records, the clock stands still.
 * The fakes stay package-private; this exposes just what such a test needs to move a VMM along.
 */
public final class FakeVmms
{
    private final FakeExecutor executor = new FakeExecutor();
    private final FakeVmmDriver driver = new FakeVmmDriver();
    private final VmmManager manager;

    /** A manager that counts into {@code metrics}, with nothing registered. */
    public FakeVmms(final Metrics metrics)
    {
        manager = new VmmManager(new ConcurrentVmmTable(), executor, driver,
            new FakeClock(Instant.parse("2026-11-24T01:00:00Z")), VmmStore.NONE, metrics);
    }

    /** The manager. */
    public VmmManager manager()
    {
        return manager;
    }

    /** Runs every actor turn queued (and what those queue); returns how many ran. */
    public int runAll()
    {
        return executor.runAll();
    }

    /** How many VMM starts the driver was asked for. */
    public int starts()
    {
        return driver.starts.size();
    }

    /** How many zone teardowns the driver was asked for. */
    public int tearDowns()
    {
        return driver.tearDowns.size();
    }

    /** The last teardown asked for finishes (the zone is gone), and the actors run. */
    public void finishLastTearDown()
    {
        driver.lastTearDown().post().accept(new Event.ZoneTornDown());
        executor.runAll();
    }
}
