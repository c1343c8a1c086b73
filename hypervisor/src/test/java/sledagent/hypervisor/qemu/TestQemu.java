package sledagent.hypervisor.qemu;

import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Assumptions;

/**
 * A real QEMU for tests: the binary and the tiny guest (built by {@code scripts/build-guest.sh} into
 * {@code target/guest}), and one running VM with its QMP client (stdio, or the socket), its com1 console, the
 * events it reported and its EOFs. {@link #close()} kills QEMU and waits for it; a shutdown hook kills any QEMU a
 * failed test left behind if the JVM ends first. Without QEMU or the guest's packages the tests skip, unless
 * {@code SLED_AGENT_REQUIRE_TOOLS=1} (CI) makes that a failure.
 */
final class TestQemu implements AutoCloseable
{
    static final String QEMU = "qemu-system-x86_64";
    static final Path GUEST_DIR = Path.of("target/guest").toAbsolutePath();
    private static final Set<Process> LIVE = ConcurrentHashMap.newKeySet();
    private static BootSource.Kernel guest;

    static
    {
        Runtime.getRuntime().addShutdownHook(new Thread(() -> LIVE.forEach(Process::destroyForcibly)));
    }

    final Process process;
    final long execNs;
    final QmpClient qmp;
    final SerialConsole com1;
    final List<QmpEvent> events = new CopyOnWriteArrayList<>();
    final AtomicInteger eofs = new AtomicInteger();
    /** {@link System#nanoTime()} of the last EOF. */
    volatile long eofNs;
    final QemuCommandLine line;

    private TestQemu(final QemuCommandLine line, final Path runDir) throws Exception
    {
        this.line = line;
        final ProcessBuilder builder = new ProcessBuilder(line.argv())
            .redirectError(runDir.resolve("qemu.stderr").toFile());
        if (line.qmpSocket() != null)
        {
            builder.redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectOutput(ProcessBuilder.Redirect.DISCARD);
        }
        execNs = System.nanoTime();
        process = builder.start();
        LIVE.add(process);
        QmpClient client = null;
        SerialConsole console = null;
        try
        {
            final Path com1Socket = line.serialSockets().get("com1");
            console = com1Socket == null ? null
                : SerialConsole.start(com1Socket, "test-com1", new SerialRing(), null, 10_000);
            client = line.qmpSocket() == null
                ? QmpClient.overStdio(process, "test", events::add, this::eof, 10_000)
                : QmpClient.connect(line.qmpSocket(), "test", events::add, this::eof, 10_000);
        }
        catch (final Exception e)
        {
            kill(process);
            throw new AssertionError("QEMU did not come up: " + e + "; stderr: " + stderr(runDir), e);
        }
        this.qmp = client;
        this.com1 = console;
    }

    private void eof()
    {
        eofNs = System.nanoTime();
        eofs.incrementAndGet();
    }

    /** Starts QEMU for {@code spec} with the tiny guest, QMP on stdio (or on {@code runDir/qmp.sock}). */
    static TestQemu start(final ObjectNode spec, final Path runDir, final boolean qmpOnSocket) throws Exception
    {
        final QemuCommandLine line = QemuCommandLine.build(spec, new QemuCommandLine.Options(qemuBinary(), "test",
            runDir, guest(), Accelerator.choose(Accelerator.Mode.AUTO),
            qmpOnSocket ? runDir.resolve("qmp.sock") : null));
        return new TestQemu(line, runDir);
    }

    /** The QEMU binary on PATH; skips (or fails under SLED_AGENT_REQUIRE_TOOLS=1) without one. */
    static Path qemuBinary()
    {
        for (final String dir : System.getenv().getOrDefault("PATH", "/usr/bin").split(":"))
        {
            final Path candidate = Path.of(dir, QEMU);
            if (Files.isExecutable(candidate))
            {
                return candidate;
            }
        }
        missing(QEMU + " is not installed (apt-get install --no-install-recommends qemu-system-x86)");
        return null;
    }

    /** The tiny guest, built once per JVM (the script is a no-op when up to date). */
    static synchronized BootSource.Kernel guest() throws IOException, InterruptedException
    {
        if (guest == null)
        {
            final Path log = Files.createTempFile("build-guest", ".log");
            try
            {
                final Process build = new ProcessBuilder("bash", "scripts/build-guest.sh", GUEST_DIR.toString())
                    .redirectErrorStream(true).redirectOutput(log.toFile()).start();
                if (!build.waitFor(120, TimeUnit.SECONDS))
                {
                    build.destroyForcibly();
                    fail("build-guest.sh took longer than 120 s");
                }
                if (build.exitValue() != 0)
                {
                    missing("the tiny guest cannot be built: " + Files.readString(log).trim());
                }
            }
            finally
            {
                Files.deleteIfExists(log);
            }
            guest = new BootSource.Kernel(GUEST_DIR.resolve("vmlinux"), GUEST_DIR.resolve("initramfs.cpio.gz"),
                Files.readString(GUEST_DIR.resolve("cmdline")).trim());
        }
        return guest;
    }

    private static void missing(final String why)
    {
        if ("1".equals(System.getenv("SLED_AGENT_REQUIRE_TOOLS")))
        {
            fail(why + ", and SLED_AGENT_REQUIRE_TOOLS=1: the real-guest tests need it");
        }
        Assumptions.assumeTrue(false, "skipped: " + why);
    }

    /** The event names so far. */
    List<String> eventNames()
    {
        final List<String> names = new ArrayList<>();
        events.forEach(event -> names.add(event.name()));
        return names;
    }

    /** com1's whole history as text. */
    String serial() throws SerialRing.ExpiredRangeException
    {
        return new String(com1.ring().history(0L, null, Long.MAX_VALUE).data(), StandardCharsets.ISO_8859_1);
    }

    /** QEMU's resident set, from /proc (kB). */
    long rssKb() throws IOException
    {
        for (final String statusLine : Files.readAllLines(Path.of("/proc", Long.toString(process.pid()), "status")))
        {
            if (statusLine.startsWith("VmRSS:"))
            {
                return Long.parseLong(statusLine.replaceAll("[^0-9]", ""));
            }
        }
        return -1;
    }

    private static String stderr(final Path runDir)
    {
        try
        {
            return Files.readString(runDir.resolve("qemu.stderr")).trim();
        }
        catch (final IOException e)
        {
            return "(unreadable: " + e + ")";
        }
    }

    private static void kill(final Process process)
    {
        process.destroyForcibly();
        try
        {
            process.waitFor(10, TimeUnit.SECONDS);
        }
        catch (final InterruptedException e)
        {
            Thread.currentThread().interrupt();
        }
        LIVE.remove(process);
    }

    @Override
    public void close()
    {
        kill(process);
        if (qmp != null)
        {
            qmp.close();
        }
        if (com1 != null)
        {
            com1.close();
        }
    }
}
