package sledagent.agent.runtime;

import io.netty.util.Timer;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.function.Predicate;
import java.util.logging.Level;
import java.util.logging.Logger;
import sledagent.zones.ZoneBackend;

/**
 * Keeps {@code <state-dir>/logs} from growing for ever, every {@code intervalMs}:
 * <ul>
 *   <li>a log ({@code <zone>.log}, and its old copy {@code <zone>.log.1}) whose VMM is not in the table and which
 *       was last written more than {@code retentionMs} ago is removed. "Last written" stands for "gone since": a
 *       VMM that is gone writes nothing, so no per-VMM bookkeeping is needed, and a restart loses nothing;</li>
 *   <li>a log larger than {@code maxBytes} is rotated by copy and truncate: copied to {@code <zone>.log.1}
 *       (replacing the older copy), then truncated to 0. The VMM writes with {@code O_APPEND} through its own
 *       descriptor (the agent is not in the path, see {@link ZoneBackend#spawn}), so renaming would not move its
 *       writes; after a truncate they continue at the new end. Lines written between the copy and the truncate
 *       are lost, and a log can exceed the bound by what is written in one interval.</li>
 * </ul>
 * Files of any other name are left alone. Runs on the blocking pool, never on the timer thread.
 */
public final class LogJanitor implements AutoCloseable
{
    private static final Logger LOG = Logger.getLogger(LogJanitor.class.getName());
    private static final String SUFFIX = ".log";
    private static final String OLD_SUFFIX = ".log.1";

    private final Path dir;
    private final Predicate<UUID> known;
    private final long retentionMs;
    private final long maxBytes;
    private final PeriodicJob periodic;

    /**
     * @param dir         the VMM log directory
     * @param known       true for a propolis id in the table (its log is kept, whatever its age)
     * @param retentionMs how long a gone VMM's log is kept after its last write
     * @param maxBytes    size past which a log is rotated
     */
    public LogJanitor(final Path dir, final Predicate<UUID> known, final long retentionMs, final long maxBytes,
        final Timer timer, final ExecutorService pool, final long intervalMs)
    {
        this.dir = dir;
        this.known = known;
        this.retentionMs = retentionMs;
        this.maxBytes = maxBytes;
        this.periodic = new PeriodicJob("VMM log cleanup", timer, pool, intervalMs, this::clean);
    }

    /** Schedules the first round after one interval. */
    public void start()
    {
        periodic.start();
    }

    /** One round; returns the number of files removed or rotated. */
    public int clean()
    {
        if (!Files.isDirectory(dir))
        {
            return 0;
        }
        int changed = 0;
        final long nowMs = System.currentTimeMillis();
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir))
        {
            for (final Path file : files)
            {
                try
                {
                    changed += cleanOne(file, nowMs);
                }
                catch (final NoSuchFileException ex)
                {
                    // Removed meanwhile: nothing to do.
                }
                catch (final IOException ex)
                {
                    LOG.log(Level.WARNING, "VMM logs: cannot clean " + file + "; will try again", ex);
                }
            }
        }
        catch (final IOException ex)
        {
            LOG.log(Level.WARNING, "VMM logs: cannot list " + dir + "; will try again", ex);
        }
        return changed;
    }

    private int cleanOne(final Path file, final long nowMs) throws IOException
    {
        final String name = file.getFileName().toString();
        final boolean old = name.endsWith(OLD_SUFFIX);
        if (!old && !name.endsWith(SUFFIX))
        {
            return 0;
        }
        final String zoneName = name.substring(0, name.length() - (old ? OLD_SUFFIX : SUFFIX).length());
        final UUID propolisId = propolisId(zoneName);
        if (propolisId == null)
        {
            return 0;
        }
        if (!known.test(propolisId))
        {
            if (nowMs - Files.getLastModifiedTime(file).toMillis() > retentionMs)
            {
                Files.deleteIfExists(file);
                LOG.fine(() -> "VMM logs: removed " + file + " (VMM gone, retention passed)");
                return 1;
            }
            return 0;
        }
        if (!old && Files.size(file) > maxBytes)
        {
            rotate(file, dir.resolve(zoneName + OLD_SUFFIX));
            return 1;
        }
        return 0;
    }

    private static void rotate(final Path file, final Path oldCopy) throws IOException
    {
        final Path tmp = oldCopy.resolveSibling(oldCopy.getFileName() + ".tmp");
        Files.copy(file, tmp, StandardCopyOption.REPLACE_EXISTING);
        Files.move(tmp, oldCopy, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.WRITE))
        {
            channel.truncate(0);
        }
        LOG.info(() -> "VMM logs: rotated " + file + " (older part in " + oldCopy + ")");
    }

    private static UUID propolisId(final String zoneName)
    {
        if (!zoneName.startsWith(ZoneBackend.ZONE_PREFIX))
        {
            return null;
        }
        try
        {
            return UUID.fromString(zoneName.substring(ZoneBackend.ZONE_PREFIX.length()));
        }
        catch (final IllegalArgumentException ex)
        {
            return null;
        }
    }

    @Override
    public void close()
    {
        periodic.close();
    }
}
