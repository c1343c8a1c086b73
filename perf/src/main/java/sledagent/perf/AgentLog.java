package sledagent.perf;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.logging.FileHandler;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.Logger;
import java.util.logging.SimpleFormatter;

/** The agent's log (JUL) goes to a file, not the console, at {@code --agent-log} (default per scenario). */
final class AgentLog implements AutoCloseable
{
    private final Handler handler;

    private AgentLog(final Handler handler)
    {
        this.handler = handler;
    }

    static AgentLog configure(final LoadOptions options, final Path file, final Level defaultLevel) throws IOException
    {
        final Level level = Level.parse(options.string("agent-log", defaultLevel.getName()).toUpperCase(Locale.ROOT));
        Files.createDirectories(file.getParent());
        final Logger root = Logger.getLogger("");
        for (final Handler handler : root.getHandlers())
        {
            root.removeHandler(handler);
        }
        final FileHandler handler = new FileHandler(file.toString());
        handler.setFormatter(new SimpleFormatter());
        handler.setLevel(level);
        root.addHandler(handler);
        root.setLevel(level);
        return new AgentLog(handler);
    }

    @Override
    public void close()
    {
        handler.close();
    }
}
