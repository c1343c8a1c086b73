package sledagent.zones;

import java.util.List;
import java.util.Map;

/**
 * The environment a zone's main process gets: the agent's own, less the service manager's channel. systemd gives
 * the agent {@code NOTIFY_SOCKET}, {@code WATCHDOG_*} and {@code LISTEN_*}; a VMM that inherited them could
 * notify (or be taken) for the agent, or take its sockets. Every launcher applies this one filter.
 */
public final class VmmEnvironment
{
    /** The variables no zone's process may inherit. */
    public static final List<String> SERVICE_MANAGER_VARIABLES = List.of("NOTIFY_SOCKET", "WATCHDOG_USEC",
        "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES");

    private VmmEnvironment()
    {
    }

    /** Removes {@link #SERVICE_MANAGER_VARIABLES} from {@code environment} (a process builder's) in place. */
    public static void strip(final Map<String, String> environment)
    {
        environment.keySet().removeAll(SERVICE_MANAGER_VARIABLES);
    }
}
