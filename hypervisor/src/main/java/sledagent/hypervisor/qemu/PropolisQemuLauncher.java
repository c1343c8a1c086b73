package sledagent.hypervisor.qemu;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import sledagent.hypervisor.sim.PropolisSimLauncher;

/**
 * The command line that starts propolis-qemu as a separate process: this JVM's {@code java} and class path with the
 * same small-footprint flags as propolis-sim (the Java side only serves HTTP and QMP; QEMU holds the guest).
 */
public final class PropolisQemuLauncher
{
    /** propolis-qemu's main class. */
    public static final String MAIN_CLASS = "sledagent.hypervisor.qemu.PropolisQemuMain";

    private PropolisQemuLauncher()
    {
    }

    /**
     * @param listenAddr {@code HOST:PORT} or {@code [v6]:PORT}; port 0 picks a free port, reported in the first line
     *                   of stdout
     * @param qemuBinary the QEMU executable, or null for {@code qemu-system-x86_64} on the PATH
     * @param accel      {@code auto}, {@code kvm} or {@code tcg}
     * @param boot       the boot source
     * @param runDir     directory for the VM's sockets, or null for a per-process one under the temp dir
     * @return the argv
     */
    public static List<String> command(final String listenAddr, final Path qemuBinary, final String accel,
        final BootSource boot, final Path runDir)
    {
        return command(listenAddr, qemuBinary, accel, boot, runDir, null);
    }

    /**
     * As {@link #command(String, Path, String, BootSource, Path)}, with a class-data archive.
     *
     * @param classArchive a {@link ClassArchive} file to map the server's classes from, or null for none
     * @return the argv
     */
    public static List<String> command(final String listenAddr, final Path qemuBinary, final String accel,
        final BootSource boot, final Path runDir, final Path classArchive)
    {
        final List<String> command = new ArrayList<>(PropolisSimLauncher.javaCommand(MAIN_CLASS,
            classArchive == null ? List.of() : List.of("-XX:SharedArchiveFile=" + classArchive)));
        command.addAll(QemuOptions.args(listenAddr, qemuBinary, accel, boot, runDir));
        return List.copyOf(command);
    }
}
