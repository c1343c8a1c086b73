package sledagent.hypervisor.qemu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Iterator;
import java.util.Random;
import org.junit.jupiter.api.Test;

class SerialRingTest
{
    private static void consume(final SerialRing ring, final String text)
    {
        final byte[] bytes = text.getBytes(StandardCharsets.US_ASCII);
        ring.append(bytes, 0, bytes.length);
    }

    /** (text, last_byte_offset) as Propolis's test writes its assertions. */
    private static String sugar(final SerialRing ring, final Long fromStart, final Long mostRecent, final long max)
        throws SerialRing.ExpiredRangeException
    {
        final SerialRing.Slice slice = ring.history(fromStart, mostRecent, max);
        return new String(slice.data(), StandardCharsets.US_ASCII) + "|" + slice.endOffset();
    }

    /** Propolis's own test_continuous_buffer_range_abstraction, line by line. */
    @Test
    void propolisTestCases() throws Exception
    {
        final SerialRing buf = new SerialRing(16);
        assertThat(buf.history(0L, null, null)).isEqualTo(new SerialRing.Slice(new byte[0], 0));
        assertThat(sugar(buf, 0L, null, 0)).isEqualTo("|0");
        assertThat(sugar(buf, 0L, null, 11)).isEqualTo("|0");
        assertThat(sugar(buf, 11L, null, 0)).isEqualTo("|0");
        assertThat(sugar(buf, 11L, null, 11)).isEqualTo("|0");

        final String line = "This is an example of text.";
        consume(buf, line.substring(0, 9));
        assertThat(sugar(buf, 8L, null, 5)).isEqualTo("a|9");
        consume(buf, line.substring(9));

        final SerialRing.Slice all = buf.history(0L, null, null);
        assertThat(new String(all.data(), StandardCharsets.US_ASCII)).isEqualTo(line);
        assertThat(all.endOffset()).isEqualTo(line.length());
        assertThat(sugar(buf, 0L, null, line.length() + 10)).isEqualTo(line + "|" + line.length());
        assertThat(sugar(buf, 8L, null, 5)).isEqualTo("an ex|13");
        assertThat(sugar(buf, 100L, null, 10)).isEqualTo("|" + line.length());
        assertThat(sugar(buf, null, 10L, 4)).isEqualTo("e of|21");
        assertThat(sugar(buf, null, 10L, 400)).isEqualTo("e of text.|" + line.length());
        assertThat(sugar(buf, null, 100L, 4)).isEqualTo("This|4");

        consume(buf, "\nNo thing beside remains.");
        assertThat(sugar(buf, null, 10L, 4)).isEqualTo("e re|46");
        assertThat(sugar(buf, 8L, null, 8)).isEqualTo("an examp|16");
        assertThat(sugar(buf, 8L, null, 12)).isEqualTo("an examp|16");
        assertThatThrownBy(() -> buf.history(16L, null, null)).isInstanceOf(SerialRing.ExpiredRangeException.class)
            .hasMessage("Requested byte offset 16 (-36) is no longer cached: Only have first 16 + most recent 16"
                + " saved out of a total 52 of output");
    }

    /** A migration's copy answers every query as the original does: same offsets, same gap, same ends. */
    @Test
    void aRestoredRingAnswersAsTheExportedOne() throws Exception
    {
        final Random random = new Random(13);
        for (final int written : new int[] {0, 5, 16, 17, 40, 100})
        {
            final SerialRing original = new SerialRing(16);
            final byte[] data = new byte[written];
            random.nextBytes(data);
            original.append(data, 0, written);
            final SerialRing copy = new SerialRing(16);
            copy.restore(original.export());
            assertThat(copy.total()).isEqualTo(written);
            for (long from = 0; from <= written + 1; from++)
            {
                final Object expected = slice(original, from);
                assertThat(slice(copy, from)).as("from_start %d of %d", from, written).isEqualTo(expected);
            }
            // The copy goes on from where the original stopped.
            copy.append(new byte[] {42}, 0, 1);
            assertThat(copy.history(null, 1L, null).data()).containsExactly(42);
            assertThat(copy.history(null, 1L, null).startOffset()).isEqualTo(written);
        }
        final SerialRing used = new SerialRing(16);
        used.append(new byte[] {1}, 0, 1);
        assertThatThrownBy(() -> used.restore(new SerialRing(16).export())).isInstanceOf(IllegalStateException.class);
    }

    /** A slice, or the expired-range message, as a comparable value. */
    private static Object slice(final SerialRing ring, final long fromStart)
    {
        try
        {
            return ring.history(fromStart, null, 1024L);
        }
        catch (final SerialRing.ExpiredRangeException e)
        {
            return e.getMessage();
        }
    }

