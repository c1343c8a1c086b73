package sledagent.zones;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.lang.System.Logger.Level;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.TimeUnit;

/**
 * Runs administrative commands ({@code zoneadm}, {@code zonecfg}, {@code unshare}) with a deadline each.
 *
 * <ul>
 *   <li>Environment: exactly the map given to the constructor (like omicron, which clears it), never the
 *       agent's own. {@code argv[0]} is looked up on that map's {@code PATH} by this class, because
 *       {@link ProcessBuilder} would search the <em>agent's</em> {@code PATH} instead.</li>
 *   <li>Output: stdout and stderr go, merged, to a temporary file, not a pipe, so a chatty or stuck command
 *       can never block on a full pipe and no reader thread is needed. At most {@link #MAX_OUTPUT_BYTES} are
 *       kept.</li>
 *   <li>Deadline: a command still running at its deadline is SIGKILLed with every descendant seen at that
 *       moment (so a stuck script's {@code sleep} does not linger), and the call fails with a
 *       {@link ZoneException} saying so.</li>
 * </ul>
 *
 * <p>Thread-safe and stateless apart from its settings; it holds no resources, so it needs no close.
 */
public final class CommandRunner
{
    /** Most bytes of a command's output that are kept for the {@link Result} and error messages. */
    public static final int MAX_OUTPUT_BYTES = 64 * 1024;
    /** {@code PATH} of {@link #systemDefault()}: where illumos and Linux keep their admin commands. */
    public static final String SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin";

    private static final System.Logger LOG = System.getLogger(CommandRunner.class.getName());
    /** How long a killed command may take to be reaped before we stop waiting for it. */
    private static final long REAP_BOUND_MS = 1000;
    private static final File DEV_NULL = new File("/dev/null");

    private final Map<String, String> environment;

    /**
     * @param environment the complete environment of every command; its {@code PATH} is where commands are found.
     */
    public CommandRunner(final Map<String, String> environment)
    {
        this.environment = Map.copyOf(environment);
    }

    /** A runner with {@code PATH=}{@link #SYSTEM_PATH} and {@code LC_ALL=C} (stable, parseable output). */
    public static CommandRunner systemDefault()
    {
        return new CommandRunner(Map.of("PATH", SYSTEM_PATH, "LC_ALL", "C"));
    }

    /** The environment every command gets. */
    public Map<String, String> environment()
    {
        return environment;
    }

    /** The outcome of a command that finished before its deadline. */
    public record Result(List<String> argv, int exitCode, String output, long tookMs)
    {
        /** True if the command exited with status 0. */
        public boolean ok()
        {
            return exitCode == 0;
        }

        /** The command line, for messages. */
        public String commandLine()
        {
            return String.join(" ", argv);
        }
    }

