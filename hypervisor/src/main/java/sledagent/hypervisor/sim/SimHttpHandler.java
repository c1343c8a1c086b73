package sledagent.hypervisor.sim;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpHandler;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.List;
import java.util.Locale;
import java.util.Queue;
import java.util.UUID;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import sledagent.api.ErrorBody;
import sledagent.api.Json;
import sledagent.api.propolis.InstanceEnsureRequest;
import sledagent.api.propolis.PropolisStateRequested;

/**
 * The HTTP face of propolis-sim: routes the five Propolis endpoints, {@code PUT /mock/fault} and the source's end of
 * the migration protocol ({@code POST /mock/migrate/{id}/start|poll|finish}), and answers the way
 * Dropshot does (Error bodies {@code {request_id, message, error_code?}}, 404 for an unknown path, 405 for a wrong
 * method, 400 for a missing {@code api-version}, a foreign content type, an unparseable or oversized body).
 */
final class SimHttpHandler implements HttpHandler
{
    /** Dropshot's default request body limit. */
    static final int MAX_BODY_BYTES = 1 << 20;
    static final String API_VERSION = "5.0.0";

    private static final String JSON = "application/json";
    private static final String MIGRATE_PREFIX = "/mock/migrate/";
    private static final long POLL_GRACE_MS = 5_000;

    private final SimVm vm;
    private final Runnable exitProcess;
    private final AtomicLong requestCount = new AtomicLong();
    // hang_http: requests read and never answered. Kept referenced so nothing collects their connections.
    private final Queue<HttpExchange> heldExchanges = new ConcurrentLinkedQueue<>();
    private volatile boolean hangHttp;

    /**
     * @param vm          the simulated VM
     * @param exitProcess what {@code exit_now} runs after answering (the process halts with status 1)
     */
    SimHttpHandler(final SimVm vm, final Runnable exitProcess)
    {
        this.vm = vm;
        this.exitProcess = exitProcess;
    }

    @Override
    public void handle(final HttpExchange exchange)
    {
        if (hangHttp)
        {
            hold(exchange);
            return;
        }
        boolean answered = true;
        try
        {
            serve(exchange, nextRequestId());
        }
        catch (final Withheld withheld)
        {
            // hang_http arrived while this request was served (a long poll): no answer, and the exchange stays open.
            answered = false;
        }
        finally
        {
            if (answered)
            {
                exchange.close();
            }
        }
    }

    private void serve(final HttpExchange exchange, final String requestId)
    {
        try
        {
            route(exchange, requestId);
        }
        catch (final SimRefusal refusal)
        {
            sendQuietly(exchange, refusal.statusCode(), requestId,
                new ErrorBody(requestId, refusal.getMessage(), refusal.errorCode()));
        }
        catch (final IOException e)
        {
            // The client went away mid-exchange: there is no one to answer.
        }
        catch (final InterruptedException e)
        {
            Thread.currentThread().interrupt();
            sendQuietly(exchange, 503, requestId, new ErrorBody(requestId, "Service Unavailable", null));
        }
        catch (final Withheld withheld)
        {
            throw withheld;
        }
        catch (final RuntimeException e)
        {
            e.printStackTrace();
            sendQuietly(exchange, 500, requestId, new ErrorBody(requestId, "Internal Server Error", "Internal"));
        }
    }

    private void route(final HttpExchange exchange, final String requestId)
        throws SimRefusal, IOException, InterruptedException
    {
        final String path = exchange.getRequestURI().getPath();
        final String method = exchange.getRequestMethod();
        switch (path)
        {
            case "/instance" ->
            {
                if ("PUT".equals(method))
                {
                    requireVersion(exchange);
                    final InstanceEnsureRequest request = parse(jsonBody(exchange), InstanceEnsureRequest.class);
                    send(exchange, 201, requestId, vm.ensure(request));
                }
                else if ("GET".equals(method))
                {
                    requireVersion(exchange);
                    send(exchange, 200, requestId, vm.instance());
                }
                else
                {
                    methodNotAllowed(exchange, "GET, PUT");
                }
            }
            case "/instance/state" ->
            {
                requireMethod(exchange, "PUT");
                requireVersion(exchange);
                vm.request(parse(jsonBody(exchange), PropolisStateRequested.class));
                send(exchange, 204, requestId, null);
            }
            case "/instance/state-monitor" ->
            {
                requireMethod(exchange, "GET");
                requireVersion(exchange);
                final long gen = monitorGeneration(jsonBody(exchange));
                send(exchange, 200, requestId, vm.awaitGeneration(gen));
            }
            case "/instance/migration-status" ->
            {
                requireMethod(exchange, "GET");
                requireVersion(exchange);
                send(exchange, 200, requestId, vm.migrationStatus());
            }
            case "/mock/fault" ->
            {
                // Unversioned, like the mock server's own /mock endpoints.
                requireMethod(exchange, "PUT");
                injectFault(exchange, requestId, parseFault(jsonBody(exchange)));
            }
            default ->
            {
                if (path.startsWith(MIGRATE_PREFIX))
                {
                    migrate(exchange, requestId, path.substring(MIGRATE_PREFIX.length()));
                }
                else
                {
                    throw new SimRefusal(404, null, "Not Found");
                }
            }
        }
    }

