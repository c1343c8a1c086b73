package sledagent.agent.demo;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import sledagent.agent.config.VmmChoice;
import sledagent.hypervisor.qemu.BootSource;

/**
 * The tiny test guest ({@code hypervisor/scripts/build-guest.sh}: the installed Debian kernel as a PVH
 * {@code vmlinux} and a busybox initramfs printing {@value #MARKER} and a tick a second on ttyS0), built into a
 * cache directory for the demo, the real-guest tests and perf. The script ships in the agent's jar (resource
 * {@value #SCRIPT_RESOURCE}), so a bare {@code java -jar sled-agent.jar demo} finds it.
 *
 * @param vmlinux the kernel
 * @param initrd  the initramfs
 * @param append  the kernel command line the script chose
 */
public record TinyGuest(Path vmlinux, Path initrd, String append)
{
    /** The guest's ready marker on its serial line. */
    public static final String MARKER = "GUEST-READY";
    /** The build script inside the jar. */
    public static final String SCRIPT_RESOURCE = "/sledagent/guest/build-guest.sh";
    private static final long BUILD_TIMEOUT_S = 180;

    public TinyGuest
    {
        Objects.requireNonNull(vmlinux, "vmlinux");
        Objects.requireNonNull(initrd, "initrd");
        Objects.requireNonNull(append, "append");
    }

    /**
     * What is missing on this machine for a real guest (QEMU, a Debian kernel in /boot, busybox, cpio, xz), or
     * null when nothing is.
     */
    public static String missing()
    {
        final List<String> missing = new ArrayList<>();
        if (VmmChoice.which(VmmChoice.DEFAULT_QEMU) == null)
        {
            missing.add("qemu-system-x86_64 (qemu-system-x86)");
        }
        try (var kernels = Files.list(Path.of("/boot")))
        {
            if (kernels.noneMatch(p -> p.getFileName().toString().startsWith("vmlinuz-")))
            {
                missing.add("/boot/vmlinuz-* (linux-image-amd64)");
            }
        }
        catch (final IOException ex)
        {
            missing.add("/boot/vmlinuz-* (linux-image-amd64)");
        }
        for (final String[] tool : new String[][] {{"busybox", "busybox-static"}, {"cpio", "cpio"},
            {"xz", "xz-utils"}})
        {
            if (VmmChoice.which(Path.of(tool[0])) == null)
            {
                missing.add(tool[0] + " (" + tool[1] + ")");
            }
        }
        return missing.isEmpty() ? null : String.join(", ", missing);
    }

    /**
     * Builds the guest into {@code outDir} (a few ms when it is up to date) with the script from the jar.
     *
     * @throws IOException when the script fails (its output in the message) or takes longer than 3 minutes
     */
    public static TinyGuest build(final Path outDir) throws IOException, InterruptedException
    {
        Files.createDirectories(outDir);
        final Path script = outDir.resolve("build-guest.sh");
        try (InputStream in = TinyGuest.class.getResourceAsStream(SCRIPT_RESOURCE))
        {
            if (in == null)
            {
                throw new IOException("resource " + SCRIPT_RESOURCE + " is not on the class path");
            }
            final byte[] bytes = in.readAllBytes();
            // Rewritten only when it changed: the script's own checksum is part of its up-to-date stamp.
            if (!Files.exists(script) || !java.util.Arrays.equals(Files.readAllBytes(script), bytes))
            {
                Files.write(script, bytes);
            }
        }
        final Path log = outDir.resolve("build.log");
        final Process build = new ProcessBuilder("bash", script.toString(), outDir.toString())
            .redirectErrorStream(true).redirectOutput(log.toFile()).start();
        if (!build.waitFor(BUILD_TIMEOUT_S, TimeUnit.SECONDS))
        {
            build.destroyForcibly();
            build.waitFor(10, TimeUnit.SECONDS);
            throw new IOException("build-guest.sh took longer than " + BUILD_TIMEOUT_S + " s");
        }
        if (build.exitValue() != 0)
        {
            throw new IOException("build-guest.sh failed (status " + build.exitValue() + "): "
                + Files.readString(log, StandardCharsets.UTF_8).strip());
        }
        return new TinyGuest(outDir.resolve("vmlinux"), outDir.resolve("initramfs.cpio.gz"),
            Files.readString(outDir.resolve("cmdline"), StandardCharsets.UTF_8).strip());
    }

    /** propolis-qemu booting this guest with its own command line. */
    public VmmChoice vmm()
    {
        return vmm(append);
    }

    /** propolis-qemu booting this guest with {@code kernelAppend} as its command line (accelerator auto). */
    public VmmChoice vmm(final String kernelAppend)
    {
        return VmmChoice.qemu(null, "auto", new BootSource.Kernel(vmlinux, initrd, kernelAppend));
    }

    /** The {@code serve} flags that boot this guest under QEMU. */
    public List<String> serveFlags()
    {
        return List.of("--vmm", "qemu", "--guest-kernel", vmlinux.toString(), "--guest-initrd", initrd.toString(),
            "--guest-append", append);
    }
}
