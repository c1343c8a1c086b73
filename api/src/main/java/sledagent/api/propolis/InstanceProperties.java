package sledagent.api.propolis;

import java.util.Objects;
import java.util.UUID;

/** Propolis v5 {@code InstanceProperties}. */
public record InstanceProperties(UUID id, String name, String description, InstanceMetadata metadata)
{
    public InstanceProperties
    {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(description, "description");
        Objects.requireNonNull(metadata, "metadata");
    }
}
