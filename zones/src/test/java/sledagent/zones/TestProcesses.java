package sledagent.zones;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import sledagent.zones.linux.ProcStat;

/** Test support: process trees and identities read from /proc, independent of the backends under test. */
public final class TestProcesses
{
    private static final long PF_EXITING = 0x4;

    private TestProcesses()
    {
    }

    /** A process for good: pid plus start time, so a reused pid is not mistaken for it. */
    public record ProcId(long pid, long startTicks)
    {
        /** The identity of {@code pid} now, if it exists. */
        public static Optional<ProcId> of(final long pid)
        {
            return ProcStat.read(pid).map(stat -> new ProcId(pid, stat.startTicks()));
        }

        /**
         * True while this very process exists and can still run code: not a zombie and not exiting. (A killed
         * task leaves its cgroup before it turns zombie, and a PID namespace's init waits in the kernel for its
         * namespace to die with state S: both are dead, just not yet torn down.)
         */
        public boolean isRunning()
        {
            return ProcStat.read(pid).filter(stat -> stat.startTicks() == startTicks && !stat.isZombie()).isPresent() &&
                !isExiting(pid);
        }
    }

    /** {@code pid} and all its descendants now (a racy snapshot: fine once the tree has settled). */
    public static List<ProcId> tree(final long pid)
    {
        final List<ProcId> tree = new ArrayList<>();
        ProcId.of(pid).ifPresent(tree::add);
        ProcessHandle.of(pid).ifPresent(root -> root.descendants()
            .forEach(child -> ProcId.of(child.pid()).ifPresent(tree::add)));
        return tree;
    }

    /** How many processes in {@code tree} run the command {@code comm} (e.g. {@code sleep}). */
    public static long count(final List<ProcId> tree, final String comm)
    {
        return tree.stream().filter(proc -> comm(proc.pid()).filter(comm::equals).isPresent()).count();
    }

    /** The process's command name ({@code /proc/<pid>/comm}), or empty if it is gone. */
    public static Optional<String> comm(final long pid)
    {
        try
        {
            return Optional.of(Files.readString(Path.of("/proc", Long.toString(pid), "comm")).trim());
        }
        catch (final IOException ex)
        {
            return Optional.empty();
        }
    }

    /** True if the kernel has marked the process exiting ({@code PF_EXITING} in {@code /proc/<pid>/stat} flags). */
    public static boolean isExiting(final long pid)
    {
        try
        {
            final String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
            final String[] fields = stat.substring(stat.lastIndexOf(')') + 2).trim().split(" ");
            return (Long.parseLong(fields[6]) & PF_EXITING) != 0;
        }
        catch (final IOException ex)
        {
            return true; // Gone.
        }
    }

    /** Pids of live processes whose command line is exactly {@code argv} (to find strays by a unique argv). */
    public static List<Long> withCommandLine(final List<String> argv)
    {
        final String wanted = String.join("\0", argv) + "\0";
        final List<Long> pids = new ArrayList<>();
        for (final ProcStat stat : ProcStat.all())
        {
            if (stat.isZombie() || isExiting(stat.pid()))
            {
                continue;
            }
            try
            {
                final byte[] cmdline = Files.readAllBytes(Path.of("/proc", Long.toString(stat.pid()), "cmdline"));
                if (wanted.equals(new String(cmdline, java.nio.charset.StandardCharsets.UTF_8)))
                {
                    pids.add(stat.pid());
                }
            }
            catch (final IOException ex)
            {
                // Gone meanwhile.
            }
        }
        return pids;
    }
}
