package sledagent.zones.pgroup;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import sledagent.zones.CommandRunner;
import sledagent.zones.VmmEnvironment;
import sledagent.zones.ZoneException;

/**
 * Starts a zone's main process in its own session and process group, and in a new PID namespace where that
 * is allowed:
 *
 * <pre>
 * setsid unshare --pid --fork --kill-child -- argv...     (PID namespace permitted)
 * setsid argv...                                          (otherwise)
 * </pre>
 *
 * <ul>
 *   <li>{@code setsid} does not fork (a {@link ProcessBuilder} child never leads a process group), so the pid
 *       the agent holds leads the new session and group: the group id is that pid.</li>
 *   <li>{@code unshare --pid --fork}: argv is PID 1 of a new namespace; when it dies the kernel kills
 *       everything else in the namespace, including processes that started a session of their own.
 *       {@code --kill-child} kills it when {@code unshare} dies.</li>
 *   <li>stdin is {@code /dev/null}, stdout and stderr are appended to the log: no pipe to the agent.</li>
 * </ul>
 */
final class SessionLauncher
{
    private static final File DEV_NULL = new File("/dev/null");
    private static final List<String> UNSHARE = List.of("unshare", "--pid", "--fork", "--kill-child", "--");
    private static final Duration PROBE_DEADLINE = Duration.ofSeconds(2);

    private SessionLauncher()
    {
    }

    /** The full command line for {@code argv}. */
    static List<String> command(final boolean pidNamespace, final List<String> argv)
    {
        final List<String> command = new ArrayList<>(argv.size() + 6);
        command.add("setsid");
        if (pidNamespace)
        {
            command.addAll(UNSHARE);
        }
        command.addAll(argv);
        return command;
    }

    /**
     * Starts {@code argv}; the log file's parent directories are created.
     *
     * @throws ZoneException if argv is empty, or the log or the process cannot be set up.
     */
    static Process start(final boolean pidNamespace, final List<String> argv, final Path logFile)
    {
        if (argv.isEmpty())
        {
            throw new ZoneException("spawn: empty argv");
        }
        final Path parent = logFile.toAbsolutePath().getParent();
        try
        {
            if (parent != null)
            {
                Files.createDirectories(parent);
            }
        }
        catch (final IOException ex)
        {
            throw new ZoneException("cannot create the log directory " + parent, ex);
        }
        final ProcessBuilder builder = new ProcessBuilder(command(pidNamespace, argv))
            .redirectInput(ProcessBuilder.Redirect.from(DEV_NULL))
            .redirectOutput(ProcessBuilder.Redirect.appendTo(logFile.toFile()))
            .redirectErrorStream(true);
        // The service manager's channel is the agent's alone: a VMM must not speak (or be taken) for it.
        VmmEnvironment.strip(builder.environment());
        try
        {
            return builder.start();
        }
        catch (final IOException ex)
        {
            throw new ZoneException("cannot start " + argv.get(0), ex);
        }
    }

    /**
     * Tries {@code unshare --pid --fork --kill-child -- true} (bounded by 2 s).
     *
     * @return empty if a PID namespace can be made here, else why not.
     */
    static Optional<String> pidNamespaceProblem()
    {
        final String path = System.getenv().getOrDefault("PATH", CommandRunner.SYSTEM_PATH);
        final CommandRunner runner = new CommandRunner(Map.of("PATH", path, "LC_ALL", "C"));
        final List<String> probe = new ArrayList<>(UNSHARE);
        probe.add("true");
        try
        {
            final CommandRunner.Result result = runner.run(probe, PROBE_DEADLINE);
            return result.ok() ? Optional.empty() :
                Optional.of(result.commandLine() + " exited " + result.exitCode() + ": " + result.output().strip());
        }
        catch (final ZoneException ex)
        {
            return Optional.of(ex.getMessage());
        }
    }
}
