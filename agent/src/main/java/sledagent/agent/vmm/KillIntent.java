package sledagent.agent.vmm;

import java.time.Instant;
import java.util.Objects;

/**
 * An end of a VMM (a stop, force-terminate or unregister request, or the agent's own stop deadline) carried out
 * before, or although, its record was written. It is kept in the kill journal, so that a restarted agent folds it
 * back into the record ({@link Event.Recovered}) and never contradicts what Nexus was already told.
 *
 * @param kind           which request
 * @param stopDeadlineAt for a stop: when its grace runs out (wall clock); otherwise null
 */
public record KillIntent(Kind kind, Instant stopDeadlineAt)
{
    /** What ended the VMM. The journal stores the ordinal: new kinds go last. */
    public enum Kind
    {
        STOP,
        FORCE_TERMINATE,
        UNREGISTER,
        /** The stop's grace ran out (the agent's own deadline, not a request). */
        GRACE_EXPIRED
    }

    public KillIntent
    {
        Objects.requireNonNull(kind, "kind");
    }

    /** The event this intent stands for. */
    public Event event()
    {
        return switch (kind)
        {
            case STOP -> new Event.StopRequested();
            case FORCE_TERMINATE -> new Event.ForceTerminateRequested();
            case UNREGISTER -> new Event.UnregisterRequested();
            case GRACE_EXPIRED -> new Event.StopGraceExpired();
        };
    }

    /** The intent for {@code request}, or null if it is not a request that ends a VMM. */
    public static KillIntent of(final Event request, final Instant stopDeadlineAt)
    {
        return switch (request.kind())
        {
            case STOP_REQUESTED -> new KillIntent(Kind.STOP, stopDeadlineAt);
            case FORCE_TERMINATE_REQUESTED -> new KillIntent(Kind.FORCE_TERMINATE, null);
            case UNREGISTER_REQUESTED -> new KillIntent(Kind.UNREGISTER, null);
            case RUN_REQUESTED, REBOOT_REQUESTED, MIGRATION_TARGET_REQUESTED, VMM_STARTED, START_FAILED,
                PROPOLIS_OBSERVED, LAST_LOOK, PROPOLIS_LOST, PROCESS_EXITED, STOP_GRACE_EXPIRED, ZONE_TORN_DOWN,
                ZONE_TEARDOWN_FAILED, RECOVERED, FAULTED, PUBLISH_SETTLED -> null;
        };
    }
}
