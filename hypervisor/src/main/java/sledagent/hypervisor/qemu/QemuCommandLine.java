package sledagent.hypervisor.qemu;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import sledagent.api.Json;

/**
 * The {@code qemu-system-x86_64} argv for one Propolis v5 instance spec.
 *
 * <p>Always: {@code -nodefaults -no-user-config -display none} (nothing the spec does not ask for), the strict
 * sandbox libvirt uses, {@code -S} (the VM is created paused: Propolis's Creating; {@code cont} runs it), QMP on
 * stdio (or a unix socket), and each serial port as a unix-socket chardev ({@code server=on,wait=off}) for a
 * {@link SerialConsole}. Not {@code -no-shutdown}: a guest poweroff makes QEMU report {@code SHUTDOWN} (guest
 * true) and exit by itself, so the VM ends as Stopping, Stopped, Destroyed with QEMU gone, the same path as a Stop's
 * {@code quit}, and a wedged server cannot leave a halted QEMU holding its memory.
 *
 * <p>The spec: {@code board.cpus} → {@code -smp}, {@code memory_mb} → {@code -m}, the i440fx chipset →
 * {@code -machine pc}, {@code smbios} → {@code -smbios type=1}; components: {@code serial_port} com1..com4 →
 * {@code isa-serial} at the standard I/O ports, {@code virtio_disk} / {@code nvme_disk} on a
 * {@code file_storage_backend} → a raw file-backed drive at the spec's PCI slot with its block size and read-only
 * flag, {@code boot_settings} → {@code bootindex} in its order, {@code qemu_pvpanic} → the ISA {@code pvpanic}
 * device. Everything else is refused with an {@link UnsupportedComponentException} naming the component; nothing
 * is silently dropped. Ignored, as they change nothing the guest sees: a file backend's {@code workers}, and
 * {@code guest_hv_interface} {@code bhyve} (the default). A malformed spec is an IllegalArgumentException.
 */
public final class QemuCommandLine
{
    /** Linux's {@code sun_path}: a unix socket path must be shorter (in bytes, with its NUL). */
    static final int MAX_SOCKET_PATH_BYTES = 107;
    private static final String SANDBOX = "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny";
    private static final String[] COM_PORTS = {"com1", "com2", "com3", "com4"};
    /** Slots the pc machine's chipset occupies: host bridge (0) and PIIX3 ISA/IDE/ACPI (1). */
    private static final int FIRST_FREE_PCI_SLOT = 2;

    /**
     * What the spec does not say.
     *
     * @param qemuBinary the QEMU executable ({@code argv[0]})
     * @param name       the VM's name ({@code -name}), e.g. the instance's name
     * @param runDir     directory for the sockets (serial ports, QMP when not on stdio); must exist
     * @param boot       the boot source
     * @param accel      the accelerator
     * @param qmpSocket  null for {@code -qmp stdio} (what propolis-qemu uses), or a unix socket path
     */
    public record Options(Path qemuBinary, String name, Path runDir, BootSource boot, Accelerator.Choice accel,
        Path qmpSocket)
    {
        public Options
        {
            Objects.requireNonNull(qemuBinary, "qemuBinary");
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(runDir, "runDir");
            Objects.requireNonNull(boot, "boot");
            Objects.requireNonNull(accel, "accel");
        }
    }

    private final List<String> argv;
    private final Map<String, Path> serialSockets;
    private final Path qmpSocket;

    private QemuCommandLine(final List<String> argv, final Map<String, Path> serialSockets, final Path qmpSocket)
    {
        this.argv = List.copyOf(argv);
        this.serialSockets = Collections.unmodifiableMap(serialSockets);
        this.qmpSocket = qmpSocket;
    }

    /** The argv, {@code argv[0]} being the QEMU binary. */
    public List<String> argv()
    {
        return argv;
    }

    /** The serial ports' sockets by port ({@code "com1"} → path), in port order. com1 is the console. */
    public Map<String, Path> serialSockets()
    {
        return serialSockets;
    }

    /** The QMP socket, or null for QMP on stdio. */
    public Path qmpSocket()
    {
        return qmpSocket;
    }

