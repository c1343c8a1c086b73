package sledagent.hypervisor.qemu;

import java.util.Arrays;
import java.util.Objects;

/**
 * A guest UART's output history with absolute byte offsets, as Propolis keeps it
 * ({@code bin/propolis-server/src/lib/serial/history_buffer.rs}): the <em>first</em> {@code capacity} bytes ever
 * written and the <em>most recent</em> {@code capacity} bytes (1 MiB each by default), so a boot log survives a
 * chatty guest. {@link #history} answers {@code GET /instance/serial/history} exactly as the real server does.
 * Thread-safe: one writer ({@link SerialConsole}'s reader thread) and any number of readers; every call is O(bytes
 * copied) under one monitor and never blocks otherwise.
 */
public final class SerialRing
{
    /** Propolis's {@code TTY_BUFFER_SIZE}. */
    public static final int DEFAULT_CAPACITY = 1024 * 1024;
    /** Propolis's {@code DEFAULT_MAX_LENGTH}: what {@code max_bytes} defaults to. */
    public static final int DEFAULT_MAX_BYTES = 16 * 1024;

    /**
     * A slice of the history.
     *
     * @param data        the bytes (possibly empty)
     * @param startOffset absolute offset of {@code data[0]} counted from the first byte the guest ever wrote
     */
    public record Slice(byte[] data, long startOffset)
    {
        public Slice
        {
            Objects.requireNonNull(data, "data");
        }

        /** Absolute offset just past the slice: Propolis's {@code last_byte_offset}, the next {@code from_start}. */
        public long endOffset()
        {
            return startOffset + data.length;
        }

        @Override
        public boolean equals(final Object other)
        {
            return other instanceof Slice slice && slice.startOffset == startOffset && Arrays.equals(slice.data, data);
        }

        @Override
        public int hashCode()
        {
            return Long.hashCode(startOffset) * 31 + Arrays.hashCode(data);
        }

        @Override
        public String toString()
        {
            return "Slice[" + data.length + " bytes at " + startOffset + "]";
        }
    }

    /**
     * The asked range is in neither the kept beginning nor the kept recent bytes (Propolis answers 400 with this
     * message).
     */
    public static final class ExpiredRangeException extends Exception
    {
        private static final long serialVersionUID = 1L;

        ExpiredRangeException(final long fromStart, final long fromEnd, final long beginningLen, final long rollingLen,
            final long total)
        {
            super("Requested byte offset " + fromStart + " (-" + fromEnd + ") is no longer cached: Only have first "
                + beginningLen + " + most recent " + rollingLen + " saved out of a total " + total + " of output");
        }
    }

    private final int capacity;
    /** The first {@code min(capacity, total)} bytes of the stream (grown on demand up to {@code capacity}). */
    private byte[] head = new byte[0];
    /** The last {@code min(capacity, total)} bytes, circular: byte at absolute offset o is at {@code o % capacity}. */
    private final byte[] ring;
    private long total;

    /** A ring of Propolis's size (1 MiB + 1 MiB). */
    public SerialRing()
    {
        this(DEFAULT_CAPACITY);
    }

    /** A ring keeping the first and the last {@code capacity} bytes. */
    public SerialRing(final int capacity)
    {
        if (capacity < 1)
        {
            throw new IllegalArgumentException("capacity must be at least 1: " + capacity);
        }
        this.capacity = capacity;
        this.ring = new byte[capacity];
    }

    /** Appends what the guest wrote. */
    public synchronized void append(final byte[] data, final int offset, final int length)
    {
        Objects.checkFromIndexSize(offset, length, data.length);
        if (total < capacity)
        {
            final int headLen = (int) Math.min(capacity, total + length);
            if (head.length < headLen)
            {
                head = Arrays.copyOf(head, Math.min(capacity, Math.max(headLen, head.length * 2)));
            }
            System.arraycopy(data, offset, head, (int) total, headLen - (int) total);
        }
        // Only the last `capacity` bytes of this write can survive in the ring.
        final int keep = Math.min(length, capacity);
        long at = total + length - keep;
        int from = offset + length - keep;
        int left = keep;
        while (left > 0)
        {
            final int pos = (int) (at % capacity);
            final int chunk = Math.min(left, capacity - pos);
            System.arraycopy(data, from, ring, pos, chunk);
            at += chunk;
            from += chunk;
            left -= chunk;
        }
        total += length;
    }

