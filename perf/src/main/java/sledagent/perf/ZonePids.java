package sledagent.perf;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/** The processes of a zone (its cgroup directory), found by their command name. */
final class ZonePids
{
    private ZonePids()
    {
    }

    /**
     * @param zoneDir    the zone's cgroup directory
     * @param commPrefix how the process's {@code comm} starts ({@code java}, {@code qemu-system-})
     * @return the first such process's pid
     * @throws IllegalStateException if the zone has none
     */
    static long pidOf(final Path zoneDir, final String commPrefix) throws IOException
    {
        for (final String line : Files.readAllLines(zoneDir.resolve("cgroup.procs")))
        {
            if (line.isBlank())
            {
                continue;
            }
            final long pid = Long.parseLong(line.strip());
            try
            {
                if (Files.readString(Path.of("/proc", Long.toString(pid), "comm"), StandardCharsets.UTF_8).strip()
                    .startsWith(commPrefix))
                {
                    return pid;
                }
            }
            catch (final NoSuchFileException ex)
            {
                // Gone meanwhile.
            }
        }
        throw new IllegalStateException("no " + commPrefix + " in zone " + zoneDir);
    }
}
