package sledagent.hypervisor.qemu;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * A unix-socket server standing in for QEMU's side of a chardev (QMP or a serial port): one client at a time, what
 * it receives is kept (whole bytes and lines) for the test to read with a timeout, and the test writes to it.
 */
final class FakeUnixServer implements AutoCloseable
{
    private final Path path;
    private final ServerSocketChannel server;
    private volatile SocketChannel client;
    private final LinkedBlockingQueue<String> lines = new LinkedBlockingQueue<>();
    private final ByteArrayOutputStream received = new ByteArrayOutputStream();
    private Thread reader;
    private volatile boolean paused;

    /** Binds at {@code path} (not yet accepting). */
    FakeUnixServer(final Path path) throws IOException
    {
        this.path = path;
        Files.deleteIfExists(path);
        server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        server.bind(UnixDomainSocketAddress.of(path));
    }

    Path path()
    {
        return path;
    }

    /** Accepts the next client and starts reading what it sends (unless {@code read} is false: a stalled peer). */
    FakeUnixServer accept(final boolean read) throws IOException
    {
        client = server.accept();
        if (read)
        {
            reader = new Thread(this::readLoop, "fake-unix-server");
            reader.setDaemon(true);
            reader.start();
        }
        return this;
    }

    private void readLoop()
    {
        final ByteBuffer buffer = ByteBuffer.allocate(8192);
        final ByteArrayOutputStream line = new ByteArrayOutputStream();
        try
        {
            while (client.read(buffer.clear()) >= 0)
            {
                while (paused && client.isOpen())
                {
                    Thread.sleep(10);
                }
                buffer.flip();
                while (buffer.hasRemaining())
                {
                    final byte b = buffer.get();
                    synchronized (received)
                    {
                        received.write(b);
                    }
                    if (b == '\n')
                    {
                        lines.add(line.toString(StandardCharsets.UTF_8));
                        line.reset();
                    }
                    else
                    {
                        line.write(b);
                    }
                }
            }
        }
        catch (final IOException | InterruptedException e)
        {
            // closed
        }
    }

    /** The next line the client sent, waiting at most 5 s. */
    String nextLine() throws InterruptedException
    {
        final String line = lines.poll(5, TimeUnit.SECONDS);
        if (line == null)
        {
            throw new AssertionError("nothing received within 5 s");
        }
        return line;
    }

    /** Everything received so far. */
    byte[] received()
    {
        synchronized (received)
        {
            return received.toByteArray();
        }
    }

    /** Sends text to the client. */
    void send(final String text) throws IOException
    {
        send(text.getBytes(StandardCharsets.UTF_8));
    }

    void send(final byte[] bytes) throws IOException
    {
        final ByteBuffer buffer = ByteBuffer.wrap(bytes);
        while (buffer.hasRemaining())
        {
            client.write(buffer);
        }
    }

    /** Stops reading (after at most one more chunk): a peer that is frozen, so the client's writes fill up. */
    void stopReading()
    {
        paused = true;
    }

    /** Closes the client's connection (QEMU exiting), keeping the listening socket. */
    void hangUp() throws IOException
    {
        client.close();
    }

    @Override
    public void close() throws IOException
    {
        if (client != null)
        {
            client.close();
        }
        server.close();
        Files.deleteIfExists(path);
    }
}
