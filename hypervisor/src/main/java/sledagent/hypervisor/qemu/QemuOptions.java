package sledagent.hypervisor.qemu;

import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import sledagent.hypervisor.server.ListenAddress;

/**
 * propolis-qemu's command line: {@code --listen HOST:PORT} (required), {@code --qemu PATH} (default
 * {@code qemu-system-x86_64} on the PATH), {@code --accel auto|kvm|tcg} (default auto), the boot source the spec does
 * not carry ({@code --kernel PATH [--initrd PATH] [--append LINE]} or {@code --bootrom PATH}; one is required) and
 * {@code --run-dir DIR} for the VM's sockets (default {@code $TMPDIR/propolis-qemu-PID}), and for tests only
 * {@code --hold-switchover-ms N} (default 0): as a migration source, stay that long at QEMU's
 * {@code pre-switchover} (guest paused, phase Pause) before {@code migrate-continue}, so that a test can act at a
 * known moment just before the migration completes, and {@code --monitor-delay-ms N} (default 0): hold every
 * state-monitor answer for a later generation that long (not a look at generation 0), so that a test can act
 * after a state is published and before the agent has seen it through its monitor.
 *
 * @param listen     where to serve
 * @param qemuBinary the QEMU executable
 * @param accelMode  what the operator asked for
 * @param accel      the decision ({@link Accelerator#choose})
 * @param boot       the boot source
 * @param runDir     where the sockets go
 * @param holdSwitchoverMs how long a migration source holds at pre-switchover (tests; 0 in production)
 * @param monitorDelayMs   how long a state-monitor answer past generation 0 is held (tests; 0 in production)
 */
public record QemuOptions(InetSocketAddress listen, Path qemuBinary, Accelerator.Mode accelMode,
    Accelerator.Choice accel, BootSource boot, Path runDir, long holdSwitchoverMs, long monitorDelayMs)
{
    /** The default QEMU: found on the PATH. */
    public static final String DEFAULT_QEMU = "qemu-system-x86_64";

    static final String USAGE = "usage: propolis-qemu --listen HOST:PORT|[V6]:PORT [--qemu PATH]"
        + " [--accel auto|kvm|tcg] (--kernel PATH [--initrd PATH] [--append LINE] | --bootrom PATH)"
        + " [--run-dir DIR] [--hold-switchover-ms N] [--monitor-delay-ms N]";

    /**
     * @param args the command line
     * @return the options (the accelerator decided here, once)
     * @throws IllegalArgumentException with a message for the user
     */
    public static QemuOptions parse(final String[] args)
    {
        InetSocketAddress listen = null;
        String qemu = DEFAULT_QEMU;
        Accelerator.Mode accel = Accelerator.Mode.parse("auto");
        Path kernel = null;
        Path initrd = null;
        String append = null;
        Path bootrom = null;
        Path runDir = null;
        long holdSwitchoverMs = 0;
        long monitorDelayMs = 0;
        for (int i = 0; i < args.length; i++)
        {
            final String arg = args[i];
            final int equals = arg.indexOf('=');
            final String name = equals < 0 ? arg : arg.substring(0, equals);
            if (!List.of("--listen", "--qemu", "--accel", "--kernel", "--initrd", "--append", "--bootrom",
                "--run-dir", "--hold-switchover-ms", "--monitor-delay-ms").contains(name))
            {
                throw new IllegalArgumentException("unknown argument: " + arg);
            }
            final String value;
            if (equals >= 0)
            {
                value = arg.substring(equals + 1);
            }
            else if (i + 1 < args.length)
            {
                value = args[++i];
            }
            else
            {
                throw new IllegalArgumentException(arg + " needs a value");
            }
            switch (name)
            {
                case "--listen" -> listen = ListenAddress.parse(value);
                case "--qemu" -> qemu = value;
                case "--accel" -> accel = Accelerator.Mode.parse(value);
                case "--kernel" -> kernel = Path.of(value);
                case "--initrd" -> initrd = Path.of(value);
                case "--append" -> append = value;
                case "--bootrom" -> bootrom = Path.of(value);
                case "--hold-switchover-ms" -> holdSwitchoverMs = millis(name, value);
                case "--monitor-delay-ms" -> monitorDelayMs = millis(name, value);
                default -> runDir = Path.of(value);
            }
        }
        if (listen == null)
        {
            throw new IllegalArgumentException("--listen is required");
        }
        if ((kernel == null) == (bootrom == null))
        {
            throw new IllegalArgumentException("a boot source is required: --kernel PATH or --bootrom PATH (not both)");
        }
        if (kernel == null && (initrd != null || append != null))
        {
            throw new IllegalArgumentException("--initrd and --append go with --kernel");
        }
        final BootSource boot = kernel != null ? new BootSource.Kernel(kernel, initrd, append)
            : new BootSource.Bootrom(bootrom);
        if (runDir == null)
        {
            runDir = Path.of(System.getProperty("java.io.tmpdir"), "propolis-qemu-" + ProcessHandle.current().pid());
        }
        return new QemuOptions(listen, Path.of(qemu), accel, Accelerator.choose(accel), boot, runDir,
            holdSwitchoverMs, monitorDelayMs);
    }

    private static long millis(final String name, final String value)
    {
        try
        {
            final long ms = Long.parseLong(value);
            if (ms >= 0 && ms <= 600_000)
            {
                return ms;
            }
        }
        catch (final NumberFormatException e)
        {
            // Below.
        }
        throw new IllegalArgumentException(name + " takes 0 to 600000, not " + value);
    }

    /**
     * The arguments that give these options back (for a launcher).
     *
     * @param listenAddr {@code HOST:PORT}
     * @param qemuBinary the QEMU executable, or null for the default
     * @param accel      auto, kvm or tcg
     * @param boot       the boot source
     * @param runDir     the run dir, or null for the default
     * @return the argument list, without the program
     */
    public static List<String> args(final String listenAddr, final Path qemuBinary, final String accel,
        final BootSource boot, final Path runDir)
    {
        final List<String> args = new ArrayList<>(List.of("--listen", listenAddr));
        if (qemuBinary != null)
        {
            args.addAll(List.of("--qemu", qemuBinary.toString()));
        }
        args.addAll(List.of("--accel", accel));
        if (boot instanceof BootSource.Kernel kernel)
        {
            args.addAll(List.of("--kernel", kernel.kernel().toString()));
            if (kernel.initrd() != null)
            {
                args.addAll(List.of("--initrd", kernel.initrd().toString()));
            }
            if (kernel.append() != null)
            {
                args.addAll(List.of("--append", kernel.append()));
            }
        }
        else if (boot instanceof BootSource.Bootrom bootrom)
        {
            args.addAll(List.of("--bootrom", bootrom.firmware().toString()));
        }
        if (runDir != null)
        {
            args.addAll(List.of("--run-dir", runDir.toString()));
        }
        return args;
    }
}
