package sledagent.api;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Objects;
import java.util.UUID;

/**
 * sled-agent v48 {@code InstanceEnsureBody}, the register request. The parts the agent does not interpret
 * ({@code vmm_spec}, {@code local_config}, {@code metadata}) are kept as JSON trees, so nothing is lost
 * between what Nexus sent and what the agent hands to Propolis.
 */
public record InstanceEnsureBody(
    UUID instanceId,
    String propolisAddr,
    VmmRuntimeState vmmRuntime,
    ObjectNode vmmSpec,
    ObjectNode localConfig,
    ObjectNode metadata,
    UUID migrationId)
{
    public InstanceEnsureBody
    {
        Objects.requireNonNull(instanceId, "instance_id");
        Objects.requireNonNull(propolisAddr, "propolis_addr");
        Objects.requireNonNull(vmmRuntime, "vmm_runtime");
        Objects.requireNonNull(vmmSpec, "vmm_spec");
        Objects.requireNonNull(localConfig, "local_config");
        Objects.requireNonNull(metadata, "metadata");
    }

    /** {@code metadata.project_id}, as Propolis wants it in its instance properties. */
    public UUID projectId()
    {
        return uuidField(metadata, "project_id");
    }

    /** {@code metadata.silo_id}. */
    public UUID siloId()
    {
        return uuidField(metadata, "silo_id");
    }

    private static UUID uuidField(final JsonNode node, final String field)
    {
        final JsonNode value = node.get(field);
        if (value == null || !value.isTextual())
        {
            throw new IllegalArgumentException("metadata." + field + " must be a UUID string");
        }
        return UUID.fromString(value.asText());
    }
}