    /**
     * Runs {@code argv} and waits at most {@code deadline} for it.
     *
     * @return the result, whatever the exit status.
     * @throws ZoneException if the command cannot be found or started, or did not finish by its deadline (it is
     *                       killed then), or the calling thread was interrupted (the command is killed and the
     *                       interrupt flag kept).
     */
    public Result run(final List<String> argv, final Duration deadline)
    {
        final Path output = tempOutput(argv);
        try
        {
            final long startNs = System.nanoTime();
            final Process process = start(argv, ProcessBuilder.Redirect.to(output.toFile()));
            final boolean finished;
            try
            {
                finished = process.waitFor(Math.max(0, deadline.toNanos()), TimeUnit.NANOSECONDS);
            }
            catch (final InterruptedException ex)
            {
                killTree(process);
                Thread.currentThread().interrupt();
                throw new ZoneException(String.join(" ", argv) + ": interrupted; killed it", ex);
            }
            final long tookMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startNs);
            if (!finished)
            {
                killTree(process);
                throw new ZoneException(String.join(" ", argv) + ": did not finish within " + deadline.toMillis() +
                    " ms; killed it. Output: " + readOutput(output).strip());
            }
            return new Result(List.copyOf(argv), process.exitValue(), readOutput(output), tookMs);
        }
        finally
        {
            deleteQuietly(output);
        }
    }

    /**
     * Runs {@code argv} like {@link #run} and insists on exit status 0.
     *
     * @throws ZoneException as {@link #run} does, and also for a non-zero exit (with the command's output).
     */
    public Result runChecked(final List<String> argv, final Duration deadline)
    {
        final Result result = run(argv, deadline);
        if (!result.ok())
        {
            throw new ZoneException(result.commandLine() + ": exit " + result.exitCode() + ": " +
                result.output().strip());
        }
        return result;
    }

    /**
     * Starts a long-lived command (no deadline: the caller owns the process), stdin from /dev/null and stdout
     * and stderr merged into {@code output}.
     *
     * @throws ZoneException if the command cannot be found or started.
     */
    public Process start(final List<String> argv, final ProcessBuilder.Redirect output)
    {
        Objects.requireNonNull(output, "output");
        if (argv.isEmpty())
        {
            throw new ZoneException("empty command line");
        }
        final List<String> command = new ArrayList<>(argv);
        command.set(0, resolve(argv.get(0)).toString());
        final ProcessBuilder builder = new ProcessBuilder(command)
            .redirectInput(ProcessBuilder.Redirect.from(DEV_NULL))
            .redirectOutput(output)
            .redirectErrorStream(true);
        builder.environment().clear();
        builder.environment().putAll(environment);
        try
        {
            return builder.start();
        }
        catch (final IOException ex)
        {
            throw new ZoneException("cannot start " + String.join(" ", argv), ex);
        }
    }

    /**
     * Where {@code program} is: itself if it contains a {@code /}, else the first executable of that name on
     * this runner's {@code PATH}.
     *
     * @throws ZoneException if there is none.
     */
    public Path resolve(final String program)
    {
        if (program.contains("/"))
        {
            return Path.of(program);
        }
        final String path = environment.getOrDefault("PATH", "");
        for (final String dir : path.split(":"))
        {
            if (dir.isEmpty())
            {
                continue; // An empty entry would mean the agent's working directory: never search it.
            }
            final Path candidate = Path.of(dir, program);
            if (Files.isRegularFile(candidate) && Files.isExecutable(candidate))
            {
                return candidate;
            }
        }
        throw new ZoneException(program + ": not found on PATH=" + path);
    }

    /**
     * SIGKILLs the command and every descendant seen now: descendants first are snapshotted, then the command
     * dies (so it cannot start more), then the snapshot. A {@link ProcessHandle} checks the start time, so a
     * descendant that exited meanwhile and whose pid was reused is not hit.
     */
    private static void killTree(final Process process)
    {
        final List<ProcessHandle> descendants = new ArrayList<>();
        process.descendants().forEach(descendants::add);
        process.destroyForcibly();
        descendants.forEach(ProcessHandle::destroyForcibly);
        try
        {
            if (!process.waitFor(REAP_BOUND_MS, TimeUnit.MILLISECONDS))
            {
                LOG.log(Level.WARNING, "pid {0} still not reaped {1} ms after SIGKILL", process.pid(), REAP_BOUND_MS);
            }
        }
        catch (final InterruptedException ex)
        {
            Thread.currentThread().interrupt();
        }
    }

    private static Path tempOutput(final List<String> argv)
    {
        try
        {
            return Files.createTempFile("zone-cmd-", ".out");
        }
        catch (final IOException ex)
        {
            throw new ZoneException(String.join(" ", argv) + ": cannot create a file for its output", ex);
        }
    }

    private static String readOutput(final Path output)
    {
        try (InputStream in = Files.newInputStream(output))
        {
            return new String(in.readNBytes(MAX_OUTPUT_BYTES), StandardCharsets.UTF_8);
        }
        catch (final IOException ex)
        {
            return "(output unreadable: " + ex.getMessage() + ")";
        }
    }

    private static void deleteQuietly(final Path file)
    {
        try
        {
            Files.deleteIfExists(file);
        }
        catch (final IOException ex)
        {
            LOG.log(Level.DEBUG, "cannot delete {0}: {1}", file, ex.getMessage());
        }
    }

    @Override
    public String toString()
    {
        return "CommandRunner[PATH=" + environment.get("PATH") + "]";
    }
}