    /**
     * What a migration moves: the kept beginning, the kept recent bytes, and the total, so that the target's history
     * answers with the same offsets as the source's did.
     *
     * @param head  the first {@code min(capacity, total)} bytes
     * @param tail  the last {@code min(capacity, total)} bytes
     * @param total bytes written in all
     */
    public record Snapshot(byte[] head, byte[] tail, long total)
    {
    }

    /** The ring's content, for a migration. */
    public synchronized Snapshot export()
    {
        final int kept = (int) Math.min(capacity, total);
        final byte[] tail = new byte[kept];
        for (int i = 0; i < kept; i++)
        {
            tail[i] = ring[(int) ((total - kept + i) % capacity)];
        }
        return new Snapshot(Arrays.copyOf(head, (int) Math.min(capacity, total)), tail, total);
    }

    /**
     * Takes in a source's history before the guest writes here (a migration target's ring is still empty).
     *
     * @throws IllegalStateException if bytes were written here already
     * @throws IllegalArgumentException if the snapshot does not fit this ring
     */
    public synchronized void restore(final Snapshot snapshot)
    {
        if (total != 0)
        {
            throw new IllegalStateException("the ring has " + total + " bytes already");
        }
        final int kept = (int) Math.min(capacity, snapshot.total());
        if (snapshot.head().length != kept || snapshot.tail().length != kept)
        {
            throw new IllegalArgumentException("a snapshot of " + snapshot.total() + " bytes needs " + kept
                + " kept at each end, not " + snapshot.head().length + " and " + snapshot.tail().length);
        }
        head = snapshot.head().clone();
        for (int i = 0; i < kept; i++)
        {
            ring[(int) ((snapshot.total() - kept + i) % capacity)] = snapshot.tail()[i];
        }
        total = snapshot.total();
    }

    /** Bytes the guest has written since start (the next byte's absolute offset). */
    public synchronized long total()
    {
        return total;
    }

    /**
     * {@code GET /instance/serial/history}: exactly one of {@code fromStart} and {@code mostRecent} (else an
     * IllegalArgumentException with Propolis's 400 message). {@code fromStart} beyond the end gives an empty slice
     * at the end; {@code mostRecent} beyond the start gives the slice from offset 0. {@code maxBytes} null means
     * {@link #DEFAULT_MAX_BYTES}.
     *
     * @throws ExpiredRangeException when the start lies in the gap between the kept beginning and the recent bytes
     */
    public synchronized Slice history(final Long fromStart, final Long mostRecent, final Long maxBytes)
        throws ExpiredRangeException
    {
        if ((fromStart == null) == (mostRecent == null))
        {
            throw new IllegalArgumentException("Exactly one of 'from_start' or 'most_recent' must be specified.");
        }
        final long max = maxBytes == null ? DEFAULT_MAX_BYTES : maxBytes;
        if (max < 0 || (fromStart != null && fromStart < 0) || (mostRecent != null && mostRecent < 0))
        {
            throw new IllegalArgumentException("from_start, most_recent and max_bytes must not be negative");
        }
        // offsets_from_start_and_end
        final long start;
        final long fromEnd;
        if (fromStart != null)
        {
            start = Math.min(fromStart, total);
            fromEnd = total - start;
        }
        else
        {
            fromEnd = Math.min(mostRecent, total);
            start = total - fromEnd;
        }
        final long rollingLen = Math.min(total, capacity);
        final long beginningLen = Math.min(capacity, total - rollingLen);
        final long end;
        if (total == rollingLen + beginningLen)
        {
            end = total; // still contiguous: beginning and rolling chained
        }
        else if (start < beginningLen)
        {
            end = beginningLen; // from the kept beginning only, as Propolis does (it does not jump the gap)
        }
        else if (fromEnd <= rollingLen)
        {
            end = total;
        }
        else
        {
            throw new ExpiredRangeException(start, fromEnd, beginningLen, rollingLen, total);
        }
        final int length = (int) Math.min(max, end - start);
        final byte[] out = new byte[length];
        final long ringFrom = total - rollingLen;
        for (int i = 0; i < length; )
        {
            final long at = start + i;
            final int chunk;
            if (at >= ringFrom)
            {
                final int pos = (int) (at % capacity);
                chunk = Math.min(length - i, capacity - pos);
                System.arraycopy(ring, pos, out, i, chunk);
            }
            else
            {
                // Before the ring: in the kept beginning (the cases above guarantee at < beginningLen <= capacity).
                chunk = (int) Math.min(length - i, ringFrom - at);
                System.arraycopy(head, (int) at, out, i, chunk);
            }
            i += chunk;
        }
        return new Slice(out, start);
    }
}
