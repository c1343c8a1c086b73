package sledagent.agent.persist;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.UUID;
import java.util.logging.Logger;
import java.util.zip.CRC32;
import sledagent.agent.vmm.KillIntent;

/**
 * Where a stop, force-terminate or unregister goes when the VMM's record cannot be written (full disk, no free
 * descriptor): a file of fixed-size slots, allocated and opened once at start, so that writing a slot later needs
 * neither a new block nor a new descriptor. A slot is taken until the VMM's record has been written again (its
 * intent is then in the record) and zeroed then; at start the agent folds the intents it finds into the records
 * ({@link sledagent.agent.vmm.Event.Recovered}). Replaying an intent that the record already holds changes
 * nothing, so a slot that could not be zeroed is harmless.
 *
 * <p>Slot layout, 64 bytes, big-endian: magic, CRC32 of bytes 8..63, sequence, propolis id (msb, lsb), kind,
 * has-deadline, padding, deadline (epoch ms), padding. A torn or zero slot fails the magic or the CRC and is
 * skipped.
 */
public final class KillJournal implements AutoCloseable
{
    private static final Logger LOG = Logger.getLogger(KillJournal.class.getName());
    /** Slots in a journal: kills on a full disk before any record can be written again. */
    public static final int DEFAULT_SLOTS = 1024;
    static final int SLOT_BYTES = 64;
    private static final int MAGIC = 0x4B4A4E4C;
    private static final KillIntent.Kind[] KINDS = KillIntent.Kind.values();

    private final Path file;
    private final FileChannel channel;
    private final int slots;
    private final BitSet taken;
    private final Map<UUID, List<Integer>> slotsByVmm = new HashMap<>();
    private final Map<UUID, List<KillIntent>> found;
    private final ByteBuffer scratch = ByteBuffer.allocate(SLOT_BYTES);
    private long nextSeq;
    private int cursor;

    private KillJournal(final Path file, final FileChannel channel, final int slots)
    {
        this.file = file;
        this.channel = channel;
        this.slots = slots;
        this.taken = new BitSet(slots);
        this.found = new LinkedHashMap<>();
    }

