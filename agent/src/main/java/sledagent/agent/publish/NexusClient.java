package sledagent.agent.publish;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import javax.net.ssl.SSLContext;
import sledagent.api.Json;
import sledagent.api.SledVmmState;

/**
 * nexus-internal 1.0.0 {@code PUT /vmms/{propolis_id}} ({@code cpapi_instances_put}): body
 * {@code SledVmmState}, 204 expected. Several base URLs may be given; {@link #url(int)} picks one by index so
 * the caller can fail over.
 */
public final class NexusClient implements AutoCloseable
{
    public static final String API_VERSION = "1.0.0";

    private final List<URI> baseUrls;
    private final HttpClient http;
    private final Duration requestTimeout;

    public NexusClient(final List<URI> baseUrls, final Duration connectTimeout, final Duration requestTimeout)
    {
        this(baseUrls, connectTimeout, requestTimeout, null);
    }

    /**
     * A client whose https connections use {@code tls} (trust roots, and a client certificate if it has one);
     * null: the JDK's default context.
     */
    public NexusClient(final List<URI> baseUrls, final Duration connectTimeout, final Duration requestTimeout,
        final SSLContext tls)
    {
        this.baseUrls = List.copyOf(baseUrls);
        this.requestTimeout = requestTimeout;
        final HttpClient.Builder builder = HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(connectTimeout);
        if (tls != null)
        {
            builder.sslContext(tls);
        }
        this.http = builder.build();
    }

    /** False when no upstream is configured: states are only logged and served. */
    public boolean configured()
    {
        return !baseUrls.isEmpty();
    }

    public int urlCount()
    {
        return baseUrls.size();
    }

    public URI url(final int index)
    {
        return baseUrls.get(Math.floorMod(index, baseUrls.size()));
    }

    /** Sends one state to the base URL number {@code urlIndex}; completes with the HTTP status. */
    public CompletableFuture<Integer> putVmmState(final int urlIndex, final UUID propolisId, final SledVmmState state)
    {
        final byte[] body;
        try
        {
            body = Json.mapper().writeValueAsBytes(state);
        }
        catch (final com.fasterxml.jackson.core.JsonProcessingException ex)
        {
            return CompletableFuture.failedFuture(ex);
        }
        final URI base = url(urlIndex);
        final String prefix = base.toString().endsWith("/") ? base.toString() : base + "/";
        final HttpRequest request = HttpRequest.newBuilder(URI.create(prefix + "vmms/" + propolisId))
            .timeout(requestTimeout)
            .header("api-version", API_VERSION)
            .header("content-type", "application/json")
            .PUT(HttpRequest.BodyPublishers.ofByteArray(body))
            .build();
        return http.sendAsync(request, HttpResponse.BodyHandlers.discarding()).thenApply(HttpResponse::statusCode);
    }

    @Override
    public void close()
    {
        // java.net.http.HttpClient has close() only from JDK 21; on 17 its threads end when it is unreachable.
        if (http instanceof AutoCloseable closeable)
        {
            try
            {
                closeable.close();
            }
            catch (final Exception ignored)
            {
                // Closing is best effort; nothing is left to flush.
            }
        }
    }
}
