package sledagent.perf;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import sledagent.agent.demo.TinyGuest;

/**
 * The floor of a start: QEMU exec'd directly, with no agent, no Propolis server and no libvirt, booting the same tiny
 * guest (same kernel, initramfs, command line, memory, one vCPU, TCG, machine {@code pc}) with its serial port on
 * stdout: the time from exec to the guest's marker. The QEMU is then SIGKILLed and reaped.
 */
final class BareQemu
{
    private static final Duration BOUND = Duration.ofSeconds(90);

    private BareQemu()
    {
    }

    /** One exec -> marker. */
    static Duration execToMarker(final TinyGuest guest, final int memoryMib) throws IOException, InterruptedException
    {
        final List<String> command = List.of("qemu-system-x86_64", "-machine", "pc", "-accel", "tcg", "-smp", "1",
            "-m", memoryMib + "M", "-nodefaults", "-no-user-config", "-display", "none", "-serial", "stdio",
            "-kernel", guest.vmlinux().toString(), "-initrd", guest.initrd().toString(), "-append", guest.append());
        final long startNs = System.nanoTime();
        final Process qemu = new ProcessBuilder(command).redirectErrorStream(true).start();
        try
        {
            final Thread watchdog = new Thread(() ->
            {
                try
                {
                    if (!qemu.waitFor(BOUND.toMillis(), TimeUnit.MILLISECONDS))
                    {
                        qemu.destroyForcibly();
                    }
                }
                catch (final InterruptedException ex)
                {
                    Thread.currentThread().interrupt();
                }
            }, "bare-qemu-bound");
            watchdog.setDaemon(true);
            watchdog.start();
            if (!awaitMarker(qemu.getInputStream()))
            {
                throw new IllegalStateException("bare QEMU printed no " + TinyGuest.MARKER + " within " + BOUND);
            }
            final Duration took = Duration.ofNanos(System.nanoTime() - startNs);
            watchdog.interrupt();
            return took;
        }
        finally
        {
            qemu.destroyForcibly();
            qemu.waitFor(BOUND.toMillis(), TimeUnit.MILLISECONDS);
        }
    }

    /** Reads until the marker has gone by (true) or the stream ends (false). */
    private static boolean awaitMarker(final InputStream out) throws IOException
    {
        final byte[] marker = TinyGuest.MARKER.getBytes(StandardCharsets.US_ASCII);
        int matched = 0;
        int b;
        while ((b = out.read()) >= 0)
        {
            matched = b == marker[matched] ? matched + 1 : (b == marker[0] ? 1 : 0);
            if (matched == marker.length)
            {
                return true;
            }
        }
        return false;
    }
}
