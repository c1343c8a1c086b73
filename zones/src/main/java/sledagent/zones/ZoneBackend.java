package sledagent.zones;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * A zone is a box of processes that dies as one. Every backend (Linux cgroup v2, illumos zones, the
 * in-memory fake) offers the same operations, each bounded: nothing here waits without a deadline.
 *
 * <p>Zone names are {@code oxz_propolis-server_<propolis_id>}; a backend only ever touches zones under its
 * own root. All methods are thread-safe; they may block for the stated bound and so must not be called from
 * an event loop or an actor.
 */
public interface ZoneBackend extends AutoCloseable
{
    /** Prefix of every zone this agent creates. */
    String ZONE_PREFIX = "oxz_propolis-server_";

    /** A short name for logs, e.g. {@code "linux-cgroup2"}. */
    String name();

    /** Creates the zone, or returns the existing one of that name if it is there already. */
    Zone create(String zoneName);

    /** A handle on an existing zone, or null if there is none of that name. */
    Zone open(String zoneName);

    /**
     * Starts {@code argv} as the zone's main process: inside the zone before it can fork, in a new PID
     * namespace and session, stdin from /dev/null, stdout and stderr appended to {@code logFile}. No pipe
     * to the agent is kept, so the process does not depend on the agent staying alive.
     */
    ZoneProcess spawn(Zone zone, List<String> argv, Path logFile);

    /**
     * Takes hold again of a zone's main process started by an earlier run of the agent: only if {@code pid}
     * is still the process that started at {@code startTicks} and it is inside {@code zone}. Returns null if
     * it is not (it exited, or the pid now names another process).
     */
    default ZoneProcess adopt(final Zone zone, final long pid, final long startTicks)
    {
        throw new ZoneException(name() + " cannot adopt processes of an earlier run");
    }

    /** SIGKILLs every process in the zone, including ones forked during the kill. Idempotent. */
    void killAll(Zone zone);

    /**
     * Whether {@link #killAll} returns at once (one write or signal, nothing waited for), so that a caller may run
     * it on a thread that must never block. False unless a backend knows.
     */
    default boolean killsAtOnce()
    {
        return false;
    }

    /** True when no process is left in the zone (or the zone is gone). */
    boolean isEmpty(Zone zone);

    /** Waits at most {@code bound} for the zone to be empty; true if it is. */
    boolean awaitEmpty(Zone zone, Duration bound) throws InterruptedException;

    /** Removes an empty zone; a zone that is already gone is not an error. */
    void destroy(Zone zone);

    /**
     * Kill, bounded wait, remove: {@link #killAll}, then {@link #awaitEmpty} for at most {@code bound}, then
     * {@link #destroy} if the zone emptied. The one way every caller (teardown, sweeper, tools, tests) takes a zone
     * down. Safe to repeat; a zone that is already gone counts as removed.
     *
     * @return true if the zone is gone; false if processes were still in it after {@code bound} (it was killed but
     *         left in place, so that a later call can finish the job)
     * @throws ZoneException if the kill or the removal fails (the zone may then still exist)
     * @throws InterruptedException if interrupted while waiting (the zone was killed and is left in place)
     */
    default boolean killAndRemove(final Zone zone, final Duration bound) throws InterruptedException
    {
        killAll(zone);
        if (!awaitEmpty(zone, bound))
        {
            return false;
        }
        destroy(zone);
        return true;
    }

    /**
     * {@link #killAndRemove} for every zone {@link #list} names, one after another, each waited for at most
     * {@code boundEach}: for tools and tests clearing a root they own (the agent's sweeper spares known and foreign
     * zones, and does its own loop).
     *
     * @return the names of the zones still standing (not empty in time, or a {@link ZoneException}); empty if all
     *         went
     */
    default List<String> killAndRemoveAll(final Duration boundEach) throws InterruptedException
    {
        final List<String> standing = new ArrayList<>();
        for (final String name : list())
        {
            try
            {
                final Zone zone = open(name);
                if (zone != null && !killAndRemove(zone, boundEach))
                {
                    standing.add(name);
                }
            }
            catch (final ZoneException ex)
            {
                standing.add(name);
            }
        }
        return standing;
    }

    /**
     * Marks {@code zone} as belonging to the agent whose owner token is {@code owner}, where the backend keeps
     * it with the zone (a cgroup xattr on Linux), so that an agent sweeping the same root can tell its own
     * zones from another agent's. Replaces an earlier mark.
     *
     * @param owner a token checked by {@link ZoneNames#checkOwner}
     * @return true if the mark is stored; false if this backend cannot store marks (its zones stay unmarked)
     */
    default boolean markOwner(final Zone zone, final String owner)
    {
        ZoneNames.checkOwner(owner);
        return false;
    }

    /**
     * The owner token stored with {@code zone} by {@link #markOwner}, or null if it has none (made by an agent
     * version without marks, marked by nobody yet, gone, or a backend that cannot store marks).
     */
    default String owner(final Zone zone)
    {
        return null;
    }

    /** Names of every zone with {@link #ZONE_PREFIX} under this backend's root. */
    List<String> list();

    /** Releases the backend's own resources (watcher threads, fds). Leaves zones and processes alone. */
    @Override
    void close();
}
