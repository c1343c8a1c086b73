package sledagent.agent.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import sledagent.agent.demo.AgentHttpClient;

/**
 * The agent as a separate process ({@code java ... sledagent.agent.Main serve}), so that a test can SIGKILL or
 * SIGTERM it and start another on the same state dir and zone root. Its stdout and stderr go to a log file whose
 * tail is shown in failure messages. {@link #close()} SIGKILLs it if it still runs; zones and VMMs are the
 * caller's to remove ({@link AgentFixture#removeZones}).
 */
final class AgentProcess implements AutoCloseable
{
    /** How long a start may take until {@code GET /health} answers 200. */
    private static final Duration HEALTHY_WITHIN = Duration.ofSeconds(20);
    /** Java reports a process killed by signal N as exit status 128 + N. */
    static final int KILLED_BY_SIGKILL = 128 + 9;

    private static final HttpClient HEALTH_HTTP = HttpClient.newBuilder()
        .version(HttpClient.Version.HTTP_1_1)
        .connectTimeout(Duration.ofMillis(500))
        .build();

    private final Process process;
    private final Path log;
    private final URI base;
    final AgentHttpClient client;

    private AgentProcess(final Process process, final Path log, final URI base)
    {
        this.process = process;
        this.log = log;
        this.base = base;
        this.client = new AgentHttpClient(base, Duration.ofSeconds(10));
    }

    /**
     * Starts {@code sled-agent serve} and returns once {@code GET /health} answers 200 (at most about 20 s).
     *
     * @param stopGrace the {@code --stop-grace} value, e.g. {@code "3s"}
     * @param log       file that receives the process's stdout and stderr (appended)
     * @param extra     further {@code serve} flags ({@code --vmm sim} unless they hold {@code --vmm})
     */
    static AgentProcess start(final URI nexus, final Path stateDir, final Path zoneRoot, final String stopGrace,
        final Path log, final String... extra) throws Exception
    {
        // A free port can be taken by someone else between the probe and the agent's bind: try again then.
        for (int attempt = 1; ; attempt++)
        {
            final int port = freePort();
            final Process process = launch(port, nexus, stateDir, zoneRoot, stopGrace, log, extra);
            final AgentProcess agent = new AgentProcess(process, log, URI.create("http://127.0.0.1:" + port));
            try
            {
                agent.awaitHealthy();
                return agent;
            }
            catch (final AssertionError ex)
            {
                agent.close();
                if (attempt < 3 && agent.logTail().contains("BindException"))
                {
                    continue;
                }
                throw ex;
            }
        }
    }

    /**
     * Runs {@code sled-agent serve} expected to refuse to start; returns its exit status, waiting at most
     * {@code within} (then it is SIGKILLed and the test fails).
     */
    static int runToExit(final URI nexus, final Path stateDir, final Path zoneRoot, final Path log,
        final Duration within, final String... extra) throws Exception
    {
        final Process process = launch(freePort(), nexus, stateDir, zoneRoot, "60s", log, extra);
        try
        {
            assertThat(process.waitFor(within.toMillis(), TimeUnit.MILLISECONDS))
                .as("the agent exited within %s; log tail:\n%s", within, tail(log, 60)).isTrue();
            return process.exitValue();
        }
        finally
        {
            if (process.isAlive())
            {
                process.destroyForcibly();
                process.waitFor(10, TimeUnit.SECONDS);
            }
        }
    }

    private static Process launch(final int port, final URI nexus, final Path stateDir, final Path zoneRoot,
        final String stopGrace, final Path log, final String... extra) throws IOException
    {
        final List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.add("-Xmx256m");
        if (Runtime.version().feature() >= 24)
        {
            command.add("--sun-misc-unsafe-memory-access=allow");
            command.add("--enable-native-access=ALL-UNNAMED");
        }
        command.addAll(List.of("-cp", classPath(), "sledagent.agent.Main", "serve",
            "--listen", "127.0.0.1:" + port,
            "--nexus", nexus.toString(),
            "--state-dir", stateDir.toString(),
            "--zone-root", zoneRoot.toString(),
            "--zones", "cgroup",
            "--stop-grace", stopGrace));
        if (!List.of(extra).contains("--vmm"))
        {
            // serve's default VMM is qemu; these tests run the simulator unless one asks for qemu.
            command.addAll(List.of("--vmm", "sim"));
        }
        command.addAll(List.of(extra));
        Files.writeString(log, "=== " + String.join(" ", command.subList(0, 2)) + " ... " + String.join(" ",
            command.subList(command.indexOf("serve"), command.size())) + "\n", StandardCharsets.UTF_8,
            java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.APPEND);
        return new ProcessBuilder(command)
            .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
            .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
            .redirectErrorStream(true)
            .start();
    }

    private void awaitHealthy() throws InterruptedException
    {
        final long deadlineNs = System.nanoTime() + HEALTHY_WITHIN.toNanos();
        while (System.nanoTime() - deadlineNs < 0)
        {
            if (!process.isAlive())
            {
                throw new AssertionError("the agent exited with status " + process.exitValue()
                    + " before it was healthy; log tail:\n" + logTail());
            }
            try
            {
                final HttpResponse<Void> response = HEALTH_HTTP.send(HttpRequest.newBuilder(base.resolve("/health"))
                    .timeout(Duration.ofSeconds(1)).GET().build(), HttpResponse.BodyHandlers.discarding());
                if (response.statusCode() == 200)
                {
                    return;
                }
            }
            catch (final IOException ex)
            {
                // Not listening yet.
            }
            Thread.sleep(25);
        }
        throw new AssertionError("the agent was not healthy within " + HEALTHY_WITHIN.toSeconds() + " s; log tail:\n"
            + logTail());
    }

    /** The agent's base URL. */
    URI base()
    {
        return base;
    }

