package sledagent.api.validate;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * The request bodies the agent accepts, each checked against every constraint its v48 schema states (required
 * fields, types, nullability, integer formats and bounds, string lengths, patterns and formats, enums, array sizes
 * and uniqueness, unknown fields where the schema denies them) and the agent's own bounds
 * ({@link RequestSchemas#AGENT_BOUNDS}). Check the parsed tree before binding it: a record would silently turn a
 * missing number into 0 and cannot hold a uint64 above {@link Long#MAX_VALUE}.
 */
public enum RequestBody
{
    /** {@code PUT /vmms/{propolis_id}}. */
    INSTANCE_ENSURE("InstanceEnsureBody"),
    /** {@code PUT /vmms/{propolis_id}/state}. */
    VMM_PUT_STATE("VmmPutStateBody");

    private final String schemaName;

    RequestBody(final String schemaName)
    {
        this.schemaName = schemaName;
    }

    /** The v48 schema's name. */
    public String schemaName()
    {
        return schemaName;
    }

    /** Throws, naming the first offending value by its JSON path, unless {@code body} is valid. */
    public void check(final JsonNode body) throws InvalidBodyException
    {
        Holder.VALIDATOR.check(schemaName, body);
    }

    /** Loads and checks the schemas now (the agent calls this at start, so a broken resource stops it there). */
    public static void load()
    {
        Holder.VALIDATOR.hashCode();
    }

    /** Loaded on first use. */
    private static final class Holder
    {
        static final SchemaValidator VALIDATOR = new SchemaValidator(RequestSchemas.withAgentBounds());
    }
}
