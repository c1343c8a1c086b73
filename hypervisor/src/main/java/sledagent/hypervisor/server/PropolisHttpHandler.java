package sledagent.hypervisor.server;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpHandler;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.Queue;
import java.util.UUID;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicLong;
import sledagent.api.ErrorBody;
import sledagent.api.Json;
import sledagent.api.propolis.InstanceEnsureRequest;
import sledagent.api.propolis.PropolisStateRequested;

/**
 * The HTTP face of a Propolis server, whatever machine runs its VM: routes the Propolis v5 endpoints
 * ({@code /instance}, {@code /instance/state}, {@code /instance/state-monitor}, {@code /instance/migration-status},
 * {@code /instance/serial/history}) to the {@link PropolisInstance}, any other path to the server's
 * {@link Extension} (propolis-sim's {@code /mock/...} endpoints), and answers the way Dropshot does (Error bodies
 * {@code {request_id, message, error_code?}}, 404 for an unknown path, 405 for a wrong method, 400 for a missing
 * {@code api-version}, a foreign content type, an unparseable or oversized body).
 */
public final class PropolisHttpHandler implements HttpHandler
{
    /** Dropshot's default request body limit. */
    public static final int MAX_BODY_BYTES = 1 << 20;
    /** The one API version served. */
    public static final String API_VERSION = "5.0.0";

    private static final String JSON = "application/json";
    private static final String MIGRATE_PREFIX = "/instance/migrate/";
    private static final String MIGRATE_SUFFIX = "/start";
    /** Dropshot's {@code DEFAULT_MAX_LENGTH} of a history answer without {@code max_bytes}. */
    private static final long DEFAULT_HISTORY_BYTES = 16 * 1024;

    private final PropolisInstance vm;
    private final String serverName;
    private final Extension extension;
    private final AtomicLong requestCount = new AtomicLong();
    // hang_http: requests read and never answered. Kept referenced so nothing collects their connections.
    private final Queue<HttpExchange> heldExchanges = new ConcurrentLinkedQueue<>();
    private volatile boolean hangHttp;
    private volatile long monitorDelayMs;

    /**
     * @param vm         the instance
     * @param serverName the server's name, in refusals of another API version
     * @param extension  serves paths outside the Propolis API (none: {@link Extension#NONE})
     */
    public PropolisHttpHandler(final PropolisInstance vm, final String serverName, final Extension extension)
    {
        this.vm = vm;
        this.serverName = serverName;
        this.extension = extension;
    }

    /**
     * From now on, read every request and answer none, and leave the exchanges in flight unanswered too (a server
     * whose HTTP side is stuck: propolis-sim's {@code hang_http} fault).
     */
    public void withholdAnswers()
    {
        hangHttp = true;
    }