    @Test
    void exactlyOneOfFromStartAndMostRecent()
    {
        final SerialRing ring = new SerialRing(16);
        assertThatThrownBy(() -> ring.history(null, null, null)).isInstanceOf(IllegalArgumentException.class)
            .hasMessage("Exactly one of 'from_start' or 'most_recent' must be specified.");
        assertThatThrownBy(() -> ring.history(1L, 1L, null)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> ring.history(-1L, null, null)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void maxBytesDefaultsToSixteenKibibytes() throws Exception
    {
        final SerialRing ring = new SerialRing();
        final byte[] lots = new byte[100_000];
        Arrays.fill(lots, (byte) 'x');
        ring.append(lots, 0, lots.length);
        assertThat(ring.history(0L, null, null).data()).hasSize(SerialRing.DEFAULT_MAX_BYTES);
        assertThat(ring.history(null, 10L, null).data()).hasSize(10);
        assertThat(ring.history(0L, null, Long.MAX_VALUE).data()).hasSize(lots.length);
        assertThat(ring.total()).isEqualTo(lots.length);
    }

    /** Random writes (some larger than the ring) and random queries against a straight port of the Rust code. */
    @Test
    void matchesPropolisHistoryBufferOnRandomInput() throws Exception
    {
        final Random random = new Random(12);
        for (int round = 0; round < 200; round++)
        {
            final int capacity = 1 + random.nextInt(40);
            final SerialRing ring = new SerialRing(capacity);
            final RustHistoryBuffer model = new RustHistoryBuffer(capacity);
            for (int write = 0; write < 30; write++)
            {
                final byte[] data = new byte[random.nextInt(capacity * 2 + 2)];
                random.nextBytes(data);
                final int offset = data.length == 0 ? 0 : random.nextInt(data.length);
                final int length = data.length - offset;
                ring.append(data, offset, length);
                model.consume(Arrays.copyOfRange(data, offset, offset + length));
                for (int query = 0; query < 10; query++)
                {
                    final boolean fromStart = random.nextBoolean();
                    final long at = random.nextInt((int) model.total + 5);
                    final long max = random.nextInt(capacity * 3);
                    final Object expected = model.contents(fromStart, at, max);
                    Object actual;
                    try
                    {
                        final SerialRing.Slice slice = fromStart ? ring.history(at, null, max)
                            : ring.history(null, at, max);
                        actual = Arrays.toString(slice.data()) + "@" + slice.endOffset();
                    }
                    catch (final SerialRing.ExpiredRangeException e)
                    {
                        actual = "expired";
                    }
                    assertThat(actual).as("round %d capacity %d total %d %s %d max %d", round, capacity, model.total,
                        fromStart ? "from_start" : "most_recent", at, max).isEqualTo(expected);
                }
            }
        }
    }

    /** history_buffer.rs, transcribed: beginning Vec, rolling VecDeque, drain-and-capture on overflow. */
    private static final class RustHistoryBuffer
    {
        private final ByteArrayOutputStream beginning = new ByteArrayOutputStream();
        private final ArrayDeque<Byte> rolling = new ArrayDeque<>();
        private final int bufferSize;
        private long total;

        RustHistoryBuffer(final int bufferSize)
        {
            this.bufferSize = bufferSize;
        }

        void consume(final byte[] data)
        {
            for (final byte b : data)
            {
                rolling.addLast(b);
            }
            if (rolling.size() > bufferSize)
            {
                final int toDrain = rolling.size() - bufferSize;
                int toCapture = bufferSize - beginning.size();
                for (int i = 0; i < toDrain; i++)
                {
                    final byte b = rolling.removeFirst();
                    if (toCapture-- > 0)
                    {
                        beginning.write(b);
                    }
                }
            }
            total += data.length;
        }

        Object contents(final boolean isFromStart, final long offset, final long maxBytes)
        {
            final long fromStart;
            final long fromEnd;
            if (isFromStart)
            {
                fromStart = total > offset ? offset : total;
                fromEnd = total > offset ? total - offset : 0;
            }
            else
            {
                fromStart = total > offset ? total - offset : 0;
                fromEnd = total > offset ? offset : total;
            }
            final byte[] begin = beginning.toByteArray();
            final byte[] roll = new byte[rolling.size()];
            final Iterator<Byte> it = rolling.iterator();
            for (int i = 0; i < roll.length; i++)
            {
                roll[i] = it.next();
            }
            final byte[] source;
            final long skip;
            if (total == roll.length + begin.length)
            {
                source = new byte[begin.length + roll.length];
                System.arraycopy(begin, 0, source, 0, begin.length);
                System.arraycopy(roll, 0, source, begin.length, roll.length);
                skip = fromStart;
            }
            else if (fromStart < begin.length)
            {
                source = begin;
                skip = fromStart;
            }
            else if (fromEnd <= roll.length)
            {
                source = roll;
                skip = roll.length - fromEnd;
            }
            else
            {
                return "expired";
            }
            final byte[] data = Arrays.copyOfRange(source, (int) Math.min(skip, source.length),
                (int) Math.min(source.length, Math.min(skip, source.length) + maxBytes));
            return Arrays.toString(data) + "@" + (fromStart + data.length);
        }
    }
}
