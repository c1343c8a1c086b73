package sledagent.zones.linux;

import static sledagent.zones.linux.LinuxLibC.ENODEV;
import static sledagent.zones.linux.LinuxLibC.ENOENT;
import static sledagent.zones.linux.LinuxLibC.O_CLOEXEC;
import static sledagent.zones.linux.LinuxLibC.O_RDONLY;
import static sledagent.zones.linux.LinuxLibC.POLLPRI;

import com.sun.jna.LastErrorException;
import com.sun.jna.Memory;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import sledagent.zones.ZoneException;

/**
 * Reads a cgroup's {@code cgroup.events} and waits, with a bound, for {@code populated 0}: the moment the
 * last task of the cgroup (and its descendants) has exited. That, not an empty {@code cgroup.procs}, is when
 * the cgroup may be removed. A cgroup that does not exist counts as empty. Also waits for {@code frozen 1}
 * after a freeze (see {@link CgroupFreezer}).
 */
final class CgroupEvents
{
    /**
     * Longest gap between two reads while waiting. The kernel rate-limits {@code cgroup.events}
     * notifications to about one per 10 ms, so a change may be announced late; re-reading every 5 ms
     * bounds that delay regardless.
     */
    static final long RECHECK_MS = 5;

    private static final String EVENTS_FILE = "cgroup.events";
    private static final String POPULATED = "populated";
    private static final String FROZEN = "frozen";
    private static final int BUFFER_BYTES = 256;

    private CgroupEvents()
    {
    }

    /** True when {@code cgroup.events} in {@code cgroupDir} says {@code populated 0}, or there is no cgroup. */
    static boolean isEmpty(final Path cgroupDir)
    {
        final Path events = cgroupDir.resolve(EVENTS_FILE);
        try
        {
            return !isPopulated(Files.readString(events, StandardCharsets.US_ASCII), events);
        }
        catch (final NoSuchFileException ex)
        {
            return true;
        }
        catch (final IOException ex)
        {
            if (!Files.isDirectory(cgroupDir))
            {
                return true; // Removed while we read it (ENODEV).
            }
            throw new ZoneException("cannot read " + events, ex);
        }
    }

    /**
     * Waits at most {@code bound} for {@code populated 0}: {@code poll(POLLPRI)} on {@code cgroup.events}
     * for change notifications, re-reading the file at least every {@link #RECHECK_MS}.
     *
     * @return true if the cgroup is empty (or gone), false if the bound expired first.
     * @throws InterruptedException if the thread is interrupted; checked between polls (at most 5 ms apart).
     */
    static boolean awaitEmpty(final LinuxLibC libc, final Path cgroupDir, final Duration bound)
        throws InterruptedException
    {
        return awaitValue(libc, cgroupDir, POPULATED, "0", bound);
    }

    /**
     * Waits at most {@code bound} for {@code frozen 1} (after {@code 1} was written to {@code cgroup.freeze}).
     *
     * @return true if the cgroup is frozen (or gone), false if the bound expired first.
     * @throws InterruptedException if the thread is interrupted.
     */
    static boolean awaitFrozen(final LinuxLibC libc, final Path cgroupDir, final Duration bound)
        throws InterruptedException
    {
        return awaitValue(libc, cgroupDir, FROZEN, "1", bound);
    }

    /** True when {@code cgroup.events} says {@code frozen 1}; false if it says otherwise or the cgroup is gone. */
    static boolean isFrozen(final Path cgroupDir)
    {
        final Path events = cgroupDir.resolve(EVENTS_FILE);
        try
        {
            return "1".equals(valueOf(Files.readString(events, StandardCharsets.US_ASCII), FROZEN, events));
        }
        catch (final IOException ex)
        {
            return false;
        }
    }

    /**
     * Waits at most {@code bound} until {@code key} has {@code expected} in {@code cgroup.events}, using
     * {@code poll(POLLPRI)} for change notifications and re-reading at least every {@link #RECHECK_MS}.
     *
     * @return true once it has (or the cgroup is gone), false if the bound expired first.
     */
    private static boolean awaitValue(final LinuxLibC libc, final Path cgroupDir, final String key,
        final String expected, final Duration bound) throws InterruptedException
    {
        final Path events = cgroupDir.resolve(EVENTS_FILE);
        final long deadlineNs = System.nanoTime() + saturatedNanos(bound);
        final int fd;
        try
        {
            fd = libc.open(events.toString(), O_RDONLY | O_CLOEXEC);
        }
        catch (final LastErrorException ex)
        {
            if (ex.getErrorCode() == ENOENT)
            {
                return true;
            }
            throw new ZoneException("open " + events, ex.getErrorCode(), ex);
        }
        try
        {
            final Memory buffer = new Memory(BUFFER_BYTES);
            while (true)
            {
                // Reading also re-arms POLLPRI: kernfs reports a change relative to this fd's last read.
                final String text = readAt0(libc, fd, buffer, events);
                if (text == null || expected.equals(valueOf(text, key, events)))
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
                    throw new InterruptedException("awaiting " + key + " " + expected + " in " + events);
                }
                final long waitMs = Math.min(RECHECK_MS, TimeUnit.NANOSECONDS.toMillis(remainingNs) + 1);
                LinuxLibC.pollOne(libc, fd, POLLPRI, (int)waitMs);
            }
        }
        finally
        {
            LinuxLibC.closeQuietly(libc, fd);
        }
    }

    /** The file's text read from offset 0, or null if the cgroup was removed meanwhile (ENODEV). */
    private static String readAt0(final LinuxLibC libc, final int fd, final Memory buffer, final Path events)
    {
        try
        {
            final long bytes = libc.pread(fd, buffer, BUFFER_BYTES, 0);
            return new String(buffer.getByteArray(0, (int)bytes), StandardCharsets.US_ASCII);
        }
        catch (final LastErrorException ex)
        {
            if (ex.getErrorCode() == ENODEV)
            {
                return null;
            }
            throw new ZoneException("read " + events, ex.getErrorCode(), ex);
        }
    }

    /** Parses the {@code populated} key of {@code cgroup.events} ({@code "populated 1\nfrozen 0\n"}). */
    static boolean isPopulated(final String text, final Path events)
    {
        return !"0".equals(valueOf(text, POPULATED, events));
    }

    /** The value of {@code key} in the text of {@code cgroup.events}. */
    private static String valueOf(final String text, final String key, final Path events)
    {
        final String prefix = key + " ";
        for (final String line : text.split("\n"))
        {
            if (line.startsWith(prefix))
            {
                return line.substring(prefix.length()).trim();
            }
        }
        throw new ZoneException("no '" + key + "' key in " + events + ": " + text);
    }

    private static long saturatedNanos(final Duration bound)
    {
        if (bound.isNegative())
        {
            return 0;
        }
        try
        {
            return bound.toNanos();
        }
        catch (final ArithmeticException ex)
        {
            return Long.MAX_VALUE / 2; // "Forever" that still leaves room for nanoTime() + bound.
        }
    }
}
