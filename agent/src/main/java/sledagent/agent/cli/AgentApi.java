package sledagent.agent.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectReader;
import java.io.IOException;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.UnknownHostException;
import java.net.http.HttpClient;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.channels.UnresolvedAddressException;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import javax.net.ssl.SSLContext;
import sledagent.agent.demo.AgentHttpClient;
import sledagent.api.Json;
import sledagent.api.SledVmmState;
import sledagent.api.VmmPutStateResponse;

/**
 * The agent's VMM endpoints as blocking calls, and every way they can fail mapped to one {@link AgentException}
 * with a message for operators: unreachable, timed out, an error body ({@code message}, {@code error_code}),
 * or an answer that is not what the API promises.
 */
public final class AgentApi
{
    /** How long to wait for the TCP connection: an agent that is up answers at once. */
    public static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(2);

    private static final String NO_SUCH_INSTANCE = "NO_SUCH_INSTANCE";
    private static final int MAX_BODY_IN_MESSAGE = 200;
    private static final ObjectReader LISTING = Json.mapper().readerFor(VmmView.Listing.class);
    private static final ObjectReader STATE = Json.mapper().readerFor(SledVmmState.class);
    private static final ObjectReader PUT_STATE = Json.mapper().readerFor(VmmPutStateResponse.class);

    private final String base;
    private final Duration requestTimeout;
    private final HttpClient http;

    /**
     * An answer that parsed: the body as the agent sent it (for {@code --json}) and its decoded value.
     *
     * @param body  the raw JSON body
     * @param value the decoded body
     * @param <T>   the body's type
     */
    public record Result<T>(String body, T value)
    {
    }

    /**
     * A client of the agent at {@code base}.
     *
     * @param base           e.g. {@code http://127.0.0.1:12345} (a path prefix is kept)
     * @param requestTimeout the default bound on one request, from send to the whole answer
     */
    public AgentApi(final URI base, final Duration requestTimeout)
    {
        this(base, requestTimeout, null);
    }

    /** A client whose https connections use {@code tls} (trust roots, client certificate); null: JDK defaults. */
    public AgentApi(final URI base, final Duration requestTimeout, final SSLContext tls)
    {
        final String text = base.toString();
        this.base = text.endsWith("/") ? text.substring(0, text.length() - 1) : text;
        this.requestTimeout = requestTimeout;
        final HttpClient.Builder builder = HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(CONNECT_TIMEOUT)
            .followRedirects(HttpClient.Redirect.NEVER);
        if (tls != null)
        {
            builder.sslContext(tls);
        }
        this.http = builder.build();
    }

    /** The agent's base URL as it appears in messages. */
    public String url()
    {
        return base;
    }

    /** {@code GET /vmms} with the default timeout. */
    public Result<List<VmmView>> list() throws AgentException, InterruptedException
    {
        return list(requestTimeout);
    }

    /** {@code GET /vmms}, bounded by {@code timeout}. */
    public Result<List<VmmView>> list(final Duration timeout) throws AgentException, InterruptedException
    {
        final HttpResponse<String> response = send("GET", "/vmms", null, timeout);
        final Result<VmmView.Listing> listing = decode(response, LISTING, null);
        return new Result<>(listing.body(), listing.value().vmms());
    }

    /** {@code GET /vmms/{id}/state}. */
    public Result<SledVmmState> state(final UUID propolisId) throws AgentException, InterruptedException
    {
        return decode(send("GET", "/vmms/" + propolisId + "/state", null, requestTimeout), STATE, propolisId);
    }

    /** {@code PUT /vmms/{id}/state} with {@code {"state":{"type":"stopped"}}}; a null runtime means "not yet". */
    public Result<VmmPutStateResponse> stop(final UUID propolisId) throws AgentException, InterruptedException
    {
        return decode(send("PUT", "/vmms/" + propolisId + "/state", "{\"state\":{\"type\":\"stopped\"}}",
            requestTimeout), PUT_STATE, propolisId);
    }

    /** {@code POST /vmms/{id}/force-terminate}. */
    public Result<SledVmmState> terminate(final UUID propolisId) throws AgentException, InterruptedException
    {
        return decode(send("POST", "/vmms/" + propolisId + "/force-terminate", null, requestTimeout), STATE,
            propolisId);
    }

