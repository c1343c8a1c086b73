package sledagent.agent.demo;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.UUID;
import javax.net.ssl.SSLContext;

/** A small blocking client of the agent's own HTTP API, for the demo, tests and operators' tools. */
public final class AgentHttpClient
{
    public static final String API_VERSION = "48.0.0";

    private final URI base;
    private final HttpClient http;
    private final Duration timeout;

    /** One answer: status and raw JSON body. */
    public record Answer(int status, String body)
    {
    }

    public AgentHttpClient(final URI base, final Duration timeout)
    {
        this(base, timeout, null);
    }

    /** A client whose https connections use {@code tls} (null: the JDK's default context). */
    public AgentHttpClient(final URI base, final Duration timeout, final SSLContext tls)
    {
        this.base = base;
        this.timeout = timeout;
        final HttpClient.Builder builder = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(timeout);
        if (tls != null)
        {
            builder.sslContext(tls);
        }
        this.http = builder.build();
    }

    public Answer register(final UUID propolisId, final String ensureBodyJson) throws IOException, InterruptedException
    {
        return send("PUT", "/vmms/" + propolisId, ensureBodyJson);
    }

    /** {@code state} is the wire tag: running, stopped or reboot. */
    public Answer putState(final UUID propolisId, final String state) throws IOException, InterruptedException
    {
        return send("PUT", "/vmms/" + propolisId + "/state", "{\"state\":{\"type\":\"" + state + "\"}}");
    }

    public Answer state(final UUID propolisId) throws IOException, InterruptedException
    {
        return send("GET", "/vmms/" + propolisId + "/state", null);
    }

    public Answer unregister(final UUID propolisId) throws IOException, InterruptedException
    {
        return send("DELETE", "/vmms/" + propolisId, null);
    }

    public Answer forceTerminate(final UUID propolisId) throws IOException, InterruptedException
    {
        return send("POST", "/vmms/" + propolisId + "/force-terminate", null);
    }

    /** Any request; {@code body} null for none. */
    public Answer send(final String method, final String path, final String body)
        throws IOException, InterruptedException
    {
        final HttpRequest.Builder request = HttpRequest.newBuilder(base.resolve(path))
            .timeout(timeout)
            .header("api-version", API_VERSION);
        if (body == null)
        {
            request.method(method, HttpRequest.BodyPublishers.noBody());
        }
        else
        {
            request.header("content-type", "application/json").method(method,
                HttpRequest.BodyPublishers.ofString(body));
        }
        final HttpResponse<String> response = http.send(request.build(), HttpResponse.BodyHandlers.ofString());
        return new Answer(response.statusCode(), response.body());
    }
}
