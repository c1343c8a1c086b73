package sledagent.agent.http;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.DecoderException;
import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.NotSslRecordException;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;
import io.netty.handler.ssl.SslProvider;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.Level;
import java.util.logging.Logger;
import javax.net.ssl.SSLException;
import sledagent.agent.tls.PemFiles;
import sledagent.agent.tls.TlsFiles;

/**
 * HTTPS for the API, optionally mutual: the server's certificate and key, and with a client CA every client
 * must present a certificate signed by it (the handshake fails otherwise, before any request is read). JDK
 * provider; PEM files read by {@link PemFiles}. A failed handshake is one log line without a stack trace (INFO
 * at most once a second, FINE otherwise, so a hostile client cannot flood the log), and a handshake that does
 * not finish within {@link #HANDSHAKE_TIMEOUT_MS} closes the connection.
 */
public final class ServerTls
{
    /** A connection that has not finished its handshake by then is closed. */
    public static final long HANDSHAKE_TIMEOUT_MS = 10_000;

    private static final Logger LOG = Logger.getLogger(ServerTls.class.getName());
    private static final long INFO_EVERY_NS = 1_000_000_000L;
    private static final int MAX_REASON_CHARS = 160;

    private final SslContext context;
    private final boolean clientAuth;
    private final long handshakeTimeoutMs;
    private final HandshakeFailures failures = new HandshakeFailures();

    ServerTls(final SslContext context, final boolean clientAuth, final long handshakeTimeoutMs)
    {
        this.context = context;
        this.clientAuth = clientAuth;
        this.handshakeTimeoutMs = handshakeTimeoutMs;
    }

    /**
     * Reads and checks the files; null when none is given (plain HTTP).
     *
     * @throws IllegalArgumentException naming the setting and file when a file is missing, unreadable or malformed,
     *                                  the key does not match the certificate, or a client CA comes without them
     */
    public static ServerTls load(final TlsFiles files)
    {
        return load(files, HANDSHAKE_TIMEOUT_MS);
    }

    static ServerTls load(final TlsFiles files, final long handshakeTimeoutMs)
    {
        if (!files.any())
        {
            return null;
        }
        if (!files.identity())
        {
            throw new IllegalArgumentException("tls_cert and tls_key must be given together"
                + (files.ca() != null ? " (tls_client_ca needs them: it only makes sense on HTTPS)" : ""));
        }
        final PemFiles.Identity identity = PemFiles.identity(files.cert(), files.key(), "tls_cert", "tls_key");
        final SslContextBuilder builder = SslContextBuilder.forServer(identity.key(), identity.chainArray())
            .sslProvider(SslProvider.JDK)
            .protocols("TLSv1.3", "TLSv1.2");
        if (files.ca() != null)
        {
            builder.trustManager(PemFiles.certificates(files.ca(), "tls_client_ca")
                .toArray(java.security.cert.X509Certificate[]::new))
                .clientAuth(ClientAuth.REQUIRE);
        }
        try
        {
            return new ServerTls(builder.build(), files.ca() != null, handshakeTimeoutMs);
        }
        catch (final SSLException | IllegalArgumentException ex)
        {
            throw new IllegalArgumentException("tls_cert " + files.cert() + ": cannot serve TLS with it: "
                + ex.getMessage(), ex);
        }
    }

    /** True if clients must present a certificate signed by the client CA. */
    public boolean clientAuth()
    {
        return clientAuth;
    }

    /** How many handshakes have failed (refused, timed out, or not TLS at all) since start. */
    public long handshakeFailures()
    {
        return failures.count.get();
    }

    /** Puts TLS in front of everything else on {@code channel}. */
    void addFirst(final Channel channel)
    {
        final SslHandler handler = context.newHandler(channel.alloc());
        handler.setHandshakeTimeoutMillis(handshakeTimeoutMs);
        channel.pipeline().addFirst("tls-failures", failures).addFirst("tls", handler);
    }

    /** Right after the {@link SslHandler}: a failed handshake becomes one log line and a close, nothing more. */
    @ChannelHandler.Sharable
    private static final class HandshakeFailures extends ChannelInboundHandlerAdapter
    {
        private final AtomicLong count = new AtomicLong();
        private final AtomicLong nextInfoNs = new AtomicLong(System.nanoTime());
        private final AtomicLong quiet = new AtomicLong();

        @Override
        public void userEventTriggered(final ChannelHandlerContext ctx, final Object event)
        {
            if (event instanceof SslHandshakeCompletionEvent done && !done.isSuccess())
            {
                count.incrementAndGet();
                log(ctx, done.cause());
                ctx.close();
            }
            ctx.fireUserEventTriggered(event);
        }

        @Override
        public void exceptionCaught(final ChannelHandlerContext ctx, final Throwable cause)
        {
            if (tlsFailure(cause))
            {
                // A failed handshake was logged by its completion event: one line per connection. A TLS error after
                // a good handshake (a bad record, say) is FINE only.
                final SslHandler ssl = ctx.pipeline().get(SslHandler.class);
                if (ssl == null || ssl.handshakeFuture().isSuccess())
                {
                    LOG.fine(() -> "TLS error from " + ctx.channel().remoteAddress() + ": " + reason(cause));
                }
                ctx.close();
                return;
            }
            ctx.fireExceptionCaught(cause);
        }

        private void log(final ChannelHandlerContext ctx, final Throwable cause)
        {
            final long nowNs = System.nanoTime();
            final long next = nextInfoNs.get();
            final String line = "TLS handshake from " + ctx.channel().remoteAddress() + " failed: " + reason(cause);
            if (nowNs - next >= 0 && nextInfoNs.compareAndSet(next, nowNs + INFO_EVERY_NS))
            {
                final long skipped = quiet.getAndSet(0);
                LOG.info(skipped == 0 ? line : line + " (and " + skipped + " more in the last second, at FINE)");
            }
            else
            {
                quiet.incrementAndGet();
                LOG.log(Level.FINE, line);
            }
        }

        private static boolean tlsFailure(final Throwable cause)
        {
            return cause instanceof SSLException
                || cause instanceof DecoderException && cause.getCause() instanceof SSLException;
        }

        private static String reason(final Throwable cause)
        {
            Throwable root = cause;
            while (root.getCause() != null && root.getCause() != root)
            {
                root = root.getCause();
            }
            if (root instanceof NotSslRecordException)
            {
                return "not a TLS record (plain HTTP to the HTTPS port?)";
            }
            final String message = root.getMessage() == null ? root.getClass().getSimpleName() : root.getMessage();
            return message.length() <= MAX_REASON_CHARS ? message : message.substring(0, MAX_REASON_CHARS) + "...";
        }
    }
}
