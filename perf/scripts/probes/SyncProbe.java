import com.sun.jna.Library;
import com.sun.jna.Native;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Comparator;
import java.util.stream.Stream;

/**
 * Issue 14 probe: batches of N small files (2,000 bytes) in /tmp, each written, then all made durable by (a) one
 * syncfs, (b) fsync of each, (c) sync_file_range(WRITE) of all, then fsync of each; ROUNDS batches per way, twice.
 * Run: {@code java -cp perf/target/benchmarks.jar perf/scripts/probes/SyncProbe.java N ROUNDS} (JNA from the jar).
 */
public class SyncProbe
{
    private static final int O_WRONLY_CREAT_TRUNC = 01 | 0100 | 01000;
    private static final int SYNC_FILE_RANGE_WRITE = 2;

    /** The libc calls, with libc's names (a probe, not agent code). */
    interface LibC extends Library
    {
        LibC INSTANCE = Native.load("c", LibC.class);

        int open(String path, int flags, int mode);

        long write(int fd, byte[] bytes, long count);

        int fsync(int fd);

        int syncfs(int fd);

        int sync_file_range(int fd, long offset, long count, int flags);

        int close(int fd);
    }

    public static void main(final String[] args) throws Exception
    {
        final int files = Integer.parseInt(args[0]);
        final int rounds = Integer.parseInt(args[1]);
        final Path dir = Files.createTempDirectory(Path.of("/tmp"), "syncprobe");
        final byte[] data = new byte[2000];
        Arrays.fill(data, (byte)'x');
        try
        {
            for (final String way : new String[] {"syncfs", "fsync-each", "sfr-then-fsync", "syncfs", "fsync-each",
                "sfr-then-fsync"})
            {
                final long[] tookNs = new long[rounds];
                for (int r = 0; r < rounds; r++)
                {
                    final int[] fds = new int[files];
                    for (int i = 0; i < files; i++)
                    {
                        fds[i] = LibC.INSTANCE.open(dir.resolve("f" + i).toString(), O_WRONLY_CREAT_TRUNC, 0644);
                        LibC.INSTANCE.write(fds[i], data, data.length);
                    }
                    final long startNs = System.nanoTime();
                    sync(way, fds);
                    tookNs[r] = System.nanoTime() - startNs;
                    for (final int fd : fds)
                    {
                        LibC.INSTANCE.close(fd);
                    }
                }
                Arrays.sort(tookNs);
                System.out.printf("n=%d %-15s p50 %.2f ms  p90 %.2f ms%n", files, way, tookNs[rounds / 2] / 1e6,
                    tookNs[rounds * 9 / 10] / 1e6);
            }
        }
        finally
        {
            try (Stream<Path> walk = Files.walk(dir))
            {
                walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    private static void sync(final String way, final int[] fds)
    {
        switch (way)
        {
            case "syncfs" -> LibC.INSTANCE.syncfs(fds[0]);
            case "fsync-each" ->
            {
                for (final int fd : fds)
                {
                    LibC.INSTANCE.fsync(fd);
                }
            }
            default ->
            {
                for (final int fd : fds)
                {
                    LibC.INSTANCE.sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
                }
                for (final int fd : fds)
                {
                    LibC.INSTANCE.fsync(fd);
                }
            }
        }
    }
}
