package sledagent.zones.pgroup;

import java.lang.System.Logger.Level;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import sledagent.zones.Zone;
import sledagent.zones.ZoneBackend;
import sledagent.zones.ZoneException;
import sledagent.zones.ZoneNames;
import sledagent.zones.ZoneProcess;
import sledagent.zones.linux.PidfdProcess;
import sledagent.zones.linux.PidfdWatcher;
import sledagent.zones.linux.ProcStat;
import sledagent.zones.linux.ProcessSignals;

/**
 * The weaker Linux backend, for hosts where the agent cannot write to cgroup v2: a zone is the set of
 * sessions and process groups of the main processes spawned into it, each in a new PID namespace where
 * {@code unshare --pid} is permitted (see {@link SessionLauncher}).
 *
 * <ul>
 *   <li>kill: {@code kill(-pgid, SIGKILL)} while the leader is known alive, SIGKILL to the leader through its
 *       pidfd, then SIGKILL through a pidfd to every remaining member found in {@code /proc};</li>
 *   <li>empty: every leader's pidfd has exited and {@code /proc} shows no live (non-zombie) process in its
 *       group or session. With a PID namespace, the namespace's init is in the group and only turns zombie after
 *       every process of the namespace is gone, so this covers processes that started a session of their own.</li>
 * </ul>
 *
 * <p>Why it is weaker than {@code linux-cgroup2}, plainly:
 * <ul>
 *   <li>Without a PID namespace, a process that calls {@code setsid} (or joins another session) leaves the zone:
 *       it is neither killed nor counted.</li>
 *   <li>Zones exist only in this backend object. {@link #list()} cannot see zones of an earlier agent run (or
 *       of another backend instance), and after {@link #close()} this one knows none either; their processes keep
 *       running, unreachable by the sweep. Restart the host, or switch to cgroup v2, to get them back.</li>
 *   <li>After a leader has exited, membership relies on its pid not being reused while members remain; the
 *       kernel guarantees that while any member is alive, but a group scanned again only after it fully ended
 *       is recognised as gone only if the pid's new owner has another start time.</li>
 * </ul>
 *
 * <p>Thread-safe: each zone has its own lock; {@code /proc} is scanned without holding any.
 */
public final class ProcessGroupZoneBackend implements ZoneBackend
{
    /** {@link #name()} of this backend. */
    public static final String NAME = "linux-pgroup";

    private static final System.Logger LOG = System.getLogger(ProcessGroupZoneBackend.class.getName());
    /** Longest {@link #spawn} waits for the new process to lead its own session. */
    private static final long JOIN_BOUND_MS = 2000;
    private static final long JOIN_CHECK_NS = TimeUnit.MICROSECONDS.toNanos(200);
    private static final long AWAIT_FIRST_NS = TimeUnit.MILLISECONDS.toNanos(1);
    private static final long AWAIT_MAX_NS = TimeUnit.MILLISECONDS.toNanos(10);
    /** Scans for members after the group kill: catches ones forked while it ran. */
    private static final int KILL_ROUNDS = 2;

    private final boolean pidNamespace;
    private final String description;
    private final PidfdWatcher watcher;
    private final Map<String, ZoneRecord> zones = new ConcurrentHashMap<>();

    /** The processes of one zone; guarded by itself. */
    private static final class ZoneRecord
    {
        final List<ProcessGroup> groups = new ArrayList<>();
        boolean destroyed;
        /** The owner mark; kept in memory like the zone itself. */
        volatile String owner;
    }

    /**
     * A backend that uses a PID namespace per main process if {@code unshare --pid} works here (tried once, at
     * most 2 s), and says which in its log. Starts one daemon thread that watches main processes.
     *
     * @throws ZoneException if the platform has no pidfds (Linux before 5.3, or not Linux).
     */
    public ProcessGroupZoneBackend()
    {
        this(SessionLauncher.pidNamespaceProblem());
    }

    private ProcessGroupZoneBackend(final Optional<String> pidNamespaceProblem)
    {
        this(pidNamespaceProblem.isEmpty(), pidNamespaceProblem.map(why -> "no PID namespace: " + why)
            .orElse("a PID namespace per VMM"));
    }

