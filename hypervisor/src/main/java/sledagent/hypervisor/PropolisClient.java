package sledagent.hypervisor;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpRequest.BodyPublisher;
import java.net.http.HttpRequest.BodyPublishers;
import java.net.http.HttpResponse;
import java.net.http.HttpResponse.BodyHandlers;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import sledagent.api.Json;
import sledagent.api.propolis.InstanceEnsureRequest;
import sledagent.api.propolis.InstanceEnsureResponse;
import sledagent.api.propolis.InstanceGetResponse;
import sledagent.api.propolis.InstanceStateMonitorRequest;
import sledagent.api.propolis.InstanceStateMonitorResponse;
import sledagent.api.propolis.PropolisStateRequested;

/**
 * An asynchronous client for the Propolis server API v5.0.0, shared by all VMMs of the host.
 *
 * <p>One {@link HttpClient} (HTTP/1.1, keep-alive) on a small daemon executor of its own. Every method takes the
 * address of one Propolis ({@code "ip:port"} or {@code "[v6]:port"}) and a per-call timeout, and never throws:
 * every failure is delivered through the returned future.
 * <ul>
 *   <li>a non-2xx answer completes it with {@link PropolisHttpException};</li>
 *   <li>no answer within the timeout completes it with {@link HttpTimeoutException} (which also covers a body
 *       that stalls after its headers);</li>
 *   <li>any other transport failure completes it with the {@link IOException} the JDK reported;</li>
 *   <li>a bad argument (malformed address, non-positive timeout) completes it with
 *       {@link IllegalArgumentException}.</li>
 * </ul>
 * Cancelling a returned future aborts its HTTP exchange. Futures complete on the client's own two threads: do not
 * block in a non-async continuation; hand work to your own executor with the {@code *Async} variants.
 *
 * <p>Bounded per address: the JDK's {@link HttpClient} keeps about 240 B for every address it ever pooled a
 * connection to (its connection pool leaves the key and an empty list behind when the last connection closes),
 * and never frees it. So the client is replaced by a fresh one (a new generation) once {@link #forget} was
 * called for {@code maxForgotten} addresses it used, or once it saw {@code maxAddresses} distinct addresses;
 * calls in flight finish on the old one, which is then garbage. A live VMM's next call simply reconnects.
 */
public final class PropolisClient implements AutoCloseable
{
    /** The version header the real server insists on (no header: 400). */
    public static final String API_VERSION_HEADER = "api-version";
    /** The Propolis API version this client speaks. */
    public static final String API_VERSION = "5.0.0";

    private static final String JSON = "application/json";
    private static final int EXECUTOR_THREADS = 2;
    // The JDK's request timeout stops at the response headers; this backstop also bounds a stalled body.
    private static final long BACKSTOP_GRACE_MS = 250;

    /** Default: a new generation after this many forgotten addresses (about 240 KB of the JDK's leftovers). */
    public static final int DEFAULT_MAX_FORGOTTEN = 1_024;
    /** Default: a new generation after this many distinct addresses, forgotten or not (a backstop, ~31 MB). */
    public static final int DEFAULT_MAX_ADDRESSES = 131_072;

    private final ScheduledThreadPoolExecutor executor;
    private final Duration connectTimeout;
    private final int maxForgotten;
    private final int maxAddresses;
    private final AtomicInteger generations = new AtomicInteger();
    private volatile Generation current;
    private final Set<CompletableFuture<?>> inFlight = ConcurrentHashMap.newKeySet();
    private volatile boolean closed;

    /**
     * @param connectTimeout bound on establishing a TCP connection to a Propolis
     */
    public PropolisClient(final Duration connectTimeout)
    {
        this(connectTimeout, DEFAULT_MAX_FORGOTTEN, DEFAULT_MAX_ADDRESSES);
    }

