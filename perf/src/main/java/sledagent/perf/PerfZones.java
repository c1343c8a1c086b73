package sledagent.perf;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;
import java.util.UUID;
import java.util.stream.Stream;
import sledagent.zones.linux.CgroupRoot;
import sledagent.zones.linux.CgroupZoneBackend;

/** Zone roots of a measurement run, and what the tools read from a zone. */
final class PerfZones
{
    private PerfZones()
    {
    }

    /** A fresh, unique zone root under the agent's own cgroup: {@code <agent cgroup>/sledperf-<uuid><suffix>}. */
    static Path uniqueRoot(final String suffix)
    {
        return CgroupRoot.agentCgroupDir().resolve("sledperf-" + UUID.randomUUID() + suffix);
    }

    /** Kills and removes every zone under {@code root} (each wait bounded), then the root itself. */
    static void removeRoot(final Path root) throws InterruptedException, IOException
    {
        if (!Files.isDirectory(root))
        {
            return;
        }
        try (CgroupZoneBackend zones = new CgroupZoneBackend(root))
        {
            final List<String> standing = zones.killAndRemoveAll(Duration.ofSeconds(5));
            if (!standing.isEmpty())
            {
                System.err.println("cleanup: zones under " + root + " still standing 5 s after the kill: " + standing);
                return;
            }
        }
        Files.deleteIfExists(root);
    }

    /** Pids listed in a cgroup's {@code cgroup.procs} now (empty if it is gone). */
    static List<Long> pids(final Path cgroupDir)
    {
        final List<Long> pids = new ArrayList<>();
        try
        {
            for (final String line : Files.readAllLines(cgroupDir.resolve("cgroup.procs")))
            {
                if (!line.isBlank())
                {
                    pids.add(Long.parseLong(line.trim()));
                }
            }
        }
        catch (final IOException ex)
        {
            return List.of();
        }
        return pids;
    }

    /** The argv of {@code pid} joined with spaces, or "" if it is gone. */
    static String cmdline(final long pid)
    {
        try
        {
            return new String(Files.readAllBytes(Path.of("/proc", Long.toString(pid), "cmdline")),
                StandardCharsets.UTF_8).replace('\0', ' ');
        }
        catch (final IOException ex)
        {
            return "";
        }
    }

    /** The zone's propolis-sim JVM: the listed pid whose command line names {@code PropolisSimMain}. */
    static OptionalLong simJvmPid(final Path zoneDir)
    {
        for (final long pid : pids(zoneDir))
        {
            if (cmdline(pid).contains("PropolisSimMain"))
            {
                return OptionalLong.of(pid);
            }
        }
        return OptionalLong.empty();
    }

    /** Deletes a directory tree; a missing one is fine. */
    static void deleteTree(final Path dir) throws IOException
    {
        if (!Files.exists(dir))
        {
            return;
        }
        try (Stream<Path> paths = Files.walk(dir))
        {
            for (final Path path : (Iterable<Path>)paths.sorted((a, b)
                -> b.getNameCount() - a.getNameCount())::iterator)
            {
                Files.deleteIfExists(path);
            }
        }
    }
}
