package sledagent.hypervisor.qemu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import sledagent.api.Json;

/** The spec → argv mapping. That QEMU accepts the argv is {@link QemuGuestTest}'s first test. */
class QemuCommandLineTest
{
    private static final String BOARD = """
        {"cpus":1,"memory_mb":512,"chipset":{"type":"i440_fx","value":{"enable_pcie":false}}}""";
    private static final Accelerator.Choice TCG = new Accelerator.Choice("tcg", "test");

    @TempDir
    Path dir;
    private Path image;

    @BeforeEach
    void image() throws IOException
    {
        image = dir.resolve("disk.img");
        Files.write(image, new byte[4096]);
    }

    private static ObjectNode spec(final String board, final String components) throws IOException
    {
        return (ObjectNode) Json.mapper().readTree("{\"board\":" + board + ",\"components\":{" + components + "}}");
    }

    private QemuCommandLine.Options options()
    {
        return new QemuCommandLine.Options(Path.of("/usr/bin/qemu-system-x86_64"), "vm1", dir,
            new BootSource.Kernel(Path.of("/g/vmlinux"), Path.of("/g/initramfs.cpio.gz"), "console=ttyS0 quiet"),
            TCG, null);
    }

    private String fileBackend(final String key, final boolean readonly)
    {
        return "\"" + key + "\":{\"type\":\"file_storage_backend\",\"component\":{\"path\":\"" + image
            + "\",\"readonly\":" + readonly + ",\"block_size\":4096,\"workers\":2}}";
    }

    /** What the demo and omicron send for a small VM: the exact argv. */
    @Test
    void theDemoSpecGivesThisArgv() throws IOException
    {
        final QemuCommandLine line = QemuCommandLine.build(
            spec(BOARD, "\"com1\":{\"type\":\"serial_port\",\"component\":{\"num\":\"com1\"}}"), options());
        final String com1 = dir.resolve("com1.sock").toString();
        assertThat(line.argv()).containsExactly("/usr/bin/qemu-system-x86_64", "-name", "vm1", "-nodefaults",
            "-no-user-config", "-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny",
            "-display", "none", "-S", "-machine", "pc", "-accel", "tcg", "-smp", "1", "-m", "512M", "-qmp", "stdio",
            "-chardev", "socket,id=com1,path=" + com1 + ",server=on,wait=off",
            "-device", "isa-serial,chardev=com1,index=0",
            "-kernel", "/g/vmlinux", "-initrd", "/g/initramfs.cpio.gz", "-append", "console=ttyS0 quiet");
        assertThat(line.serialSockets()).containsExactly(Map.entry("com1", Path.of(com1)));
        assertThat(line.qmpSocket()).isNull();
        assertThat(line.argv()).doesNotContain("-no-shutdown");
        assertThat(line.toShellLine()).contains("-append 'console=ttyS0 quiet'");
    }

