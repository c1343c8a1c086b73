package sledagent.agent.log;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetAddress;
import java.time.Instant;
import java.util.logging.ConsoleHandler;
import java.util.logging.Formatter;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

/**
 * The agent's log on stderr: by default one bunyan JSON object per line ({@code v, level, name, hostname, pid,
 * time, msg}, plus {@code component}, and {@code propolis_id} and {@code gen} where a {@link LogContext} is
 * given, and {@code err} with the stack of a thrown exception); or one readable line per record.
 */
public final class Logging
{
    private static final JsonFactory JSON = new JsonFactory();

    private Logging()
    {
    }

    public static void configure(final Level level, final LogFormat format)
    {
        final Logger root = Logger.getLogger("");
        for (final var handler : root.getHandlers())
        {
            root.removeHandler(handler);
        }
        final ConsoleHandler handler = new ConsoleHandler();
        handler.setLevel(level);
        handler.setFormatter(format == LogFormat.JSON ? new BunyanFormatter() : new TextFormatter());
        root.addHandler(handler);
        root.setLevel(level);
    }

    /** Text, for people. */
    public static void configure(final Level level)
    {
        configure(level, LogFormat.TEXT);
    }

    /** bunyan's numeric levels. */
    static int bunyanLevel(final Level level)
    {
        final int value = level.intValue();
        if (value >= Level.SEVERE.intValue())
        {
            return 50;
        }
        if (value >= Level.WARNING.intValue())
        {
            return 40;
        }
        if (value >= Level.INFO.intValue())
        {
            return 30;
        }
        if (value >= Level.FINE.intValue())
        {
            return 20;
        }
        return 10;
    }

    private static String shortName(final LogRecord record)
    {
        final String name = record.getLoggerName() == null ? "" : record.getLoggerName();
        return name.substring(name.lastIndexOf('.') + 1);
    }

    private static LogContext context(final LogRecord record)
    {
        final Object[] parameters = record.getParameters();
        if (parameters != null)
        {
            for (final Object parameter : parameters)
            {
                if (parameter instanceof LogContext context)
                {
                    return context;
                }
            }
        }
        return null;
    }

    private static String stack(final Throwable thrown)
    {
        final StringWriter trace = new StringWriter();
        thrown.printStackTrace(new PrintWriter(trace));
        return trace.toString();
    }

    /** One bunyan record per line. */
    static final class BunyanFormatter extends Formatter
    {
        private final String hostname = hostname();
        private final long pid = ProcessHandle.current().pid();

        @Override
        public String format(final LogRecord record)
        {
            final StringWriter out = new StringWriter(256);
            try (JsonGenerator json = JSON.createGenerator(out))
            {
                json.writeStartObject();
                json.writeNumberField("v", 0);
                json.writeNumberField("level", bunyanLevel(record.getLevel()));
                json.writeStringField("name", "sled-agent");
                json.writeStringField("hostname", hostname);
                json.writeNumberField("pid", pid);
                json.writeStringField("time", Instant.ofEpochMilli(record.getMillis()).toString());
                json.writeStringField("component", shortName(record));
                final LogContext context = context(record);
                if (context != null)
                {
                    json.writeStringField("propolis_id", context.propolisId().toString());
                    json.writeNumberField("gen", context.gen());
                }
                json.writeStringField("msg", formatMessage(record));
                if (record.getThrown() != null)
                {
                    json.writeObjectFieldStart("err");
                    json.writeStringField("name", record.getThrown().getClass().getName());
                    json.writeStringField("message", String.valueOf(record.getThrown().getMessage()));
                    json.writeStringField("stack", stack(record.getThrown()));
                    json.writeEndObject();
                }
                json.writeEndObject();
            }
            catch (final IOException ex)
            {
                return "{\"v\":0,\"level\":50,\"name\":\"sled-agent\",\"msg\":\"unloggable record\"}\n";
            }
            return out.append('\n').toString();
        }

        private static String hostname()
        {
            try
            {
                return InetAddress.getLocalHost().getHostName();
            }
            catch (final IOException ex)
            {
                return "localhost";
            }
        }
    }

    /** One readable line per record. */
    static final class TextFormatter extends Formatter
    {
        @Override
        public String format(final LogRecord record)
        {
            final StringBuilder line = new StringBuilder(128)
                .append(Instant.ofEpochMilli(record.getMillis())).append(' ')
                .append(record.getLevel().getName()).append(' ')
                .append(shortName(record)).append(": ")
                .append(formatMessage(record)).append('\n');
            if (record.getThrown() != null)
            {
                line.append(stack(record.getThrown()));
            }
            return line.toString();
        }
    }
}
