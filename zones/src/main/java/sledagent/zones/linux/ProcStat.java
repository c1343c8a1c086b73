package sledagent.zones.linux;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import sledagent.zones.ZoneException;

/**
 * The few fields of {@code /proc/<pid>/stat} a zone backend needs: state, parent, process group, session and
 * start time. A snapshot only: by the time it is used the process may have gone, which is why signals are sent
 * through a pidfd after re-checking (see {@link ProcessSignals}).
 *
 * @param pid        host pid.
 * @param state      one letter, e.g. {@code R}, {@code S}, {@code Z} (zombie), {@code X} (dead).
 * @param ppid       parent pid.
 * @param pgrp       process group id.
 * @param session    session id.
 * @param startTicks start time in clock ticks after boot: with the pid, it names one process for good.
 */
public record ProcStat(long pid, char state, long ppid, long pgrp, long session, long startTicks)
{
    private static final Path PROC = Path.of("/proc");

    /** True for a process that has exited (zombie or dead) and only waits to be reaped. */
    public boolean isZombie()
    {
        return state == 'Z' || state == 'X';
    }

    /** The process's stat line, or empty if it is gone. */
    public static Optional<ProcStat> read(final long pid)
    {
        try
        {
            return Optional.of(parse(pid, Files.readString(PROC.resolve(Long.toString(pid)).resolve("stat"),
                StandardCharsets.US_ASCII)));
        }
        catch (final IOException ex)
        {
            return Optional.empty(); // Gone (ENOENT, or ESRCH while reading).
        }
    }

    /**
     * Every process visible in {@code /proc} now. Costs one small file read per process (about a millisecond
     * for a few hundred processes).
     */
    public static List<ProcStat> all()
    {
        final List<ProcStat> stats = new ArrayList<>();
        try (DirectoryStream<Path> dirs = Files.newDirectoryStream(PROC, ProcStat::isPidDir))
        {
            for (final Path dir : dirs)
            {
                read(Long.parseLong(dir.getFileName().toString())).ifPresent(stats::add);
            }
        }
        catch (final IOException ex)
        {
            throw new ZoneException("cannot list " + PROC, ex);
        }
        return stats;
    }

    /** Parses a stat line; the command name may hold spaces and parentheses, so fields start after the last ')'. */
    static ProcStat parse(final long pid, final String line)
    {
        final int close = line.lastIndexOf(')');
        if (close < 0 || close + 2 >= line.length())
        {
            throw new ZoneException("unexpected /proc/" + pid + "/stat: " + line);
        }
        final String[] fields = line.substring(close + 2).trim().split(" ");
        if (fields.length < 20)
        {
            throw new ZoneException("short /proc/" + pid + "/stat: " + line);
        }
        return new ProcStat(pid, fields[0].charAt(0), Long.parseLong(fields[1]), Long.parseLong(fields[2]),
            Long.parseLong(fields[3]), Long.parseLong(fields[19]));
    }

    private static boolean isPidDir(final Path dir)
    {
        final String name = dir.getFileName().toString();
        for (int i = 0; i < name.length(); i++)
        {
            if (!Character.isDigit(name.charAt(i)))
            {
                return false;
            }
        }
        return !name.isEmpty();
    }
}
