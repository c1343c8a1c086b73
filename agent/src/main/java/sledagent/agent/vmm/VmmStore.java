package sledagent.agent.vmm;

import java.io.IOException;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/** Durable VMM records: written on every change, read once at start. */
public interface VmmStore
{
    /** Writes the record so that after a crash either the old or the new one is read, never a mix. */
    void save(StoredVmm vmm) throws IOException;

    /** Removes the record (a VMM that left the table); a missing one is fine. */
    void delete(UUID propolisId) throws IOException;

    /** The longest a caller waits for a queued write before it counts as failed (a disk that stopped answering). */
    long AWAIT_BOUND_MS = 30_000;

    /**
     * Waits, at most {@link #AWAIT_BOUND_MS}, for a queued write.
     *
     * @throws IOException the write's own failure, or a timeout or interrupt while waiting (the interrupt is kept)
     */
    static void await(final CompletableFuture<Void> write) throws IOException
    {
        try
        {
            write.get(AWAIT_BOUND_MS, TimeUnit.MILLISECONDS);
        }
        catch (final ExecutionException ex)
        {
            throw ex.getCause() instanceof IOException io ? io : new IOException(ex.getCause());
        }
        catch (final TimeoutException ex)
        {
            throw new IOException("record write not done within " + AWAIT_BOUND_MS + " ms (disk stuck?)", ex);
        }
        catch (final InterruptedException ex)
        {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted waiting for a record write", ex);
        }
    }

    /**
     * Queues a write of the record; the future completes once it is durable (or with the failure). Writes and
     * deletes of one VMM are applied in the order they were queued, {@link #save} and {@link #delete} included.
     * This default writes at once, on the caller's thread.
     */
    default CompletableFuture<Void> saveAsync(final StoredVmm vmm)
    {
        try
        {
            save(vmm);
            return CompletableFuture.completedFuture(null);
        }
        catch (final IOException ex)
        {
            return CompletableFuture.failedFuture(ex);
        }
    }

    /** Queues the removal of the record, as {@link #saveAsync}. */
    default CompletableFuture<Void> deleteAsync(final UUID propolisId)
    {
        try
        {
            delete(propolisId);
            return CompletableFuture.completedFuture(null);
        }
        catch (final IOException ex)
        {
            return CompletableFuture.failedFuture(ex);
        }
    }

    /**
     * Keeps a kill in the journal <em>before</em> its record is written, so that the kill need not wait for the
     * record: the slot is written to the file (no sync), which survives the agent's death, not the host's (see
     * {@link sledagent.agent.vmm.VmmActor}). False if it cannot be kept: the record is then written first.
     */
    default boolean journalKillAhead(final UUID propolisId, final KillIntent intent)
    {
        return false;
    }

    /** Makes the slots written by {@link #journalKillAhead} durable; false if that failed (or nothing to sync). */
    default boolean syncJournal()
    {
        return false;
    }

    /** Every record, skipping (and reporting) files that cannot be read. */
    List<StoredVmm> loadAll() throws IOException;

    /**
     * Makes a kill durable when its record could not be written (see {@link KillJournal}); false if it could not
     * be kept either. The kill goes ahead in both cases.
     */
    default boolean journalKill(final UUID propolisId, final KillIntent intent)
    {
        return false;
    }

    /** The VMM's record has been written or removed: what the journal held for it is in the record now. */
    default void settled(final UUID propolisId)
    {
    }

    /** The kills a previous run journalled, per VMM, oldest first. */
    default Map<UUID, List<KillIntent>> journalledKills()
    {
        return Map.of();
    }

    /** Frees the journal slots of VMMs that have no record (they were done); called once, after recovery. */
    default void forgetJournalledKillsBut(final Set<UUID> known)
    {
    }

    /** A store that keeps nothing: for benchmarks and tests of other things. */
    VmmStore NONE = new VmmStore()
    {
        @Override
        public void save(final StoredVmm vmm)
        {
        }

        @Override
        public void delete(final UUID propolisId)
        {
        }

        @Override
        public List<StoredVmm> loadAll()
        {
            return List.of();
        }
    };
}
