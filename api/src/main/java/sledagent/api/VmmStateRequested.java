package sledagent.api;

import com.fasterxml.jackson.annotation.JsonSubTypes;
import com.fasterxml.jackson.annotation.JsonTypeInfo;
import com.fasterxml.jackson.annotation.JsonTypeName;
import java.util.Objects;

/**
 * sled-agent v48 {@code VmmStateRequested}, adjacently tagged: {@code {"type":"running"}},
 * {@code {"type":"stopped"}}, {@code {"type":"reboot"}},
 * {@code {"type":"migration_target","value":{"src_propolis_addr":"ip:port"}}}.
 * The tag is a property and {@link MigrationTarget}'s one field is named {@code value}, which is exactly the
 * adjacent encoding.
 */
@JsonTypeInfo(use = JsonTypeInfo.Id.NAME, include = JsonTypeInfo.As.PROPERTY, property = "type")
@JsonSubTypes({
    @JsonSubTypes.Type(VmmStateRequested.Running.class),
    @JsonSubTypes.Type(VmmStateRequested.Stopped.class),
    @JsonSubTypes.Type(VmmStateRequested.Reboot.class),
    @JsonSubTypes.Type(VmmStateRequested.MigrationTarget.class),
})
public sealed interface VmmStateRequested
{
    /** Start the VMM if it is not already running. */
    @JsonTypeName("running")
    record Running() implements VmmStateRequested
    {
    }

    /** Stop the VMM. */
    @JsonTypeName("stopped")
    record Stopped() implements VmmStateRequested
    {
    }

    /** Reset the guest. */
    @JsonTypeName("reboot")
    record Reboot() implements VmmStateRequested
    {
    }

    /** Run by migrating in from the Propolis at {@code value.src_propolis_addr}. */
    @JsonTypeName("migration_target")
    record MigrationTarget(InstanceMigrationTargetParams value) implements VmmStateRequested
    {
        public MigrationTarget
        {
            Objects.requireNonNull(value, "value");
        }
    }

    /** sled-agent v48 {@code InstanceMigrationTargetParams}. */
    record InstanceMigrationTargetParams(String srcPropolisAddr)
    {
        public InstanceMigrationTargetParams
        {
            Objects.requireNonNull(srcPropolisAddr, "src_propolis_addr");
        }
    }
}
