package sledagent.api.propolis;

import com.fasterxml.jackson.annotation.JsonSubTypes;
import com.fasterxml.jackson.annotation.JsonTypeInfo;
import com.fasterxml.jackson.annotation.JsonTypeName;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Map;
import java.util.Objects;
import java.util.UUID;

/**
 * Propolis v5 {@code InstanceInitializationMethod}, adjacently tagged by {@code method}:
 * {@code {"method":"Spec","value":{"spec":...}}} or
 * {@code {"method":"MigrationTarget","value":{"migration_id","replace_components","src_addr"}}}.
 */
@JsonTypeInfo(use = JsonTypeInfo.Id.NAME, include = JsonTypeInfo.As.PROPERTY, property = "method")
@JsonSubTypes({
    @JsonSubTypes.Type(InstanceInitializationMethod.Spec.class),
    @JsonSubTypes.Type(InstanceInitializationMethod.MigrationTarget.class),
})
public sealed interface InstanceInitializationMethod
{
    /** Create the VM from an instance spec (kept as the JSON tree Nexus sent). */
    @JsonTypeName("Spec")
    record Spec(SpecValue value) implements InstanceInitializationMethod
    {
        public Spec
        {
            Objects.requireNonNull(value, "value");
        }

        public static Spec of(final ObjectNode spec)
        {
            return new Spec(new SpecValue(spec));
        }
    }

    /** {@code value} of {@link Spec}. */
    record SpecValue(ObjectNode spec)
    {
        public SpecValue
        {
            Objects.requireNonNull(spec, "spec");
        }
    }

    /** Create the VM by pulling it from the Propolis at {@code src_addr}. */
    @JsonTypeName("MigrationTarget")
    record MigrationTarget(MigrationTargetValue value) implements InstanceInitializationMethod
    {
        public MigrationTarget
        {
            Objects.requireNonNull(value, "value");
        }
    }

    /** {@code value} of {@link MigrationTarget}. */
    record MigrationTargetValue(UUID migrationId, Map<String, ObjectNode> replaceComponents, String srcAddr)
    {
        public MigrationTargetValue
        {
            Objects.requireNonNull(migrationId, "migration_id");
            Objects.requireNonNull(srcAddr, "src_addr");
            replaceComponents = replaceComponents == null ? Map.of() : Map.copyOf(replaceComponents);
        }
    }
}
