package sledagent.agent.http;

import io.netty.handler.codec.http.HttpMethod;
import java.util.List;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The routing table: (method, path) to an endpoint. A path that matches no pattern is 404; a path that
 * matches with another method is 405; a {@code {propolis_id}} that is not a UUID is 400.
 */
enum Route
{
    VMM_REGISTER(HttpMethod.PUT, Paths.VMM),
    VMM_UNREGISTER(HttpMethod.DELETE, Paths.VMM),
    VMM_PUT_STATE(HttpMethod.PUT, Paths.VMM_STATE),
    VMM_GET_STATE(HttpMethod.GET, Paths.VMM_STATE),
    VMM_FORCE_TERMINATE(HttpMethod.POST, Paths.VMM_FORCE_TERMINATE),
    VMM_LIST(HttpMethod.GET, Paths.VMMS),
    HEALTH(HttpMethod.GET, Paths.HEALTH),
    METRICS(HttpMethod.GET, Paths.METRICS);

    /** The route's name in metrics, e.g. {@code vmm_get_state}. */
    String metricName()
    {
        return name().toLowerCase(java.util.Locale.ROOT);
    }

    final HttpMethod method;
    final Pattern path;

    Route(final HttpMethod method, final Pattern path)
    {
        this.method = method;
        this.path = path;
    }

    /** The outcome of matching one request. */
    sealed interface Match
    {
    }

    /** A route and its {@code propolis_id} (null for routes without one). */
    record Found(Route route, UUID propolisId) implements Match
    {
    }

    record NotFound() implements Match
    {
    }

    record MethodNotAllowed(List<HttpMethod> allowed) implements Match
    {
    }

    record BadId(String raw) implements Match
    {
    }

    static Match match(final HttpMethod method, final String path)
    {
        List<HttpMethod> allowed = null;
        for (final Route route : values())
        {
            final Matcher matcher = route.path.matcher(path);
            if (!matcher.matches())
            {
                continue;
            }
            if (!route.method.equals(method))
            {
                if (allowed == null)
                {
                    allowed = new java.util.ArrayList<>(2);
                }
                allowed.add(route.method);
                continue;
            }
            if (matcher.groupCount() == 0)
            {
                return new Found(route, null);
            }
            final String raw = matcher.group(1);
            try
            {
                return new Found(route, parseUuid(raw));
            }
            catch (final IllegalArgumentException ex)
            {
                return new BadId(raw);
            }
        }
        return allowed == null ? new NotFound() : new MethodNotAllowed(allowed);
    }

    /** Strict: the canonical 8-4-4-4-12 hex form only ({@link UUID#fromString} accepts much more). */
    private static UUID parseUuid(final String raw)
    {
        if (!Paths.UUID_TEXT.matcher(raw).matches())
        {
            throw new IllegalArgumentException("not a UUID: " + raw);
        }
        return UUID.fromString(raw);
    }

    /** Patterns, in a holder so the enum constants can refer to them. */
    private static final class Paths
    {
        static final Pattern UUID_TEXT =
            Pattern.compile("[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}");
        static final Pattern VMM = Pattern.compile("/vmms/([^/]+)/?");
        static final Pattern VMM_STATE = Pattern.compile("/vmms/([^/]+)/state/?");
        static final Pattern VMM_FORCE_TERMINATE = Pattern.compile("/vmms/([^/]+)/force-terminate/?");
        static final Pattern VMMS = Pattern.compile("/vmms/?");
        static final Pattern HEALTH = Pattern.compile("/health/?");
        static final Pattern METRICS = Pattern.compile("/metrics/?");
    }
}