    private HttpResponse<String> send(final String method, final String path, final String body,
        final Duration timeout) throws AgentException, InterruptedException
    {
        final HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(base + path))
            .timeout(timeout)
            .header("api-version", AgentHttpClient.API_VERSION)
            .header("accept", "application/json");
        if (body == null)
        {
            request.method(method, HttpRequest.BodyPublishers.noBody());
        }
        else
        {
            request.header("content-type", "application/json")
                .method(method, HttpRequest.BodyPublishers.ofString(body));
        }
        try
        {
            return http.send(request.build(), HttpResponse.BodyHandlers.ofString());
        }
        catch (final HttpConnectTimeoutException ex)
        {
            throw new AgentException("cannot reach the agent at " + base + ": connect timed out after "
                + CONNECT_TIMEOUT.toSeconds() + "s");
        }
        catch (final HttpTimeoutException ex)
        {
            throw new AgentException("the agent at " + base + " did not answer " + method + " " + path + " within "
                + timeout.toMillis() + "ms");
        }
        catch (final ConnectException ex)
        {
            throw new AgentException("cannot reach the agent at " + base + ": " + connectFailure(ex));
        }
        catch (final IOException ex)
        {
            throw new AgentException(method + " " + path + " to the agent at " + base + " failed: "
                + orName(reason(ex), ex));
        }
        catch (final IllegalArgumentException ex)
        {
            throw new AgentException("cannot reach the agent at " + base + ": " + orName(reason(ex), ex));
        }
    }

    private <T> Result<T> decode(final HttpResponse<String> response, final ObjectReader reader,
        final UUID propolisId) throws AgentException
    {
        final String body = response.body() == null ? "" : response.body();
        if (response.statusCode() != 200)
        {
            throw new AgentException(failure(response.statusCode(), body, propolisId));
        }
        try
        {
            final T value = reader.readValue(body);
            if (value == null)
            {
                throw new AgentException("the agent at " + base + " answered with an empty body");
            }
            return new Result<>(body, value);
        }
        catch (final JsonProcessingException ex)
        {
            throw new AgentException("the agent at " + base + " answered with JSON this tool cannot read ("
                + ex.getOriginalMessage() + "): " + snippet(body));
        }
    }

    /** {@code no such VMM ID (404 NO_SUCH_INSTANCE)}, or the server's message with status and code. */
    private String failure(final int status, final String body, final UUID propolisId)
    {
        JsonNode error = null;
        try
        {
            error = Json.mapper().readTree(body);
        }
        catch (final JsonProcessingException ex)
        {
            // Not an API error body (a proxy's page, say): shown as text below.
        }
        if (error == null || !error.path("message").isTextual())
        {
            return "the agent at " + base + " answered " + status + ": " + snippet(body);
        }
        final String code = error.path("error_code").isTextual() ? error.path("error_code").asText() : null;
        final String suffix = " (" + status + (code == null ? "" : " " + code) + ")";
        if (status == 404 && NO_SUCH_INSTANCE.equals(code) && propolisId != null)
        {
            return "no such VMM " + propolisId + suffix;
        }
        return (propolisId == null ? "" : "VMM " + propolisId + ": ") + error.path("message").asText() + suffix;
    }

    private static String snippet(final String body)
    {
        final String oneLine = body.strip().replaceAll("\\s+", " ");
        if (oneLine.isEmpty())
        {
            return "(empty body)";
        }
        return oneLine.length() <= MAX_BODY_IN_MESSAGE ? oneLine : oneLine.substring(0, MAX_BODY_IN_MESSAGE) + "...";
    }

    /**
     * Why the connection failed. The JDK's HTTP client often says nothing ("ConnectException: null"), so
     * then one plain socket connect finds the reason the operating system gives ("Connection refused").
     */
    private String connectFailure(final ConnectException failure)
    {
        final String known = reason(failure);
        if (known != null)
        {
            return known;
        }
        final URI uri = URI.create(base);
        final int port = uri.getPort() != -1 ? uri.getPort() : "https".equalsIgnoreCase(uri.getScheme()) ? 443 : 80;
        try (Socket socket = new Socket())
        {
            socket.connect(new InetSocketAddress(uri.getHost(), port), (int)CONNECT_TIMEOUT.toMillis());
            return "connection failed (" + failure.getClass().getSimpleName() + ")";
        }
        catch (final UnknownHostException ex)
        {
            return "unknown host " + uri.getHost();
        }
        catch (final IOException ex)
        {
            return orName(ex.getMessage(), ex);
        }
    }

    /** The most specific message in the cause chain ("Connection refused"), or null if none has one. */
    private static String reason(final Throwable failure)
    {
        String found = null;
        for (Throwable cause = failure; cause != null; cause = cause.getCause())
        {
            if (cause instanceof UnresolvedAddressException || cause instanceof UnknownHostException)
            {
                return "unknown host";
            }
            if (cause.getMessage() != null && !cause.getMessage().isBlank())
            {
                found = cause.getMessage();
            }
            if (cause.getCause() == cause)
            {
                break;
            }
        }
        return found;
    }

    private static String orName(final String message, final Throwable failure)
    {
        return message != null && !message.isBlank() ? message : failure.getClass().getSimpleName();
    }
}
