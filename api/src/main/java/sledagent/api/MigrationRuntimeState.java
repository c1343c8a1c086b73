package sledagent.api;

import java.time.Instant;
import java.util.Objects;
import java.util.UUID;

/** sled-agent v48 {@code MigrationRuntimeState}: one side of a migration as this sled sees it. */
public record MigrationRuntimeState(UUID migrationId, MigrationState state, long gen, Instant timeUpdated)
{
    public MigrationRuntimeState
    {
        Objects.requireNonNull(migrationId, "migration_id");
        Objects.requireNonNull(state, "state");
        Objects.requireNonNull(timeUpdated, "time_updated");
        if (gen < 0)
        {
            throw new IllegalArgumentException("gen must be >= 0: " + gen);
        }
    }
}
