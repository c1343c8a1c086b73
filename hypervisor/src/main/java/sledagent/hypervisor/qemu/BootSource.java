package sledagent.hypervisor.qemu;

import java.nio.file.Path;
import java.util.Objects;

/**
 * Where the guest's first code comes from. A Propolis instance spec does not say (the real server takes its
 * bootrom from its own configuration), so propolis-qemu takes it from its command line: a firmware image, or a
 * kernel booted directly.
 */
public sealed interface BootSource
{
    /**
     * Direct kernel boot: QEMU's {@code -kernel}, {@code -initrd}, {@code -append}. The kernel may be a bzImage or
     * an ELF {@code vmlinux} with a PVH entry note (much faster under TCG: no decompression in the guest).
     *
     * @param kernel  the kernel image
     * @param initrd  an initramfs, or null
     * @param append  the kernel command line, or null
     */
    record Kernel(Path kernel, Path initrd, String append) implements BootSource
    {
        public Kernel
        {
            Objects.requireNonNull(kernel, "kernel");
        }
    }

    /**
     * A firmware image (e.g. OVMF's {@code OVMF.fd}), QEMU's {@code -bios}: the guest boots from its disks in the
     * spec's {@code boot_settings} order.
     *
     * @param firmware the image
     */
    record Bootrom(Path firmware) implements BootSource
    {
        public Bootrom
        {
            Objects.requireNonNull(firmware, "firmware");
        }
    }
}