    /**
     * @param pidNamespace whether to start each main process in a new PID namespace; tests pass false to see
     *                     the backend without one.
     * @param why          how that was decided, for the log.
     */
    ProcessGroupZoneBackend(final boolean pidNamespace, final String why)
    {
        this.pidNamespace = pidNamespace;
        this.description = "session and process group per VMM, " + why;
        watcher = new PidfdWatcher("zone-pgroup-pidfd-watcher");
        LOG.log(Level.WARNING, "zones: weaker process-group backend (no cgroup): {0}; zones of an earlier agent "
            + "run are not seen", description);
    }

    /** True if main processes start in their own PID namespace. */
    public boolean usesPidNamespace()
    {
        return pidNamespace;
    }

    /** What this backend does, e.g. {@code "session and process group per VMM, a PID namespace per VMM"}. */
    public String description()
    {
        return description;
    }

    @Override
    public String name()
    {
        return NAME;
    }

    @Override
    public Zone create(final String zoneName)
    {
        ZoneNames.check(zoneName);
        zones.computeIfAbsent(zoneName, name -> new ZoneRecord());
        return new Zone(zoneName, null);
    }

    @Override
    public Zone open(final String zoneName)
    {
        ZoneNames.check(zoneName);
        return zones.containsKey(zoneName) ? new Zone(zoneName, null) : null;
    }

    /**
     * {@inheritDoc}
     *
     * <p>Returns once the process leads its own session (or has exited), waiting at most 2 s, so a
     * {@link #killAll} right after cannot miss a child it forks. With a PID namespace the returned process is
     * {@code unshare}, which blocks SIGINT and SIGTERM; use SIGKILL or {@link #killAll}.
     */
    @Override
    public ZoneProcess spawn(final Zone zone, final List<String> argv, final Path logFile)
    {
        final String name = ZoneNames.check(zone.name());
        Objects.requireNonNull(argv, "argv");
        Objects.requireNonNull(logFile, "logFile");
        if (!watcher.isRunning())
        {
            throw new ZoneException("spawn in " + name + ": backend is closed");
        }
        final ZoneRecord record = zones.get(name);
        if (record == null)
        {
            throw new ZoneException("spawn in " + name + ": no such zone");
        }
        synchronized (record)
        {
            if (record.destroyed)
            {
                throw new ZoneException("spawn in " + name + ": zone was destroyed");
            }
            final Process process = SessionLauncher.start(pidNamespace, argv, logFile);
            final ZoneProcess own;
            final ZoneProcess handle;
            try
            {
                own = PidfdProcess.of(null, process);
            }
            catch (final RuntimeException ex)
            {
                process.destroyForcibly(); // Not reaped yet, so this still names our child.
                throw ex;
            }
            try
            {
                handle = PidfdProcess.of(watcher, process);
            }
            catch (final RuntimeException ex)
            {
                own.signal(ProcessSignals.SIGKILL);
                own.close();
                throw ex;
            }
            final long startTicks = awaitSessionLeader(own, handle);
            record.groups.add(new ProcessGroup(own, startTicks));
            return handle;
        }
    }

    /**
     * Waits until the process leads its own session (its pid is its session id), so that whatever it forks from
     * now on is in the group. On timeout it is SIGKILLed through its pidfd.
     *
     * @return its start time, to tell it from a later process with the same pid; 0 if it was already reaped
     *         (its pid stays reserved while any member of its group lives, so nothing can be mistaken for it).
     */
    private static long awaitSessionLeader(final ZoneProcess own, final ZoneProcess handle)
    {
        final long pid = own.pid();
        final long deadlineNs = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(JOIN_BOUND_MS);
        boolean interrupted = false;
        try
        {
            while (true)
            {
                final Optional<ProcStat> stat = ProcStat.read(pid);
                if (stat.isEmpty())
                {
                    return 0;
                }
                // A zombie will not change session any more; its start time still names it.
                if (stat.get().session() == pid || stat.get().isZombie())
                {
                    return stat.get().startTicks();
                }
                if (System.nanoTime() - deadlineNs >= 0)
                {
                    own.signal(ProcessSignals.SIGKILL);
                    own.close();
                    handle.close();
                    throw new ZoneException("spawn: pid " + pid + " did not start its own session within " +
                        JOIN_BOUND_MS + " ms; killed it");
                }
                // setsid needs about a millisecond to be exec'd and call setsid().
                LockSupport.parkNanos(JOIN_CHECK_NS);
                interrupted |= Thread.interrupted();
            }
        }
        finally
        {
            if (interrupted)
            {
                Thread.currentThread().interrupt();
            }
        }
    }