    /**
     * This command line for a migration target: {@code -incoming defer}, so that QEMU waits (in {@code inmigrate})
     * for {@code migrate-incoming} on an address chosen after start. With {@code -S} still there, the VM stays
     * paused once the state is in, until {@code cont}.
     *
     * @return a new command line
     */
    public QemuCommandLine withIncomingDefer()
    {
        final List<String> incoming = new ArrayList<>(argv);
        incoming.addAll(List.of("-incoming", "defer"));
        return new QemuCommandLine(incoming, new LinkedHashMap<>(serialSockets), qmpSocket);
    }

    /** The argv as one shell-quoted line, for the log. */
    public String toShellLine()
    {
        final StringBuilder line = new StringBuilder();
        for (final String arg : argv)
        {
            if (line.length() > 0)
            {
                line.append(' ');
            }
            line.append(arg.matches("[A-Za-z0-9_./,=:+@%-]+") ? arg : "'" + arg.replace("'", "'\\''") + "'");
        }
        return line.toString();
    }

    /**
     * Builds the argv for {@code spec} (a Propolis v5 {@code InstanceSpec}: {@code board}, {@code components},
     * {@code smbios}).
     *
     * @throws UnsupportedComponentException a component or board setting propolis-qemu cannot honour
     * @throws IllegalArgumentException      a malformed spec, or a socket path too long for a unix socket
     */
    public static QemuCommandLine build(final ObjectNode spec, final Options options)
    {
        Objects.requireNonNull(spec, "spec");
        Objects.requireNonNull(options, "options");
        final List<String> args = new ArrayList<>();
        args.add(options.qemuBinary().toString());
        args.addAll(List.of("-name", escape(options.name()), "-nodefaults", "-no-user-config", "-sandbox", SANDBOX,
            "-display", "none", "-S"));

        board(object(spec, "board", "spec"), options.accel(), args);

        if (options.qmpSocket() == null)
        {
            args.addAll(List.of("-qmp", "stdio"));
        }
        else
        {
            args.addAll(List.of("-qmp", "unix:" + escape(socketPath(options.qmpSocket()).toString())
                + ",server=on,wait=off"));
        }

        final Map<String, JsonNode> components = new TreeMap<>();
        final JsonNode componentsNode = spec.get("components");
        if (!(componentsNode instanceof ObjectNode componentMap))
        {
            throw new IllegalArgumentException("spec.components must be an object");
        }
        componentMap.properties().forEach(entry -> components.put(entry.getKey(), entry.getValue()));

        // Boot order first: the disks need their bootindex.
        final Map<String, Integer> bootIndex = bootOrder(components);

        final Map<String, Path> serialSockets = new LinkedHashMap<>();
        final Map<String, String> serialKeys = new TreeMap<>();
        final Map<Integer, String> pciSlots = new HashMap<>();
        int diskNumber = 0;
        for (final Map.Entry<String, JsonNode> entry : components.entrySet())
        {
            final String key = entry.getKey();
            final String type = text(entry.getValue(), "type", key);
            final JsonNode component = entry.getValue().get("component");
            switch (type)
            {
                case "serial_port" ->
                {
                    final String num = text(component, "num", key);
                    if (!List.of(COM_PORTS).contains(num))
                    {
                        throw new IllegalArgumentException("component '" + key + "': unknown serial port " + num);
                    }
                    final String other = serialKeys.put(num, key);
                    if (other != null)
                    {
                        throw new UnsupportedComponentException(key, type, num + " is already component '" + other
                            + "'");
                    }
                }
                case "virtio_disk", "nvme_disk" ->
                {
                    disk(key, type, component, components, bootIndex.get(key), "disk" + diskNumber, pciSlots, args);
                    diskNumber++;
                }
                case "file_storage_backend", "boot_settings" ->
                {
                    // Used through the disks that name them (a backend no disk names has nothing to attach to).
                }
                case "qemu_pvpanic" ->
                {
                    if (bool(component, "enable_isa", key))
                    {
                        args.addAll(List.of("-device", "pvpanic"));
                    }
                }
                case "crucible_storage_backend" -> throw new UnsupportedComponentException(key, type,
                    "Crucible storage is not supported by propolis-qemu (only file_storage_backend)");
                case "blob_storage_backend" -> throw new UnsupportedComponentException(key, type,
                    "blob storage is not supported by propolis-qemu (only file_storage_backend)");
                case "virtio_nic", "virtio_network_backend", "dlpi_network_backend" ->
                    throw new UnsupportedComponentException(key, type,
                        "networking (virtio NICs on OPTE/viona or DLPI) is not supported by propolis-qemu");
                default -> throw new UnsupportedComponentException(key, type, "not supported by propolis-qemu");
            }
        }
        for (int i = 0; i < COM_PORTS.length; i++)
        {
            final String num = COM_PORTS[i];
            if (serialKeys.containsKey(num))
            {
                final Path socket = socketPath(options.runDir().resolve(num + ".sock"));
                serialSockets.put(num, socket);
                args.addAll(List.of("-chardev", "socket,id=" + num + ",path=" + escape(socket.toString())
                    + ",server=on,wait=off", "-device", "isa-serial,chardev=" + num + ",index=" + i));
            }
        }

        smbios(spec.get("smbios"), args);
        boot(options.boot(), args);
        return new QemuCommandLine(args, serialSockets, options.qmpSocket());
    }

