package sledagent.agent.e2e;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Every process ever seen in a zone, by pid and start time, so that the end check cannot be fooled by a pid the
 * kernel handed to some unrelated new process in the meantime (pid_max is small on these machines).
 */
final class RandomizedProcesses
{
    /** pid -> start time (clock ticks since boot, field 22 of /proc/PID/stat). */
    private final Map<Long, Long> seen = new ConcurrentHashMap<>();

    /** Remembers the processes in {@code pids} that still exist. */
    void record(final List<Long> pids)
    {
        for (final long pid : pids)
        {
            final String[] stat = stat(pid);
            if (stat != null)
            {
                seen.putIfAbsent(pid, Long.parseLong(stat[19]));
            }
        }
    }

    int size()
    {
        return seen.size();
    }

    /**
     * The processes seen that still live: present, not a zombie (PID 1 here reaps late, and a zombie runs and holds
     * nothing), and with the start time they had when seen. Each as "pid state cmdline".
     */
    List<String> survivors()
    {
        final List<String> alive = new ArrayList<>();
        for (final Map.Entry<Long, Long> entry : seen.entrySet())
        {
            final String[] stat = stat(entry.getKey());
            if (stat != null && !"Z".equals(stat[0]) && !"X".equals(stat[0])
                && Long.parseLong(stat[19]) == entry.getValue())
            {
                alive.add(entry.getKey() + " " + stat[0] + " " + cmdline(entry.getKey()));
            }
        }
        return alive;
    }

    /** Fields 3.. of /proc/PID/stat (index 0 = state, 19 = starttime), or null if the process is gone. */
    private static String[] stat(final long pid)
    {
        try
        {
            final String text = Files.readString(Path.of("/proc/" + pid + "/stat"));
            return text.substring(text.lastIndexOf(')') + 2).trim().split(" ");
        }
        catch (final NoSuchFileException ex)
        {
            return null;
        }
        catch (final IOException ex)
        {
            // Vanished while being read (ESRCH) counts as gone.
            return null;
        }
    }

    private static String cmdline(final long pid)
    {
        try
        {
            final String text = Files.readString(Path.of("/proc/" + pid + "/cmdline")).replace('\0', ' ');
            return text.length() > 160 ? text.substring(0, 160) + "..." : text;
        }
        catch (final IOException ex)
        {
            return "?";
        }
    }
}
