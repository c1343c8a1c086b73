package sledagent.agent.service;

import java.util.logging.Logger;
import sun.misc.Signal;

/**
 * Handles SIGTERM and SIGINT by running {@code onStop} instead of the JVM's default exit with 143/130, so that
 * the daemon can stop cleanly and exit 0. {@code sun.misc.Signal} is the JDK's supported-in-practice hook
 * (module jdk.unsupported); if it is missing the default behaviour remains and shutdown is still bounded.
 */
final class SignalHandlers
{
    private static final Logger LOG = Logger.getLogger(SignalHandlers.class.getName());

    private SignalHandlers()
    {
    }

    static void onTermination(final Runnable onStop)
    {
        for (final String name : new String[] {"TERM", "INT"})
        {
            try
            {
                Signal.handle(new Signal(name), signal -> onStop.run());
            }
            catch (final IllegalArgumentException | LinkageError ex)
            {
                LOG.warning(() -> "cannot handle SIG" + name + ": " + ex);
            }
        }
    }
}
