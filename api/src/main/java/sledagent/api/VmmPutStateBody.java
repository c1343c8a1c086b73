package sledagent.api;

import java.util.Objects;

/** sled-agent v48 {@code VmmPutStateBody}. */
public record VmmPutStateBody(VmmStateRequested state)
{
    public VmmPutStateBody
    {
        Objects.requireNonNull(state, "state");
    }
}