    @Override
    public void killAll(final Zone zone)
    {
        final List<ProcessGroup> groups = groupsOf(zone);
        for (final ProcessGroup group : groups)
        {
            group.killLeaderAndGroup();
        }
        for (int round = 0; round < KILL_ROUNDS; round++)
        {
            final List<ProcStat> snapshot = ProcStat.all();
            int signalled = 0;
            for (final ProcessGroup group : groups)
            {
                signalled += group.killMembers(snapshot);
            }
            if (signalled == 0)
            {
                return;
            }
        }
    }

    @Override
    public boolean isEmpty(final Zone zone)
    {
        final String name = ZoneNames.check(zone.name());
        final ZoneRecord record = zones.get(name);
        if (record == null)
        {
            return true;
        }
        final List<ProcStat> snapshot = ProcStat.all();
        synchronized (record)
        {
            // An empty group can never fill again (nothing can join a group that has no member), so drop it: its
            // number may be reused by a stranger later.
            record.groups.removeIf(group ->
            {
                final boolean empty = group.isEmpty(snapshot);
                if (empty)
                {
                    group.close();
                }
                return empty;
            });
            return record.groups.isEmpty();
        }
    }

    @Override
    public boolean awaitEmpty(final Zone zone, final Duration bound) throws InterruptedException
    {
        final long deadlineNs = System.nanoTime() + Math.max(0, saturatedNanos(bound));
        long pauseNs = AWAIT_FIRST_NS;
        while (true)
        {
            if (isEmpty(zone))
            {
                return true;
            }
            final long remainingNs = deadlineNs - System.nanoTime();
            if (remainingNs <= 0)
            {
                return false;
            }
            if (Thread.interrupted())
            {
                throw new InterruptedException("awaiting zone " + zone.name() + " to empty");
            }
            // A /proc scan costs about a millisecond, so back off from 1 ms to 10 ms between scans.
            LockSupport.parkNanos(Math.min(pauseNs, remainingNs));
            pauseNs = Math.min(pauseNs * 2, AWAIT_MAX_NS);
        }
    }

    /**
     * {@inheritDoc}
     *
     * @throws ZoneException with errno {@link ZoneException#EBUSY} if the zone still has processes.
     */
    @Override
    public void destroy(final Zone zone)
    {
        final String name = ZoneNames.check(zone.name());
        final ZoneRecord record = zones.get(name);
        if (record == null)
        {
            return;
        }
        synchronized (record)
        {
            if (!isEmpty(zone))
            {
                throw new ZoneException("zone " + name + " is not empty: " + record.groups, ZoneException.EBUSY,
                    null);
            }
            record.destroyed = true;
            zones.remove(name, record);
        }
    }

    /** {@inheritDoc} In memory, like the zone: this backend only ever lists zones it made itself. */
    @Override
    public boolean markOwner(final Zone zone, final String owner)
    {
        ZoneNames.checkOwner(owner);
        final ZoneRecord record = zones.get(ZoneNames.check(zone.name()));
        if (record == null)
        {
            throw new ZoneException("cannot mark zone " + zone.name() + ": no such zone");
        }
        record.owner = owner;
        return true;
    }

    @Override
    public String owner(final Zone zone)
    {
        final ZoneRecord record = zones.get(ZoneNames.check(zone.name()));
        return record == null ? null : record.owner;
    }

    /** {@inheritDoc} Only zones created through this backend object since it was constructed. */
    @Override
    public List<String> list()
    {
        final List<String> names = new ArrayList<>(zones.keySet());
        names.sort(null);
        return names;
    }

    /**
     * Stops the pidfd watcher and releases the backend's own pidfds. Processes and the handles given to callers
     * are left alone, but this backend forgets its zones: nothing can find them again.
     */
    @Override
    public void close()
    {
        watcher.close();
        for (final ZoneRecord record : zones.values())
        {
            synchronized (record)
            {
                record.groups.forEach(ProcessGroup::close);
                record.groups.clear();
            }
        }
        zones.clear();
    }

    private List<ProcessGroup> groupsOf(final Zone zone)
    {
        final ZoneRecord record = zones.get(ZoneNames.check(zone.name()));
        if (record == null)
        {
            return List.of();
        }
        synchronized (record)
        {
            return new ArrayList<>(record.groups);
        }
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
        return NAME + "[" + description + "]";
    }
}
