package sledagent.hypervisor;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Map;

/**
 * Translates the instance spec Nexus sends in a sled-agent v48 register body into what a Propolis v5 server
 * accepts. The two specs agree on every component but one: v48's {@code nvme_disk} has {@code has_write_cache},
 * which v5 does not know and, with {@code additionalProperties: false}, refuses. v5 always reports a volatile
 * write cache, the safe value, so dropping the field loses only the "no cache" hint.
 */
public final class PropolisSpecs
{
    private PropolisSpecs()
    {
    }

    /** A copy of {@code v48Spec} that Propolis v5 accepts; the original is not changed. */
    public static ObjectNode toV5(final ObjectNode v48Spec)
    {
        final ObjectNode spec = v48Spec.deepCopy();
        final JsonNode components = spec.get("components");
        if (components instanceof ObjectNode componentMap)
        {
            for (final Map.Entry<String, JsonNode> entry : componentMap.properties())
            {
                final JsonNode component = entry.getValue();
                if ("nvme_disk".equals(component.path("type").asText())
                    && component.get("component") instanceof ObjectNode disk)
                {
                    disk.remove("has_write_cache");
                }
            }
        }
        return spec;
    }
}
