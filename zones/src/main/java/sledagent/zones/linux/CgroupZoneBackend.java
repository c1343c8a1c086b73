package sledagent.zones.linux;

import static sledagent.zones.linux.LinuxLibC.EBUSY;
import static sledagent.zones.linux.LinuxLibC.EEXIST;
import static sledagent.zones.linux.LinuxLibC.ENOENT;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import com.sun.jna.LastErrorException;

import sledagent.zones.Zone;
import sledagent.zones.ZoneBackend;
import sledagent.zones.ZoneException;
import sledagent.zones.ZoneProcess;

/**
 * Zones as cgroup v2 leaves under one root directory, with each main process in its own session and PID
 * namespace and held by a pidfd.
 *
 * <ul>
 *   <li>kill: write {@code 1} to {@code cgroup.kill} (Linux 5.14+), which SIGKILLs every task, including
 *       ones forked during the kill;</li>
 *   <li>empty: {@code populated 0} in {@code cgroup.events}, waited for with a bound;</li>
 *   <li>destroy: {@code rmdir}.</li>
 * </ul>
 *
 * <p>Only direct children of the root whose names start with {@link ZoneBackend#ZONE_PREFIX} are ever
 * touched (see {@link CgroupRoot}). No {@code PR_SET_PDEATHSIG} is used: zones outlive the agent, which
 * finds them again with {@link #list()}. Thread-safe.
 */
public final class CgroupZoneBackend implements ZoneBackend
{
    /** {@link #name()} of this backend. */
    public static final String NAME = "linux-cgroup2";

    private static final byte[] KILL = {'1'};
    private static final int DIR_MODE = 0755;
    /** Longest {@link #spawn} waits for the new process to move itself into the zone. */
    private static final long JOIN_BOUND_MS = 2000;
    private static final long JOIN_CHECK_NS = TimeUnit.MICROSECONDS.toNanos(200);

    private final CgroupRoot root;
    private final LinuxLibC libc;
    private final PidfdWatcher watcher;

    /**
     * A backend keeping its zones under {@code zoneRoot}, which is created (with parents) if missing and must
     * be a cgroup v2 directory. Starts one daemon thread that watches the zones' main processes.
     *
     * @param zoneRoot absolute path of a cgroup v2 directory; tests pass a unique subdirectory of
     *                 {@link CgroupRoot#agentCgroupDir()}.
     * @throws ZoneException if the platform is unsupported or the root cannot be created or is not cgroup v2.
     */
    public CgroupZoneBackend(final Path zoneRoot)
    {
        root = new CgroupRoot(zoneRoot);
        libc = LinuxLibC.instance();
        try
        {
            Files.createDirectories(root.dir());
        }
        catch (final IOException ex)
        {
            throw new ZoneException("cannot create the zone root " + root.dir(), ex);
        }
        // cgroup.controllers exists in every cgroup v2 directory (the hierarchy root included) and nowhere else.
        if (!Files.isRegularFile(root.dir().resolve("cgroup.controllers")))
        {
            throw new ZoneException("zone root " + root.dir() + " is not a cgroup v2 directory");
        }
        watcher = new PidfdWatcher("zone-pidfd-watcher");
    }

    /**
     * A backend rooted at the agent's own cgroup, {@code <cgroup2 mount>/<own cgroup path>} (see
     * {@link CgroupRoot#agentCgroupDir()}). Tests must not use this; they pass their own unique
     * subdirectory to the constructor.
     */
    public static CgroupZoneBackend atAgentCgroup()
    {
        return new CgroupZoneBackend(CgroupRoot.agentCgroupDir());
    }

    /** The zone root directory. */
    public Path root()
    {
        return root.dir();
    }

    @Override
    public String name()
    {
        return NAME;
    }

    @Override
    public Zone create(final String zoneName)
    {
        final Path dir = root.zonePath(zoneName);
        try
        {
            libc.mkdir(dir.toString(), DIR_MODE);
        }
        catch (final LastErrorException ex)
        {
            if (ex.getErrorCode() != EEXIST || !Files.isDirectory(dir))
            {
                throw new ZoneException("mkdir " + dir, ex.getErrorCode(), ex);
            }
        }
        return new Zone(zoneName, dir);
    }

    @Override
    public Zone open(final String zoneName)
    {
        final Path dir = root.zonePath(zoneName);
        return Files.isDirectory(dir) ? new Zone(zoneName, dir) : null;
    }

