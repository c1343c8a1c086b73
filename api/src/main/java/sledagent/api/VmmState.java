package sledagent.api;

import com.fasterxml.jackson.annotation.JsonProperty;

/** sled-agent v48 {@code VmmState}: the states a VMM is published in. */
public enum VmmState
{
    @JsonProperty("starting") STARTING,
    @JsonProperty("running") RUNNING,
    @JsonProperty("stopping") STOPPING,
    @JsonProperty("stopped") STOPPED,
    @JsonProperty("rebooting") REBOOTING,
    @JsonProperty("migrating") MIGRATING,
    @JsonProperty("failed") FAILED,
    @JsonProperty("destroyed") DESTROYED;

    /** Destroyed and failed are terminal: a VMM in one never changes state again. */
    public boolean isTerminal()
    {
        return this == FAILED || this == DESTROYED;
    }

    /** The JSON spelling, e.g. {@code "running"}. */
    public String wireName()
    {
        return name().toLowerCase(java.util.Locale.ROOT);
    }
}