    @Test
    void everySupportedComponentIsMapped() throws IOException
    {
        final ObjectNode spec = spec("""
            {"cpus":2,"memory_mb":256,"chipset":{"type":"i440_fx","value":{"enable_pcie":false}},
             "guest_hv_interface":{"type":"bhyve"}}""",
            "\"com3\":{\"type\":\"serial_port\",\"component\":{\"num\":\"com3\"}},"
                + "\"com1\":{\"type\":\"serial_port\",\"component\":{\"num\":\"com1\"}},"
                + "\"boot\":{\"type\":\"virtio_disk\",\"component\":{\"backend_id\":\"boot-be\","
                + "\"pci_path\":{\"bus\":0,\"device\":16,\"function\":0}}},"
                + fileBackend("boot-be", true) + ","
                + "\"data\":{\"type\":\"nvme_disk\",\"component\":{\"backend_id\":\"data-be\","
                + "\"pci_path\":{\"bus\":0,\"device\":17,\"function\":0},"
                + "\"serial_number\":[100,97,116,97,45,49,32,32,32,32,32,32,32,32,32,32,32,32,0,0]}},"
                + fileBackend("data-be", false) + ","
                + "\"boot-settings\":{\"type\":\"boot_settings\",\"component\":{\"order\":[{\"id\":\"data\"},"
                + "{\"id\":\"boot\"}]}},"
                + "\"pvpanic\":{\"type\":\"qemu_pvpanic\",\"component\":{\"enable_isa\":true}}");
        spec.set("smbios", Json.mapper().readTree(
            "{\"manufacturer\":\"Oxide, Inc.\",\"product_name\":\"OxVM\",\"serial_number\":\"abc\",\"version\":3}"));
        final List<String> argv = QemuCommandLine.build(spec, options()).argv();
        final String joined = String.join(" ", argv);
        assertThat(joined).contains("-smp 2 -m 256M");
        // Ports at their standard addresses whatever the key order; com1 (the console) first.
        assertThat(joined).contains("-device isa-serial,chardev=com1,index=0")
            .contains("-device isa-serial,chardev=com3,index=2");
        assertThat(QemuCommandLine.build(spec, options()).serialSockets().keySet()).containsExactly("com1", "com3");
        assertThat(argv).contains(
            "{\"driver\":\"file\",\"node-name\":\"disk0-file\",\"filename\":\"" + image + "\",\"read-only\":true}",
            "{\"driver\":\"raw\",\"node-name\":\"disk0\",\"file\":\"disk0-file\",\"read-only\":true}",
            "{\"driver\":\"virtio-blk-pci\",\"id\":\"disk0-dev\",\"drive\":\"disk0\",\"bus\":\"pci.0\","
                + "\"addr\":\"0x10.0x0\",\"logical_block_size\":4096,\"physical_block_size\":4096,\"bootindex\":1}",
            "{\"driver\":\"nvme\",\"id\":\"disk1-dev\",\"drive\":\"disk1\",\"bus\":\"pci.0\",\"addr\":\"0x11.0x0\","
                + "\"logical_block_size\":4096,\"physical_block_size\":4096,\"serial\":\"data-1\",\"bootindex\":0}",
            "pvpanic",
            "type=1,manufacturer=Oxide,, Inc.,product=OxVM,serial=abc,version=3");
        assertThat(joined).contains("\"read-only\":false");
    }

    @ParameterizedTest
    @ValueSource(strings = {
        "{\"type\":\"crucible_storage_backend\",\"component\":{\"request_json\":\"{}\",\"readonly\":false}}",
        "{\"type\":\"blob_storage_backend\",\"component\":{\"base64\":\"\",\"readonly\":true}}",
        "{\"type\":\"virtio_nic\",\"component\":{\"backend_id\":\"n\",\"interface_id\":"
            + "\"0b0b0b0b-0b0b-0b0b-0b0b-0b0b0b0b0b0b\",\"pci_path\":{\"bus\":0,\"device\":8,\"function\":0}}}",
        "{\"type\":\"virtio_network_backend\",\"component\":{\"vnic_name\":\"vnic0\"}}",
        "{\"type\":\"dlpi_network_backend\",\"component\":{\"vnic_name\":\"vnic0\"}}",
        "{\"type\":\"soft_npu_pci_port\",\"component\":{\"pci_path\":{\"bus\":0,\"device\":9,\"function\":0}}}",
        "{\"type\":\"soft_npu_port\",\"component\":{}}",
        "{\"type\":\"soft_npu_p9\",\"component\":{}}",
        "{\"type\":\"p9fs\",\"component\":{}}",
        "{\"type\":\"pci_pci_bridge\",\"component\":{}}",
        "{\"type\":\"virtio_socket\",\"component\":{}}",
        "{\"type\":\"migration_failure_injector\",\"component\":{}}",
        "{\"type\":\"some_future_device\",\"component\":{}}",
    })
    void anUnsupportedComponentIsRefusedByKeyAndType(final String component) throws IOException
    {
        final String type = Json.mapper().readTree(component).get("type").asText();
        assertThatThrownBy(() -> QemuCommandLine.build(spec(BOARD,
            "\"com1\":{\"type\":\"serial_port\",\"component\":{\"num\":\"com1\"}},\"the-thing\":" + component),
            options())).isInstanceOfSatisfying(UnsupportedComponentException.class, e ->
            {
                assertThat(e.componentKey()).isEqualTo("the-thing");
                assertThat(e.componentType()).isEqualTo(type);
                assertThat(e.getMessage()).startsWith("component 'the-thing' (" + type + "): ");
            });
    }

