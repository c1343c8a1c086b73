package sledagent.zones.fake;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import sledagent.zones.Zone;
import sledagent.zones.ZoneBackend;
import sledagent.zones.ZoneException;
import sledagent.zones.ZoneNames;
import sledagent.zones.ZoneProcess;

/**
 * An in-memory {@link ZoneBackend} for the agent's unit tests: zones are map entries and processes are
 * {@link FakeZoneProcess}es whose exit the test triggers. It keeps the contract of the real backends (names
 * checked, create idempotent, destroy of a missing zone fine, destroy of a non-empty zone refused with
 * {@link ZoneException#EBUSY}, {@link #awaitEmpty} really waits up to its bound) and can be scripted to fail:
 *
 * <ul>
 *   <li>{@link #willNotEmpty}: the zone counts as populated and kills do not take, as with a process stuck in
 *       the kernel;</li>
 *   <li>{@link #failNext}: the next N calls of an operation on a zone throw {@link ZoneException}.</li>
 * </ul>
 *
 * <p>{@link #calls()} records every create, spawn, killAll and destroy, failed ones included. Thread-safe.
 */
public final class FakeZoneBackend implements ZoneBackend
{
    /** {@link #name()} of this backend. */
    public static final String NAME = "fake";

    /** Operations that can be scripted to fail with {@link #failNext}. */
    public enum Operation
    {
        /** {@link FakeZoneBackend#create}. */
        CREATE,
        /** {@link FakeZoneBackend#spawn}. */
        SPAWN,
        /** {@link FakeZoneBackend#killAll}. */
        KILL_ALL,
        /** {@link FakeZoneBackend#destroy}. */
        DESTROY
    }

    private record Failure(Operation operation, String zoneName)
    {
    }

    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    private final Map<String, List<FakeZoneProcess>> zones = new TreeMap<>(); // guarded by lock
    private final Set<String> willNotEmpty = new HashSet<>();                // guarded by lock
    private final Map<String, String> owners = new HashMap<>();               // guarded by lock
    private final Map<Failure, Integer> failures = new HashMap<>();           // guarded by lock
    private final List<String> calls = new ArrayList<>();                     // guarded by lock
    private long nextPid = 10_000;                                            // guarded by lock
    private boolean closed;                                                   // guarded by lock

    @Override
    public String name()
    {
        return NAME;
    }

    @Override
    public Zone create(final String zoneName)
    {
        ZoneNames.check(zoneName);
        lock.lock();
        try
        {
            record("create " + zoneName);
            failIfScripted(Operation.CREATE, zoneName);
            zones.computeIfAbsent(zoneName, name -> new ArrayList<>());
            return new Zone(zoneName, null);
        }
        finally
        {
            lock.unlock();
        }
    }

    @Override
    public Zone open(final String zoneName)
    {
        ZoneNames.check(zoneName);
        lock.lock();
        try
        {
            return zones.containsKey(zoneName) ? new Zone(zoneName, null) : null;
        }
        finally
        {
            lock.unlock();
        }
    }

    /** {@inheritDoc} In memory; a test may plant any token to play another agent's zone. */
    @Override
    public boolean markOwner(final Zone zone, final String owner)
    {
        final String name = ZoneNames.check(zone.name());
        ZoneNames.checkOwner(owner);
        lock.lock();
        try
        {
            if (!zones.containsKey(name))
            {
                throw new ZoneException("cannot mark zone " + name + ": no such zone");
            }
            owners.put(name, owner);
            return true;
        }
        finally
        {
            lock.unlock();
        }
    }

    @Override
    public String owner(final Zone zone)
    {
        final String name = ZoneNames.check(zone.name());
        lock.lock();
        try
        {
            return owners.get(name);
        }
        finally
        {
            lock.unlock();
        }
    }

    /** {@inheritDoc} Nothing runs: the returned {@link FakeZoneProcess} lives until the test ends it. */
    @Override
    public ZoneProcess spawn(final Zone zone, final List<String> argv, final Path logFile)
    {
        final String name = ZoneNames.check(zone.name());
        Objects.requireNonNull(argv, "argv");
        Objects.requireNonNull(logFile, "logFile");
        lock.lock();
        try
        {
            record("spawn " + name + " " + argv);
            failIfScripted(Operation.SPAWN, name);
            if (closed)
            {
                throw new ZoneException("spawn in " + name + ": backend is closed");
            }
            final List<FakeZoneProcess> processes = zones.get(name);
            if (processes == null)
            {
                throw new ZoneException("spawn in " + name + ": no such zone");
            }
            if (argv.isEmpty())
            {
                throw new ZoneException("spawn in " + name + ": empty argv");
            }
            final FakeZoneProcess process = new FakeZoneProcess(this, name, nextPid++, argv, logFile);
            processes.add(process);
            return process;
        }
        finally
        {
            lock.unlock();
        }
    }

    /** {@inheritDoc} Every live process of the zone exits, unless the zone {@link #willNotEmpty}. */
    @Override
    public void killAll(final Zone zone)
    {
        final String name = ZoneNames.check(zone.name());
        final List<FakeZoneProcess> victims;
        lock.lock();
        try
        {
            record("killAll " + name);
            failIfScripted(Operation.KILL_ALL, name);
            if (willNotEmpty.contains(name))
            {
                return;
            }
            victims = new ArrayList<>(zones.getOrDefault(name, List.of()));
        }
        finally
        {
            lock.unlock();
        }
        // Outside the lock: exit() calls back into onExit, and completes futures whose stages may run here.
        victims.forEach(FakeZoneProcess::exit);
    }