    /**
     * @param connectTimeout bound on establishing a TCP connection to a Propolis
     * @param maxForgotten   forgotten addresses after which the HTTP client is replaced
     * @param maxAddresses   distinct addresses after which the HTTP client is replaced
     */
    public PropolisClient(final Duration connectTimeout, final int maxForgotten, final int maxAddresses)
    {
        requirePositive(connectTimeout, "connectTimeout");
        if (maxForgotten <= 0 || maxAddresses <= 0)
        {
            throw new IllegalArgumentException("bounds must be positive: " + maxForgotten + ", " + maxAddresses);
        }
        this.connectTimeout = connectTimeout;
        this.maxForgotten = maxForgotten;
        this.maxAddresses = maxAddresses;
        executor = new ScheduledThreadPoolExecutor(EXECUTOR_THREADS, daemonThreads());
        executor.setRemoveOnCancelPolicy(true);
        executor.setExecuteExistingDelayedTasksAfterShutdownPolicy(false);
        current = newGeneration();
    }

    private Generation newGeneration()
    {
        generations.incrementAndGet();
        return new Generation(HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(connectTimeout)
            .executor(executor)
            .followRedirects(HttpClient.Redirect.NEVER)
            // A Propolis is always reached directly; never through a JVM-wide proxy setting.
            .proxy(HttpClient.Builder.NO_PROXY)
            .build());
    }

    /**
     * The VMM at {@code addr} is gone: whatever the client keeps for it may go. Counts towards replacing the
     * HTTP client (see the class comment); an address not used since the last replacement is ignored.
     */
    public void forget(final String addr)
    {
        final Generation generation = current;
        if (addr != null && generation.addresses.remove(addr)
            && generation.forgotten.incrementAndGet() >= maxForgotten)
        {
            replace(generation);
        }
    }

    /** Distinct addresses the current HTTP client has been used for and not forgotten. */
    public int addressesTracked()
    {
        return current.addresses.size();
    }

    /** How many HTTP clients were made so far (1 + replacements). */
    public int generations()
    {
        return generations.get();
    }

    private void replace(final Generation old)
    {
        synchronized (this)
        {
            if (current == old && !closed)
            {
                current = newGeneration();
            }
        }
    }

    /** One {@link HttpClient} and the addresses it was used for. */
    private static final class Generation
    {
        final HttpClient http;
        final Set<String> addresses = ConcurrentHashMap.newKeySet();
        final AtomicInteger forgotten = new AtomicInteger();
        final AtomicInteger seen = new AtomicInteger();

        Generation(final HttpClient http)
        {
            this.http = http;
        }
    }

    /**
     * {@code PUT /instance}: create the VM (201).
     *
     * @param addr    the Propolis server, {@code "ip:port"} or {@code "[v6]:port"}
     * @param request the ensure body
     * @param timeout bound on the whole exchange
     * @return the ensure response ({@code migrate} is null unless initialized by migration)
     */
    public CompletableFuture<InstanceEnsureResponse> ensure(final String addr, final InstanceEnsureRequest request,
        final Duration timeout)
    {
        return call("PUT", "/instance", addr, request, timeout,
            body -> Json.mapper().readValue(body, InstanceEnsureResponse.class));
    }

    /**
     * {@code GET /instance}: the VM's properties and latest state (424 {@code NoInstance} before any ensure).
     *
     * @param addr    the Propolis server
     * @param timeout bound on the whole exchange
     * @return the instance
     */
    public CompletableFuture<InstanceGetResponse> instance(final String addr, final Duration timeout)
    {
        return call("GET", "/instance", addr, null, timeout,
            body -> Json.mapper().readValue(body, InstanceGetResponse.class));
    }

    /**
     * {@code PUT /instance/state} with the bare JSON string body, e.g. {@code "Run"} (204).
     *
     * @param addr    the Propolis server
     * @param state   the requested state
     * @param timeout bound on the whole exchange
     * @return completes with null once Propolis has queued the request
     */
    public CompletableFuture<Void> putState(final String addr, final PropolisStateRequested state,
        final Duration timeout)
    {
        return call("PUT", "/instance/state", addr, state, timeout, body -> null);
    }