    @Test
    void boardSettingsItCannotHonourAreRefused()
    {
        assertRefused(board("\"cpuid\":{\"entries\":[],\"vendor\":\"amd\"}"), "board", "cpuid");
        assertRefused(board("\"guest_hv_interface\":{\"type\":\"hyper_v\",\"value\":{\"features\":[]}}"), "board",
            "guest_hv_interface");
        assertRefused(spec -> spec.with("board").with("chipset").with("value").put("enable_pcie", true), "board",
            "chipset");
        assertRefused(spec -> spec.with("board").put("cpus", 0), "board", "cpus");
        assertRefused(spec -> spec.with("board").put("memory_mb", 0), "board", "memory_mb");
    }

    private static java.util.function.Consumer<ObjectNode> board(final String field)
    {
        return spec ->
        {
            try
            {
                final ObjectNode extra = (ObjectNode) Json.mapper().readTree("{" + field + "}");
                spec.with("board").setAll(extra);
            }
            catch (final IOException e)
            {
                throw new RuntimeException(e);
            }
        };
    }

    private void assertRefused(final java.util.function.Consumer<ObjectNode> change, final String key,
        final String type)
    {
        try
        {
            final ObjectNode spec = spec(BOARD, "");
            change.accept(spec);
            assertThatThrownBy(() -> QemuCommandLine.build(spec, options()))
                .isInstanceOfSatisfying(UnsupportedComponentException.class, e ->
                {
                    assertThat(e.componentKey()).isEqualTo(key);
                    assertThat(e.componentType()).isEqualTo(type);
                });
        }
        catch (final IOException e)
        {
            throw new RuntimeException(e);
        }
    }

    private String virtioDisk(final String key, final String backend, final int bus, final int device,
        final int function)
    {
        return "\"" + key + "\":{\"type\":\"virtio_disk\",\"component\":{\"backend_id\":\"" + backend
            + "\",\"pci_path\":{\"bus\":" + bus + ",\"device\":" + device + ",\"function\":" + function + "}}}";
    }

    private void assertDiskRefused(final String components, final String key, final String type,
        final String messagePart)
    {
        assertThatThrownBy(() -> QemuCommandLine.build(spec(BOARD, components), options()))
            .isInstanceOfSatisfying(UnsupportedComponentException.class, e ->
            {
                assertThat(e.componentKey()).isEqualTo(key);
                assertThat(e.componentType()).isEqualTo(type);
                assertThat(e.getMessage()).contains(messagePart);
            });
    }

    @Test
    void disksItCannotPlaceAreRefused()
    {
        final String be = fileBackend("be", false);
        assertDiskRefused(virtioDisk("d", "be", 1, 16, 0) + "," + be, "d", "virtio_disk", "only bus 0");
        assertDiskRefused(virtioDisk("d", "be", 0, 1, 0) + "," + be, "d", "virtio_disk", "belong to the chipset");
        assertDiskRefused(virtioDisk("d", "be", 0, 16, 2) + "," + be, "d", "virtio_disk", "only function 0");
        assertDiskRefused(virtioDisk("a", "be", 0, 16, 0) + "," + virtioDisk("b", "be", 0, 16, 0) + "," + be, "b",
            "virtio_disk", "PCI device 16 is also 'a'");
        assertDiskRefused(virtioDisk("d", "nope", 0, 16, 0), "d", "virtio_disk", "backend 'nope' is not in the spec");
        // A disk on Crucible: the backend is what cannot be honoured, and is named.
        assertDiskRefused(virtioDisk("d", "cru", 0, 16, 0)
            + ",\"cru\":{\"type\":\"crucible_storage_backend\",\"component\":{\"request_json\":\"{}\","
            + "\"readonly\":false}}", "cru", "crucible_storage_backend", "Crucible storage is not supported");
        assertDiskRefused(virtioDisk("a", "z-cru", 0, 16, 0)
            + ",\"z-cru\":{\"type\":\"crucible_storage_backend\",\"component\":{\"request_json\":\"{}\","
            + "\"readonly\":false}}", "z-cru", "crucible_storage_backend", "disk 'a' needs a file_storage_backend");
        assertDiskRefused(virtioDisk("d", "gone", 0, 16, 0)
            + ",\"gone\":{\"type\":\"file_storage_backend\",\"component\":{\"path\":\"" + dir.resolve("missing.img")
            + "\",\"readonly\":false,\"block_size\":512}}", "gone", "file_storage_backend", "does not exist");
        assertDiskRefused(virtioDisk("d", "odd", 0, 16, 0)
            + ",\"odd\":{\"type\":\"file_storage_backend\",\"component\":{\"path\":\"" + image
            + "\",\"readonly\":false,\"block_size\":1000}}", "odd", "file_storage_backend", "power of two");
    }

