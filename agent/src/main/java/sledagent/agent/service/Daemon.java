package sledagent.agent.service;

import java.util.concurrent.CountDownLatch;
import java.util.logging.Logger;
import sledagent.agent.config.AgentConfig;
import sledagent.agent.config.Version;
import sledagent.agent.core.SledAgent;

/**
 * {@code serve} as a service: start the agent, tell the service manager it is ready, wait for SIGTERM (or
 * SIGINT), then stop accepting, let requests in flight finish and queued states go out (each bounded), say
 * STOPPING, and return 0. VMMs are left running: a restarted agent re-adopts them.
 */
public final class Daemon
{
    private static final Logger LOG = Logger.getLogger(Daemon.class.getName());

    private Daemon()
    {
    }

    /** Runs until SIGTERM or SIGINT; returns the exit status. */
    public static int run(final AgentConfig config) throws Exception
    {
        final CountDownLatch stop = new CountDownLatch(1);
        // Our own handlers (not shutdown hooks): a clean stop exits 0, not 143.
        SignalHandlers.onTermination(stop::countDown);
        try (SystemdNotifier notifier = SystemdNotifier.fromEnvironment(System.getenv()))
        {
            final SledAgent agent = SledAgent.launch(config);
            try
            {
                notifier.ready(agent.timer());
                LOG.info(() -> "sled-agent " + Version.text() + " ready" + (notifier.enabled()
                    ? " (told systemd)" : ""));
                stop.await();
                LOG.info("stopping: no new requests; VMMs keep running");
                notifier.stopping();
            }
            finally
            {
                agent.close();
            }
        }
        LOG.info("stopped");
        return 0;
    }
}
