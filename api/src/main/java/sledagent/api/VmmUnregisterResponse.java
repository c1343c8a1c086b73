package sledagent.api;

import com.fasterxml.jackson.annotation.JsonInclude;

/** sled-agent v48 {@code VmmUnregisterResponse}; {@code null} means the VMM was not registered here. */
public record VmmUnregisterResponse(@JsonInclude(JsonInclude.Include.ALWAYS) SledVmmState updatedRuntime)
{
}
