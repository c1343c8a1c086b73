package sledagent.agent.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.handler.codec.http.HttpMethod;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.UUID;
import java.util.logging.Logger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The routing table matched by splitting the path: every route, the refusals, and the same answers as the regex
 * table it replaced (kept here as the oracle) on hand-picked and on random paths.
 */
class RouteTest
{
    private static final Logger LOG = Logger.getLogger(RouteTest.class.getName());
    private static final String ID = "0b5a5e5c-7d4e-4c1a-9a6f-3f2e1d0c9b8a";
    private static final List<HttpMethod> METHODS = List.of(HttpMethod.GET, HttpMethod.PUT, HttpMethod.POST,
        HttpMethod.DELETE, HttpMethod.PATCH, HttpMethod.HEAD, HttpMethod.valueOf("BREW"));

    @Test
    void shouldFindEveryRouteWithAndWithoutATrailingSlash()
    {
        final UUID id = UUID.fromString(ID);
        for (final String slash : List.of("", "/"))
        {
            assertThat(Route.match(HttpMethod.PUT, "/vmms/" + ID + slash)).isEqualTo(
                new Route.Found(Route.VMM_REGISTER, id));
            assertThat(Route.match(HttpMethod.DELETE, "/vmms/" + ID + slash)).isEqualTo(
                new Route.Found(Route.VMM_UNREGISTER, id));
            assertThat(Route.match(HttpMethod.PUT, "/vmms/" + ID + "/state" + slash)).isEqualTo(
                new Route.Found(Route.VMM_PUT_STATE, id));
            assertThat(Route.match(HttpMethod.GET, "/vmms/" + ID + "/state" + slash)).isEqualTo(
                new Route.Found(Route.VMM_GET_STATE, id));
            assertThat(Route.match(HttpMethod.POST, "/vmms/" + ID + "/force-terminate" + slash)).isEqualTo(
                new Route.Found(Route.VMM_FORCE_TERMINATE, id));
            assertThat(Route.match(HttpMethod.GET, "/vmms" + slash)).isEqualTo(new Route.Found(Route.VMM_LIST, null));
            assertThat(Route.match(HttpMethod.GET, "/health" + slash)).isEqualTo(new Route.Found(Route.HEALTH, null));
            assertThat(Route.match(HttpMethod.GET, "/metrics" + slash)).isEqualTo(
                new Route.Found(Route.METRICS, null));
        }
    }

    @Test
    void shouldRefuseUnknownPathsWrongMethodsAndBadIds()
    {
        assertThat(Route.match(HttpMethod.GET, "/vmms//")).isInstanceOf(Route.NotFound.class);
        assertThat(Route.match(HttpMethod.GET, "/vmms/" + ID + "/state//")).isInstanceOf(Route.NotFound.class);
        assertThat(Route.match(HttpMethod.GET, "/vmms//state")).isInstanceOf(Route.NotFound.class);
        assertThat(Route.match(HttpMethod.GET, "/")).isInstanceOf(Route.NotFound.class);
        assertThat(Route.match(HttpMethod.GET, "/Health")).as("case matters").isInstanceOf(Route.NotFound.class);
        assertThat(Route.match(HttpMethod.POST, "/vmms/" + ID + "/state")).isEqualTo(
            new Route.MethodNotAllowed(List.of(HttpMethod.PUT, HttpMethod.GET)));
        assertThat(Route.match(HttpMethod.GET, "/vmms/" + ID)).isEqualTo(
            new Route.MethodNotAllowed(List.of(HttpMethod.PUT, HttpMethod.DELETE)));
        assertThat(Route.match(HttpMethod.POST, "/vmms/not-a-uuid")).as("405 before the id is looked at")
            .isInstanceOf(Route.MethodNotAllowed.class);
        assertThat(Route.match(HttpMethod.GET, "/vmms/not-a-uuid/state")).isEqualTo(new Route.BadId("not-a-uuid"));
        assertThat(Route.match(HttpMethod.GET, "/vmms/state")).as("an id, not a path").isInstanceOf(
            Route.MethodNotAllowed.class);
        assertThat(Route.match(HttpMethod.PUT, "/vmms/state")).isEqualTo(new Route.BadId("state"));
    }

    @Test
    void shouldParseOnlyCanonicalUuids()
    {
        assertThat(Route.parseUuid(ID)).isEqualTo(UUID.fromString(ID));
        assertThat(Route.parseUuid(ID.toUpperCase(java.util.Locale.ROOT))).isEqualTo(UUID.fromString(ID));
        assertThat(Route.parseUuid("ffffffff-ffff-ffff-ffff-ffffffffffff")).isEqualTo(new UUID(-1L, -1L));
        assertThat(Route.parseUuid("1-1-1-1-1")).as("UUID.fromString takes it").isNull();
        assertThat(Route.parseUuid(ID.replace('-', '_'))).isNull();
        assertThat(Route.parseUuid(ID.substring(1) + "g")).isNull();
        assertThat(Route.parseUuid(ID.substring(0, 35) + "\u0661")).as("an Arabic-Indic digit").isNull();
        assertThat(Route.parseUuid(ID + "0")).isNull();
    }