    /**
     * Tests only (propolis-qemu's {@code --monitor-delay-ms}): hold each state-monitor answer for a generation past 0
     * this long, so that a state can be published and not yet seen by a watcher. Looks at generation 0 (the agent's
     * last look) are answered at once.
     *
     * @param delayMs 0 for none
     */
    public void delayMonitorAnswers(final long delayMs)
    {
        monitorDelayMs = delayMs;
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
        catch (final PropolisRefusal refusal)
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
        throws PropolisRefusal, IOException, InterruptedException
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
                final Object answer = vm.awaitGeneration(gen);
                if (gen > 0 && monitorDelayMs > 0)
                {
                    Thread.sleep(monitorDelayMs);
                }
                send(exchange, 200, requestId, answer);
            }
            case "/instance/migration-status" ->
            {
                requireMethod(exchange, "GET");
                requireVersion(exchange);
                send(exchange, 200, requestId, vm.migrationStatus());
            }
            case "/instance/serial/history" ->
            {
                requireMethod(exchange, "GET");
                requireVersion(exchange);
                send(exchange, 200, requestId, historyBody(vm.serialHistory(serialQuery(exchange, true))));
            }
            case "/instance/serial" ->
            {
                requireMethod(exchange, "GET");
                requireVersion(exchange);
                serveSerial(exchange, requestId);
            }
            default ->
            {
                if (path.startsWith(MIGRATE_PREFIX) && path.endsWith(MIGRATE_SUFFIX))
                {
                    requireMethod(exchange, "GET");
                    requireVersion(exchange);
                    serveMigrateStart(exchange, requestId, path);
                    return;
                }
                if (!extension.serve(new Call(this, exchange, requestId)))
                {
                    throw new PropolisRefusal(404, null, "Not Found");
                }
            }
        }
    }

    /**
     * {@code GET /instance/serial}: checks the upgrade request and the query (at most one of {@code from_start} and
     * {@code most_recent}; neither streams from the current end), answers 101 on the raw connection and serves the
     * WebSocket on this thread until it ends ({@link SerialSession}).
     */
    private void serveSerial(final HttpExchange exchange, final String requestId)
        throws PropolisRefusal, IOException
    {
        final SerialPort port = vm.serialPort();
        final String upgrade = exchange.getRequestHeaders().getFirst("upgrade");
        final String key = exchange.getRequestHeaders().getFirst("sec-websocket-key");
        if (upgrade == null || !"websocket".equalsIgnoreCase(upgrade.strip()) || key == null)
        {
            throw PropolisRefusal.badRequest("GET /instance/serial is a WebSocket: expected an upgrade request");
        }
        final SerialQuery query = serialQuery(exchange, false);
        final long total = port.total();
        final long start = query.isFromStart() ? Math.min(query.fromStart(), total)
            : query.mostRecent() >= 0 ? Math.max(0, total - query.mostRecent()) : total;
        final RawConnection raw = RawConnection.of(exchange);
        if (raw == null)
        {
            throw new PropolisRefusal(501, null, "WebSocket upgrade unavailable: the JVM needs --add-opens "
                + "jdk.httpserver/sun.net.httpserver=ALL-UNNAMED");
        }
        final String response = "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n"
            + "sec-websocket-accept: " + WebSocketFrames.acceptKey(key) + "\r\nx-request-id: " + requestId
            + "\r\n\r\n";
        raw.out.write(response.getBytes(StandardCharsets.US_ASCII));
        raw.out.flush();
        new SerialSession(raw, exchange::close, port, start).run();
    }

    /**
     * {@code GET /instance/migrate/{migration_id}/start}: checks the id and the upgrade, lets the instance judge the
     * migration out (its 403s and 424 are answered as usual), answers 101 on the raw connection and runs the
     * machine's session on this thread until the migration is over on this side.
     */
    private void serveMigrateStart(final HttpExchange exchange, final String requestId, final String path)
        throws PropolisRefusal, IOException
    {
        final String idText = path.substring(MIGRATE_PREFIX.length(), path.length() - MIGRATE_SUFFIX.length());
        final UUID migrationId;
        try
        {
            migrationId = UUID.fromString(idText);
        }
        catch (final IllegalArgumentException e)
        {
            throw PropolisRefusal.badRequest("bad path parameter migration_id: not a UUID: " + idText);
        }
        final String upgrade = exchange.getRequestHeaders().getFirst("upgrade");
        if (upgrade == null || !MigrationOutSession.UPGRADE.equalsIgnoreCase(upgrade.strip()))
        {
            throw PropolisRefusal.badRequest("GET /instance/migrate/{migration_id}/start expects an upgrade to "
                + MigrationOutSession.UPGRADE);
        }
        final RawConnection raw = RawConnection.of(exchange);
        if (raw == null)
        {
            throw new PropolisRefusal(501, null, "connection upgrade unavailable: the JVM needs --add-opens "
                + "jdk.httpserver/sun.net.httpserver=ALL-UNNAMED");
        }
        final MigrationOutSession session = vm.migrateOut(migrationId);
        final String response = "HTTP/1.1 101 Switching Protocols\r\nupgrade: " + MigrationOutSession.UPGRADE
            + "\r\nconnection: Upgrade\r\nx-request-id: " + requestId + "\r\n\r\n";
        try
        {
            raw.out.write(response.getBytes(StandardCharsets.US_ASCII));
            raw.out.flush();
        }
        catch (final IOException e)
        {
            // The target went away before the 101: the session sees it at once and fails the migration.
        }
        session.run(raw.in, raw.out, exchange::close);
    }

    private void hold(final HttpExchange exchange)
    {
        try
        {
            readBody(exchange);
        }
        catch (final IOException | PropolisRefusal e)
        {
            // Read what there is; the point is not to answer.
        }
        heldExchanges.add(exchange);
    }

    private static void requireMethod(final HttpExchange exchange, final String allowed) throws PropolisRefusal
    {
        if (!allowed.equals(exchange.getRequestMethod()))
        {
            methodNotAllowed(exchange, allowed);
        }
    }

    private static void methodNotAllowed(final HttpExchange exchange, final String allowed) throws PropolisRefusal
    {
        exchange.getResponseHeaders().set("allow", allowed);
        throw new PropolisRefusal(405, null, "Method Not Allowed");
    }

    /** The real server uses Dropshot's header versioning with no default: a request without it is a 400. */
    private void requireVersion(final HttpExchange exchange) throws PropolisRefusal
    {
        final String version = exchange.getRequestHeaders().getFirst("api-version");
        if (version == null)
        {
            throw PropolisRefusal.badRequest("missing expected header \"api-version\"");
        }
        if (!API_VERSION.equals(version.strip()))
        {
            throw PropolisRefusal.badRequest(serverName + " serves API version " + API_VERSION + " only, not "
                + version);
        }
    }

    private static byte[] jsonBody(final HttpExchange exchange) throws PropolisRefusal, IOException
    {
        final String contentType = exchange.getRequestHeaders().getFirst("content-type");
        if (contentType != null)
        {
            final String mediaType = contentType.split(";", 2)[0].strip().toLowerCase(Locale.ROOT);
            if (!JSON.equals(mediaType))
            {
                throw PropolisRefusal.badRequest("expected content type \"" + JSON + "\", got \"" + contentType + "\"");
            }
        }
        return readBody(exchange);
    }

    private static byte[] readBody(final HttpExchange exchange) throws PropolisRefusal, IOException
    {
        try (InputStream in = exchange.getRequestBody())
        {
            final byte[] body = in.readNBytes(MAX_BODY_BYTES + 1);
            if (body.length > MAX_BODY_BYTES)
            {
                throw PropolisRefusal.badRequest("request body exceeded maximum size of " + MAX_BODY_BYTES + " bytes");
            }
            return body;
        }
    }

    private static <T> T parse(final byte[] body, final Class<T> type) throws PropolisRefusal
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
            throw PropolisRefusal.badRequest("unable to parse JSON body: null is not a " + type.getSimpleName());
        }
        return value;
    }

    /** {@code {"gen": uint64}}, read by hand: a missing or negative gen must be a 400, not a silent 0. */
    private static long monitorGeneration(final byte[] body) throws PropolisRefusal
    {
        final JsonNode gen = tree(body).get("gen");
        if (gen == null || !gen.isIntegralNumber() || gen.bigIntegerValue().signum() < 0)
        {
            throw PropolisRefusal.badRequest("unable to parse JSON body: \"gen\" must be an unsigned integer");
        }
        // A gen past Long.MAX_VALUE will never be reached either.
        return gen.canConvertToLong() ? gen.longValue() : Long.MAX_VALUE;
    }

    private static JsonNode tree(final byte[] body) throws PropolisRefusal
    {
        try
        {
            final JsonNode node = Json.mapper().readTree(body);
            if (node == null || node.isMissingNode())
            {
                throw PropolisRefusal.badRequest("unable to parse JSON body: empty body");
            }
            return node;
        }
        catch (final IOException e)
        {
            throw unparseable(e);
        }
    }

    private static PropolisRefusal unparseable(final IOException e)
    {
        final String detail = e instanceof JsonProcessingException json ? json.getOriginalMessage() : e.getMessage();
        final String firstLine = detail == null ? "" : detail.lines().findFirst().orElse("");
        return PropolisRefusal.badRequest("unable to parse JSON body: " + firstLine);
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

    /**
     * The query of {@code GET /instance/serial/history}: exactly one of {@code from_start} and {@code most_recent}
     * (else 400 with the real server's message), optional {@code max_bytes}; each an unsigned integer.
     */
    private static SerialQuery serialQuery(final HttpExchange exchange, final boolean exactlyOne)
        throws PropolisRefusal
    {
        long fromStart = -1;
        long mostRecent = -1;
        long maxBytes = DEFAULT_HISTORY_BYTES;
        final String raw = exchange.getRequestURI().getRawQuery();
        for (final String pair : raw == null ? new String[0] : raw.split("&"))
        {
            if (pair.isEmpty())
            {
                continue;
            }
            final int equals = pair.indexOf('=');
            final String name = URLDecoder.decode(equals < 0 ? pair : pair.substring(0, equals),
                StandardCharsets.UTF_8);
            final String value = equals < 0 ? "" : URLDecoder.decode(pair.substring(equals + 1),
                StandardCharsets.UTF_8);
            switch (name)
            {
                case "from_start" -> fromStart = unsigned(name, value);
                case "most_recent" -> mostRecent = unsigned(name, value);
                case "max_bytes" -> maxBytes = unsigned(name, value);
                default ->
                {
                    // Dropshot ignores query parameters it does not know.
                }
            }
        }
        if ((fromStart >= 0 && mostRecent >= 0) || (exactlyOne && fromStart < 0 && mostRecent < 0))
        {
            throw PropolisRefusal.badRequest("Exactly one of 'from_start' or 'most_recent' must be specified.");
        }
        return new SerialQuery(fromStart, mostRecent, maxBytes);
    }

    private static long unsigned(final String name, final String value) throws PropolisRefusal
    {
        try
        {
            final long parsed = Long.parseLong(value);
            if (parsed < 0)
            {
                throw new NumberFormatException("negative");
            }
            return parsed;
        }
        catch (final NumberFormatException e)
        {
            throw PropolisRefusal.badRequest("unable to parse query string: " + name + ": invalid digit or range: "
                + value);
        }
    }

    /** {@code InstanceSerialConsoleHistoryResponse}: the bytes as an array of numbers, not base64. */
    private static ObjectNode historyBody(final SerialHistory history)
    {
        final ObjectNode body = Json.mapper().createObjectNode();
        final ArrayNode data = body.putArray("data");
        for (final byte b : history.data())
        {
            data.add(b & 0xff);
        }
        body.put("last_byte_offset", history.lastByteOffset());
        return body;
    }

    /**
     * Paths outside the Propolis API that one server adds (propolis-sim's {@code /mock/...}). It runs on the HTTP
     * thread; what it throws is answered as the core's own refusals and failures are.
     */
    @FunctionalInterface
    public interface Extension
    {
        /** No extra paths. */
        Extension NONE = call -> false;

        /**
         * @param call the request
         * @return false if the path is not one of the extension's (404)
         * @throws PropolisRefusal      to refuse with its status and body
         * @throws IOException          if the client went away
         * @throws InterruptedException if the thread was interrupted
         */
        boolean serve(Call call) throws PropolisRefusal, IOException, InterruptedException;
    }

    /** One request, as an {@link Extension} sees it: Dropshot's reading and answering rules. */
    public static final class Call
    {
        private final PropolisHttpHandler handler;
        private final HttpExchange exchange;
        private final String requestId;

        Call(final PropolisHttpHandler handler, final HttpExchange exchange, final String requestId)
        {
            this.handler = handler;
            this.exchange = exchange;
            this.requestId = requestId;
        }

        /** The request path. */
        public String path()
        {
            return exchange.getRequestURI().getPath();
        }

        /**
         * @param allowed the one method the path takes
         * @throws PropolisRefusal 405 for another
         */
        public void requireMethod(final String allowed) throws PropolisRefusal
        {
            PropolisHttpHandler.requireMethod(exchange, allowed);
        }

        /**
         * @return the body, checked to be JSON (if a content type is given) and within Dropshot's limit
         * @throws PropolisRefusal 400 otherwise
         * @throws IOException     if the client went away
         */
        public byte[] jsonBody() throws PropolisRefusal, IOException
        {
            return PropolisHttpHandler.jsonBody(exchange);
        }

        /**
         * @param body the JSON body
         * @param type what it must be
         * @param <T>  the type
         * @return the value
         * @throws PropolisRefusal 400 if it is not
         */
        public <T> T parse(final byte[] body, final Class<T> type) throws PropolisRefusal
        {
            return PropolisHttpHandler.parse(body, type);
        }

        /**
         * @param body the JSON body
         * @return its tree
         * @throws PropolisRefusal 400 if it is not JSON
         */
        public JsonNode tree(final byte[] body) throws PropolisRefusal
        {
            return PropolisHttpHandler.tree(body);
        }

        /**
         * Answers (unless answers are withheld).
         *
         * @param status the HTTP status
         * @param body   the JSON body, or null for none
         * @throws IOException if the client went away
         */
        public void send(final int status, final Object body) throws IOException
        {
            handler.send(exchange, status, requestId, body);
        }

        /** Ends the exchange now (after {@link #send}), e.g. before the process exits. */
        public void close()
        {
            exchange.close();
        }
    }

    /** Dropshot sends a UUID per request; a counter shaped like one is enough here and costs no SecureRandom. */
    private String nextRequestId()
    {
        return String.format("00000000-0000-4000-8000-%012x", requestCount.incrementAndGet());
    }
}
