package sledagent.hypervisor.qemu;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * The one permanent connection to a guest UART: QEMU's {@code -chardev socket,path=...,server=on,wait=off}.
 *
 * <p>Why one permanent reader: QEMU's socket chardev serves one client, drops the guest's output while none is
 * connected, and stalls the guest's UART when the client stops reading (research: qemu-moonshot.md §5). So a
 * thread of ours connects as soon as QEMU has made the socket (retrying every 10 ms, within
 * {@code connectTimeoutMs}) and then reads forever into a {@link SerialRing}: no byte is lost while nobody looks
 * and the guest never waits for a slow client. It ends when QEMU closes the connection (QEMU exited) or on
 * {@link #close()}; there is no reconnect (QEMU keeps the connection across guest resets).
 *
 * <p>Input: {@link #write} queues bytes for the guest (at most {@link #MAX_PENDING_INPUT_BYTES} waiting; more is
 * refused, never blocks) and a writer thread, started on first use, sends them once connected.
 */
public final class SerialConsole implements AutoCloseable
{
    /** Input bytes that may wait for the guest to read them; a write beyond this is refused. */
    public static final int MAX_PENDING_INPUT_BYTES = 64 * 1024;
    private static final long CONNECT_RETRY_MS = 10;
    private static final int READ_CHUNK = 16 * 1024;

    private final Path socket;
    private final String name;
    private final SerialRing ring;
    private final Consumer<SerialRing.Slice> onOutput;
    private final long connectTimeoutMs;
    private final CompletableFuture<Void> connected = new CompletableFuture<>();
    private final CompletableFuture<Void> ended = new CompletableFuture<>();
    private final LinkedBlockingQueue<byte[]> input = new LinkedBlockingQueue<>();
    private final AtomicLong pendingInputBytes = new AtomicLong();
    private final Thread reader;
    private Thread writer;
    private volatile SocketChannel channel;
    private volatile boolean closed;

    private SerialConsole(final Path socket, final String name, final SerialRing ring,
        final Consumer<SerialRing.Slice> onOutput, final long connectTimeoutMs)
    {
        this.socket = Objects.requireNonNull(socket, "socket");
        this.name = Objects.requireNonNull(name, "name");
        this.ring = Objects.requireNonNull(ring, "ring");
        this.onOutput = onOutput == null ? slice -> { } : onOutput;
        this.connectTimeoutMs = connectTimeoutMs;
        this.reader = new Thread(this::readLoop, "serial-" + name);
        reader.setDaemon(true);
    }

    /**
     * Starts the reader: returns at once; the connection follows as soon as QEMU has created {@code socket}.
     *
     * @param socket           the chardev's unix socket
     * @param name             for thread names, e.g. {@code "vm1-com1"}
     * @param ring             where the output goes
     * @param onOutput         null, or called on the reader thread with each chunk just appended (for live
     *                         consoles): keep it short and never block in it, or the guest waits
     * @param connectTimeoutMs how long QEMU may take to create the socket
     */
    public static SerialConsole start(final Path socket, final String name, final SerialRing ring,
        final Consumer<SerialRing.Slice> onOutput, final long connectTimeoutMs)
    {
        final SerialConsole console = new SerialConsole(socket, name, ring, onOutput, connectTimeoutMs);
        console.reader.start();
        return console;
    }

    /** The ring this console fills. */
    public SerialRing ring()
    {
        return ring;
    }

    /** Completes once connected; fails when the socket did not appear within the connect timeout, or on close. */
    public CompletableFuture<Void> connected()
    {
        return connected;
    }

    /** Completes when the reader has stopped: QEMU closed the connection (it exited), connecting failed, or close. */
    public CompletableFuture<Void> ended()
    {
        return ended;
    }

    /**
     * Queues {@code bytes} for the guest. False (nothing queued) when the console is closed or ended, or when more
     * than {@link #MAX_PENDING_INPUT_BYTES} would be waiting. Never blocks.
     */
    public boolean write(final byte[] bytes)
    {
        if (closed || ended.isDone())
        {
            return false;
        }
        if (pendingInputBytes.addAndGet(bytes.length) > MAX_PENDING_INPUT_BYTES)
        {
            pendingInputBytes.addAndGet(-bytes.length);
            return false;
        }
        input.add(bytes.clone());
        startWriter();
        return true;
    }

    private synchronized void startWriter()
    {
        if (writer == null && !closed)
        {
            writer = new Thread(this::writeLoop, "serial-" + name + "-input");
            writer.setDaemon(true);
            writer.start();
        }
    }

    /** Stops reading and writing and closes the connection. Returns at once; idempotent. */
    @Override
    public void close()
    {
        closed = true;
        connected.completeExceptionally(new IOException("serial console " + name + " closed"));
        UnixSockets.closeQuietly(channel);
        reader.interrupt();
        synchronized (this)
        {
            if (writer != null)
            {
                writer.interrupt();
            }
        }
    }

    private void readLoop()
    {
        try
        {
            final long deadlineNs = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(connectTimeoutMs);
            final SocketChannel connectedChannel = UnixSockets.connect(socket, deadlineNs, CONNECT_RETRY_MS);
            if (connectedChannel == null)
            {
                connected.completeExceptionally(
                    new IOException(socket + " did not accept a connection within " + connectTimeoutMs + " ms"));
                return;
            }
            channel = connectedChannel;
            if (closed)
            {
                UnixSockets.closeQuietly(connectedChannel);
                return;
            }
            connected.complete(null);
            final InputStream in = UnixSockets.inputStream(connectedChannel);
            final byte[] chunk = new byte[READ_CHUNK];
            while (!closed)
            {
                final int n = in.read(chunk, 0, chunk.length);
                if (n < 0)
                {
                    break;
                }
                final long start;
                synchronized (ring)
                {
                    start = ring.total();
                    ring.append(chunk, 0, n);
                }
                try
                {
                    onOutput.accept(new SerialRing.Slice(Arrays.copyOf(chunk, n), start));
                }
                catch (final RuntimeException e)
                {
                    System.err.println("serial " + name + ": output listener failed: " + e);
                }
            }
        }
        catch (final IOException | InterruptedException e)
        {
            // QEMU went away or we closed: the reader's end either way.
        }
        finally
        {
            UnixSockets.closeQuietly(channel);
            ended.complete(null);
            synchronized (this)
            {
                if (writer != null)
                {
                    writer.interrupt();
                }
            }
        }
    }

    private void writeLoop()
    {
        try
        {
            connected.get();
            final OutputStream out = UnixSockets.outputStream(channel);
            while (!closed)
            {
                final byte[] bytes = input.take();
                out.write(bytes);
                pendingInputBytes.addAndGet(-bytes.length);
            }
        }
        catch (final Exception e)
        {
            // closed, ended or never connected: input is dropped, as a UART's would be without a line
        }
    }
}
