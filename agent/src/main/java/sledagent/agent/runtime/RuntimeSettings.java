package sledagent.agent.runtime;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.UUID;
import java.util.function.Function;

/**
 * The knobs of the VMM runtime, each with its unit in its name.
 *
 * @param stateDir        where VMM logs (and, later, records) live
 * @param stopGraceMs     how long a stop may take before the zone is killed
 * @param startTimeoutMs  spawn to "Propolis answers, is ensured and told to Run"
 * @param callTimeoutMs   one Propolis call (not the monitor's long poll)
 * @param monitorPollMs   one state-monitor long poll; it is simply re-issued when it runs out
 * @param emptyBoundMs    how long a killed zone may take to empty before the teardown is retried
 * @param vmmCommand      the argv that starts a VMM serving at the given address
 * @param sledId          this sled's id, given to Propolis in its instance metadata
 * @param zoneOwner       the owner token each new zone is marked with (null: zones are not marked)
 */
public record RuntimeSettings(
    Path stateDir,
    long stopGraceMs,
    long startTimeoutMs,
    long callTimeoutMs,
    long monitorPollMs,
    long emptyBoundMs,
    Function<String, List<String>> vmmCommand,
    UUID sledId,
    String zoneOwner)
{
    public RuntimeSettings
    {
        Objects.requireNonNull(stateDir, "stateDir");
        Objects.requireNonNull(vmmCommand, "vmmCommand");
        Objects.requireNonNull(sledId, "sledId");
        positive(stopGraceMs, "stopGraceMs");
        positive(startTimeoutMs, "startTimeoutMs");
        positive(callTimeoutMs, "callTimeoutMs");
        positive(monitorPollMs, "monitorPollMs");
        positive(emptyBoundMs, "emptyBoundMs");
    }

    public Duration callTimeout()
    {
        return Duration.ofMillis(callTimeoutMs);
    }

    /** Where the VMM's stdout and stderr go. */
    public Path vmmLogFile(final String zoneName)
    {
        return stateDir.resolve("logs").resolve(zoneName + ".log");
    }

    private static void positive(final long value, final String name)
    {
        if (value <= 0)
        {
            throw new IllegalArgumentException(name + " must be > 0: " + value);
        }
    }
}
