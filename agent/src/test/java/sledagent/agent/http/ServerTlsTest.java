package sledagent.agent.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Test;
import sledagent.agent.testing.TestCertificates;
import sledagent.agent.tls.TlsFiles;

/** The TLS handshake is bounded: a client that connects and never handshakes is cut off, with one log line. */
class ServerTlsTest
{
    private static final long HANDSHAKE_TIMEOUT_MS = 300;
    private static final Logger LOG = Logger.getLogger(ServerTls.class.getName());

    @Test
    void shouldCloseAConnectionThatNeverHandshakes() throws Exception
    {
        final List<LogRecord> records = new CopyOnWriteArrayList<>();
        final Handler capture = new Handler()
        {
            @Override
            public void publish(final LogRecord record)
            {
                records.add(record);
            }

            @Override
            public void flush()
            {
            }

            @Override
            public void close()
            {
            }
        };
        final Level levelBefore = LOG.getLevel();
        LOG.setLevel(Level.ALL);
        LOG.addHandler(capture);
        final EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        try (TestCertificates certs = TestCertificates.create())
        {
            final ServerTls tls = ServerTls.load(new TlsFiles(certs.serverCert, certs.serverKey, certs.caCert),
                HANDSHAKE_TIMEOUT_MS);
            final Channel server = new ServerBootstrap().group(group).channel(NioServerSocketChannel.class)
                .childHandler(new ChannelInitializer<SocketChannel>()
                {
                    @Override
                    protected void initChannel(final SocketChannel channel)
                    {
                        tls.addFirst(channel);
                    }
                })
                .bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
            try (Socket silent = new Socket())
            {
                silent.connect(server.localAddress(), 2_000);
                silent.setSoTimeout(5_000);
                final long startNs = System.nanoTime();
                assertThat(readUntilClosed(silent.getInputStream())).as("closed by the server").isTrue();
                assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startNs))
                    .as("open until the handshake timeout, then closed").isBetween(HANDSHAKE_TIMEOUT_MS - 50, 4_000L);
            }
            finally
            {
                server.close().sync();
            }
            Awaitility.await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> assertThat(records)
                .extracting(LogRecord::getMessage).anyMatch(m -> m.contains("failed") && m.contains("timed out")));
            assertThat(records).hasSize(1).allSatisfy(record -> assertThat(record.getThrown()).isNull());
            assertThat(tls.handshakeFailures()).isEqualTo(1);
        }
        finally
        {
            group.shutdownGracefully(0, 2, TimeUnit.SECONDS).await(5, TimeUnit.SECONDS);
            LOG.removeHandler(capture);
            LOG.setLevel(levelBefore);
        }
    }

    /** True once the peer closes (EOF or reset); false if the read timed out first. */
    private static boolean readUntilClosed(final InputStream in)
    {
        try
        {
            return in.read() == -1 || readUntilClosed(in);
        }
        catch (final java.net.SocketTimeoutException ex)
        {
            return false;
        }
        catch (final IOException ex)
        {
            return true;
        }
    }
}
