package sledagent.hypervisor.qemu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The UART reader against {@link FakeUnixServer} playing QEMU's socket chardev. */
class SerialConsoleTest
{
    @TempDir
    Path dir;

    private FakeUnixServer uart;
    private SerialConsole console;

    @AfterEach
    void cleanup() throws Exception
    {
        if (console != null)
        {
            console.close();
        }
        if (uart != null)
        {
            uart.close();
        }
    }

    private static String text(final SerialRing.Slice slice)
    {
        return new String(slice.data(), StandardCharsets.US_ASCII);
    }

    @Test
    void connectsOnceQemuMadeTheSocketAndKeepsEveryByteWithItsOffset() throws Exception
    {
        final Path path = dir.resolve("com1.sock");
        final List<SerialRing.Slice> live = new CopyOnWriteArrayList<>();
        console = SerialConsole.start(path, "t-com1", new SerialRing(), live::add, 5000);
        await().during(Duration.ofMillis(150)).atMost(Duration.ofSeconds(1)).until(() -> !console.connected().isDone());
        uart = new FakeUnixServer(path).accept(true);
        console.connected().get(5, TimeUnit.SECONDS);
        uart.send("GUEST-READY uptime=1.50\n");
        uart.send("tick 1\n");
        await().atMost(Duration.ofSeconds(5)).until(() -> console.ring().total() == 31);
        assertThat(text(console.ring().history(0L, null, null))).isEqualTo("GUEST-READY uptime=1.50\ntick 1\n");
        assertThat(text(console.ring().history(null, 7L, null))).isEqualTo("tick 1\n");
        // The live chunks tile the history: contiguous offsets from 0.
        long next = 0;
        for (final SerialRing.Slice slice : live)
        {
            assertThat(slice.startOffset()).isEqualTo(next);
            next = slice.endOffset();
        }
        assertThat(next).isEqualTo(31);
    }

    @Test
    void inputReachesTheGuestWhileTheReaderWaitsForOutput() throws Exception
    {
        final Path path = dir.resolve("com1.sock");
        uart = new FakeUnixServer(path);
        console = SerialConsole.start(path, "t-in", new SerialRing(), null, 5000);
        uart.accept(true);
        console.connected().get(5, TimeUnit.SECONDS);
        // The reader is blocked in read (no output yet): the write must not wait for it.
        assertThat(console.write("uname -r\n".getBytes(StandardCharsets.US_ASCII))).isTrue();
        assertThat(uart.nextLine()).isEqualTo("uname -r");
    }

    @Test
    void pendingInputIsBoundedAndAWriteNeverBlocks() throws Exception
    {
        final Path path = dir.resolve("com1.sock");
        uart = new FakeUnixServer(path);
        console = SerialConsole.start(path, "t-full", new SerialRing(), null, 5000);
        uart.accept(false); // a guest that never reads its UART
        console.connected().get(5, TimeUnit.SECONDS);
        final byte[] chunk = new byte[4096];
        final long startNs = System.nanoTime();
        int accepted = 0;
        boolean refused = false;
        // The socket buffers absorb some; then the writer blocks and the pending bytes reach the bound.
        for (int i = 0; i < 10_000 && !refused; i++)
        {
            if (console.write(chunk))
            {
                accepted++;
            }
            else
            {
                refused = true;
            }
        }
        assertThat(refused).as("refused after %d chunks", accepted).isTrue();
        assertThat(Duration.ofNanos(System.nanoTime() - startNs)).isLessThan(Duration.ofSeconds(5));
    }

    /** A guest that writes 4 MiB as fast as it can is never held back, and the ring keeps both ends. */
    @Test
    void aFloodIsReadAtOnceAndTheRingKeepsTheFirstAndTheLastMebibyte() throws Exception
    {
        final Path path = dir.resolve("com1.sock");
        uart = new FakeUnixServer(path);
        console = SerialConsole.start(path, "t-flood", new SerialRing(), null, 5000);
        uart.accept(true);
        console.connected().get(5, TimeUnit.SECONDS);
        final byte[] flood = new byte[4 * 1024 * 1024];
        new Random(7).nextBytes(flood);
        final long startNs = System.nanoTime();
        uart.send(flood); // blocks only as long as the reader lags
        await().atMost(Duration.ofSeconds(10)).until(() -> console.ring().total() == flood.length);
        assertThat(Duration.ofNanos(System.nanoTime() - startNs)).isLessThan(Duration.ofSeconds(10));
        final SerialRing.Slice first = console.ring().history(0L, null, (long) SerialRing.DEFAULT_CAPACITY);
        assertThat(first.data()).isEqualTo(java.util.Arrays.copyOf(flood, SerialRing.DEFAULT_CAPACITY));
        final SerialRing.Slice last = console.ring().history(null, 100L, null);
        assertThat(last.startOffset()).isEqualTo(flood.length - 100);
        assertThat(last.data()).isEqualTo(java.util.Arrays.copyOfRange(flood, flood.length - 100, flood.length));
        assertThatThrownBy(() -> console.ring().history(2L * 1024 * 1024, null, null))
            .isInstanceOf(SerialRing.ExpiredRangeException.class);
    }

    @Test
    void qemuClosingTheConnectionEndsTheReaderAndInputIsRefused() throws Exception
    {
        final Path path = dir.resolve("com1.sock");
        uart = new FakeUnixServer(path);
        console = SerialConsole.start(path, "t-eof", new SerialRing(), null, 5000);
        uart.accept(true);
        console.connected().get(5, TimeUnit.SECONDS);
        uart.send("last words\n");
        uart.hangUp();
        console.ended().get(5, TimeUnit.SECONDS);
        assertThat(text(console.ring().history(0L, null, null))).isEqualTo("last words\n");
        assertThat(console.write(new byte[] {'x'})).isFalse();
    }

    @Test
    void noSocketWithinTheConnectTimeoutFailsConnected() throws Exception
    {
        console = SerialConsole.start(dir.resolve("never.sock"), "t-never", new SerialRing(), null, 200);
        assertThatThrownBy(() -> console.connected().get(5, TimeUnit.SECONDS)).isInstanceOf(ExecutionException.class)
            .hasMessageContaining("did not accept a connection within 200 ms");
        console.ended().get(5, TimeUnit.SECONDS);
    }

    @Test
    void closeEndsAReaderThatIsConnectingOrReading() throws Exception
    {
        console = SerialConsole.start(dir.resolve("late.sock"), "t-close1", new SerialRing(), null, 60_000);
        console.close();
        console.ended().get(5, TimeUnit.SECONDS);

        final Path path = dir.resolve("com1.sock");
        uart = new FakeUnixServer(path);
        console = SerialConsole.start(path, "t-close2", new SerialRing(), null, 5000);
        uart.accept(true);
        console.connected().get(5, TimeUnit.SECONDS);
        final CompletableFuture<Void> ended = console.ended();
        console.close();
        ended.get(5, TimeUnit.SECONDS);
        assertThat(console.write(new byte[] {'x'})).isFalse();
    }
}
