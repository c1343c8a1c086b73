package sledagent.hypervisor.qemu;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * Unix-domain stream sockets for QEMU's server sockets (QMP, serial chardevs): a connect that retries until QEMU
 * has created the socket, and streams that call the channel directly. (The JDK's {@code Channels.newInputStream}
 * and {@code newOutputStream} share the channel's blocking lock, so a read blocked in one thread would block every
 * write from another: a console's input would wait for the guest's next output.)
 */
final class UnixSockets
{
    private UnixSockets()
    {
    }

    /**
     * Connects to {@code path}, retrying every {@code retryMs} while it is missing or refuses, until
     * {@code deadlineNs} ({@link System#nanoTime()}). Null when the deadline passed.
     */
    static SocketChannel connect(final Path path, final long deadlineNs, final long retryMs)
        throws InterruptedException
    {
        final UnixDomainSocketAddress address = UnixDomainSocketAddress.of(path);
        while (true)
        {
            SocketChannel channel = null;
            try
            {
                channel = SocketChannel.open(StandardProtocolFamily.UNIX);
                channel.connect(address);
                return channel;
            }
            catch (final IOException e)
            {
                closeQuietly(channel);
            }
            if (System.nanoTime() - deadlineNs >= 0)
            {
                return null;
            }
            final long leftMs = TimeUnit.NANOSECONDS.toMillis(deadlineNs - System.nanoTime());
            Thread.sleep(Math.max(1, Math.min(retryMs, leftMs)));
        }
    }

    /** Reads straight from the channel; closing the stream closes the channel (and wakes a blocked read). */
    static InputStream inputStream(final SocketChannel channel)
    {
        return new InputStream()
        {
            @Override
            public int read() throws IOException
            {
                final byte[] one = new byte[1];
                return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
            }

            @Override
            public int read(final byte[] bytes, final int offset, final int length) throws IOException
            {
                if (length == 0)
                {
                    return 0;
                }
                int n;
                do
                {
                    n = channel.read(ByteBuffer.wrap(bytes, offset, length));
                }
                while (n == 0);
                return n;
            }

            @Override
            public void close() throws IOException
            {
                channel.close();
            }
        };
    }

    /** Writes straight to the channel (all of it, blocking); closing the stream closes the channel. */
    static OutputStream outputStream(final SocketChannel channel)
    {
        return new OutputStream()
        {
            @Override
            public void write(final int b) throws IOException
            {
                write(new byte[] {(byte) b}, 0, 1);
            }

            @Override
            public void write(final byte[] bytes, final int offset, final int length) throws IOException
            {
                final ByteBuffer buffer = ByteBuffer.wrap(bytes, offset, length);
                while (buffer.hasRemaining())
                {
                    channel.write(buffer);
                }
            }

            @Override
            public void close() throws IOException
            {
                channel.close();
            }
        };
    }

    static void closeQuietly(final SocketChannel channel)
    {
        if (channel != null)
        {
            try
            {
                channel.close();
            }
            catch (final IOException e)
            {
                // nothing left to do
            }
        }
    }
}
