package sledagent.perf;

import java.lang.reflect.Field;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import sledagent.agent.SledAgent;
import sledagent.zones.Zone;
import sledagent.zones.ZoneBackend;
import sledagent.zones.ZoneProcess;

/**
 * The agent's own {@link ZoneBackend}, with the moments of each zone's kill, empty and rmdir taken on the
 * teardown's own thread (a {@link System#nanoTime()} before and after each call; nothing else changes). That splits
 * {@code ZoneTeardown.run} into: before the kill (cancelling the start job, the last look at Propolis), the
 * {@code cgroup.kill} write, the wait for {@code populated 0}, and the {@code rmdir}.
 *
 * <p>There is no hook for this in the agent, so {@link #install} swaps the backend into the two places the
 * teardown and the start sequence read it from ({@code ZoneVmmDriver.zones}, {@code ZoneTeardown.zones}) by
 * reflection, right after {@link SledAgent#launch} and before any VMM exists. If the agent's internals have moved
 * on, it says why and the tool runs without the split.
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

    private TimedZones(final ZoneBackend delegate)
    {
        this.delegate = delegate;
    }

    /** Wraps the agent's backend, or explains (in the returned text) why it could not. */
    static Optional<TimedZones> install(final SledAgent agent, final StringBuilder why)
    {
        try
        {
            final Object driver = field(agent.manager(), "driver").get(agent.manager());
            final Field driverZones = field(driver, "zones");
            final Object teardown = field(driver, "teardown").get(driver);
            final Field teardownZones = field(teardown, "zones");
            final ZoneBackend original = (ZoneBackend)driverZones.get(driver);
            if (original != agent.zones() || teardownZones.get(teardown) != original)
            {
                why.append("the driver's and the teardown's backends are not the agent's");
                return Optional.empty();
            }
            final TimedZones timed = new TimedZones(original);
            driverZones.set(driver, timed);
            teardownZones.set(teardown, timed);
            return Optional.of(timed);
        }
        catch (final ReflectiveOperationException | RuntimeException ex)
        {
            why.append(ex);
            return Optional.empty();
        }
    }

    private static Field field(final Object owner, final String name) throws NoSuchFieldException
    {
        final Field field = owner.getClass().getDeclaredField(name);
        field.setAccessible(true);
        return field;
    }

    /** The moments recorded for {@code zoneName}, if its teardown ran. */
    Optional<Times> times(final String zoneName)
    {
        return Optional.ofNullable(times.get(zoneName));
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

    /** The agent closes its own backend; nothing of this wrapper needs closing. */
    @Override
    public void close()
    {
    }
}
