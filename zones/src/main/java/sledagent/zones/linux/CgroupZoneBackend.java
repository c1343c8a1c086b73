package sledagent.zones.linux;

import static sledagent.zones.linux.LinuxLibC.EBUSY;
import static sledagent.zones.linux.LinuxLibC.EEXIST;
import static sledagent.zones.linux.LinuxLibC.ENODATA;
import static sledagent.zones.linux.LinuxLibC.ENOENT;
import static sledagent.zones.linux.LinuxLibC.EOPNOTSUPP;

import com.sun.jna.LastErrorException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import sledagent.zones.Zone;
import sledagent.zones.ZoneBackend;
import sledagent.zones.ZoneException;
import sledagent.zones.ZoneNames;
import sledagent.zones.ZoneProcess;

/**
 * Zones as cgroup v2 leaves under one root directory, with each main process in its own session and PID
 * namespace and held by a pidfd.
 *
 * <ul>
 *   <li>kill: write {@code 1} to {@code cgroup.kill} (Linux 5.14+), which SIGKILLs every task, including
 *       ones forked during the kill. Without {@code cgroup.kill} (Linux 5.2 to 5.13): freeze the zone, SIGKILL
 *       every task through a pidfd, thaw;</li>
 *   <li>empty: {@code populated 0} in {@code cgroup.events}, waited for with a bound;</li>
 *   <li>destroy: {@code rmdir}.</li>
 * </ul>
 *
 * <p>Only direct children of the root whose names start with {@link ZoneBackend#ZONE_PREFIX} are ever
 * touched (see {@link CgroupRoot}); {@link #pids} freezes the zone to list a stable tree. No
 * {@code PR_SET_PDEATHSIG} is used: zones outlive the agent, which
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
    /** Longest wait for {@code frozen 1} after a freeze. */
    static final Duration FREEZE_BOUND = Duration.ofMillis(1000);
    /** Freeze-and-kill passes when the freeze does not settle (each pass kills what it sees). */
    private static final int FREEZE_KILL_ROUNDS = 3;
    private static final String PROCS = "cgroup.procs";
    /**
     * Where a zone's owner mark is kept: a {@code user.} xattr on the zone's cgroup directory (cgroup v2 has
     * them since Linux 5.7); on older kernels, which only have {@code trusted.} xattrs there (root only), that.
     */
    private static final List<String> OWNER_XATTRS = List.of("user.sledagent.owner", "trusted.sledagent.owner");
    private static final int OWNER_MAX_BYTES = 64;

    private final CgroupRoot root;
    private final LinuxLibC libc;
    private final PidfdWatcher watcher;
    private final boolean useCgroupKill;
    /** A descriptor kept for the kill when the process has none left. */
    private final DescriptorReserve reserve = new DescriptorReserve();
    // One freeze at a time: a thaw of one caller must not cut short another caller's frozen read.
    private final Object freezeLock = new Object();

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
        this(zoneRoot, true);
    }

    /**
     * As {@link #CgroupZoneBackend(Path)}; {@code useCgroupKill=false} always kills by freezing, which tests
     * use to exercise the fallback on a kernel that has {@code cgroup.kill}.
     */
    CgroupZoneBackend(final Path zoneRoot, final boolean useCgroupKill)
    {
        this.useCgroupKill = useCgroupKill;
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

    /**
     * {@inheritDoc}
     *
     * <p>Writes {@code 1} to {@code cgroup.kill}. Where that file is missing (Linux before 5.14), freezes the
     * zone so nothing can fork, SIGKILLs every listed task through a pidfd, and thaws it.
     */
    /** With {@code cgroup.kill}: one write. Without it the freeze is waited for. */
    @Override
    public boolean killsAtOnce()
    {
        return useCgroupKill;
    }

    @Override
    public void killAll(final Zone zone)
    {
        final Path dir = root.checkZone(zone);
        if (!useCgroupKill)
        {
            killByFreezing(dir);
            return;
        }
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
                killByFreezing(dir); // Linux 5.2 to 5.13: no cgroup.kill.
            }
            // Zone already gone: nothing left to kill.
        }
        catch (final IOException ex)
        {
            if (DescriptorReserve.isExhaustion(ex))
            {
                // Out of descriptors: the kill must not wait for one to free up.
                try
                {
                    reserve.runWithSpare(() -> Files.write(kill, KILL, StandardOpenOption.WRITE));
                    return;
                }
                catch (final IOException again)
                {
                    ex.addSuppressed(again);
                }
            }
            if (Files.isDirectory(dir))
            {
                throw new ZoneException("cannot write " + kill, ex);
            }
        }
    }

    /**
     * The kill fallback: freeze (no task can fork while frozen), SIGKILL every task of the zone and its child
     * cgroups through a pidfd, thaw. Frozen tasks still die of SIGKILL. If the freeze does not settle within
     * {@link #FREEZE_BOUND}, what was seen is killed anyway and the pass is repeated.
     */
    void killByFreezing(final Path dir)
    {
        synchronized (freezeLock)
        {
            for (int round = 0; round < FREEZE_KILL_ROUNDS; round++)
            {
                final boolean frozen = CgroupFreezer.freeze(libc, dir, FREEZE_BOUND);
                try
                {
                    final List<Long> pids = procsRecursive(dir);
                    for (final long pid : pids)
                    {
                        // Re-read after pinning: only a task still listed in this zone is signalled.
                        ProcessSignals.killIf(pid, pinned -> procsRecursive(dir).contains(pinned));
                    }
                    if (frozen || pids.isEmpty())
                    {
                        return;
                    }
                }
                finally
                {
                    CgroupFreezer.thaw(dir);
                }
            }
        }
    }

    /**
     * Every pid in the zone and its child cgroups, read while the zone is frozen, so the list is one consistent
     * moment: nothing forks or exits by itself between the reads. The zone is thawed before this returns.
     * A zone that is gone has no pids. (The agent never freezes a zone otherwise; this thaws it either way.)
     *
     * @throws ZoneException if the zone does not reach {@code frozen 1} within 1 s (it is thawed again).
     */
    public List<Long> pids(final Zone zone)
    {
        final Path dir = root.checkZone(zone);
        if (!Files.isDirectory(dir))
        {
            return List.of();
        }
        synchronized (freezeLock)
        {
            final boolean frozen = CgroupFreezer.freeze(libc, dir, FREEZE_BOUND);
            try
            {
                if (!frozen)
                {
                    throw new ZoneException("zone " + zone.name() + " did not freeze within " +
                        FREEZE_BOUND.toMillis() + " ms; its process list would not be stable");
                }
                return procsRecursive(dir);
            }
            finally
            {
                CgroupFreezer.thaw(dir);
            }
        }
    }

    /** The pids in {@code cgroup.procs} of {@code dir} and every cgroup below it; empty if it is gone. */
    private static List<Long> procsRecursive(final Path dir)
    {
        final List<Long> pids = new ArrayList<>();
        try (Stream<Path> dirs = Files.walk(dir))
        {
            for (final Path cgroup : (Iterable<Path>)dirs.filter(Files::isDirectory)::iterator)
            {
                for (final String line : Files.readAllLines(cgroup.resolve(PROCS)))
                {
                    if (!line.isBlank())
                    {
                        pids.add(Long.parseLong(line.trim()));
                    }
                }
            }
        }
        catch (final IOException | UncheckedIOException ex)
        {
            if (Files.isDirectory(dir))
            {
                throw new ZoneException("cannot read the processes of " + dir, ex);
            }
            return List.of(); // Removed while we read it.
        }
        return pids;
    }

    /**
     * Checks that this backend can work under its root: creates and removes a probe cgroup (named so that it is
     * never taken for a zone) and looks at what it offers.
     *
     * @return how zones will be killed: {@code "cgroup.kill"} or the freeze fallback.
     * @throws ZoneException if the probe cannot be created or removed, processes cannot be moved into the root's
     *                       subtree, or the kernel has neither {@code cgroup.kill} nor {@code cgroup.freeze}.
     */
    public String probe()
    {
        if (!Files.isWritable(root.dir().resolve(PROCS)))
        {
            throw new ZoneException(root.dir().resolve(PROCS) + " is not writable: cannot move processes into zones");
        }
        final Path probe = root.dir().resolve("zoneprobe-" + ProcessHandle.current().pid() + "-" + System.nanoTime());
        try
        {
            libc.mkdir(probe.toString(), DIR_MODE);
        }
        catch (final LastErrorException ex)
        {
            throw new ZoneException("cannot create a cgroup under " + root.dir(), ex.getErrorCode(), ex);
        }
        try
        {
            if (Files.isRegularFile(probe.resolve("cgroup.kill")))
            {
                return "cgroup.kill";
            }
            if (CgroupFreezer.supported(probe))
            {
                return "freeze and pidfd SIGKILL (no cgroup.kill before Linux 5.14)";
            }
            throw new ZoneException("cgroup " + probe + " has neither cgroup.kill nor cgroup.freeze (Linux < 5.2)");
        }
        finally
        {
            try
            {
                libc.rmdir(probe.toString());
            }
            catch (final LastErrorException ex)
            {
                throw new ZoneException("cannot remove the probe cgroup " + probe, ex.getErrorCode(), ex);
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

    /** {@inheritDoc} Kept as an xattr of the zone's cgroup directory, so it outlives the agent. */
    @Override
    public boolean markOwner(final Zone zone, final String owner)
    {
        final Path dir = root.checkZone(zone);
        final byte[] value = ZoneNames.checkOwner(owner).getBytes(StandardCharsets.US_ASCII);
        LastErrorException last = null;
        for (final String name : OWNER_XATTRS)
        {
            try
            {
                libc.setxattr(dir.toString(), name, value, value.length, 0);
                return true;
            }
            catch (final LastErrorException ex)
            {
                if (ex.getErrorCode() != EOPNOTSUPP)
                {
                    throw new ZoneException("cannot mark zone " + zone.name() + " (setxattr " + name + ")",
                        ex.getErrorCode(), ex);
                }
                last = ex;
            }
        }
        throw new ZoneException("cannot mark zone " + zone.name() + ": no xattrs on " + dir,
            last.getErrorCode(), last);
    }

    @Override
    public String owner(final Zone zone)
    {
        final Path dir = root.checkZone(zone);
        final byte[] buffer = new byte[OWNER_MAX_BYTES];
        for (final String name : OWNER_XATTRS)
        {
            try
            {
                final long length = libc.getxattr(dir.toString(), name, buffer, buffer.length);
                return new String(buffer, 0, (int)length, StandardCharsets.US_ASCII);
            }
            catch (final LastErrorException ex)
            {
                final int errno = ex.getErrorCode();
                if (errno == ENOENT)
                {
                    return null;
                }
                if (errno != ENODATA && errno != EOPNOTSUPP)
                {
                    // Too long (ERANGE) or unreadable: not a mark this agent wrote; treat as someone else's.
                    return "?unreadable:" + errno;
                }
            }
        }
        return null;
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

    /**
     * Adopts a zone's main process from an earlier run: it must still be the same process (pid and start time)
     * and be inside the zone's cgroup (or one below it).
     */
    @Override
    public ZoneProcess adopt(final Zone zone, final long pid, final long startTicks)
    {
        final Path path = root.checkZone(zone);
        if (pid <= 0 || !inCgroup(pid, path))
        {
            return null;
        }
        return PidfdProcess.adopt(libc, watcher, pid, startTicks);
    }

    /** True if /proc/PID/cgroup puts the process at {@code dir} or below it. */
    private boolean inCgroup(final long pid, final Path dir)
    {
        final String relative = cgroupPathOf(dir);
        try
        {
            for (final String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "cgroup")))
            {
                if (line.startsWith("0::"))
                {
                    final String own = line.substring(3);
                    return own.equals(relative) || own.startsWith(relative + "/");
                }
            }
        }
        catch (final IOException ex)
        {
            return false;
        }
        return false;
    }

    /** {@code dir} as /proc/PID/cgroup writes it: the mount's root plus the path below the mount point. */
    private static String cgroupPathOf(final Path dir)
    {
        final CgroupRoot.Cgroup2Mount mount = CgroupRoot.findCgroup2Mount()
            .orElseThrow(() -> new ZoneException("no cgroup2 mount"));
        final String below = mount.mountPoint().relativize(dir).toString();
        final String base = mount.root().endsWith("/") ? mount.root() : mount.root() + "/";
        return base + below;
    }

    /** Stops the pidfd watcher. Zones, their processes and open {@link ZoneProcess} handles are left alone. */
    @Override
    public void close()
    {
        watcher.close();
        reserve.close();
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
