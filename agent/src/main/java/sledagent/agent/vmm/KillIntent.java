package sledagent.agent.vmm;

import java.time.Instant;
import java.util.Objects;

/**
 * A request to end a VMM (stop, force-terminate, unregister) that was carried out although its record could not
 * be written. It is kept in the kill journal instead, so that a restarted agent folds it back into the record
 * ({@link Event.Recovered}) and never contradicts what Nexus was already told.
 *
 * @param kind           which request
 * @param stopDeadlineAt for a stop: when its grace runs out (wall clock); otherwise null
 */
public record KillIntent(Kind kind, Instant stopDeadlineAt)
{
    /** The three requests that end a VMM. */
    public enum Kind
    {
        STOP,
        FORCE_TERMINATE,
        UNREGISTER
    }

    public KillIntent
    {
        Objects.requireNonNull(kind, "kind");
    }

    /** The request event this intent stands for. */
    public Event event()
    {
        return switch (kind)
        {
            case STOP -> new Event.StopRequested();
            case FORCE_TERMINATE -> new Event.ForceTerminateRequested();
            case UNREGISTER -> new Event.UnregisterRequested();
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
