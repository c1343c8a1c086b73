package sledagent.api.propolis;

import java.util.Objects;

/** Propolis v5 {@code InstanceEnsureRequest}: the body of {@code PUT /instance}. */
public record InstanceEnsureRequest(InstanceProperties properties, InstanceInitializationMethod init)
{
    public InstanceEnsureRequest
    {
        Objects.requireNonNull(properties, "properties");
        Objects.requireNonNull(init, "init");
    }
}