    /**
     * {@inheritDoc}
     *
     * <p>Returns once the process is inside the zone (or has already exited), waiting at most 2 s for that.
     * The returned process is {@code unshare}, the parent of the namespace's init ({@code argv}); it exits
     * when argv does. It blocks SIGINT and SIGTERM, so stop a VMM through its API or with {@link #killAll}.
     */
    @Override
    public ZoneProcess spawn(final Zone zone, final List<String> argv, final Path logFile)
    {
        final Path dir = root.checkZone(zone);
        Objects.requireNonNull(argv, "argv");
        Objects.requireNonNull(logFile, "logFile");
        if (!watcher.isRunning())
        {
            throw new ZoneException("spawn in " + zone.name() + ": backend is closed");
        }
        if (!Files.isDirectory(dir))
        {
            throw new ZoneException("spawn in " + zone.name() + ": no zone at " + dir);
        }
        final Process process = ZoneLauncher.start(dir, argv, logFile);
        final PidfdProcess handle;
        try
        {
            handle = PidfdProcess.open(libc, watcher, process);
        }
        catch (final RuntimeException ex)
        {
            // Not reaped yet, so the JDK's kill still names our child; better dead than running unwatched.
            process.destroyForcibly();
            throw ex;
        }
        awaitInZone(dir, handle);
        return handle;
    }

    /**
     * Waits until the new process has moved itself into the zone (or exited), so that a {@link #killAll}
     * issued right after spawn cannot miss it. On timeout the process, still outside the zone, is SIGKILLed
     * through its pidfd.
     */
    private static void awaitInZone(final Path dir, final PidfdProcess handle)
    {
        final Path procs = dir.resolve("cgroup.procs");
        final String pid = Long.toString(handle.pid());
        final long deadlineNs = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(JOIN_BOUND_MS);
        boolean interrupted = false;
        try
        {
            while (handle.isAlive())
            {
                if (listsPid(procs, pid))
                {
                    return;
                }
                if (System.nanoTime() - deadlineNs >= 0)
                {
                    handle.signal(LinuxLibC.SIGKILL);
                    handle.close();
                    throw new ZoneException("spawn: pid " + pid + " did not enter " + dir + " within " +
                        JOIN_BOUND_MS + " ms; killed it");
                }
                // The shell needs about a millisecond to start and write cgroup.procs.
                LockSupport.parkNanos(JOIN_CHECK_NS);
                // parkNanos returns at once while interrupted: remember the flag, restore it on the way out.
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

    private static boolean listsPid(final Path procs, final String pid)
    {
        try
        {
            for (final String line : Files.readAllLines(procs))
            {
                if (line.equals(pid))
                {
                    return true;
                }
            }
            return false;
        }
        catch (final IOException ex)
        {
            return false; // Zone removed meanwhile: the shell's move-in fails and it exits.
        }
    }

    @Override
    public void killAll(final Zone zone)
    {
        final Path dir = root.checkZone(zone);
        final Path kill = dir.resolve("cgroup.kill");
        try
        {
            // WRITE without CREATE: never create a file in cgroupfs, and fail if the zone is gone.
            Files.write(kill, KILL, StandardOpenOption.WRITE);
        }
        catch (final NoSuchFileException ex)
        {
            if (Files.isDirectory(dir))
            {
                throw new ZoneException("no " + kill + ": cgroup.kill needs Linux 5.14+", ex);
            }
            // Zone already gone: nothing left to kill.
        }
        catch (final IOException ex)
        {
            if (Files.isDirectory(dir))
            {
                throw new ZoneException("cannot write " + kill, ex);
            }
        }
    }

    @Override
    public boolean isEmpty(final Zone zone)
    {
        return CgroupEvents.isEmpty(root.checkZone(zone));
    }

    @Override
    public boolean awaitEmpty(final Zone zone, final Duration bound) throws InterruptedException
    {
        return CgroupEvents.awaitEmpty(libc, root.checkZone(zone), bound);
    }

    /**
     * {@inheritDoc}
     *
     * @throws ZoneException with errno EBUSY (16) if the zone still has processes (or child cgroups).
     */
    @Override
    public void destroy(final Zone zone)
    {
        final Path dir = root.checkZone(zone);
        try
        {
            libc.rmdir(dir.toString());
        }
        catch (final LastErrorException ex)
        {
            final int errno = ex.getErrorCode();
            if (errno == ENOENT)
            {
                return;
            }
            throw new ZoneException(errno == EBUSY ? "zone " + zone.name() + " is not empty: rmdir " + dir :
                "rmdir " + dir, errno, ex);
        }
    }

    @Override
    public List<String> list()
    {
        if (!Files.isDirectory(root.dir()))
        {
            return List.of();
        }
        try (Stream<Path> children = Files.list(root.dir()))
        {
            return children
                .filter(Files::isDirectory)
                .map(child -> child.getFileName().toString())
                .filter(name -> name.startsWith(ZONE_PREFIX))
                .sorted()
                .collect(Collectors.toList());
        }
        catch (final IOException ex)
        {
            throw new ZoneException("cannot list " + root.dir(), ex);
        }
    }

    /** Stops the pidfd watcher. Zones, their processes and open {@link ZoneProcess} handles are left alone. */
    @Override
    public void close()
    {
        watcher.close();
    }

    @Override
    public String toString()
    {
        return NAME + "[" + root.dir() + "]";
    }

    // For tests: how many processes the watcher is waiting on.
    int watchedCount()
    {
        return watcher.watchedCount();
    }
}
