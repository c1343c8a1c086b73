package sledagent.api;

import java.time.Instant;
import java.util.Objects;

/** sled-agent v48 {@code VmmRuntimeState}: a published VMM state and its generation. */
public record VmmRuntimeState(VmmState state, long gen, Instant timeUpdated)
{
    public VmmRuntimeState
    {
        Objects.requireNonNull(state, "state");
        Objects.requireNonNull(timeUpdated, "time_updated");
        if (gen < 0)
        {
            throw new IllegalArgumentException("gen must be >= 0: " + gen);
        }
    }
}