    @Test
    void shouldAnswerAsTheRegexTableOnHandPickedPaths()
    {
        final List<String> paths = List.of("", "/", "//", "/vmms", "/vmms/", "/vmms//", "/vmms///", "/vmmsx",
            "/vmms/" + ID, "/vmms/" + ID + "/", "/vmms/" + ID + "//", "/vmms/" + ID + "/state",
            "/vmms/" + ID + "/state/", "/vmms/" + ID + "/stat", "/vmms/" + ID + "/statex",
            "/vmms/" + ID + "/force-terminate", "/vmms/" + ID + "/force-terminate/", "/vmms/" + ID + "/x/state",
            "/vmms/a b\n/state", "/vmms/%2F/state", "/vmms/\u00e9", "/health", "/health/", "/health//",
            "/healthz", "/metrics", "/metrics/", "/metrics/x", "vmms", "health", "/vmms/state", "/vmms/state/state",
            "/vmms/force-terminate/force-terminate", "/VMMS", "/vmms/" + ID.toUpperCase(java.util.Locale.ROOT),
            "/vmms/" + ID.substring(1), "/vmms/1-1-1-1-1/state", "*");
        for (final String path : paths)
        {
            for (final HttpMethod method : METHODS)
            {
                assertThat(Route.match(method, path)).as("%s %s", method, path)
                    .isEqualTo(RegexRoutes.match(method, path));
            }
        }
    }

    @Test
    void shouldAnswerAsTheRegexTableOnRandomPaths()
    {
        final long seed = Long.getLong("route.seed", System.nanoTime());
        LOG.info(() -> "route seed " + seed + " (-Droute.seed=" + seed + " replays)");
        final SplittableRandom random = new SplittableRandom(seed);
        final List<String> segments = List.of("", "vmms", "state", "force-terminate", "health", "metrics", ID,
            ID.toUpperCase(java.util.Locale.ROOT), ID.substring(2), "x", "%41", " ", "\n", "\u00e9", "vmms ", "stat");
        for (int i = 0; i < 20_000; i++)
        {
            final StringBuilder path = new StringBuilder();
            final int count = random.nextInt(5);
            for (int s = 0; s < count; s++)
            {
                if (s > 0 || random.nextInt(10) > 0)
                {
                    path.append('/');
                }
                path.append(segments.get(random.nextInt(segments.size())));
            }
            if (random.nextBoolean())
            {
                path.append('/');
            }
            final HttpMethod method = METHODS.get(random.nextInt(METHODS.size()));
            assertThat(Route.match(method, path.toString())).as("seed %d: %s %s", seed, method, path)
                .isEqualTo(RegexRoutes.match(method, path.toString()));
        }
    }

    /** The table as it was (one regex per route, in table order): the oracle for the split matcher. */
    private static final class RegexRoutes
    {
        private static final Pattern UUID_TEXT =
            Pattern.compile("[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}");
        private static final Pattern VMM = Pattern.compile("/vmms/([^/]+)/?");
        private static final Pattern VMM_STATE = Pattern.compile("/vmms/([^/]+)/state/?");
        private static final Pattern VMM_FORCE_TERMINATE = Pattern.compile("/vmms/([^/]+)/force-terminate/?");
        private static final Pattern VMMS = Pattern.compile("/vmms/?");
        private static final Pattern HEALTH = Pattern.compile("/health/?");
        private static final Pattern METRICS = Pattern.compile("/metrics/?");
        private static final List<Pattern> PATHS = List.of(VMM, VMM, VMM_STATE, VMM_STATE, VMM_FORCE_TERMINATE,
            VMMS, HEALTH, METRICS);

        static Route.Match match(final HttpMethod method, final String path)
        {
            assertThat(PATHS).hasSize(Route.values().length);
            List<HttpMethod> allowed = null;
            for (final Route route : Route.values())
            {
                final Matcher matcher = PATHS.get(route.ordinal()).matcher(path);
                if (!matcher.matches())
                {
                    continue;
                }
                if (!route.method.equals(method))
                {
                    if (allowed == null)
                    {
                        allowed = new ArrayList<>(2);
                    }
                    allowed.add(route.method);
                    continue;
                }
                if (matcher.groupCount() == 0)
                {
                    return new Route.Found(route, null);
                }
                final String raw = matcher.group(1);
                return UUID_TEXT.matcher(raw).matches() ? new Route.Found(route, UUID.fromString(raw))
                    : new Route.BadId(raw);
            }
            return allowed == null ? new Route.NotFound() : new Route.MethodNotAllowed(allowed);
        }
    }
}
