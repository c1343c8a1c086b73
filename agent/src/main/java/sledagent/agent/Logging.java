package sledagent.agent;

import java.time.Instant;
import java.util.logging.ConsoleHandler;
import java.util.logging.Formatter;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

/** One log line per record on stderr: time, level, logger, message. */
final class Logging
{
    private Logging()
    {
    }

    static void configure(final Level level)
    {
        final Logger root = Logger.getLogger("");
        for (final var handler : root.getHandlers())
        {
            root.removeHandler(handler);
        }
        final ConsoleHandler handler = new ConsoleHandler();
        handler.setLevel(level);
        handler.setFormatter(new Formatter()
        {
            @Override
            public String format(final LogRecord record)
            {
                final String name = record.getLoggerName() == null ? "" : record.getLoggerName();
                final String shortName = name.substring(name.lastIndexOf('.') + 1);
                final StringBuilder line = new StringBuilder(128)
                    .append(Instant.ofEpochMilli(record.getMillis())).append(' ')
                    .append(record.getLevel().getName()).append(' ')
                    .append(shortName).append(": ")
                    .append(formatMessage(record)).append('\n');
                if (record.getThrown() != null)
                {
                    final java.io.StringWriter trace = new java.io.StringWriter();
                    record.getThrown().printStackTrace(new java.io.PrintWriter(trace));
                    line.append(trace);
                }
                return line.toString();
            }
        });
        root.addHandler(handler);
        root.setLevel(level);
    }
}