    /** {@code POST /mock/migrate/{id}/start|poll|finish}: the source's end of {@link SimMigration}. Unversioned. */
    private void migrate(final HttpExchange exchange, final String requestId, final String rest)
        throws SimRefusal, IOException, InterruptedException
    {
        final String[] parts = rest.split("/", -1);
        if (parts.length != 2 || !List.of("start", "poll", "finish").contains(parts[1]))
        {
            throw new SimRefusal(404, null, "Not Found");
        }
        requireMethod(exchange, "POST");
        final UUID id;
        try
        {
            id = UUID.fromString(parts[0]);
        }
        catch (final IllegalArgumentException e)
        {
            throw SimRefusal.badRequest("bad migration id: " + parts[0]);
        }
        final byte[] body = jsonBody(exchange);
        switch (parts[1])
        {
            case "start" ->
            {
                final SimMigration.StartRequest start = parse(body, SimMigration.StartRequest.class);
                send(exchange, 200, requestId, vm.migrateOutStart(id, start.targetStepMs()));
            }
            case "poll" ->
            {
                final SimMigration.PollRequest poll = parse(body, SimMigration.PollRequest.class);
                final SimMigration.Report report;
                try
                {
                    // The VM answers within its poll window; the bound here only guards against a bug.
                    report = vm.migrateOutPoll(id, poll.after())
                        .get(SimMigration.POLL_WINDOW_MS + POLL_GRACE_MS, TimeUnit.MILLISECONDS);
                }
                catch (final ExecutionException | TimeoutException e)
                {
                    throw new SimRefusal(503, null, "poll not answered: " + e);
                }
                send(exchange, 200, requestId, report);
            }
            default -> send(exchange, 200, requestId, vm.migrateOutFinish(id));
        }
    }

    private void injectFault(final HttpExchange exchange, final String requestId, final SimFault fault)
        throws IOException
    {
        switch (fault)
        {
            case EXIT_NOW ->
            {
                // Answer first, so the caller knows the fault took; then die at once, skipping shutdown hooks.
                send(exchange, 204, requestId, null);
                exchange.close();
                exitProcess.run();
            }
            case HANG_HTTP ->
            {
                send(exchange, 204, requestId, null);
                fault(fault);
            }
            default ->
            {
                fault(fault);
                send(exchange, 204, requestId, null);
            }
        }
    }

    /**
     * Puts a fault other than {@code exit_now} in force: {@code hang_http} here, the others in the VM.
     *
     * @param fault none, hang_stop, hang_http, fail_start or fail_migration
     */
    void fault(final SimFault fault)
    {
        switch (fault)
        {
            case HANG_HTTP -> hangHttp = true;
            case NONE, HANG_STOP, FAIL_START, FAIL_MIGRATION -> vm.fault(fault);
            default -> throw new IllegalArgumentException("not a lasting fault: " + fault);
        }
    }

    private void hold(final HttpExchange exchange)
    {
        try
        {
            readBody(exchange);
        }
        catch (final IOException | SimRefusal e)
        {
            // Read what there is; the point is not to answer.
        }
        heldExchanges.add(exchange);
    }

    private static void requireMethod(final HttpExchange exchange, final String allowed) throws SimRefusal
    {
        if (!allowed.equals(exchange.getRequestMethod()))
        {
            methodNotAllowed(exchange, allowed);
        }
    }

    private static void methodNotAllowed(final HttpExchange exchange, final String allowed) throws SimRefusal
    {
        exchange.getResponseHeaders().set("allow", allowed);
        throw new SimRefusal(405, null, "Method Not Allowed");
    }

    /** The real server uses Dropshot's header versioning with no default: a request without it is a 400. */
    private static void requireVersion(final HttpExchange exchange) throws SimRefusal
    {
        final String version = exchange.getRequestHeaders().getFirst("api-version");
        if (version == null)
        {
            throw SimRefusal.badRequest("missing expected header \"api-version\"");
        }
        if (!API_VERSION.equals(version.strip()))
        {
            throw SimRefusal.badRequest("propolis-sim serves API version " + API_VERSION + " only, not " + version);
        }
    }