    long pid()
    {
        return process.pid();
    }

    boolean isAlive()
    {
        return process.isAlive();
    }

    /**
     * SIGKILL: the agent gets no chance to clean up. On Linux {@link Process#destroyForcibly()} sends SIGKILL;
     * the exit status (128 + 9) proves it.
     */
    void kill9() throws InterruptedException
    {
        process.destroyForcibly();
        assertThat(process.waitFor(10, TimeUnit.SECONDS)).as("agent gone after SIGKILL").isTrue();
        assertThat(process.exitValue()).as("the agent died of SIGKILL; log tail:\n%s", logTail())
            .isEqualTo(KILLED_BY_SIGKILL);
    }

    /** SIGTERM ({@link Process#destroy()} on Linux), waits for the exit and returns the exit status. */
    int terminate() throws InterruptedException
    {
        process.destroy();
        assertThat(process.waitFor(30, TimeUnit.SECONDS)).as("agent exited within 30 s of SIGTERM; log tail:\n%s",
            logTail()).isTrue();
        return process.exitValue();
    }

    /** The last lines of the agent's log, for failure messages. */
    String logTail()
    {
        return tail(log, 60);
    }

    static String tail(final Path file, final int lines)
    {
        try
        {
            final List<String> all = Files.readAllLines(file, StandardCharsets.UTF_8);
            return String.join("\n", all.subList(Math.max(0, all.size() - lines), all.size()));
        }
        catch (final IOException ex)
        {
            return "(cannot read " + file + ": " + ex + ")";
        }
    }

    /** SIGKILLs the agent if it still runs. VMMs and zones are left alone. */
    @Override
    public void close() throws InterruptedException
    {
        if (process.isAlive())
        {
            process.destroyForcibly();
            process.waitFor(10, TimeUnit.SECONDS);
        }
    }

    /**
     * The test classpath with every directory entry (target/classes and the like) copied once per test JVM to a
     * private snapshot: the agent and its VMMs load classes lazily, and a build running meanwhile in the same
     * checkout would otherwise pull class files from under them. Jars are used where they are.
     */
    private static synchronized String classPath() throws IOException
    {
        if (snapshotClassPath == null)
        {
            final Path snapshot = Files.createTempDirectory("sled-agent-classpath");
            Runtime.getRuntime().addShutdownHook(new Thread(() -> deleteQuietly(snapshot)));
            final List<String> entries = new ArrayList<>();
            int index = 0;
            for (final String entry : System.getProperty("java.class.path").split(java.io.File.pathSeparator))
            {
                final Path source = Path.of(entry);
                if (Files.isDirectory(source))
                {
                    // A jar, as the packaged agent runs from: classes load from one file opened once, not from a
                    // file per class (which matters when the agent runs out of descriptors).
                    final Path copy = snapshot.resolve(index++ + ".jar");
                    jarTree(source, copy);
                    entries.add(copy.toString());
                }
                else
                {
                    entries.add(entry);
                }
            }
            snapshotClassPath = String.join(java.io.File.pathSeparator, entries);
        }
        return snapshotClassPath;
    }

    private static String snapshotClassPath;

    private static void jarTree(final Path source, final Path jar) throws IOException
    {
        try (java.util.stream.Stream<Path> paths = Files.walk(source);
            java.util.jar.JarOutputStream out = new java.util.jar.JarOutputStream(Files.newOutputStream(jar)))
        {
            for (final Path path : paths.toList())
            {
                final String name = source.relativize(path).toString().replace(java.io.File.separatorChar, '/');
                if (name.isEmpty())
                {
                    continue;
                }
                if (Files.isDirectory(path))
                {
                    out.putNextEntry(new java.util.jar.JarEntry(name + "/"));
                    out.closeEntry();
                    continue;
                }
                final byte[] bytes;
                try
                {
                    bytes = Files.readAllBytes(path);
                }
                catch (final java.nio.file.NoSuchFileException ex)
                {
                    // Removed by a concurrent build while walking: not part of the snapshot.
                    continue;
                }
                out.putNextEntry(new java.util.jar.JarEntry(name));
                out.write(bytes);
                out.closeEntry();
            }
        }
    }

    private static void deleteQuietly(final Path root)
    {
        try (java.util.stream.Stream<Path> paths = Files.walk(root))
        {
            for (final Path path : paths.sorted(java.util.Comparator.reverseOrder()).toList())
            {
                Files.deleteIfExists(path);
            }
        }
        catch (final IOException ex)
        {
            // Best effort, at JVM exit.
        }
    }

    private static int freePort() throws IOException
    {
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress()))
        {
            return socket.getLocalPort();
        }
    }

    // ---- zone helpers shared by the tests that use a separate agent ----

    static Path zoneDir(final Path zoneRoot, final UUID propolisId)
    {
        return zoneRoot.resolve("oxz_propolis-server_" + propolisId);
    }

    /** Pids in a zone right now, sorted (empty if the zone does not exist). */
    static List<Long> zonePids(final Path zoneRoot, final UUID propolisId) throws IOException
    {
        final Path procs = zoneDir(zoneRoot, propolisId).resolve("cgroup.procs");
        final List<Long> pids = new ArrayList<>();
        try
        {
            for (final String line : Files.readAllLines(procs))
            {
                if (!line.isBlank())
                {
                    pids.add(Long.parseLong(line.trim()));
                }
            }
        }
        catch (final java.nio.file.NoSuchFileException ex)
        {
            return List.of();
        }
        pids.sort(null);
        return pids;
    }

    /** True if the process runs (exists and is not a zombie). */
    static boolean running(final long pid) throws IOException
    {
        final String state = AgentFixture.runState(pid);
        return !"gone".equals(state) && !"Z".equals(state);
    }
}
