package sledagent.api.propolis;

import java.util.Objects;

/** Propolis v5 {@code InstanceStateMonitorResponse}. {@code gen} is Propolis's own, unrelated to the VMM gen. */
public record InstanceStateMonitorResponse(long gen, PropolisInstanceState state,
    InstanceMigrateStatusResponse migration)
{
    public InstanceStateMonitorResponse
    {
        Objects.requireNonNull(state, "state");
        Objects.requireNonNull(migration, "migration");
    }
}