    private static void board(final ObjectNode board, final Accelerator.Choice accel, final List<String> args)
    {
        final ObjectNode chipset = object(board, "chipset", "board");
        final String chipsetType = text(chipset, "type", "board.chipset");
        if (!"i440_fx".equals(chipsetType))
        {
            throw new UnsupportedComponentException("board", "chipset", "unknown chipset " + chipsetType);
        }
        if (bool(object(chipset, "value", "board.chipset"), "enable_pcie", "board.chipset.value"))
        {
            throw new UnsupportedComponentException("board", "chipset",
                "PCIe extended configuration on i440fx (enable_pcie true) is not supported by propolis-qemu");
        }
        final JsonNode cpuid = board.get("cpuid");
        if (cpuid != null && !cpuid.isNull())
        {
            throw new UnsupportedComponentException("board", "cpuid",
                "an explicit CPUID table is not supported by propolis-qemu");
        }
        final JsonNode hv = board.get("guest_hv_interface");
        if (hv != null && !hv.isNull() && !"bhyve".equals(hv.path("type").asText()))
        {
            throw new UnsupportedComponentException("board", "guest_hv_interface",
                "the " + hv.path("type").asText() + " hypervisor interface is not supported by propolis-qemu");
        }
        final long cpus = number(board, "cpus", "board");
        if (cpus < 1 || cpus > 255)
        {
            throw new UnsupportedComponentException("board", "cpus", "cpus must be 1..255, not " + cpus);
        }
        final long memoryMb = number(board, "memory_mb", "board");
        if (memoryMb < 1 || memoryMb > 1024 * 1024)
        {
            throw new UnsupportedComponentException("board", "memory_mb", "memory_mb must be 1..1048576, not "
                + memoryMb);
        }
        args.addAll(List.of("-machine", "pc", "-accel", accel.accel()));
        if (accel.isKvm())
        {
            args.addAll(List.of("-cpu", "host"));
        }
        args.addAll(List.of("-smp", Long.toString(cpus), "-m", memoryMb + "M"));
    }

    /** {@code boot_settings}: disk key → its position in the order. At most one such component. */
    private static Map<String, Integer> bootOrder(final Map<String, JsonNode> components)
    {
        final Map<String, Integer> order = new HashMap<>();
        String settingsKey = null;
        for (final Map.Entry<String, JsonNode> entry : components.entrySet())
        {
            if (!"boot_settings".equals(entry.getValue().path("type").asText()))
            {
                continue;
            }
            if (settingsKey != null)
            {
                throw new UnsupportedComponentException(entry.getKey(), "boot_settings",
                    "only one boot_settings component is allowed (another is '" + settingsKey + "')");
            }
            settingsKey = entry.getKey();
            final JsonNode entries = entry.getValue().path("component").get("order");
            if (entries == null || !entries.isArray())
            {
                throw new IllegalArgumentException("component '" + settingsKey + "': order must be an array");
            }
            for (final JsonNode bootEntry : entries)
            {
                final String id = text(bootEntry, "id", settingsKey);
                final String targetType = components.containsKey(id) ? components.get(id).path("type").asText() : null;
                if (!"virtio_disk".equals(targetType) && !"nvme_disk".equals(targetType))
                {
                    throw new UnsupportedComponentException(settingsKey, "boot_settings", "boot order entry '" + id
                        + "' is " + (targetType == null ? "not a component of the spec" : "a " + targetType)
                        + ": only disks can be booted from");
                }
                if (order.putIfAbsent(id, order.size()) != null)
                {
                    throw new UnsupportedComponentException(settingsKey, "boot_settings", "boot order entry '" + id
                        + "' appears twice");
                }
            }
        }
        return order;
    }