    /**
     * Opens the journal at {@code file}, creating it (all slots allocated and zeroed, then renamed into place)
     * if it is missing or of another size, and reads what a previous run left in it.
     */
    public static KillJournal open(final Path file, final int slots) throws IOException
    {
        final long size = (long)slots * SLOT_BYTES;
        if (!Files.exists(file) || Files.size(file) != size)
        {
            allocate(file, size);
        }
        final FileChannel channel = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE);
        final KillJournal journal = new KillJournal(file, channel, slots);
        try
        {
            journal.load();
        }
        catch (final IOException ex)
        {
            channel.close();
            throw ex;
        }
        return journal;
    }

    private static void allocate(final Path file, final long size) throws IOException
    {
        final Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        try (FileChannel out = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
            StandardOpenOption.TRUNCATE_EXISTING))
        {
            // Zeros written, not a sparse truncate: the blocks must exist before the disk fills up.
            final ByteBuffer zeros = ByteBuffer.allocate(8192);
            long written = 0;
            while (written < size)
            {
                zeros.clear().limit((int)Math.min(zeros.capacity(), size - written));
                written += out.write(zeros, written);
            }
            out.force(true);
        }
        catch (final IOException ex)
        {
            Files.deleteIfExists(tmp);
            throw ex;
        }
        Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        try (FileChannel dir = FileChannel.open(file.getParent(), StandardOpenOption.READ))
        {
            dir.force(true);
        }
    }

    private void load() throws IOException
    {
        final TreeMap<Long, Map.Entry<UUID, KillIntent>> bySeq = new TreeMap<>();
        for (int slot = 0; slot < slots; slot++)
        {
            scratch.clear();
            while (scratch.hasRemaining())
            {
                if (channel.read(scratch, (long)slot * SLOT_BYTES + scratch.position()) < 0)
                {
                    break;
                }
            }
            scratch.flip();
            if (scratch.remaining() < SLOT_BYTES || scratch.getInt(0) != MAGIC || scratch.getInt(4) != crc(scratch))
            {
                continue;
            }
            final long seq = scratch.getLong(8);
            final UUID propolisId = new UUID(scratch.getLong(16), scratch.getLong(24));
            final int kind = scratch.get(32);
            if (kind < 0 || kind >= KINDS.length)
            {
                continue;
            }
            final Instant deadline = scratch.get(33) == 1 ? Instant.ofEpochMilli(scratch.getLong(40)) : null;
            bySeq.put(seq, Map.entry(propolisId, new KillIntent(KINDS[kind], deadline)));
            taken.set(slot);
            slotsByVmm.computeIfAbsent(propolisId, id -> new ArrayList<>(2)).add(slot);
            nextSeq = Math.max(nextSeq, seq + 1);
        }
        for (final Map.Entry<UUID, KillIntent> entry : bySeq.values())
        {
            found.computeIfAbsent(entry.getKey(), id -> new ArrayList<>(2)).add(entry.getValue());
        }
        if (!found.isEmpty())
        {
            LOG.warning(() -> "kill journal " + file + ": " + bySeq.size() + " kill(s) of " + found.size()
                + " VMM(s) were carried out while their records could not be written; folding them back in");
        }
    }

    /** What a previous run left: each VMM's intents, oldest first. */
    public synchronized Map<UUID, List<KillIntent>> found()
    {
        return Map.copyOf(found);
    }

    /** Zeroes the slots of VMMs that have no record any more (they left the table; nothing to fold into). */
    public synchronized void forgetAllBut(final Set<UUID> known)
    {
        for (final UUID propolisId : List.copyOf(slotsByVmm.keySet()))
        {
            if (!known.contains(propolisId))
            {
                settle(propolisId);
            }
        }
    }

    /**
     * Writes {@code intent} to a free slot and syncs it; false if there is no free slot or the write failed
     * (the kill goes ahead all the same: the journal only keeps a restart from contradicting it).
     */
    public synchronized boolean append(final UUID propolisId, final KillIntent intent)
    {
        return append(propolisId, intent, true);
    }

    /**
     * Writes {@code intent} to a free slot without syncing it: the slot is in the kernel's page cache at once, so
     * a restart after the agent's own death (SIGKILL, crash, OOM) finds it; a host crash may lose it until
     * {@link #sync}. For a kill that goes ahead of its record's write, whose outcome nobody is told before the
     * record (or this journal) is durable. False if there is no free slot or the write failed.
     */
    public synchronized boolean appendUnsynced(final UUID propolisId, final KillIntent intent)
    {
        return append(propolisId, intent, false);
    }

    /** Syncs the slots written so far; false if that failed. */
    public synchronized boolean sync()
    {
        try
        {
            channel.force(false);
            return true;
        }
        catch (final IOException ex)
        {
            LOG.severe(() -> "kill journal " + file + ": cannot sync: " + ex);
            return false;
        }
    }

    private boolean append(final UUID propolisId, final KillIntent intent, final boolean sync)
    {
        final int slot = freeSlot();
        if (slot < 0)
        {
            LOG.severe(() -> "kill journal " + file + " is full (" + slots + " slots): the kill of " + propolisId
                + " is carried out but not journalled");
            return false;
        }
        scratch.clear();
        scratch.putInt(MAGIC).putInt(0).putLong(nextSeq)
            .putLong(propolisId.getMostSignificantBits()).putLong(propolisId.getLeastSignificantBits())
            .put((byte)intent.kind().ordinal()).put((byte)(intent.stopDeadlineAt() == null ? 0 : 1));
        scratch.position(40);
        scratch.putLong(intent.stopDeadlineAt() == null ? 0 : intent.stopDeadlineAt().toEpochMilli());
        scratch.position(0).limit(SLOT_BYTES);
        scratch.putInt(4, crc(scratch));
        try
        {
            writeSlot(slot);
            if (sync)
            {
                channel.force(false);
            }
        }
        catch (final IOException ex)
        {
            LOG.severe(() -> "kill journal " + file + ": cannot write the kill of " + propolisId + ": " + ex);
            return false;
        }
        nextSeq++;
        taken.set(slot);
        slotsByVmm.computeIfAbsent(propolisId, id -> new ArrayList<>(2)).add(slot);
        cursor = (slot + 1) % slots;
        return true;
    }

    /** The VMM's record has been written (or removed): its slots are free again, and zeroed. */
    public synchronized void settle(final UUID propolisId)
    {
        final List<Integer> held = slotsByVmm.remove(propolisId);
        found.remove(propolisId);
        if (held == null)
        {
            return;
        }
        scratch.clear();
        for (int i = 0; i < SLOT_BYTES; i++)
        {
            scratch.put(i, (byte)0);
        }
        try
        {
            for (final int slot : held)
            {
                taken.clear(slot);
                scratch.position(0).limit(SLOT_BYTES);
                writeSlot(slot);
            }
            // Not synced: a zeroed slot that is lost in a crash replays an intent the record already holds.
        }
        catch (final IOException ex)
        {
            LOG.fine(() -> "kill journal " + file + ": cannot zero the slots of " + propolisId + ": " + ex);
        }
    }

    /** Slots in use (for metrics and tests). */
    public synchronized int taken()
    {
        return taken.cardinality();
    }

    private int freeSlot()
    {
        final int next = taken.nextClearBit(cursor);
        if (next < slots)
        {
            return next;
        }
        final int wrapped = taken.nextClearBit(0);
        return wrapped < slots ? wrapped : -1;
    }

    private void writeSlot(final int slot) throws IOException
    {
        final long base = (long)slot * SLOT_BYTES;
        while (scratch.hasRemaining())
        {
            channel.write(scratch, base + scratch.position());
        }
    }

    private static int crc(final ByteBuffer slot)
    {
        final CRC32 crc = new CRC32();
        crc.update(slot.duplicate().position(8).limit(SLOT_BYTES));
        return (int)crc.getValue();
    }

    @Override
    public synchronized void close() throws IOException
    {
        channel.close();
    }
}