    @Override
    public boolean isEmpty(final Zone zone)
    {
        final String name = ZoneNames.check(zone.name());
        lock.lock();
        try
        {
            return isEmptyLocked(name);
        }
        finally
        {
            lock.unlock();
        }
    }

    /** {@inheritDoc} Wakes on every exit and on {@link #willNotEmpty} changes. */
    @Override
    public boolean awaitEmpty(final Zone zone, final Duration bound) throws InterruptedException
    {
        final String name = ZoneNames.check(zone.name());
        long remainingNs = bound.isNegative() ? 0 : saturatedNanos(bound);
        lock.lock();
        try
        {
            while (!isEmptyLocked(name))
            {
                if (remainingNs <= 0)
                {
                    return false;
                }
                remainingNs = changed.awaitNanos(remainingNs);
            }
            return true;
        }
        finally
        {
            lock.unlock();
        }
    }

    /**
     * {@inheritDoc}
     *
     * @throws ZoneException with {@link ZoneException#EBUSY} if the zone is not empty, or if scripted to fail.
     */
    @Override
    public void destroy(final Zone zone)
    {
        final String name = ZoneNames.check(zone.name());
        lock.lock();
        try
        {
            record("destroy " + name);
            failIfScripted(Operation.DESTROY, name);
            if (!zones.containsKey(name))
            {
                return;
            }
            if (!isEmptyLocked(name))
            {
                throw new ZoneException("zone " + name + " is not empty", ZoneException.EBUSY, null);
            }
            zones.remove(name);
            owners.remove(name);
            changed.signalAll();
        }
        finally
        {
            lock.unlock();
        }
    }

    @Override
    public List<String> list()
    {
        lock.lock();
        try
        {
            return List.copyOf(zones.keySet());
        }
        finally
        {
            lock.unlock();
        }
    }

    /** Refuses further spawns; zones and processes stay, as with the real backends. */
    @Override
    public void close()
    {
        lock.lock();
        try
        {
            closed = true;
        }
        finally
        {
            lock.unlock();
        }
    }

    /**
     * Scripts "this zone will not empty": while set, the zone counts as populated (even with no process) and
     * {@link #killAll} and SIGKILL leave its processes running. Clearing it lets the next kill work.
     */
    public void willNotEmpty(final String zoneName, final boolean stuck)
    {
        lock.lock();
        try
        {
            if (stuck)
            {
                willNotEmpty.add(zoneName);
            }
            else
            {
                willNotEmpty.remove(zoneName);
            }
            changed.signalAll();
        }
        finally
        {
            lock.unlock();
        }
    }

    /** Scripts the next {@code times} calls of {@code operation} on {@code zoneName} to throw {@link ZoneException}. */
    public void failNext(final Operation operation, final String zoneName, final int times)
    {
        lock.lock();
        try
        {
            failures.put(new Failure(operation, zoneName), times);
        }
        finally
        {
            lock.unlock();
        }
    }

    /** Every create, spawn, killAll and destroy so far, e.g. {@code "killAll oxz_propolis-server_1"}. */
    public List<String> calls()
    {
        lock.lock();
        try
        {
            return List.copyOf(calls);
        }
        finally
        {
            lock.unlock();
        }
    }

    /** Every process spawned into the zone (alive or not), oldest first; empty for an unknown zone. */
    public List<FakeZoneProcess> processes(final String zoneName)
    {
        lock.lock();
        try
        {
            return List.copyOf(zones.getOrDefault(zoneName, List.of()));
        }
        finally
        {
            lock.unlock();
        }
    }

    /** True once {@link #close()} was called. */
    public boolean isClosed()
    {
        lock.lock();
        try
        {
            return closed;
        }
        finally
        {
            lock.unlock();
        }
    }

    boolean refusesToEmpty(final String zoneName)
    {
        lock.lock();
        try
        {
            return willNotEmpty.contains(zoneName);
        }
        finally
        {
            lock.unlock();
        }
    }

    void onExit(final FakeZoneProcess process)
    {
        lock.lock();
        try
        {
            changed.signalAll();
        }
        finally
        {
            lock.unlock();
        }
    }

    // Caller holds the lock.
    private boolean isEmptyLocked(final String name)
    {
        final List<FakeZoneProcess> processes = zones.get(name);
        if (processes == null)
        {
            return true;
        }
        if (willNotEmpty.contains(name))
        {
            return false;
        }
        for (final FakeZoneProcess process : processes)
        {
            if (process.isAlive())
            {
                return false;
            }
        }
        return true;
    }

    // Caller holds the lock.
    private void record(final String call)
    {
        calls.add(call);
    }

    // Caller holds the lock.
    private void failIfScripted(final Operation operation, final String zoneName)
    {
        final Failure key = new Failure(operation, zoneName);
        final Integer left = failures.get(key);
        if (left == null || left <= 0)
        {
            return;
        }
        if (left == 1)
        {
            failures.remove(key);
        }
        else
        {
            failures.put(key, left - 1);
        }
        throw new ZoneException("scripted failure: " + operation + " " + zoneName + " (" + (left - 1) +
            " more to come)");
    }

    private static long saturatedNanos(final Duration bound)
    {
        try
        {
            return bound.toNanos();
        }
        catch (final ArithmeticException ex)
        {
            return Long.MAX_VALUE / 2;
        }
    }

    @Override
    public String toString()
    {
        return NAME + "[" + list() + "]";
    }
}