    private static void disk(final String key, final String type, final JsonNode disk,
        final Map<String, JsonNode> components, final Integer bootIndex, final String node,
        final Map<Integer, String> pciSlots, final List<String> args)
    {
        final String backendId = text(disk, "backend_id", key);
        final JsonNode backendComponent = components.get(backendId);
        if (backendComponent == null)
        {
            throw new UnsupportedComponentException(key, type, "backend '" + backendId + "' is not in the spec");
        }
        final String backendType = backendComponent.path("type").asText();
        if (!"file_storage_backend".equals(backendType))
        {
            throw new UnsupportedComponentException(backendId, backendType,
                "disk '" + key + "' needs a file_storage_backend; " + backendType
                    + " is not supported by propolis-qemu");
        }
        final JsonNode backend = backendComponent.get("component");
        final String file = text(backend, "path", backendId);
        if (!Files.exists(Path.of(file)))
        {
            throw new UnsupportedComponentException(backendId, backendType, "file " + file + " does not exist");
        }
        final boolean readOnly = bool(backend, "readonly", backendId);
        final long blockSize = number(backend, "block_size", backendId);
        if (blockSize < 512 || blockSize > 2 * 1024 * 1024 || Long.bitCount(blockSize) != 1)
        {
            throw new UnsupportedComponentException(backendId, backendType,
                "block_size must be a power of two from 512 to 2 MiB, not " + blockSize);
        }

        final JsonNode pci = disk.get("pci_path");
        final long bus = number(pci, "bus", key + ".pci_path");
        final long device = number(pci, "device", key + ".pci_path");
        final long function = number(pci, "function", key + ".pci_path");
        if (bus != 0)
        {
            throw new UnsupportedComponentException(key, type, "PCI bus " + bus + ": only bus 0 exists");
        }
        if (device < FIRST_FREE_PCI_SLOT || device > 31)
        {
            throw new UnsupportedComponentException(key, type, "PCI device " + device
                + ": slots 0 and 1 belong to the chipset, the last is 31");
        }
        if (function != 0)
        {
            throw new UnsupportedComponentException(key, type, "PCI function " + function
                + ": only function 0 is supported");
        }
        final String other = pciSlots.put((int) device, key);
        if (other != null)
        {
            throw new UnsupportedComponentException(key, type, "PCI device " + device + " is also '" + other + "'");
        }

        final ObjectNode fileNode = Json.mapper().createObjectNode().put("driver", "file")
            .put("node-name", node + "-file").put("filename", file).put("read-only", readOnly);
        final ObjectNode rawNode = Json.mapper().createObjectNode().put("driver", "raw").put("node-name", node)
            .put("file", node + "-file").put("read-only", readOnly);
        final ObjectNode deviceNode = Json.mapper().createObjectNode()
            .put("driver", "virtio_disk".equals(type) ? "virtio-blk-pci" : "nvme").put("id", node + "-dev")
            .put("drive", node).put("bus", "pci.0").put("addr", String.format("0x%x.0x0", device))
            .put("logical_block_size", blockSize).put("physical_block_size", blockSize);
        if ("nvme_disk".equals(type))
        {
            deviceNode.put("serial", nvmeSerial(key, disk.get("serial_number")));
        }
        if (bootIndex != null)
        {
            deviceNode.put("bootindex", bootIndex + 1); // 0 is taken by -kernel's linuxboot ROM
        }
        args.addAll(List.of("-blockdev", fileNode.toString(), "-blockdev", rawNode.toString(),
            "-device", deviceNode.toString()));
    }

