package sledagent.agent.persist;

import com.fasterxml.jackson.databind.ObjectReader;
import com.fasterxml.jackson.databind.ObjectWriter;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.logging.Logger;
import sledagent.agent.vmm.KillIntent;
import sledagent.agent.vmm.StoredVmm;
import sledagent.agent.vmm.VmmStore;
import sledagent.api.Json;

/**
 * One JSON file per VMM under {@code <state-dir>/vmms/}. A write goes to a temporary file, which is synced,
 * renamed over the record, and then the directory is synced: after a crash or a full disk the old record or
 * the new one is there, whole. Temporary files left by a crash are removed at load and never read. Writes go
 * through one {@link GroupCommitWriter}: the writes of several VMMs queued together share one sync, and a write
 * is acknowledged (its future completes, {@link #save} returns) only after the syncs that cover it.
 */
public final class FileVmmStore implements VmmStore, AutoCloseable
{
    private static final Logger LOG = Logger.getLogger(FileVmmStore.class.getName());
    private static final String SUFFIX = RecordFiles.SUFFIX;
    private static final String TMP_SUFFIX = RecordFiles.TMP_SUFFIX;
    /** Writes that may wait for the writer; one more fails at once (the record falls behind and is retried). */
    public static final int WRITE_QUEUE = 4096;
    /** How long a blocking {@link #save} waits for its batch. */
    private static final ObjectWriter WRITER = Json.mapper().writerFor(StoredVmm.class);
    private static final ObjectReader READER = Json.mapper().readerFor(StoredVmm.class);

    private static final String JOURNAL = "kill-journal";

    private final Path dir;
    private final GroupCommitWriter writer;
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
        this.writer = new GroupCommitWriter(new RecordFiles(dir, true), WRITE_QUEUE, "sled-record-writer");
    }

    @Override
    public boolean journalKill(final UUID propolisId, final KillIntent intent)
    {
        return journal != null && journal.append(propolisId, intent);
    }

    @Override
    public boolean journalKillAhead(final UUID propolisId, final KillIntent intent)
    {
        return journal != null && journal.appendUnsynced(propolisId, intent);
    }

    @Override
    public boolean syncJournal()
    {
        return journal != null && journal.sync();
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
        // Drains first: a queued write's future must complete before the journal it may settle is closed.
        writer.close();
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
        VmmStore.await(saveAsync(vmm));
    }

    @Override
    public CompletableFuture<Void> saveAsync(final StoredVmm vmm)
    {
        final byte[] bytes;
        try
        {
            bytes = WRITER.writeValueAsBytes(vmm);
        }
        catch (final IOException ex)
        {
            return CompletableFuture.failedFuture(ex);
        }
        return writer.save(vmm.propolisId(), bytes);
    }

    @Override
    public void delete(final UUID propolisId) throws IOException
    {
        VmmStore.await(deleteAsync(propolisId));
    }

    @Override
    public CompletableFuture<Void> deleteAsync(final UUID propolisId)
    {
        return writer.delete(propolisId);
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

}
