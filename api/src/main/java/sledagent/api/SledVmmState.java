package sledagent.api;

import com.fasterxml.jackson.annotation.JsonInclude;
import java.util.Objects;

/**
 * sled-agent v48 and nexus-internal 1.0.0 {@code SledVmmState}: everything the sled knows about one VMM.
 * Both migration sides are always written, as {@code null} when absent, the way omicron writes them.
 */
public record SledVmmState(
    VmmRuntimeState vmmState,
    @JsonInclude(JsonInclude.Include.ALWAYS) MigrationRuntimeState migrationIn,
    @JsonInclude(JsonInclude.Include.ALWAYS) MigrationRuntimeState migrationOut)
{
    public SledVmmState
    {
        Objects.requireNonNull(vmmState, "vmm_state");
    }
}