    @Test
    void bootSettingsMayOnlyNameDisks()
    {
        assertDiskRefused("\"com1\":{\"type\":\"serial_port\",\"component\":{\"num\":\"com1\"}},"
            + "\"bs\":{\"type\":\"boot_settings\",\"component\":{\"order\":[{\"id\":\"com1\"}]}}", "bs",
            "boot_settings", "'com1' is a serial_port");
        assertDiskRefused("\"bs\":{\"type\":\"boot_settings\",\"component\":{\"order\":[{\"id\":\"x\"}]}}", "bs",
            "boot_settings", "not a component of the spec");
        assertDiskRefused(virtioDisk("d", "be", 0, 16, 0) + "," + fileBackend("be", true)
            + ",\"bs1\":{\"type\":\"boot_settings\",\"component\":{\"order\":[]}}"
            + ",\"bs2\":{\"type\":\"boot_settings\",\"component\":{\"order\":[]}}", "bs2", "boot_settings",
            "only one boot_settings");
    }

    @Test
    void aSerialPortTwiceIsRefused()
    {
        assertDiskRefused("\"a\":{\"type\":\"serial_port\",\"component\":{\"num\":\"com2\"}},"
            + "\"b\":{\"type\":\"serial_port\",\"component\":{\"num\":\"com2\"}}", "b", "serial_port",
            "com2 is already component 'a'");
    }

    @Test
    void aMalformedSpecIsAnIllegalArgument() throws IOException
    {
        final ObjectNode noBoard = (ObjectNode) Json.mapper().readTree("{\"components\":{}}");
        assertThatThrownBy(() -> QemuCommandLine.build(noBoard, options()))
            .isExactlyInstanceOf(IllegalArgumentException.class).hasMessageContaining("spec.board");
        final ObjectNode stringCpus = spec(BOARD, "");
        stringCpus.with("board").put("cpus", "2");
        assertThatThrownBy(() -> QemuCommandLine.build(stringCpus, options()))
            .isExactlyInstanceOf(IllegalArgumentException.class).hasMessageContaining("board.cpus");
    }

    @Test
    void kvmBootromAndAQmpSocket() throws IOException
    {
        final QemuCommandLine line = QemuCommandLine.build(spec(BOARD, ""), new QemuCommandLine.Options(
            Path.of("qemu"), "vm,2", dir, new BootSource.Bootrom(Path.of("/usr/share/OVMF/OVMF.fd")),
            new Accelerator.Choice("kvm", "test"), dir.resolve("qmp.sock")));
        final String joined = String.join(" ", line.argv());
        assertThat(joined).contains("-name vm,,2").contains("-accel kvm -cpu host")
            .contains("-qmp unix:" + dir.resolve("qmp.sock") + ",server=on,wait=off")
            .contains("-bios /usr/share/OVMF/OVMF.fd").doesNotContain("-kernel");
        assertThat(line.qmpSocket()).isEqualTo(dir.resolve("qmp.sock"));
        assertThat(line.serialSockets()).isEmpty();
    }

    @Test
    void socketPathsTooLongForUnixSocketsAreRefusedAndCommasEscaped() throws IOException
    {
        final Path deep = dir.resolve("x".repeat(120));
        assertThatThrownBy(() -> QemuCommandLine.build(spec(BOARD,
            "\"com1\":{\"type\":\"serial_port\",\"component\":{\"num\":\"com1\"}}"), new QemuCommandLine.Options(
            Path.of("qemu"), "vm", deep, new BootSource.Kernel(Path.of("k"), null, null), TCG, null)))
            .isExactlyInstanceOf(IllegalArgumentException.class).hasMessageContaining("unix socket path");
        final Path comma = dir.resolve("a,b");
        final QemuCommandLine line = QemuCommandLine.build(spec(BOARD,
            "\"com1\":{\"type\":\"serial_port\",\"component\":{\"num\":\"com1\"}}"), new QemuCommandLine.Options(
            Path.of("qemu"), "vm", comma, new BootSource.Kernel(Path.of("k"), null, null), TCG, null));
        assertThat(line.argv()).contains("socket,id=com1,path=" + dir + "/a,,b/com1.sock,server=on,wait=off");
        assertThat(line.serialSockets().get("com1")).isEqualTo(comma.resolve("com1.sock"));
    }
}