    /** NVMe's 20-byte serial number as QEMU's string: printable ASCII, trailing spaces and NULs dropped. */
    private static String nvmeSerial(final String key, final JsonNode bytes)
    {
        if (bytes == null || !bytes.isArray())
        {
            throw new IllegalArgumentException("component '" + key + "': serial_number must be an array of bytes");
        }
        final StringBuilder serial = new StringBuilder();
        for (final JsonNode b : bytes)
        {
            final int value = b.asInt(-1);
            if (!b.isIntegralNumber() || value < 0 || value > 255)
            {
                throw new IllegalArgumentException("component '" + key + "': serial_number holds " + b);
            }
            serial.append((char) value);
        }
        final String trimmed = serial.toString().replaceAll("[ \\x00]+$", "");
        if (trimmed.isEmpty() || !trimmed.matches("[\\x21-\\x7e][\\x20-\\x7e]*"))
        {
            throw new UnsupportedComponentException(key, "nvme_disk",
                "serial_number must be printable ASCII (padded with spaces or NULs) for QEMU's nvme device");
        }
        return trimmed;
    }

    private static void smbios(final JsonNode smbios, final List<String> args)
    {
        if (smbios == null || smbios.isNull())
        {
            return;
        }
        args.addAll(List.of("-smbios", "type=1,manufacturer=" + escape(text(smbios, "manufacturer", "smbios"))
            + ",product=" + escape(text(smbios, "product_name", "smbios"))
            + ",serial=" + escape(text(smbios, "serial_number", "smbios"))
            + ",version=" + number(smbios, "version", "smbios")));
    }

    private static void boot(final BootSource boot, final List<String> args)
    {
        if (boot instanceof BootSource.Kernel kernel)
        {
            args.addAll(List.of("-kernel", kernel.kernel().toString()));
            if (kernel.initrd() != null)
            {
                args.addAll(List.of("-initrd", kernel.initrd().toString()));
            }
            if (kernel.append() != null)
            {
                args.addAll(List.of("-append", kernel.append()));
            }
        }
        else if (boot instanceof BootSource.Bootrom bootrom)
        {
            args.addAll(List.of("-bios", bootrom.firmware().toString()));
        }
    }

    private static Path socketPath(final Path path)
    {
        final int bytes = path.toAbsolutePath().toString().getBytes(StandardCharsets.UTF_8).length;
        if (bytes > MAX_SOCKET_PATH_BYTES)
        {
            throw new IllegalArgumentException("socket path " + path + " is " + bytes + " bytes; a unix socket path "
                + "must be at most " + MAX_SOCKET_PATH_BYTES + " (use a shorter run directory)");
        }
        return path.toAbsolutePath();
    }

    /** QEMU's option syntax: a comma inside a value is written twice. */
    static String escape(final String value)
    {
        return value.replace(",", ",,");
    }

    private static ObjectNode object(final JsonNode parent, final String field, final String where)
    {
        final JsonNode node = parent == null ? null : parent.get(field);
        if (!(node instanceof ObjectNode object))
        {
            throw new IllegalArgumentException(where + "." + field + " must be an object");
        }
        return object;
    }

    private static String text(final JsonNode parent, final String field, final String where)
    {
        final JsonNode node = parent == null ? null : parent.get(field);
        if (node == null || !node.isTextual())
        {
            throw new IllegalArgumentException(where + "." + field + " must be a string");
        }
        return node.asText();
    }

    private static long number(final JsonNode parent, final String field, final String where)
    {
        final JsonNode node = parent == null ? null : parent.get(field);
        if (node == null || !node.canConvertToLong() || !node.isIntegralNumber())
        {
            throw new IllegalArgumentException(where + "." + field + " must be an integer");
        }
        return node.asLong();
    }

    private static boolean bool(final JsonNode parent, final String field, final String where)
    {
        final JsonNode node = parent == null ? null : parent.get(field);
        if (node == null || !node.isBoolean())
        {
            throw new IllegalArgumentException(where + "." + field + " must be a boolean");
        }
        return node.asBoolean();
    }
}
