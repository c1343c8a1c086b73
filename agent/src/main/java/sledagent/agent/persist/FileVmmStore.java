package sledagent.agent.persist;

import com.fasterxml.jackson.databind.ObjectReader;
import com.fasterxml.jackson.databind.ObjectWriter;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.logging.Logger;
import sledagent.agent.vmm.KillIntent;
import sledagent.agent.vmm.StoredVmm;
import sledagent.agent.vmm.VmmStore;
import sledagent.api.Json;

/**
 * One JSON file per VMM under {@code <state-dir>/vmms/}. A write goes to a temporary file, which is fsynced,
 * renamed over the record, and then the directory is fsynced: after a crash or a full disk the old record or
 * the new one is there, whole. Temporary files left by a crash are removed at load and never read.
 */
public final class FileVmmStore implements VmmStore, AutoCloseable
{
    private static final Logger LOG = Logger.getLogger(FileVmmStore.class.getName());
    private static final String SUFFIX = ".json";
    private static final String TMP_SUFFIX = ".tmp";
    private static final ObjectWriter WRITER = Json.mapper().writerFor(StoredVmm.class);
    private static final ObjectReader READER = Json.mapper().readerFor(StoredVmm.class);

    private static final String JOURNAL = "kill-journal";

    private final Path dir;
    /** Null if it could not be made at start (a full disk then): kills still go ahead, unjournalled. */
    private final KillJournal journal;

    public FileVmmStore(final Path stateDir) throws IOException
    {
        this(stateDir, KillJournal.DEFAULT_SLOTS);
    }

    /** A store under {@code stateDir} with a kill journal of {@code journalSlots} slots. */
    public FileVmmStore(final Path stateDir, final int journalSlots) throws IOException
    {
        this.dir = stateDir.resolve("vmms");
        Files.createDirectories(dir);
        KillJournal opened = null;
        try
        {
            opened = KillJournal.open(stateDir.resolve(JOURNAL), journalSlots);
        }
        catch (final IOException ex)
        {
            LOG.severe(() -> "cannot open the kill journal in " + stateDir + " (" + ex + "): kills made while a "
                + "record cannot be written will not survive a restart of the agent");
        }
        this.journal = opened;
    }

    @Override
    public boolean journalKill(final UUID propolisId, final KillIntent intent)
    {
        return journal != null && journal.append(propolisId, intent);
    }

    @Override
    public void settled(final UUID propolisId)
    {
        if (journal != null)
        {
            journal.settle(propolisId);
        }
    }

    @Override
    public Map<UUID, List<KillIntent>> journalledKills()
    {
        return journal == null ? Map.of() : journal.found();
    }

    @Override
    public void forgetJournalledKillsBut(final java.util.Set<UUID> known)
    {
        if (journal != null)
        {
            journal.forgetAllBut(known);
        }
    }

    @Override
    public void close() throws IOException
    {
        if (journal != null)
        {
            journal.close();
        }
    }

    public Path dir()
    {
        return dir;
    }

    @Override
    public void save(final StoredVmm vmm) throws IOException
    {
        final Path target = file(vmm.propolisId());
        final Path tmp = dir.resolve(vmm.propolisId() + SUFFIX + TMP_SUFFIX);
        final byte[] bytes = WRITER.writeValueAsBytes(vmm);
        try
        {
            try (FileChannel channel = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING))
            {
                final ByteBuffer buffer = ByteBuffer.wrap(bytes);
                while (buffer.hasRemaining())
                {
                    channel.write(buffer);
                }
                channel.force(true);
            }
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        }
        catch (final IOException ex)
        {
            // A full disk leaves a short temporary file: remove it; the old record is untouched.
            Files.deleteIfExists(tmp);
            throw ex;
        }
        syncDir();
    }

    @Override
    public void delete(final UUID propolisId) throws IOException
    {
        Files.deleteIfExists(file(propolisId));
        syncDir();
    }

    @Override
    public List<StoredVmm> loadAll() throws IOException
    {
        final List<StoredVmm> vmms = new ArrayList<>();
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir))
        {
            for (final Path file : files)
            {
                final String name = file.getFileName().toString();
                if (name.endsWith(TMP_SUFFIX))
                {
                    LOG.warning(() -> "removing unfinished record write " + file);
                    Files.deleteIfExists(file);
                    continue;
                }
                if (!name.endsWith(SUFFIX))
                {
                    continue;
                }
                try
                {
                    vmms.add(READER.readValue(Files.readAllBytes(file)));
                }
                catch (final NoSuchFileException ex)
                {
                    // Deleted while listing: nothing to load.
                }
                catch (final IOException ex)
                {
                    LOG.severe(() -> "cannot read VMM record " + file + ": " + ex.getMessage() + "; left in place");
                }
            }
        }
        return vmms;
    }

    private Path file(final UUID propolisId)
    {
        return dir.resolve(propolisId + SUFFIX);
    }

    /** fsync of the directory, so the rename itself is durable. */
    private void syncDir() throws IOException
    {
        try (FileChannel channel = FileChannel.open(dir, StandardOpenOption.READ))
        {
            channel.force(true);
        }
    }
}
