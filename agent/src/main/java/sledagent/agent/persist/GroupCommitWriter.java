package sledagent.agent.persist;

import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.logging.Logger;

/**
 * Group commit of VMM record files: one dedicated thread takes every write queued meanwhile (several VMMs'),
 * writes their temporary files, makes them durable together (one sync step for the batch, see {@link FsSync}),
 * renames them over the records and syncs the directory once. A write's future completes only after the syncs that
 * cover it, so whatever waits on it (a reply, a publish) never runs ahead of the disk. Writes of one VMM are
 * applied in the order they were queued (one thread, FIFO; two in one batch are coalesced: the later wins, both
 * complete with it).
 *
 * <p>Bounded: at most {@code capacity} writes wait; one more fails at once ({@link QueueFullException}), never
 * blocks the caller. {@link #close} takes no more and drains what is queued (bounded wait for the thread).
 */
public final class GroupCommitWriter implements AutoCloseable
{
    private static final Logger LOG = Logger.getLogger(GroupCommitWriter.class.getName());
    /** Writes per batch: bounds what one sync covers, so one batch cannot hold the queue's head for long. */
    static final int MAX_BATCH = 256;
    private static final long POLL_MS = 100;
    private static final long CLOSE_BOUND_MS = 30_000;

    /** The file operations of a batch; the real one is {@link RecordFiles}, tests use a fake. */
    public interface Disk
    {
        /** Writes {@code bytes} to the VMM's temporary file, not synced. */
        void writeTemp(UUID propolisId, byte[] bytes) throws IOException;

        /** Makes the temporary files of {@code propolisIds} durable, with one sync where the platform allows. */
        void syncTemps(List<UUID> propolisIds) throws IOException;

        /** Renames the VMM's temporary file over its record. */
        void rename(UUID propolisId) throws IOException;

        /** Removes the VMM's record (a missing one is fine). */
        void remove(UUID propolisId) throws IOException;

        /** Removes a temporary file that will not be renamed (best effort). */
        void discardTemp(UUID propolisId);

        /** Makes the renames and removals durable. */
        void syncDir() throws IOException;
    }

    /** The queue was full: the write was not queued. */
    public static final class QueueFullException extends IOException
    {
        private static final long serialVersionUID = 1L;

        QueueFullException(final int capacity)
        {
            super("record writer queue full (" + capacity + " writes waiting)");
        }
    }

    /** One queued write: the record's bytes, or null for a removal. */
    record Op(UUID propolisId, byte[] bytes, CompletableFuture<Void> done)
    {
    }

    private final Disk disk;
    private final int capacity;
    private final ArrayBlockingQueue<Op> queue;
    private final Thread thread;
    private final Object submitLock = new Object();
    private volatile boolean closed;
    private long batches;
    private long writes;

    /** A writer over {@code disk} with room for {@code capacity} waiting writes; its thread starts now. */
    public GroupCommitWriter(final Disk disk, final int capacity, final String name)
    {
        this.disk = disk;
        this.capacity = capacity;
        this.queue = new ArrayBlockingQueue<>(capacity);
        this.thread = new Thread(this::run, name);
        thread.setDaemon(true);
        thread.start();
    }

    /** Queues a write of the VMM's record; completes once it is durable, or exceptionally with the failure. */
    public CompletableFuture<Void> save(final UUID propolisId, final byte[] bytes)
    {
        return submit(new Op(propolisId, bytes, new CompletableFuture<>()));
    }

    /** Queues the removal of the VMM's record, after any write of it queued before. */
    public CompletableFuture<Void> delete(final UUID propolisId)
    {
        return submit(new Op(propolisId, null, new CompletableFuture<>()));
    }

    private CompletableFuture<Void> submit(final Op op)
    {
        synchronized (submitLock)
        {
            if (closed)
            {
                op.done().completeExceptionally(new IOException("record writer closed"));
            }
            else if (!queue.offer(op))
            {
                op.done().completeExceptionally(new QueueFullException(capacity));
            }
        }
        return op.done();
    }

    /** Batches committed and writes in them, for tests and logs: {@code [batches, writes]}. */
    synchronized long[] counts()
    {
        return new long[] {batches, writes};
    }

