package sledagent.api;

import com.fasterxml.jackson.annotation.JsonProperty;

/** sled-agent v48 / nexus-internal {@code MigrationState}. */
public enum MigrationState
{
    @JsonProperty("pending") PENDING,
    @JsonProperty("in_progress") IN_PROGRESS,
    @JsonProperty("failed") FAILED,
    @JsonProperty("completed") COMPLETED;

    public boolean isTerminal()
    {
        return this == FAILED || this == COMPLETED;
    }
}
