package sledagent.api;

import com.fasterxml.jackson.annotation.JsonInclude;

/** sled-agent v48 {@code VmmPutStateResponse}; {@code null} means the state did not change (yet). */
public record VmmPutStateResponse(@JsonInclude(JsonInclude.Include.ALWAYS) SledVmmState updatedRuntime)
{
}