    private void run()
    {
        final List<Op> batch = new ArrayList<>(MAX_BATCH);
        while (true)
        {
            final Op first;
            try
            {
                first = queue.poll(POLL_MS, TimeUnit.MILLISECONDS);
            }
            catch (final InterruptedException ex)
            {
                // Only close() may end the writer: what is queued must still be written.
                continue;
            }
            if (first != null)
            {
                batch.add(first);
            }
            // closed is set only after every accepted offer (submitLock), so a drain after reading it sees all.
            final boolean last = closed;
            queue.drainTo(batch, MAX_BATCH - batch.size());
            if (batch.isEmpty())
            {
                if (last)
                {
                    return;
                }
                continue;
            }
            commit(disk, batch);
            synchronized (this)
            {
                batches++;
                writes += batch.size();
            }
            batch.clear();
        }
    }

    /**
     * Commits one batch: temporary files, one sync, renames and removals, one directory sync; then completes each
     * write's future (a failure fails only the writes it concerns). Package-private for the batching tests.
     */
    static void commit(final Disk disk, final List<Op> batch)
    {
        // Coalesce per VMM, in queue order: the last write of a VMM is what its record must become.
        final Map<UUID, List<Op>> byVmm = new LinkedHashMap<>();
        final Map<UUID, Op> last = new LinkedHashMap<>();
        for (final Op op : batch)
        {
            byVmm.computeIfAbsent(op.propolisId(), id -> new ArrayList<>(1)).add(op);
            last.remove(op.propolisId());
            last.put(op.propolisId(), op);
        }
        final Map<UUID, IOException> failed = new LinkedHashMap<>();
        final List<UUID> temps = new ArrayList<>();
        for (final Op op : last.values())
        {
            if (op.bytes() == null)
            {
                continue;
            }
            try
            {
                disk.writeTemp(op.propolisId(), op.bytes());
                temps.add(op.propolisId());
            }
            catch (final IOException ex)
            {
                disk.discardTemp(op.propolisId());
                failed.put(op.propolisId(), ex);
            }
        }
        if (!temps.isEmpty())
        {
            try
            {
                disk.syncTemps(temps);
            }
            catch (final IOException ex)
            {
                for (final UUID id : temps)
                {
                    disk.discardTemp(id);
                    failed.put(id, ex);
                }
                temps.clear();
            }
        }
        final List<UUID> changed = new ArrayList<>();
        for (final Op op : last.values())
        {
            final UUID id = op.propolisId();
            if (failed.containsKey(id))
            {
                continue;
            }
            try
            {
                if (op.bytes() == null)
                {
                    disk.remove(id);
                }
                else
                {
                    disk.rename(id);
                }
                changed.add(id);
            }
            catch (final IOException ex)
            {
                disk.discardTemp(id);
                failed.put(id, ex);
            }
        }
        if (!changed.isEmpty())
        {
            try
            {
                disk.syncDir();
            }
            catch (final IOException ex)
            {
                for (final UUID id : changed)
                {
                    failed.put(id, ex);
                }
            }
        }
        for (final Map.Entry<UUID, List<Op>> entry : byVmm.entrySet())
        {
            final IOException failure = failed.get(entry.getKey());
            for (final Op op : entry.getValue())
            {
                if (failure == null)
                {
                    op.done().complete(null);
                }
                else
                {
                    op.done().completeExceptionally(failure);
                }
            }
        }
    }

    /** Takes no more writes, writes what is queued, and ends the thread (bounded wait). */
    @Override
    public void close()
    {
        synchronized (submitLock)
        {
            closed = true;
        }
        try
        {
            thread.join(CLOSE_BOUND_MS);
        }
        catch (final InterruptedException ex)
        {
            Thread.currentThread().interrupt();
        }
        if (thread.isAlive())
        {
            LOG.severe(() -> "record writer did not drain within " + CLOSE_BOUND_MS + " ms (disk stuck?)");
        }
        final long[] done = counts();
        LOG.info(() -> "record writer closed: " + done[1] + " write(s) in " + done[0] + " batch(es)");
    }
}
