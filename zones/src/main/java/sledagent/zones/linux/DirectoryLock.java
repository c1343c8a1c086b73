package sledagent.zones.linux;

import static sledagent.zones.linux.LinuxLibC.EWOULDBLOCK;
import static sledagent.zones.linux.LinuxLibC.LOCK_EX;
import static sledagent.zones.linux.LinuxLibC.LOCK_NB;
import static sledagent.zones.linux.LinuxLibC.O_CLOEXEC;
import static sledagent.zones.linux.LinuxLibC.O_RDONLY;

import com.sun.jna.LastErrorException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import sledagent.zones.ZoneException;

/**
 * An exclusive {@code flock(2)} on a directory itself, held through an {@code O_CLOEXEC} descriptor until
 * {@link #close()} (or until the process dies: the kernel drops it then, so a SIGKILLed agent leaves no stale
 * lock behind).
 *
 * <p>Why the directory and not a lock file: a zone root is a cgroup v2 directory, where regular files cannot be
 * created. A lock file under {@code /run} keyed by the root's path would miss the same cgroup reached through
 * another path (a second cgroup2 mount, a bind mount, a symlink); a flock belongs to the inode, so every path
 * to the directory sees it. The holder's pid is read back from {@code /proc/locks}.
 */
public final class DirectoryLock implements AutoCloseable
{
    private static final Path PROC_LOCKS = Path.of("/proc/locks");

    private final LinuxLibC libc;
    private final Path dir;
    private int fd;

    private DirectoryLock(final LinuxLibC libc, final Path dir, final int fd)
    {
        this.libc = libc;
        this.dir = dir;
        this.fd = fd;
    }

    /**
     * Takes the lock without waiting.
     *
     * @return the held lock, or null if another open descriptor (of this or another process) holds it
     * @throws ZoneException if the directory cannot be opened or locked for another reason
     */
    public static DirectoryLock tryAcquire(final Path dir)
    {
        final LinuxLibC libc = LinuxLibC.instance();
        final int fd;
        try
        {
            fd = libc.open(dir.toString(), O_RDONLY | O_CLOEXEC);
        }
        catch (final LastErrorException ex)
        {
            throw new ZoneException("cannot open " + dir + " to lock it", ex.getErrorCode(), ex);
        }
        try
        {
            libc.flock(fd, LOCK_EX | LOCK_NB);
            return new DirectoryLock(libc, dir, fd);
        }
        catch (final LastErrorException ex)
        {
            LinuxLibC.closeQuietly(libc, fd);
            if (ex.getErrorCode() == EWOULDBLOCK)
            {
                return null;
            }
            throw new ZoneException("cannot lock " + dir, ex.getErrorCode(), ex);
        }
    }

    /**
     * The pid of a process holding a flock on {@code dir}, from {@code /proc/locks}, or -1 if none is listed
     * (released meanwhile, or held from another PID namespace). Best effort: for messages only.
     */
    public static long holderPid(final Path dir)
    {
        try
        {
            final long inode = ((Number)Files.getAttribute(dir, "unix:ino")).longValue();
            final long dev = ((Number)Files.getAttribute(dir, "unix:dev")).longValue();
            // /proc/locks prints the device as "%02x:%02x" of the kernel's major and minor (new_decode_dev).
            final long major = (dev >>> 8) & 0xfff;
            final long minor = (dev & 0xff) | ((dev >>> 12) & 0xfff00);
            final String id = String.format("%02x:%02x:%d", major, minor, inode);
            final List<String> lines = Files.readAllLines(PROC_LOCKS);
            for (final String line : lines)
            {
                // "1: FLOCK  ADVISORY  WRITE 4192 00:26:25 0 EOF"
                final String[] fields = line.trim().split("\\s+");
                if (fields.length >= 6 && "FLOCK".equals(fields[1]) && id.equals(fields[5]))
                {
                    return Long.parseLong(fields[4]);
                }
            }
        }
        catch (final IOException | RuntimeException ex)
        {
            // Unknown holder: the caller says so.
        }
        return -1;
    }

    /** The locked directory. */
    public Path dir()
    {
        return dir;
    }

    /** Releases the lock. Idempotent. */
    @Override
    public synchronized void close()
    {
        if (fd >= 0)
        {
            LinuxLibC.closeQuietly(libc, fd);
            fd = -1;
        }
    }
}
