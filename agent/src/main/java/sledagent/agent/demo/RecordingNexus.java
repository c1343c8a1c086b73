package sledagent.agent.demo;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsParameters;
import com.sun.net.httpserver.HttpsServer;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import sledagent.api.Json;
import sledagent.api.SledVmmState;

/**
 * A stand-in for Nexus's internal API that records what it is sent: a real HTTP server on loopback serving
 * {@code PUT /vmms/{propolis_id}} (body {@code SledVmmState}, 204), as nexus-internal 1.0.0 does. Used by
 * {@code demo} and by tests. {@link #respondWith(int)} makes it answer with another status (e.g. 503).
 */
public final class RecordingNexus implements AutoCloseable
{
    private static final Pattern VMM_PATH = Pattern.compile("/vmms/([0-9a-fA-F-]{36})");

    private final HttpServer server;
    private final ExecutorService executor = Executors.newSingleThreadExecutor(runnable ->
    {
        final Thread thread = new Thread(runnable, "recording-nexus");
        thread.setDaemon(true);
        return thread;
    });
    private final List<Received> received = new ArrayList<>();
    private volatile int status = 204;

    /** One request as received. */
    public record Received(Instant at, UUID propolisId, String apiVersion, SledVmmState state)
    {
    }

    public RecordingNexus() throws IOException
    {
        this(HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 64));
    }

    /**
     * An HTTPS Nexus that requires a client certificate: {@code tls} holds its certificate and the CA client
     * certificates must chain to (a handshake without one fails).
     */
    public RecordingNexus(final SSLContext tls) throws IOException
    {
        this(httpsRequiringClientCertificates(tls));
    }

    private RecordingNexus(final HttpServer server)
    {
        this.server = server;
        server.createContext("/", this::handle);
        server.setExecutor(executor);
        server.start();
    }

    private static HttpServer httpsRequiringClientCertificates(final SSLContext tls) throws IOException
    {
        final HttpsServer https = HttpsServer.create(new InetSocketAddress("127.0.0.1", 0), 64);
        https.setHttpsConfigurator(new HttpsConfigurator(tls)
        {
            @Override
            public void configure(final HttpsParameters parameters)
            {
                final SSLParameters ssl = tls.getDefaultSSLParameters();
                ssl.setNeedClientAuth(true);
                parameters.setSSLParameters(ssl);
            }
        });
        return https;
    }

    public URI url()
    {
        return URI.create((server instanceof HttpsServer ? "https" : "http") + "://127.0.0.1:"
            + server.getAddress().getPort());
    }

    /** From now on answer every publish with {@code statusCode} (recording only 2xx answers as accepted). */
    public void respondWith(final int statusCode)
    {
        this.status = statusCode;
    }

    /** Every state accepted so far, in arrival order. */
    public synchronized List<Received> received()
    {
        return List.copyOf(received);
    }

    /** The states accepted for one VMM, in arrival order. */
    public synchronized List<Received> received(final UUID propolisId)
    {
        return received.stream().filter(r -> r.propolisId().equals(propolisId)).toList();
    }

    private void handle(final HttpExchange exchange) throws IOException
    {
        try (exchange)
        {
            final Matcher matcher = VMM_PATH.matcher(exchange.getRequestURI().getPath());
            if (!"PUT".equals(exchange.getRequestMethod()) || !matcher.matches())
            {
                exchange.sendResponseHeaders(404, -1);
                return;
            }
            final SledVmmState state;
            try (InputStream body = exchange.getRequestBody())
            {
                state = Json.mapper().readValue(body, SledVmmState.class);
            }
            catch (final IOException ex)
            {
                exchange.sendResponseHeaders(400, -1);
                return;
            }
            final int answer = status;
            if (answer >= 200 && answer < 300)
            {
                synchronized (this)
                {
                    received.add(new Received(Instant.now(), UUID.fromString(matcher.group(1)),
                        exchange.getRequestHeaders().getFirst("api-version"), state));
                }
            }
            exchange.sendResponseHeaders(answer, -1);
        }
    }

    @Override
    public void close()
    {
        server.stop(0);
        executor.shutdownNow();
    }
}
