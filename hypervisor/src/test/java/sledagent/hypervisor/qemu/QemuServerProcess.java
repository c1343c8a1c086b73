package sledagent.hypervisor.qemu;

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

/**
 * A propolis-qemu started as a real process with {@link PropolisQemuLauncher#command} (TCG, the tiny guest, port
 * 0 read back from its ready line). {@link #close()} SIGKILLs every QEMU it ever saw and the server, and waits
 * (bounded) until they are gone, whatever the test did. A QEMU that was SIGSTOPped is killed all the same.
 */
final class QemuServerProcess implements AutoCloseable
{
    private static final java.net.http.HttpClient HTTP = java.net.http.HttpClient.newBuilder()
        .connectTimeout(Duration.ofSeconds(2)).build();
    private static final Pattern READY = Pattern.compile("propolis-qemu listening on (\\S+) pid (\\d+)");
    private static final long START_TIMEOUT_S = 20;

    private final Process process;
    private final String addr;
    private final Path log;
    private final Path runDir;
    private final Set<ProcessHandle> seen = new LinkedHashSet<>();

    private QemuServerProcess(final Process process, final String addr, final Path log, final Path runDir)
    {
        this.process = process;
        this.addr = addr;
        this.log = log;
        this.runDir = runDir;
    }

    /**
     * @param guest  the built guest's directory (vmlinux, initramfs.cpio.gz, cmdline)
     * @param append the kernel command line, or null for the guest's own
     */
    static QemuServerProcess start(final Path guest, final String append) throws IOException
    {
        final Path log = Files.createTempFile("propolis-qemu-", ".log");
        final Path runDir = Files.createTempDirectory("pq-");
        final String cmdline = append != null ? append : Files.readString(guest.resolve("cmdline")).strip();
        final List<String> command = PropolisQemuLauncher.command("127.0.0.1:0", null, "tcg",
            new BootSource.Kernel(guest.resolve("vmlinux"), guest.resolve("initramfs.cpio.gz"), cmdline), runDir);
        final Process process = new ProcessBuilder(command)
            .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
            .redirectError(log.toFile())
            .start();
        try
        {
            final Matcher ready = readyLine(process);
            return new QemuServerProcess(process, ready.group(1), log, runDir);
        }
        catch (final IOException | RuntimeException e)
        {
            process.descendants().forEach(ProcessHandle::destroyForcibly);
            process.destroyForcibly();
            throw new IOException(e.getMessage() + "; stderr:\n" + Files.readString(log), e);
        }
    }

    /**
     * One call to this server's HTTP API (api-version 5.0.0, a JSON body if given), bounded by a minute: a guest's
     * boot under TCG is inside it.
     */
    java.net.http.HttpResponse<String> call(final String method, final String path, final String body)
        throws IOException, InterruptedException
    {
        final java.net.http.HttpRequest.Builder request = java.net.http.HttpRequest.newBuilder(
            java.net.URI.create("http://" + addr() + path))
            .timeout(Duration.ofSeconds(60))
            .header("api-version", "5.0.0")
            .method(method, body == null ? java.net.http.HttpRequest.BodyPublishers.noBody()
                : java.net.http.HttpRequest.BodyPublishers.ofString(body));
        if (body != null)
        {
            request.header("content-type", "application/json");
        }
        return HTTP.send(request.build(), java.net.http.HttpResponse.BodyHandlers.ofString());
    }

    String addr()
    {
        return addr;
    }

    Process process()
    {
        return process;
    }

    /** The QEMU child, once there is one (recorded for cleanup). */
    ProcessHandle qemu()
    {
        await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(5))
            .until(() -> recordDescendants().stream().anyMatch(ProcessHandle::isAlive));
        return seen.stream().filter(ProcessHandle::isAlive).findFirst().orElseThrow();
    }

    /** The server's children alive now (QEMU, while it runs). */
    List<ProcessHandle> children()
    {
        recordDescendants();
        return process.children().filter(ProcessHandle::isAlive).toList();
    }

    String stderr() throws IOException
    {
        return Files.readString(log);
    }

    Path runDir()
    {
        return runDir;
    }

    @Override
    public void close() throws IOException
    {
        recordDescendants();
        for (final ProcessHandle child : seen)
        {
            child.destroyForcibly();
        }
        process.destroyForcibly();
        await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(5))
            .until(() -> !process.isAlive() && seen.stream().noneMatch(ProcessHandle::isAlive));
        Files.deleteIfExists(log);
        try (var entries = Files.walk(runDir))
        {
            entries.sorted(java.util.Comparator.reverseOrder()).forEach(path -> path.toFile().delete());
        }
    }

    private Set<ProcessHandle> recordDescendants()
    {
        if (process.isAlive())
        {
            process.descendants().forEach(seen::add);
        }
        return seen;
    }

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
                throw new IllegalStateException("propolis-qemu closed stdout without reporting ready");
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
            ready.cancel(true);
            throw new IOException("propolis-qemu did not get ready: " + e, e);
        }
    }
}
