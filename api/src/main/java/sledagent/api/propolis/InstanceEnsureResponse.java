package sledagent.api.propolis;

import com.fasterxml.jackson.annotation.JsonInclude;
import java.util.Objects;
import java.util.UUID;

/** Propolis v5 {@code InstanceEnsureResponse} (201 to {@code PUT /instance}). */
public record InstanceEnsureResponse(@JsonInclude(JsonInclude.Include.ALWAYS) MigrateInitiate migrate)
{
    /** Propolis v5 {@code InstanceMigrateInitiateResponse}. */
    public record MigrateInitiate(UUID migrationId)
    {
        public MigrateInitiate
        {
            Objects.requireNonNull(migrationId, "migration_id");
        }
    }
}