    /**
     * {@code GET /instance/state-monitor} with body {@code {"gen":N}}: a long poll that answers with the newest state
     * once its generation is at least {@code gen}. Ask for 0 to get the current state at once, then for
     * {@code last.gen() + 1}.
     *
     * @param addr    the Propolis server
     * @param gen     the lowest generation wanted
     * @param timeout bound on the wait; a long poll that times out completes with {@link HttpTimeoutException}
     * @return the newest state, with {@code gen >= gen}
     */
    public CompletableFuture<InstanceStateMonitorResponse> monitor(final String addr, final long gen,
        final Duration timeout)
    {
        return call("GET", "/instance/state-monitor", addr, new InstanceStateMonitorRequest(gen), timeout,
            body -> Json.mapper().readValue(body, InstanceStateMonitorResponse.class));
    }

    /**
     * Fails every call still in flight with an {@link IOException} (aborting its exchange) and stops the executor.
     * Calls made afterwards fail at once. Idempotent.
     */
    @Override
    public void close()
    {
        closed = true;
        final IOException closedError = new IOException("PropolisClient closed");
        for (final CompletableFuture<?> pending : inFlight)
        {
            pending.completeExceptionally(closedError);
        }
        executor.shutdown();
    }

    private <T> CompletableFuture<T> call(final String method, final String path, final String addr,
        final Object body, final Duration timeout, final Decoder<T> decoder)
    {
        final String operation = method + " " + path + " on " + addr;
        final CompletableFuture<T> result = new CompletableFuture<>();
        final HttpRequest request;
        try
        {
            requirePositive(timeout, "timeout");
            request = request(method, uri(addr, path), body, timeout);
        }
        catch (final IOException | RuntimeException e)
        {
            result.completeExceptionally(e);
            return result;
        }

        // Registered before the closed check so that close() either sees this call or this call sees closed.
        inFlight.add(result);
        if (closed)
        {
            result.completeExceptionally(new IOException("PropolisClient closed"));
            inFlight.remove(result);
            return result;
        }

        final long timeoutMs = timeout.toMillis();
        final ScheduledFuture<?> backstop;
        final CompletableFuture<HttpResponse<byte[]>> exchange;
        try
        {
            backstop = executor.schedule(
                () -> result.completeExceptionally(
                    new HttpTimeoutException(operation + " timed out after " + timeoutMs + " ms")),
                timeoutMs + BACKSTOP_GRACE_MS, TimeUnit.MILLISECONDS);
        }
        catch (final RejectedExecutionException e)
        {
            // close() ran between the check above and here.
            inFlight.remove(result);
            result.completeExceptionally(new IOException("PropolisClient closed"));
            return result;
        }
        final Generation generation = current;
        if (generation.addresses.add(addr) && generation.seen.incrementAndGet() >= maxAddresses)
        {
            replace(generation);
        }
        try
        {
            exchange = generation.http.sendAsync(request, BodyHandlers.ofByteArray());
        }
        catch (final RuntimeException e)
        {
            backstop.cancel(false);
            inFlight.remove(result);
            result.completeExceptionally(e);
            return result;
        }
        result.whenComplete((value, failure) ->
        {
            inFlight.remove(result);
            backstop.cancel(false);
            if (failure != null)
            {
                // Cancelled by the caller, timed out by the backstop, or closed: abort the exchange too.
                exchange.cancel(true);
            }
        });
        exchange.whenComplete((response, failure) ->
        {
            if (failure != null)
            {
                result.completeExceptionally(unwrap(failure));
            }
            else
            {
                complete(result, operation, response, decoder);
            }
        });
        return result;
    }

