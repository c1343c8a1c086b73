package sledagent.hypervisor.sim;

import static org.awaitility.Awaitility.await;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * A propolis-sim started as a real process with {@link PropolisSimLauncher#command}, on a port the sim picks itself
 * (port 0, read back from its first line, so no two tests race for a "free" port). {@link #close()} kills the sim
 * and every descendant ever seen, the helper included, even after the sim itself has died.
 */
final class SimProcess implements AutoCloseable
{
    private static final Pattern READY = Pattern.compile("propolis-sim listening on (\\S+) pid (\\d+)");
    private static final long START_TIMEOUT_S = 20;

    private final Process process;
    private final String addr;
    private final Path log;
    private final Set<ProcessHandle> seen = new LinkedHashSet<>();

    private SimProcess(final Process process, final String addr, final Path log)
    {
        this.process = process;
        this.addr = addr;
        this.log = log;
        recordDescendants();
    }

    /**
     * @param listen {@code 127.0.0.1:0} or {@code [::1]:0}
     * @param stepMs delay between simulated transitions
     * @param extraArgs appended to the launcher's command, e.g. {@code --fault fail_start}
     * @return the running sim, listening
     */
    static SimProcess start(final String listen, final long stepMs, final String... extraArgs) throws IOException
    {
        final Path log = Files.createTempFile("propolis-sim-", ".log");
        final List<String> command = new java.util.ArrayList<>(PropolisSimLauncher.command(listen, stepMs));
        command.addAll(List.of(extraArgs));
        final Process process = new ProcessBuilder(command)
            .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
            .redirectError(log.toFile())
            .start();
        try
        {
            final Matcher ready = readyLine(process);
            if (Long.parseLong(ready.group(2)) != process.pid())
            {
                throw new IOException("propolis-sim reported pid " + ready.group(2) + ", not " + process.pid());
            }
            return new SimProcess(process, ready.group(1), log);
        }
        catch (final IOException | RuntimeException e)
        {
            final Set<ProcessHandle> tree = process.descendants().collect(Collectors.toSet());
            tree.forEach(ProcessHandle::destroyForcibly);
            process.destroyForcibly();
            throw new IOException(e.getMessage() + "; stderr:\n" + Files.readString(log), e);
        }
    }

    /** Where it listens: {@code ip:port} or {@code [v6]:port}. */
    String addr()
    {
        return addr;
    }

    Process process()
    {
        return process;
    }

    /** The sim's child processes, as seen now and before. */
    List<ProcessHandle> helpers()
    {
        recordDescendants();
        return List.copyOf(seen);
    }

    /** What the sim wrote to stderr so far. */
    String stderr() throws IOException
    {
        return Files.readString(log);
    }

    /**
     * Kills every descendant ever seen, then the sim, and waits (bounded) until all are dead. Helpers go first:
     * while the sim lives it reaps them at once, whereas an orphan waits for PID 1, which on these machines reaps
     * late; so a helper counts as dead once it is a zombie.
     */
    @Override
    public void close() throws IOException
    {
        recordDescendants();
        for (final ProcessHandle helper : seen)
        {
            helper.destroyForcibly();
        }
        await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(5))
            .until(() -> seen.stream().allMatch(SimProcess::isDead));
        process.destroyForcibly();
        await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(5)).until(() -> !process.isAlive());
        Files.deleteIfExists(log);
    }

    /** Not alive, or a zombie: it has exited and only waits to be reaped. */
    static boolean isDead(final ProcessHandle handle)
    {
        if (!handle.isAlive())
        {
            return true;
        }
        try
        {
            final String stat = Files.readString(Path.of("/proc", Long.toString(handle.pid()), "stat"));
            // pid (comm) STATE ...; comm may contain spaces and parentheses, so read after the last ')'.
            return stat.substring(stat.lastIndexOf(')') + 2).startsWith("Z");
        }
        catch (final IOException | RuntimeException gone)
        {
            return true;
        }
    }

    private void recordDescendants()
    {
        if (process.isAlive())
        {
            process.descendants().forEach(seen::add);
        }
    }

    /** Reads stdout until the ready line; anything before it (a JVM notice) is skipped. */
    private static Matcher readyLine(final Process process) throws IOException
    {
        final BufferedReader stdout = new BufferedReader(
            new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
        final CompletableFuture<Matcher> ready = CompletableFuture.supplyAsync(() ->
        {
            try
            {
                for (String line = stdout.readLine(); line != null; line = stdout.readLine())
                {
                    final Matcher matcher = READY.matcher(line);
                    if (matcher.matches())
                    {
                        return matcher;
                    }
                }
                throw new IllegalStateException("propolis-sim closed stdout without reporting ready");
            }
            catch (final IOException e)
            {
                throw new IllegalStateException(e);
            }
        });
        try
        {
            return ready.get(START_TIMEOUT_S, TimeUnit.SECONDS);
        }
        catch (final Exception e)
        {
            throw new IOException("propolis-sim did not report ready within " + START_TIMEOUT_S + " s", e);
        }
    }
}
