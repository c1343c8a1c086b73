package sledagent.perf;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import sledagent.agent.demo.TinyGuest;
import sledagent.hypervisor.qemu.QmpClient;

/**
 * The floors of a real guest, measured in the same run as the agent's figures: the tiny guest in a bare QEMU (no
 * Propolis server, no agent, no zone) with the same kernel, initrd, command line, memory, vCPUs, machine and
 * accelerator that propolis-qemu gives it. One instance: exec -> the guest's marker on its serial file; then either
 * QEMU's own {@code quit} over QMP -> process exit, or SIGKILL -> exit seen by its parent (this JVM). The process is
 * this JVM's child; {@link #close} kills it if it is still there.
 */
final class BareQemu implements AutoCloseable
{
    private static final Duration BOOT_BOUND = Duration.ofSeconds(90);
    private static final long QMP_BOUND_MS = 10_000;
    private static final long EXIT_BOUND_S = 10;

    private final Process qemu;
    private final Path serial;
    private final Path qmpSocket;
    private final long execNs;

    private BareQemu(final Process qemu, final Path serial, final Path qmpSocket, final long execNs)
    {
        this.qemu = qemu;
        this.serial = serial;
        this.qmpSocket = qmpSocket;
        this.execNs = execNs;
    }

    /** Starts the guest (TCG here, as propolis-qemu's {@code auto} chooses on this machine) in {@code dir}. */
    static BareQemu start(final TinyGuest guest, final int memoryMb, final String accel, final Path dir)
        throws IOException
    {
        final Path serial = dir.resolve("serial.log");
        final Path qmp = dir.resolve("qmp.sock");
        Files.deleteIfExists(serial);
        Files.deleteIfExists(qmp);
        final List<String> argv = List.of("qemu-system-x86_64", "-name", "bare-floor", "-nodefaults",
            "-no-user-config", "-display", "none", "-machine", "pc", "-accel", accel, "-smp", "1", "-m",
            memoryMb + "M", "-kernel", guest.vmlinux().toString(), "-initrd", guest.initrd().toString(), "-append",
            guest.append(), "-serial", "file:" + serial, "-qmp", "unix:" + qmp + ",server=on,wait=off");
        final long execNs = System.nanoTime();
        final Process qemu = new ProcessBuilder(argv).redirectErrorStream(true)
            .redirectOutput(ProcessBuilder.Redirect.appendTo(dir.resolve("qemu.out").toFile())).start();
        return new BareQemu(qemu, serial, qmp, execNs);
    }

    long pid()
    {
        return qemu.pid();
    }

    /** Waits (bounded) for the guest's marker; returns exec -> marker in ns (polled every 1 ms). */
    long awaitMarkerNs() throws IOException, InterruptedException
    {
        final long deadlineNs = execNs + BOOT_BOUND.toNanos();
        while (true)
        {
            try
            {
                if (Files.readString(serial, StandardCharsets.ISO_8859_1).contains(TinyGuest.MARKER))
                {
                    return System.nanoTime() - execNs;
                }
            }
            catch (final NoSuchFileException ex)
            {
                // Not created yet.
            }
            if (!qemu.isAlive())
            {
                throw new IllegalStateException("bare QEMU exited (" + qemu.exitValue() + ") before the marker");
            }
            if (System.nanoTime() - deadlineNs > 0)
            {
                throw new IllegalStateException("bare QEMU: no " + TinyGuest.MARKER + " within " + BOOT_BOUND);
            }
            Thread.sleep(1);
        }
    }

    /** QMP {@code quit} -> the process has exited (its parent's wait returns), in ns. */
    long quitNs() throws Exception
    {
        try (QmpClient qmp = QmpClient.connect(qmpSocket, "bare-floor", event -> { }, () -> { }, QMP_BOUND_MS))
        {
            final long t0 = System.nanoTime();
            qmp.submit("quit", null, QMP_BOUND_MS);
            if (!qemu.waitFor(EXIT_BOUND_S, TimeUnit.SECONDS))
            {
                throw new IllegalStateException("bare QEMU still running " + EXIT_BOUND_S + " s after quit");
            }
            return System.nanoTime() - t0;
        }
    }

    /** SIGKILL -> the process has exited (its parent's wait returns), in ns. */
    long sigkillNs() throws InterruptedException
    {
        final long t0 = System.nanoTime();
        qemu.destroyForcibly();
        if (!qemu.waitFor(EXIT_BOUND_S, TimeUnit.SECONDS))
        {
            throw new IllegalStateException("bare QEMU still running " + EXIT_BOUND_S + " s after SIGKILL");
        }
        return System.nanoTime() - t0;
    }

    @Override
    public void close() throws InterruptedException
    {
        if (qemu.isAlive())
        {
            qemu.destroyForcibly();
            qemu.waitFor(EXIT_BOUND_S, TimeUnit.SECONDS);
        }
    }
}
