package sledagent.api.propolis;

import java.util.Objects;

/** Propolis v5 {@code InstanceGetResponse} ({@code GET /instance}). */
public record InstanceGetResponse(Instance instance)
{
    public InstanceGetResponse
    {
        Objects.requireNonNull(instance, "instance");
    }

    /** Propolis v5 {@code Instance}. */
    public record Instance(InstanceProperties properties, PropolisInstanceState state)
    {
        public Instance
        {
            Objects.requireNonNull(properties, "properties");
            Objects.requireNonNull(state, "state");
        }
    }
}
