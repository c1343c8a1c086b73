package sledagent.hypervisor.sim;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import sledagent.api.Json;
import sledagent.hypervisor.server.ServerThreads;
import sledagent.api.propolis.PropolisMigrationState;

/**
 * A migration target's calls on its source over plain HTTP/1.1 ({@link SimMigration}). Every call is bounded: a
 * connect timeout, a timeout up to the answer's headers, and a backstop on the whole exchange. The HTTP client is
 * built on the first call, so a sim that never migrates in pays nothing for it.
 */
final class SimMigrationClient implements SimMigration.Link
{
    static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(2);
    /** For start and finish, which the source answers at once. */
    static final Duration CALL_TIMEOUT = Duration.ofSeconds(3);
    /** For a poll, which the source may hold for its poll window. */
    static final Duration POLL_TIMEOUT = CALL_TIMEOUT.plusMillis(SimMigration.POLL_WINDOW_MS);
    private static final long BACKSTOP_MS = 1_000;

    private HttpClient http;

    @Override
    public CompletableFuture<SimMigration.Report> start(final String srcAddr, final UUID id, final long targetStepMs)
    {
        return post(srcAddr, id, "start", new SimMigration.StartRequest(targetStepMs), CALL_TIMEOUT);
    }

    @Override
    public CompletableFuture<SimMigration.Report> poll(final String srcAddr, final UUID id,
        final PropolisMigrationState after)
    {
        return post(srcAddr, id, "poll", new SimMigration.PollRequest(after), POLL_TIMEOUT);
    }

    @Override
    public CompletableFuture<SimMigration.Report> finish(final String srcAddr, final UUID id)
    {
        return post(srcAddr, id, "finish", null, CALL_TIMEOUT);
    }

    private CompletableFuture<SimMigration.Report> post(final String srcAddr, final UUID id, final String call,
        final Object body, final Duration timeout)
    {
        try
        {
            final HttpRequest request = HttpRequest.newBuilder(URI.create("http://" + srcAddr + "/mock/migrate/" + id
                    + "/" + call))
                .timeout(timeout)
                .header("content-type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofByteArray(Json.mapper().writeValueAsBytes(
                    body == null ? Json.mapper().createObjectNode() : body)))
                .build();
            return client().sendAsync(request, HttpResponse.BodyHandlers.ofByteArray())
                .thenApply(response -> report(call, response))
                .orTimeout(timeout.toMillis() + BACKSTOP_MS, TimeUnit.MILLISECONDS);
        }
        catch (final IOException | RuntimeException e)
        {
            return CompletableFuture.failedFuture(e);
        }
    }

    private static SimMigration.Report report(final String call, final HttpResponse<byte[]> response)
    {
        if (response.statusCode() != 200)
        {
            throw new CompletionException(new SimMigration.Refused(call + ": " + response.statusCode() + " "
                + new String(response.body(), StandardCharsets.UTF_8)));
        }
        try
        {
            return Json.mapper().readValue(response.body(), SimMigration.Report.class);
        }
        catch (final IOException e)
        {
            throw new CompletionException(e);
        }
    }

    private synchronized HttpClient client()
    {
        if (http == null)
        {
            final ExecutorService executor = Executors.newFixedThreadPool(1, ServerThreads.daemons("propolis-sim-mig"));
            http = HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(CONNECT_TIMEOUT)
                .proxy(HttpClient.Builder.NO_PROXY)
                .executor(executor)
                .build();
        }
        return http;
    }
}
