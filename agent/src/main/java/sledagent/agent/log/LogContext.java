package sledagent.agent.log;

import java.util.UUID;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The VMM a log record is about, passed as the record's parameter so that the JSON log carries
 * {@code propolis_id} and {@code gen} as fields (and the text log is unchanged).
 */
public record LogContext(UUID propolisId, long gen)
{
    /** Logs {@code message} about one VMM at one generation. */
    public static void log(final Logger logger, final Level level, final UUID propolisId, final long gen,
        final String message)
    {
        if (logger.isLoggable(level))
        {
            logger.log(level, message, new LogContext(propolisId, gen));
        }
    }
}
