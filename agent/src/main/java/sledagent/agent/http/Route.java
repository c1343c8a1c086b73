package sledagent.agent.http;

import io.netty.handler.codec.http.HttpMethod;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.UUID;

/**
 * The routing table: (method, path) to an endpoint. A path that matches no route's shape is 404; a path that
 * matches with another method is 405; a {@code {propolis_id}} that is not a UUID is 400.
 *
 * <p>The path (already percent-decoded) is matched by splitting it on {@code /}, not with regexes (one regex per
 * route was 20 to 33 % of the event loop's time, perf/RESULTS.md). The shapes, each with one optional trailing
 * {@code /}: {@code /vmms/{id}}, {@code /vmms/{id}/state}, {@code /vmms/{id}/force-terminate}, {@code /vmms},
 * {@code /health}, {@code /metrics}; {@code {id}} is one or more characters other than {@code /}.
 */
enum Route
{
    VMM_REGISTER(HttpMethod.PUT, Shape.VMM),
    VMM_UNREGISTER(HttpMethod.DELETE, Shape.VMM),
    VMM_PUT_STATE(HttpMethod.PUT, Shape.VMM_STATE),
    VMM_GET_STATE(HttpMethod.GET, Shape.VMM_STATE),
    VMM_FORCE_TERMINATE(HttpMethod.POST, Shape.VMM_FORCE_TERMINATE),
    VMM_LIST(HttpMethod.GET, Shape.VMMS),
    HEALTH(HttpMethod.GET, Shape.HEALTH),
    METRICS(HttpMethod.GET, Shape.METRICS);

    /** Routes by shape, in table order (the order of a 405's {@code Allow}). */
    private static final Route[][] BY_SHAPE = byShape();
    private static final int CANONICAL_UUID_CHARS = 36;
    private static final NotFound NOT_FOUND = new NotFound();

    final HttpMethod method;
    private final Shape shape;
    private final String metricName;

    Route(final HttpMethod method, final Shape shape)
    {
        this.method = method;
        this.shape = shape;
        this.metricName = name().toLowerCase(Locale.ROOT);
    }

    /** The route's name in metrics, e.g. {@code vmm_get_state}. */
    String metricName()
    {
        return metricName;
    }

    /** The path shapes; {@link #hasId} for those with a {@code {propolis_id}} segment. */
    private enum Shape
    {
        VMM(true), VMM_STATE(true), VMM_FORCE_TERMINATE(true), VMMS(false), HEALTH(false), METRICS(false);

        final boolean hasId;

        Shape(final boolean hasId)
        {
            this.hasId = hasId;
        }
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
        // One optional trailing slash, as every shape allows.
        final int end = path.length() > 0 && path.charAt(path.length() - 1) == '/' ? path.length() - 1 : path.length();
        final Shape shape;
        String rawId = null;
        if (path.startsWith("/vmms/") && end > "/vmms/".length())
        {
            final int idStart = "/vmms/".length();
            final int slash = path.indexOf('/', idStart);
            if (slash < 0 || slash >= end)
            {
                shape = Shape.VMM;
            }
            else if (slash > idStart && suffixIs(path, slash + 1, end, "state"))
            {
                shape = Shape.VMM_STATE;
            }
            else if (slash > idStart && suffixIs(path, slash + 1, end, "force-terminate"))
            {
                shape = Shape.VMM_FORCE_TERMINATE;
            }
            else
            {
                return NOT_FOUND;
            }
            rawId = path.substring(idStart, shape == Shape.VMM ? end : slash);
        }
        else if (suffixIs(path, 0, end, "/vmms"))
        {
            shape = Shape.VMMS;
        }
        else if (suffixIs(path, 0, end, "/health"))
        {
            shape = Shape.HEALTH;
        }
        else if (suffixIs(path, 0, end, "/metrics"))
        {
            shape = Shape.METRICS;
        }
        else
        {
            return NOT_FOUND;
        }
        return matchMethod(BY_SHAPE[shape.ordinal()], method, rawId);
    }

    private static Match matchMethod(final Route[] candidates, final HttpMethod method, final String rawId)
    {
        for (final Route route : candidates)
        {
            if (route.method.equals(method))
            {
                if (!route.shape.hasId)
                {
                    return new Found(route, null);
                }
                final UUID id = parseUuid(rawId);
                return id == null ? new BadId(rawId) : new Found(route, id);
            }
        }
        final List<HttpMethod> allowed = new ArrayList<>(candidates.length);
        for (final Route route : candidates)
        {
            allowed.add(route.method);
        }
        return new MethodNotAllowed(allowed);
    }

    /** True if {@code path[from, to)} is exactly {@code expected}. */
    private static boolean suffixIs(final String path, final int from, final int to, final String expected)
    {
        return to - from == expected.length() && path.startsWith(expected, from);
    }

    /**
     * Strict: the canonical 8-4-4-4-12 hex form only ({@link UUID#fromString} accepts much more, e.g. short
     * groups); null if {@code raw} is not one.
     */
    static UUID parseUuid(final String raw)
    {
        if (raw.length() != CANONICAL_UUID_CHARS)
        {
            return null;
        }
        long msb = 0;
        long lsb = 0;
        int digits = 0;
        for (int i = 0; i < CANONICAL_UUID_CHARS; i++)
        {
            final char c = raw.charAt(i);
            if (i == 8 || i == 13 || i == 18 || i == 23)
            {
                if (c != '-')
                {
                    return null;
                }
                continue;
            }
            final int nibble = hex(c);
            if (nibble < 0)
            {
                return null;
            }
            if (digits < 16)
            {
                msb = (msb << 4) | nibble;
            }
            else
            {
                lsb = (lsb << 4) | nibble;
            }
            digits++;
        }
        return new UUID(msb, lsb);
    }

    /** The value of one hex digit, -1 if {@code c} is none ({@link Character#digit} also takes non-ASCII digits). */
    private static int hex(final char c)
    {
        if (c >= '0' && c <= '9')
        {
            return c - '0';
        }
        if (c >= 'a' && c <= 'f')
        {
            return c - 'a' + 10;
        }
        if (c >= 'A' && c <= 'F')
        {
            return c - 'A' + 10;
        }
        return -1;
    }

    private static Route[][] byShape()
    {
        final Route[][] table = new Route[Shape.values().length][];
        for (final Shape shape : Shape.values())
        {
            table[shape.ordinal()] = java.util.Arrays.stream(values()).filter(r -> r.shape == shape)
                .toArray(Route[]::new);
        }
        return table;
    }
}
