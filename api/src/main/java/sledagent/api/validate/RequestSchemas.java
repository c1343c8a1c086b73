package sledagent.api.validate;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import sledagent.api.Json;

/**
 * The v48 request schemas the agent enforces: verbatim copies of every schema reachable from
 * {@code InstanceEnsureBody} and {@code VmmPutStateBody} in {@code sled-agent-48.0.0-808ec1.json} (the resource
 * beside this class; {@code RequestSchemasFileTest} checks it against the spec), plus the agent's own bounds in
 * {@link #AGENT_BOUNDS}, each laid over one schema and named in the messages it causes.
 */
final class RequestSchemas
{
    /** The resource: {@code {"source", "roots", "schemas": {name: schema}}}. */
    static final String RESOURCE = "sled-agent-48.0.0-request-schemas.json";

    /**
     * Where the agent is stricter than the spec, and why. A pointer into the schemas ({@code /Name/properties/x})
     * that no longer resolves fails the load, so spec drift cannot silently drop a bound.
     */
    static final List<AgentBound> AGENT_BOUNDS = List.of(
        new AgentBound("/Generation", "x-agent-maximum", Long.MAX_VALUE - 1,
            "the agent holds a generation in a signed 64-bit integer and must be able to add one to it"),
        new AgentBound("/InstanceEnsureBody/properties/propolis_addr", "x-agent-format", "socket-addr",
            "a Rust SocketAddr; the agent connects to it"),
        new AgentBound("/InstanceMigrationTargetParams/properties/src_propolis_addr", "x-agent-format",
            "socket-addr", "a Rust SocketAddr; Propolis connects to it"));

    private RequestSchemas()
    {
    }

    /** One bound the agent adds: {@code keyword: value} in the schema at {@code pointer}, for {@code reason}. */
    record AgentBound(String pointer, String keyword, Object value, String reason)
    {
    }

    /** The schemas exactly as the resource holds them (the spec's text), by name. */
    static Map<String, JsonNode> verbatim()
    {
        try (InputStream in = RequestSchemas.class.getResourceAsStream(RESOURCE))
        {
            if (in == null)
            {
                throw new IllegalStateException("resource " + RESOURCE + " is missing");
            }
            final JsonNode schemas = Json.mapper().readTree(in).get("schemas");
            final Map<String, JsonNode> byName = new LinkedHashMap<>();
            schemas.fields().forEachRemaining(e -> byName.put(e.getKey(), e.getValue()));
            return byName;
        }
        catch (final IOException e)
        {
            throw new UncheckedIOException("cannot read " + RESOURCE, e);
        }
    }

    /** The verbatim schemas with {@link #AGENT_BOUNDS} laid over them. */
    static Map<String, JsonNode> withAgentBounds()
    {
        final Map<String, JsonNode> schemas = verbatim();
        for (final AgentBound bound : AGENT_BOUNDS)
        {
            final String name = bound.pointer().substring(1).split("/", 2)[0];
            final String rest = bound.pointer().substring(1 + name.length());
            final JsonNode target = schemas.containsKey(name) ? schemas.get(name).at(rest) : null;
            if (!(target instanceof ObjectNode object))
            {
                throw new IllegalStateException("agent bound " + bound.pointer() + " names no schema");
            }
            object.set(bound.keyword(), Json.mapper().valueToTree(bound.value()));
            if (bound.keyword().equals("x-agent-maximum"))
            {
                object.put("x-agent-reason", bound.reason());
            }
        }
        return schemas;
    }
}
