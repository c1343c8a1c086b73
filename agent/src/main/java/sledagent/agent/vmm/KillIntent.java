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
        if (request instanceof Event.StopRequested)
        {
            return new KillIntent(Kind.STOP, stopDeadlineAt);
        }
        if (request instanceof Event.ForceTerminateRequested)
        {
            return new KillIntent(Kind.FORCE_TERMINATE, null);
        }
        if (request instanceof Event.UnregisterRequested)
        {
            return new KillIntent(Kind.UNREGISTER, null);
        }
        return null;
    }
}
