package sledagent.perf;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import javax.management.MBeanServer;
import javax.management.ObjectName;
import org.HdrHistogram.Histogram;

/** What a run cost: CPU of this JVM, of the machine and of a cgroup; GC; allocation; stalls; the heap. */
final class Probes
{
    private Probes()
    {
    }

    static long processCpuNs()
    {
        return ((com.sun.management.OperatingSystemMXBean)ManagementFactory.getOperatingSystemMXBean())
            .getProcessCpuTime();
    }

    /** {@code /proc/stat}'s first line: busy and total jiffies of all CPUs. */
    static long[] machineJiffies()
    {
        try
        {
            final String[] fields = Files.readAllLines(Path.of("/proc/stat")).get(0).trim().split("\\s+");
            long total = 0;
            for (int i = 1; i < Math.min(fields.length, 9); i++)
            {
                total += Long.parseLong(fields[i]);
            }
            final long idle = Long.parseLong(fields[4]) + Long.parseLong(fields[5]);
            return new long[] {total - idle, total};
        }
        catch (final IOException | RuntimeException ex)
        {
            return new long[] {0, 0};
        }
    }

    /** CPU time (ns) all cores spent busy between two {@link #machineJiffies()} readings (USER_HZ = 100). */
    static long machineBusyNs(final long[] before, final long[] after)
    {
        return (after[0] - before[0]) * 10_000_000L;
    }

    /**
     * A hiccup meter (as jHiccup): a thread that sleeps 1 ms over and over and records how much longer each sleep
     * took. What it sees (safepoints, the OS not running the JVM's threads) stalls every thread of the JVM; run in
     * both JVMs, it tells a stall of the server from one of the client or of the whole machine.
     */
    static final class Hiccups
    {
        private static final org.HdrHistogram.Recorder RECORDER = new org.HdrHistogram.Recorder(
            OpenLoopClient.HIGHEST_NS, 2);
        private static volatile boolean started;

        private Hiccups()
        {
        }

        static synchronized void start()
        {
            if (started)
            {
                return;
            }
            started = true;
            final Thread thread = new Thread(() ->
            {
                final long periodNs = TimeUnit.MILLISECONDS.toNanos(1);
                while (true)
                {
                    final long before = System.nanoTime();
                    java.util.concurrent.locks.LockSupport.parkNanos(periodNs);
                    RECORDER.recordValue(Math.min(OpenLoopClient.HIGHEST_NS,
                        Math.max(0, System.nanoTime() - before - periodNs)));
                }
            }, "hiccup-meter");
            thread.setDaemon(true);
            thread.start();
        }

        /** The hiccups recorded since the last call. */
        static Histogram interval()
        {
            return RECORDER.getIntervalHistogram();
        }
    }

    /** Collections and their accumulated time (ms) over all of this JVM's collectors. */
    record Gc(long count, long ms)
    {
        static Gc now()
        {
            long count = 0;
            long ms = 0;
            for (final java.lang.management.GarbageCollectorMXBean gc : ManagementFactory.getGarbageCollectorMXBeans())
            {
                count += Math.max(0, gc.getCollectionCount());
                ms += Math.max(0, gc.getCollectionTime());
            }
            return new Gc(count, ms);
        }

        Gc minus(final Gc before)
        {
            return new Gc(count - before.count, ms - before.ms);
        }

        @Override
        public String toString()
        {
            return count + " (" + ms + " ms)";
        }
    }

    /**
     * CPU time (ns) used so far by this JVM's collector threads ({@code GC Thread#n}, {@code G1 ...}: evacuation,
     * concurrent marking, refinement), from {@code /proc/self/task/<tid>/stat}; 0 where there is no /proc.
     */
    static long gcThreadsCpuNs()
    {
        long ticks = 0;
        try (Stream<Path> tasks = Files.list(Path.of("/proc/self/task")))
        {
            for (final Path task : (Iterable<Path>)tasks::iterator)
            {
                try
                {
                    final String comm = Files.readString(task.resolve("comm")).trim();
                    if (!comm.startsWith("GC Thread") && !comm.startsWith("G1 "))
                    {
                        continue;
                    }
                    final String stat = Files.readString(task.resolve("stat"));
                    final String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
                    // After the command: state(0) ... utime(11) stime(12).
                    ticks += Long.parseLong(fields[11]) + Long.parseLong(fields[12]);
                }
                catch (final IOException | RuntimeException ex)
                {
                    // The thread ended meanwhile.
                }
            }
        }
        catch (final IOException ex)
        {
            return 0;
        }
        return ticks * 10_000_000L;
    }

    /** Per-thread allocation counters at one moment, so that threads that end in between do not count. */
    record Allocated(long[] ids, long[] bytes)
    {
        static Allocated now()
        {
            final com.sun.management.ThreadMXBean mx =
                (com.sun.management.ThreadMXBean)ManagementFactory.getThreadMXBean();
            final long[] ids = mx.getAllThreadIds();
            return new Allocated(ids, mx.getThreadAllocatedBytes(ids));
        }

        /** Bytes allocated since {@code this} by the threads alive then and now. */
        long since()
        {
            final long[] later = ((com.sun.management.ThreadMXBean)ManagementFactory.getThreadMXBean())
                .getThreadAllocatedBytes(ids);
            long total = 0;
            for (int i = 0; i < ids.length; i++)
            {
                if (bytes[i] >= 0 && later[i] >= bytes[i])
                {
                    total += later[i] - bytes[i];
                }
            }
            return total;
        }
    }

    static long heapUsedAfterGc() throws InterruptedException
    {
        for (int i = 0; i < 3; i++)
        {
            System.gc();
            Thread.sleep(200);
        }
        return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
    }

    /** The top {@code rows} of {@code jcmd GC.class_histogram}, from this JVM. */
    static String classHistogram(final int rows)
    {
        try
        {
            final MBeanServer server = ManagementFactory.getPlatformMBeanServer();
            final String text = (String)server.invoke(new ObjectName("com.sun.management:type=DiagnosticCommand"),
                "gcClassHistogram", new Object[] {new String[0]}, new String[] {String[].class.getName()});
            return text.lines().limit(rows + 3L).collect(Collectors.joining("\n"));
        }
        catch (final Exception ex)
        {
            return "class histogram unavailable: " + ex;
        }
    }

    /** {@code usage_usec} of a cgroup v2 directory's {@code cpu.stat} (its processes and descendants'), or 0. */
    static long cgroupCpuUs(final Path cgroup)
    {
        try
        {
            return Files.readAllLines(cgroup.resolve("cpu.stat")).stream().filter(l -> l.startsWith("usage_usec "))
                .mapToLong(l -> Long.parseLong(l.substring("usage_usec ".length()).trim())).findFirst().orElse(0);
        }
        catch (final IOException | RuntimeException ex)
        {
            return 0;
        }
    }
}
