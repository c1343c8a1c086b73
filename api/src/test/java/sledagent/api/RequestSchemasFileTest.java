package sledagent.api;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.InputStream;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.TreeMap;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/**
 * The validator's schema resource ({@code sledagent/api/validate/sled-agent-48.0.0-request-schemas.json}) holds
 * exactly the schemas reachable from its roots in the verbatim v48 spec, each unchanged. If the spec file changes,
 * this fails and says which schema; regenerate the resource from the spec (the same closure).
 */
class RequestSchemasFileTest
{
    private static final String RESOURCE = "/sledagent/api/validate/sled-agent-48.0.0-request-schemas.json";

    @Test
    void resourceIsTheReachableClosureOfTheSpecUnchanged() throws Exception
    {
        final JsonNode resource;
        try (InputStream in = getClass().getResourceAsStream(RESOURCE))
        {
            resource = Json.mapper().readTree(in);
        }
        final JsonNode spec = Json.mapper().readTree(Specs.specsDir().resolve(Specs.SLED_AGENT_FILE).toFile());
        final JsonNode specSchemas = spec.at("/components/schemas");
        assertThat(resource.get("source").asText()).isEqualTo(Specs.SLED_AGENT_FILE);
        // The roots are the request bodies of the two PUTs the agent serves.
        assertThat(spec.at("/paths/~1vmms~1{propolis_id}/put/requestBody/content/application~1json/schema/$ref")
            .asText()).endsWith("/InstanceEnsureBody");
        assertThat(spec.at("/paths/~1vmms~1{propolis_id}~1state/put/requestBody/content/application~1json/schema/$ref")
            .asText()).endsWith("/VmmPutStateBody");

        final TreeSet<String> reachable = new TreeSet<>();
        final Deque<String> todo = new ArrayDeque<>();
        resource.get("roots").forEach(r -> todo.add(r.asText()));
        while (!todo.isEmpty())
        {
            final String name = todo.pop();
            if (reachable.add(name))
            {
                specSchemas.get(name).findValues("$ref").forEach(
                    ref -> todo.add(ref.asText().substring(ref.asText().lastIndexOf('/') + 1)));
            }
        }
        final TreeMap<String, JsonNode> held = new TreeMap<>();
        resource.get("schemas").fields().forEachRemaining(e -> held.put(e.getKey(), e.getValue()));
        assertThat(held.keySet()).containsExactlyElementsOf(reachable);
        for (final String name : reachable)
        {
            assertThat(held.get(name)).as(name).isEqualTo(specSchemas.get(name));
        }
    }
}
