package sledagent.api.propolis;

import com.fasterxml.jackson.annotation.JsonInclude;

/** Propolis v5 {@code InstanceMigrateStatusResponse}: the newest migration in each direction, or null. */
public record InstanceMigrateStatusResponse(
    @JsonInclude(JsonInclude.Include.ALWAYS) InstanceMigrationStatus migrationIn,
    @JsonInclude(JsonInclude.Include.ALWAYS) InstanceMigrationStatus migrationOut)
{
    public static final InstanceMigrateStatusResponse NONE = new InstanceMigrateStatusResponse(null, null);
}
