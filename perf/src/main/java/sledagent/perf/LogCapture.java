package sledagent.perf;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.logging.ConsoleHandler;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.logging.SimpleFormatter;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Keeps the agent's log records (INFO and up) in memory with their timestamps instead of printing them, so that
 * the run is not slowed by console output and each stop can be split into phases from the agent's own lines
 * (e.g. {@code "zone ... torn down in N us"}). WARNING and up are still printed to stderr.
 */
final class LogCapture extends Handler
{
    private static final int MAX_LINES = 500_000;
    private static final Pattern TORN_DOWN = Pattern.compile("torn down in (\\d+) us");

    /** One captured line. */
    record Line(Instant at, String logger, Level level, String message)
    {
    }

    private final ConcurrentLinkedQueue<Line> lines = new ConcurrentLinkedQueue<>();
    private final AtomicInteger count = new AtomicInteger();
    private final SimpleFormatter formatter = new SimpleFormatter();

    /** When {@link #tornDown} found the teardown line of a VMM: its time and the duration it reports. */
    record Teardown(Instant loggedAt, long tookMicros)
    {
        /** When the teardown began (it logs when it ends). */
        Instant startedAt()
        {
            return loggedAt.minusNanos(tookMicros * 1000);
        }
    }

    /** Routes the root logger to a new capture (INFO) and stderr (WARNING). */
    static LogCapture install()
    {
        final Logger root = Logger.getLogger("");
        for (final Handler handler : root.getHandlers())
        {
            root.removeHandler(handler);
        }
        final LogCapture capture = new LogCapture();
        capture.setLevel(Level.INFO);
        root.addHandler(capture);
        final ConsoleHandler console = new ConsoleHandler();
        console.setLevel(Level.WARNING);
        root.addHandler(console);
        root.setLevel(Level.INFO);
        return capture;
    }

    @Override
    public void publish(final LogRecord record)
    {
        if (!isLoggable(record) || count.incrementAndGet() > MAX_LINES)
        {
            return;
        }
        lines.add(new Line(record.getInstant(), record.getLoggerName(), record.getLevel(),
            formatter.formatMessage(record)));
    }

    /** The teardown line of {@code propolisId}, if the agent logged one. */
    Optional<Teardown> tornDown(final String propolisId)
    {
        for (final Line line : lines)
        {
            if (line.message().contains(propolisId))
            {
                final Matcher matcher = TORN_DOWN.matcher(line.message());
                if (matcher.find())
                {
                    return Optional.of(new Teardown(line.at(), Long.parseLong(matcher.group(1))));
                }
            }
        }
        return Optional.empty();
    }

    /** Writes every captured line to {@code file}. */
    void write(final Path file) throws IOException
    {
        final List<String> text = new ArrayList<>();
        for (final Line line : lines)
        {
            final String logger = line.logger() == null ? "" : line.logger();
            text.add(line.at() + " " + line.level() + " " + logger.substring(logger.lastIndexOf('.') + 1) + ": "
                + line.message());
        }
        Files.createDirectories(file.toAbsolutePath().getParent());
        Files.write(file, text);
    }

    @Override
    public void flush()
    {
    }

    @Override
    public void close()
    {
    }
}