    private static byte[] jsonBody(final HttpExchange exchange) throws SimRefusal, IOException
    {
        final String contentType = exchange.getRequestHeaders().getFirst("content-type");
        if (contentType != null)
        {
            final String mediaType = contentType.split(";", 2)[0].strip().toLowerCase(Locale.ROOT);
            if (!JSON.equals(mediaType))
            {
                throw SimRefusal.badRequest("expected content type \"" + JSON + "\", got \"" + contentType + "\"");
            }
        }
        return readBody(exchange);
    }

    private static byte[] readBody(final HttpExchange exchange) throws SimRefusal, IOException
    {
        try (InputStream in = exchange.getRequestBody())
        {
            final byte[] body = in.readNBytes(MAX_BODY_BYTES + 1);
            if (body.length > MAX_BODY_BYTES)
            {
                throw SimRefusal.badRequest("request body exceeded maximum size of " + MAX_BODY_BYTES + " bytes");
            }
            return body;
        }
    }

    private static <T> T parse(final byte[] body, final Class<T> type) throws SimRefusal
    {
        final T value;
        try
        {
            value = Json.mapper().readValue(body, type);
        }
        catch (final IOException e)
        {
            throw unparseable(e);
        }
        if (value == null)
        {
            throw SimRefusal.badRequest("unable to parse JSON body: null is not a " + type.getSimpleName());
        }
        return value;
    }

    /** {@code {"gen": uint64}}, read by hand: a missing or negative gen must be a 400, not a silent 0. */
    private static long monitorGeneration(final byte[] body) throws SimRefusal
    {
        final JsonNode gen = tree(body).get("gen");
        if (gen == null || !gen.isIntegralNumber() || gen.bigIntegerValue().signum() < 0)
        {
            throw SimRefusal.badRequest("unable to parse JSON body: \"gen\" must be an unsigned integer");
        }
        // A gen past Long.MAX_VALUE will never be reached either.
        return gen.canConvertToLong() ? gen.longValue() : Long.MAX_VALUE;
    }

    private static SimFault parseFault(final byte[] body) throws SimRefusal
    {
        final JsonNode node = tree(body);
        if (!node.isTextual())
        {
            throw SimRefusal.badRequest("unable to parse JSON body: expected a fault name as a JSON string");
        }
        try
        {
            return SimFault.fromWire(node.textValue());
        }
        catch (final IllegalArgumentException e)
        {
            throw SimRefusal.badRequest(e.getMessage());
        }
    }

    private static JsonNode tree(final byte[] body) throws SimRefusal
    {
        try
        {
            final JsonNode node = Json.mapper().readTree(body);
            if (node == null || node.isMissingNode())
            {
                throw SimRefusal.badRequest("unable to parse JSON body: empty body");
            }
            return node;
        }
        catch (final IOException e)
        {
            throw unparseable(e);
        }
    }

    private static SimRefusal unparseable(final IOException e)
    {
        final String detail = e instanceof JsonProcessingException json ? json.getOriginalMessage() : e.getMessage();
        final String firstLine = detail == null ? "" : detail.lines().findFirst().orElse("");
        return SimRefusal.badRequest("unable to parse JSON body: " + firstLine);
    }

    private void send(final HttpExchange exchange, final int status, final String requestId,
        final Object body) throws IOException
    {
        if (hangHttp)
        {
            heldExchanges.add(exchange);
            throw Withheld.INSTANCE;
        }
        exchange.getResponseHeaders().set("x-request-id", requestId);
        if (body == null)
        {
            exchange.sendResponseHeaders(status, -1);
            return;
        }
        final byte[] bytes = Json.mapper().writeValueAsBytes(body);
        exchange.getResponseHeaders().set("content-type", JSON);
        exchange.sendResponseHeaders(status, bytes.length);
        try (OutputStream out = exchange.getResponseBody())
        {
            out.write(bytes);
        }
    }

    private void sendQuietly(final HttpExchange exchange, final int status, final String requestId,
        final Object body)
    {
        try
        {
            send(exchange, status, requestId, body);
        }
        catch (final IOException e)
        {
            // The client is gone.
        }
    }

    /** Unwinds a request that hang_http caught mid-way, so that it is neither answered nor closed. */
    private static final class Withheld extends RuntimeException
    {
        static final Withheld INSTANCE = new Withheld();

        private Withheld()
        {
            super("withheld by hang_http", null, false, false);
        }
    }

    /** Dropshot sends a UUID per request; a counter shaped like one is enough here and costs no SecureRandom. */
    private String nextRequestId()
    {
        return String.format("00000000-0000-4000-8000-%012x", requestCount.incrementAndGet());
    }
}
