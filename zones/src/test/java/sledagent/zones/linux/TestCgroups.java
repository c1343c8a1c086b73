package sledagent.zones.linux;

import static org.awaitility.Awaitility.await;

import com.sun.jna.Platform;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * Test support written with plain file I/O, independent of the code under test: a unique zone root per test
 * and a cleanup that kills and removes everything under it, and /proc readers.
 */
public final class TestCgroups
{
    private static final Duration CLEANUP_BOUND = Duration.ofSeconds(5);
    // A killed task leaves its cgroup before it turns zombie; a PID namespace's init then waits in state S.
    private static final long PF_EXITING = 0x4;

    private TestCgroups()
    {
    }

    /** True when real cgroup tests can run here: Linux, root, a writable cgroup2 mount. */
    public static boolean available()
    {
        if (!Platform.isLinux() || !"root".equals(System.getProperty("user.name")))
        {
            return false;
        }
        try
        {
            return Files.isWritable(CgroupRoot.agentCgroupDir());
        }
        catch (final RuntimeException ex)
        {
            return false;
        }
    }

    /** {@code <agent cgroup dir>/zonetest-<random>}; not created. */
    public static Path uniqueRoot()
    {
        return CgroupRoot.agentCgroupDir().resolve("zonetest-" + UUID.randomUUID().toString().substring(0, 12));
    }

    /**
     * Kills every process under {@code root} (cgroup.kill on the root covers all descendants), waits for
     * {@code populated 0}, then removes the child cgroups and the root. Throws the first failure at the end.
     */
    public static void removeAll(final Path root) throws IOException
    {
        if (!Files.isDirectory(root))
        {
            return;
        }
        Files.write(root.resolve("cgroup.kill"), new byte[] {'1'}, StandardOpenOption.WRITE);
        await("populated 0 in " + root).atMost(CLEANUP_BOUND).pollInterval(Duration.ofMillis(5))
            .until(() -> !populated(root));
        final List<Path> dirs;
        try (Stream<Path> walk = Files.walk(root))
        {
            dirs = walk.filter(Files::isDirectory).sorted(Comparator.reverseOrder()).collect(Collectors.toList());
        }
        for (final Path dir : dirs)
        {
            Files.deleteIfExists(dir); // rmdir; cgroupfs removes the control files with it
        }
    }

    static boolean populated(final Path cgroupDir) throws IOException
    {
        try
        {
            return Files.readString(cgroupDir.resolve("cgroup.events"), StandardCharsets.US_ASCII)
                .contains("populated 1");
        }
        catch (final NoSuchFileException ex)
        {
            return false;
        }
    }

    public static List<Long> procs(final Path cgroupDir) throws IOException
    {
        final List<Long> pids = new ArrayList<>();
        for (final String line : Files.readAllLines(cgroupDir.resolve("cgroup.procs")))
        {
            if (!line.isBlank())
            {
                pids.add(Long.parseLong(line.trim()));
            }
        }
        return pids;
    }

    /** The process's command name ({@code /proc/<pid>/comm}), or empty if it is gone. */
    static Optional<String> comm(final long pid)
    {
        return readProc(pid, "comm").map(String::trim);
    }

    /** The NSpid entries of {@code /proc/<pid>/status}: host pid first, innermost namespace last. */
    static List<Long> nsPids(final long pid)
    {
        final String status = readProc(pid, "status").orElse("");
        for (final String line : status.split("\n"))
        {
            if (line.startsWith("NSpid:"))
            {
                final List<Long> pids = new ArrayList<>();
                for (final String field : line.substring("NSpid:".length()).trim().split("\\s+"))
                {
                    pids.add(Long.parseLong(field));
                }
                return pids;
            }
        }
        return List.of();
    }

    /** The {@code pid:[inode]} link of {@code /proc/<pid>/ns/pid}. */
    static String pidNamespace(final String pid) throws IOException
    {
        return Files.readSymbolicLink(Path.of("/proc", pid, "ns", "pid")).toString();
    }

    /** Fields of {@code /proc/<pid>/stat} after the command: [0] = state, [3] = session, [19] = start time. */
    static Optional<String[]> statFields(final long pid)
    {
        return readProc(pid, "stat").map(stat -> stat.substring(stat.lastIndexOf(')') + 2).trim().split(" "));
    }

    /** A snapshot identity (pid + start time) used to tell "still running" from "pid reused". */
    record ProcId(long pid, String startTime)
    {
        static Optional<ProcId> of(final long pid)
        {
            return statFields(pid).map(fields -> new ProcId(pid, fields[19]));
        }

        /** True while this very process exists and can run code: not a zombie, not exiting (PF_EXITING). */
        boolean isRunning()
        {
            final Optional<String[]> fields = statFields(pid);
            if (fields.isEmpty() || !fields.get()[19].equals(startTime))
            {
                return false;
            }
            final String state = fields.get()[0];
            return !"Z".equals(state) && !"X".equals(state) && (Long.parseLong(fields.get()[6]) & PF_EXITING) == 0;
        }
    }

    private static Optional<String> readProc(final long pid, final String file)
    {
        try
        {
            return Optional.of(Files.readString(Path.of("/proc", Long.toString(pid), file)));
        }
        catch (final IOException ex)
        {
            return Optional.empty();
        }
    }
}
