package sledagent.zones.linux;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import sledagent.zones.VmmEnvironment;
import sledagent.zones.ZoneException;

/**
 * Starts a zone's main process with {@link ProcessBuilder} through a tiny shell prologue:
 *
 * <pre>
 * /bin/sh -c 'p=$1; shift; echo $$ &gt; "$p" &amp;&amp; exec setsid unshare --pid --fork --kill-child -- "$@"' \
 *     sh &lt;cgroup&gt;/cgroup.procs &lt;argv...&gt;
 * </pre>
 *
 * <ul>
 *   <li>The shell moves itself into the zone's cgroup before anything can fork, so no descendant escapes
 *       {@code cgroup.kill}. If the move fails nothing is exec'd and the shell's error lands in the log.</li>
 *   <li>{@code setsid}: its own session, so no terminal or process-group signal aimed at the agent reaches
 *       it. (It does not fork: a {@code ProcessBuilder} child is never a process-group leader.)</li>
 *   <li>{@code unshare --pid --fork}: argv runs as PID 1 of a new PID namespace, so its death takes the whole
 *       namespace down; {@code --kill-child} SIGKILLs it if {@code unshare} dies. {@code unshare} keeps the
 *       pid the agent sees and exits when the namespace's init does.</li>
 *   <li>The cgroup path is passed as an argument, never spliced into the script, so no quoting is needed.</li>
 * </ul>
 *
 * <p>stdin is {@code /dev/null} and stdout and stderr are appended to the log file, so the agent holds no
 * pipe and the process keeps running (and writing) if the agent goes away.
 */
final class ZoneLauncher
{
    /** The prologue run by {@code /bin/sh -c}; {@code $1} is the {@code cgroup.procs} path. */
    static final String PROLOGUE =
        "p=$1; shift; echo $$ > \"$p\" && exec setsid unshare --pid --fork --kill-child -- \"$@\"";

    private static final File DEV_NULL = new File("/dev/null");

    private ZoneLauncher()
    {
    }

    /** The full command line that starts {@code argv} inside the cgroup {@code zoneDir}. */
    static List<String> command(final Path zoneDir, final List<String> argv)
    {
        final List<String> command = new ArrayList<>(argv.size() + 5);
        command.add("/bin/sh");
        command.add("-c");
        command.add(PROLOGUE);
        command.add("sh");
        command.add(zoneDir.resolve("cgroup.procs").toString());
        command.addAll(argv);
        return command;
    }

    /**
     * Starts {@code argv} in the cgroup {@code zoneDir}; the log file's parent directories are created.
     *
     * @throws ZoneException if argv is empty, or the log or the process cannot be set up.
     */
    static Process start(final Path zoneDir, final List<String> argv, final Path logFile)
    {
        if (argv.isEmpty())
        {
            throw new ZoneException("spawn in " + zoneDir + ": empty argv");
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
        final ProcessBuilder builder = new ProcessBuilder(command(zoneDir, argv))
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
            throw new ZoneException("cannot start " + argv.get(0) + " in " + zoneDir, ex);
        }
    }
}
