package sledagent.api.propolis;

import java.util.Objects;
import java.util.UUID;

/** Propolis v5 {@code InstanceMetadata}: every field required; {@code sled_revision} is a uint32. */
public record InstanceMetadata(UUID projectId, UUID siloId, UUID sledId, String sledModel, long sledRevision,
    String sledSerial)
{
    public InstanceMetadata
    {
        Objects.requireNonNull(projectId, "project_id");
        Objects.requireNonNull(siloId, "silo_id");
        Objects.requireNonNull(sledId, "sled_id");
        Objects.requireNonNull(sledModel, "sled_model");
        Objects.requireNonNull(sledSerial, "sled_serial");
        if (sledRevision < 0 || sledRevision > 0xFFFF_FFFFL)
        {
            throw new IllegalArgumentException("sled_revision must be a uint32: " + sledRevision);
        }
    }
}
