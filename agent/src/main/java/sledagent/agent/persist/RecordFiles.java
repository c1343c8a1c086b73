package sledagent.agent.persist;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.UUID;

/**
 * The record files of {@link FileVmmStore} as a {@link GroupCommitWriter.Disk}: {@code <id>.json} and its
 * {@code <id>.json.tmp}. Temporary files of a batch are made durable together ({@link FsSync#syncAll}: writeback
 * started for all, then one fsync each, which share the journal commit) when there are several; one {@code fsync}
 * when there is one (or where that is not available, one per file).
 */
final class RecordFiles implements GroupCommitWriter.Disk
{
    static final String SUFFIX = ".json";
    static final String TMP_SUFFIX = ".tmp";

    private final Path dir;
    private final boolean together;

    /** {@code together}: sync a batch's temporary files together where the platform allows. */
    RecordFiles(final Path dir, final boolean together)
    {
        this.dir = dir;
        this.together = together && FsSync.available();
    }

    Path file(final UUID propolisId)
    {
        return dir.resolve(propolisId + SUFFIX);
    }

    private Path temp(final UUID propolisId)
    {
        return dir.resolve(propolisId + SUFFIX + TMP_SUFFIX);
    }

    @Override
    public void writeTemp(final UUID propolisId, final byte[] bytes) throws IOException
    {
        try (FileChannel channel = FileChannel.open(temp(propolisId), StandardOpenOption.CREATE,
            StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING))
        {
            final ByteBuffer buffer = ByteBuffer.wrap(bytes);
            while (buffer.hasRemaining())
            {
                channel.write(buffer);
            }
        }
    }

    @Override
    public void syncTemps(final List<UUID> propolisIds) throws IOException
    {
        if (propolisIds.size() > 1 && together)
        {
            FsSync.syncAll(propolisIds.stream().map(this::temp).toList());
            return;
        }
        for (final UUID id : propolisIds)
        {
            try (FileChannel channel = FileChannel.open(temp(id), StandardOpenOption.WRITE))
            {
                channel.force(true);
            }
        }
    }

    @Override
    public void rename(final UUID propolisId) throws IOException
    {
        Files.move(temp(propolisId), file(propolisId), StandardCopyOption.ATOMIC_MOVE,
            StandardCopyOption.REPLACE_EXISTING);
    }

    @Override
    public void remove(final UUID propolisId) throws IOException
    {
        Files.deleteIfExists(file(propolisId));
    }

    @Override
    public void discardTemp(final UUID propolisId)
    {
        try
        {
            // A full disk leaves a short temporary file: remove it; the old record is untouched.
            Files.deleteIfExists(temp(propolisId));
        }
        catch (final IOException ex)
        {
            // Removed at the next load (temporary files are never read).
        }
    }

    @Override
    public void syncDir() throws IOException
    {
        try (FileChannel channel = FileChannel.open(dir, StandardOpenOption.READ))
        {
            channel.force(true);
        }
    }
}