    private static HttpRequest request(final String method, final URI uri, final Object body,
        final Duration timeout) throws IOException
    {
        final HttpRequest.Builder builder = HttpRequest.newBuilder(uri)
            .timeout(timeout)
            .header(API_VERSION_HEADER, API_VERSION)
            .header("accept", JSON);
        final BodyPublisher publisher;
        if (body == null)
        {
            publisher = BodyPublishers.noBody();
        }
        else
        {
            builder.header("content-type", JSON);
            publisher = BodyPublishers.ofByteArray(Json.mapper().writeValueAsBytes(body));
        }
        return builder.method(method, publisher).build();
    }

    private static URI uri(final String addr, final String path)
    {
        Objects.requireNonNull(addr, "addr");
        final URI uri;
        try
        {
            uri = new URI("http://" + addr + path);
        }
        catch (final URISyntaxException e)
        {
            throw new IllegalArgumentException("not a Propolis address (ip:port or [v6]:port): " + addr, e);
        }
        // "host" alone parses as a URI too (a registry-less authority); insist on a host and a port.
        if (uri.getHost() == null || uri.getPort() < 0 || uri.getRawUserInfo() != null)
        {
            throw new IllegalArgumentException("not a Propolis address (ip:port or [v6]:port): " + addr);
        }
        return uri;
    }

    private static <T> void complete(final CompletableFuture<T> result, final String operation,
        final HttpResponse<byte[]> response, final Decoder<T> decoder)
    {
        final int status = response.statusCode();
        if (status < 200 || status > 299)
        {
            result.completeExceptionally(error(operation, status, response.body()));
            return;
        }
        try
        {
            result.complete(decoder.decode(response.body()));
        }
        catch (final IOException | RuntimeException e)
        {
            result.completeExceptionally(e);
        }
    }

    /** Reads a Dropshot Error body leniently: whatever is missing or not JSON becomes null or an excerpt. */
    static PropolisHttpException error(final String operation, final int status, final byte[] body)
    {
        String errorCode = null;
        String message = null;
        String requestId = null;
        try
        {
            final JsonNode tree = Json.mapper().readTree(body);
            if (tree != null && tree.isObject())
            {
                errorCode = text(tree, "error_code");
                message = text(tree, "message");
                requestId = text(tree, "request_id");
            }
        }
        catch (final IOException | RuntimeException notJson)
        {
            // Not an Error body (a proxy, a crash page): keep the excerpt below.
        }
        if (message == null)
        {
            message = excerpt(body);
        }
        return new PropolisHttpException(operation, status, errorCode, message, requestId);
    }

    private static String text(final JsonNode tree, final String field)
    {
        final JsonNode node = tree.get(field);
        return node != null && node.isTextual() ? node.asText() : null;
    }

    private static String excerpt(final byte[] body)
    {
        final int maxChars = 200;
        final String text = body == null ? "" : new String(body, StandardCharsets.UTF_8).strip();
        if (text.isEmpty())
        {
            return "(no error body)";
        }
        return text.length() <= maxChars ? text : text.substring(0, maxChars) + "...";
    }

    private static Throwable unwrap(final Throwable failure)
    {
        Throwable cause = failure;
        while ((cause instanceof CompletionException || cause instanceof ExecutionException)
            && cause.getCause() != null)
        {
            cause = cause.getCause();
        }
        return cause;
    }

    private static void requirePositive(final Duration duration, final String name)
    {
        if (duration == null || duration.isNegative() || duration.isZero())
        {
            throw new IllegalArgumentException(name + " must be positive: " + duration);
        }
    }

    private static ThreadFactory daemonThreads()
    {
        final AtomicInteger count = new AtomicInteger();
        return runnable ->
        {
            final Thread thread = new Thread(runnable, "propolis-client-" + count.incrementAndGet());
            thread.setDaemon(true);
            return thread;
        };
    }

    /** Turns a 2xx body into the call's result. */
    @FunctionalInterface
    private interface Decoder<T>
    {
        T decode(byte[] body) throws IOException;
    }
}
