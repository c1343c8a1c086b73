package sledagent.perf;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import sledagent.agent.core.AgentContext;
import sledagent.zones.Zone;
import sledagent.zones.ZoneBackend;
import sledagent.zones.ZoneProcess;

/**
 * The agent's own {@link ZoneBackend}, with the moments of each zone's kill, empty and rmdir taken on the
 * teardown's own thread (a {@link System#nanoTime()} before and after each call; nothing else changes). That splits
 * {@code ZoneTeardown.run} into: before the kill (cancelling the start job, the last look at Propolis), the
 * {@code cgroup.kill} write, the wait for {@code populated 0}, and the {@code rmdir}.
 *
 * <p>Given to the agent through {@link AgentContext#zones}, so the start sequence, the teardown and the sweeper all
 * go through it ({@link ZoneBackend#killAndRemove} is the interface's, so its three steps are timed here). The
 * wrapped backend stays its opener's to close.
 */
final class TimedZones implements ZoneBackend
{
    /** One zone's teardown moments ({@code nanoTime}; 0 = not seen). */
    static final class Times
    {
        volatile long killStartNs;
        volatile long killEndNs;
        volatile long emptyNs;
        volatile boolean emptyResult;
        volatile long destroyEndNs;
    }

    private final ZoneBackend delegate;
    private final Map<String, Times> times = new ConcurrentHashMap<>();

    /** Times the teardown steps of {@code delegate}. */
    TimedZones(final ZoneBackend delegate)
    {
        this.delegate = delegate;
    }

    /** The moments recorded for {@code zoneName}, if its teardown ran. */
    Optional<Times> times(final String zoneName)
    {
        return Optional.ofNullable(times.get(zoneName));
    }

    @Override
    public boolean killsAtOnce()
    {
        return delegate.killsAtOnce();
    }

    @Override
    public void killAll(final Zone zone)
    {
        final Times t = times.computeIfAbsent(zone.name(), name -> new Times());
        final long start = System.nanoTime();
        try
        {
            delegate.killAll(zone);
        }
        finally
        {
            if (t.killStartNs == 0)
            {
                t.killStartNs = start;
                t.killEndNs = System.nanoTime();
            }
        }
    }

    @Override
    public boolean awaitEmpty(final Zone zone, final Duration bound) throws InterruptedException
    {
        final boolean empty = delegate.awaitEmpty(zone, bound);
        final Times t = times.get(zone.name());
        if (t != null && t.emptyNs == 0)
        {
            t.emptyResult = empty;
            t.emptyNs = System.nanoTime();
        }
        return empty;
    }

    @Override
    public void destroy(final Zone zone)
    {
        delegate.destroy(zone);
        final Times t = times.get(zone.name());
        if (t != null && t.destroyEndNs == 0)
        {
            t.destroyEndNs = System.nanoTime();
        }
    }

    @Override
    public String name()
    {
        return delegate.name();
    }

    @Override
    public Zone create(final String zoneName)
    {
        return delegate.create(zoneName);
    }

    @Override
    public Zone open(final String zoneName)
    {
        return delegate.open(zoneName);
    }

    @Override
    public ZoneProcess spawn(final Zone zone, final List<String> argv, final Path logFile)
    {
        return delegate.spawn(zone, argv, logFile);
    }

    @Override
    public ZoneProcess adopt(final Zone zone, final long pid, final long startTicks)
    {
        return delegate.adopt(zone, pid, startTicks);
    }

    @Override
    public boolean isEmpty(final Zone zone)
    {
        return delegate.isEmpty(zone);
    }

    @Override
    public List<String> list()
    {
        return delegate.list();
    }

    @Override
    public boolean markOwner(final Zone zone, final String owner)
    {
        return delegate.markOwner(zone, owner);
    }

    @Override
    public String owner(final Zone zone)
    {
        return delegate.owner(zone);
    }

    /** The wrapped backend is closed by whoever opened it; nothing of this wrapper needs closing. */
    @Override
    public void close()
    {
    }
}
