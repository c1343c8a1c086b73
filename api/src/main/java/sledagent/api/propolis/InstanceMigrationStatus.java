package sledagent.api.propolis;

import java.util.Objects;
import java.util.UUID;

/** Propolis v5 {@code InstanceMigrationStatus}. */
public record InstanceMigrationStatus(UUID id, PropolisMigrationState state)
{
    public InstanceMigrationStatus
    {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(state, "state");
    }
}
