package sledagent.hypervisor.qemu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import sledagent.api.Json;

/**
 * The building blocks on a real QEMU with the tiny guest (TCG on this machine kind): the argv is accepted, the guest
 * boots to its marker and ticks, answers the ACPI power button, resets, and a SIGKILL is an EOF without SHUTDOWN.
 * One guest at a time (2 cores). Figures are printed as {@code PERF ...} lines.
 */
class QemuGuestTest
{
    private static final Duration BOOT = Duration.ofSeconds(90);
    private static final long QMP_MS = 5000;

    @TempDir
    Path dir;
    private final List<TestQemu> started = new ArrayList<>();

    @AfterEach
    void killEveryQemu()
    {
        started.forEach(TestQemu::close);
    }

    private TestQemu start(final ObjectNode spec, final boolean qmpOnSocket) throws Exception
    {
        final TestQemu qemu = TestQemu.start(spec, dir, qmpOnSocket);
        started.add(qemu);
        return qemu;
    }

    private static ObjectNode tinySpec() throws IOException
    {
        return (ObjectNode) Json.mapper().readTree("""
            {"board":{"cpus":1,"memory_mb":128,"chipset":{"type":"i440_fx","value":{"enable_pcie":false}}},
             "components":{"com1":{"type":"serial_port","component":{"num":"com1"}}}}""");
    }

    /** Waits for {@code text} to appear {@code times} times on com1; a timeout shows what the guest wrote. */
    private static void awaitSerial(final TestQemu qemu, final String text, final int times, final Duration atMost)
        throws Exception
    {
        try
        {
            await().atMost(atMost).pollInterval(Duration.ofMillis(20)).until(() -> count(qemu.serial(), text) >= times);
        }
        catch (final org.awaitility.core.ConditionTimeoutException e)
        {
            throw new AssertionError("no " + times + "x '" + text + "' on com1 within " + atMost + "; it has: "
                + qemu.serial().replace("\u001b", "<ESC>"), e);
        }
    }

    private static int count(final String text, final String what)
    {
        int n = 0;
        for (int at = text.indexOf(what); at >= 0; at = text.indexOf(what, at + 1))
        {
            n++;
        }
        return n;
    }

    /** Every component QemuCommandLine maps, on QEMU itself: created paused, devices where the spec put them. */
    @Test
    void qemuAcceptsTheArgvOfEverySupportedComponent() throws Exception
    {
        final Path image = dir.resolve("boot.img");
        final Path data = dir.resolve("data.img");
        Files.write(image, new byte[1024 * 1024]);
        Files.write(data, new byte[1024 * 1024]);
        final ObjectNode spec = (ObjectNode) Json.mapper().readTree("""
            {"board":{"cpus":2,"memory_mb":128,"chipset":{"type":"i440_fx","value":{"enable_pcie":false}},
                      "guest_hv_interface":{"type":"bhyve"}},
             "components":{
              "com1":{"type":"serial_port","component":{"num":"com1"}},
              "com2":{"type":"serial_port","component":{"num":"com2"}},
              "boot":{"type":"virtio_disk","component":{"backend_id":"boot-be",
                      "pci_path":{"bus":0,"device":16,"function":0}}},
              "boot-be":{"type":"file_storage_backend","component":{"path":"IMAGE","readonly":true,"block_size":512}},
              "data":{"type":"nvme_disk","component":{"backend_id":"data-be",
                      "pci_path":{"bus":0,"device":17,"function":0},
                      "serial_number":[100,97,116,97,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32]}},
              "data-be":{"type":"file_storage_backend","component":{"path":"DATA","readonly":false,"block_size":4096}},
              "boot-settings":{"type":"boot_settings","component":{"order":[{"id":"boot"},{"id":"data"}]}},
              "pvpanic":{"type":"qemu_pvpanic","component":{"enable_isa":true}}},
             "smbios":{"manufacturer":"Oxide, Inc.","product_name":"VM","serial_number":"s1","version":1}}
            """.replace("IMAGE", image.toString()).replace("DATA", data.toString()));
        final TestQemu qemu = start(spec, false);
        assertThat(qemu.qmp.execute("query-status", null, QMP_MS).get("status").asText()).isEqualTo("prelaunch");
        final List<Integer> slots = new ArrayList<>();
        for (final JsonNode device : qemu.qmp.execute("query-pci", null, QMP_MS).get(0).get("devices"))
        {
            slots.add(device.get("slot").asInt());
        }
        assertThat(slots).contains(16, 17);
        final List<String> nodes = new ArrayList<>();
        for (final JsonNode node : qemu.qmp.execute("query-named-block-nodes", null, QMP_MS))
        {
            nodes.add(node.get("node-name").asText() + (node.get("ro").asBoolean() ? ":ro" : ":rw"));
        }
        assertThat(nodes).contains("disk0:ro", "disk1:rw");
        assertThat(qemu.qmp.execute("query-cpus-fast", null, QMP_MS)).hasSize(2);
        assertThat(qemu.line.serialSockets().keySet()).containsExactly("com1", "com2");
        assertThat(Files.exists(qemu.line.serialSockets().get("com2"))).isTrue();

        qemu.qmp.execute("quit", null, QMP_MS);
        assertThat(qemu.process.waitFor(10, TimeUnit.SECONDS)).isTrue();
        assertThat(qemu.process.exitValue()).isZero();
        await().atMost(Duration.ofSeconds(5)).until(() -> qemu.eofs.get() == 1);
        assertThat(qemu.eventNames()).containsExactly("SHUTDOWN");
        assertThat(qemu.events.get(0).reason()).isEqualTo("host-qmp-quit");
    }

    @Test
    void qmpOverTheUnixSocketToo() throws Exception
    {
        final TestQemu qemu = start(tinySpec(), true);
        assertThat(qemu.qmp.greeting().at("/QMP/version/qemu/major").asInt()).isGreaterThanOrEqualTo(7);
        assertThat(qemu.qmp.execute("query-status", null, QMP_MS).get("status").asText()).isEqualTo("prelaunch");
        qemu.qmp.execute("quit", null, QMP_MS);
        assertThat(qemu.process.waitFor(10, TimeUnit.SECONDS)).isTrue();
        await().atMost(Duration.ofSeconds(5)).until(() -> qemu.eofs.get() == 1);
    }

    /** cont, marker, ticks, a command on the serial shell, then the ACPI power button ends QEMU by itself. */
    @Test
    void theGuestBootsTicksTakesInputAndPowersOffOnTheAcpiButton() throws Exception
    {
        final TestQemu qemu = start(tinySpec(), false);
        qemu.com1.connected().get(10, TimeUnit.SECONDS);
        qemu.qmp.execute("cont", null, QMP_MS);
        await().atMost(Duration.ofSeconds(5)).until(() -> qemu.eventNames().contains("RESUME"));
        awaitSerial(qemu, "GUEST-READY", 1, BOOT);
        final long markerMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - qemu.execNs);
        final Matcher uptime = Pattern.compile("GUEST-READY uptime=([0-9.]+)").matcher(qemu.serial());
        assertThat(uptime.find()).isTrue();
        awaitSerial(qemu, "tick 2\r\n", 1, Duration.ofSeconds(30)); // the tty writes CR LF
        System.out.println("PERF qemu exec->GUEST-READY " + markerMs + " ms (guest uptime " + uptime.group(1)
            + " s), QEMU RSS " + qemu.rssKb() / 1024 + " MiB, accel "
            + Accelerator.choose(Accelerator.Mode.AUTO).accel());

        // The input path: a command on the serial shell, its output in the history.
        assertThat(qemu.com1.write("echo answer-$((6*7))\n".getBytes(StandardCharsets.US_ASCII))).isTrue();
        awaitSerial(qemu, "answer-42", 1, Duration.ofSeconds(30));

        final long powerdownNs = System.nanoTime();
        qemu.qmp.execute("system_powerdown", null, QMP_MS);
        assertThat(qemu.process.waitFor(60, TimeUnit.SECONDS)).as("QEMU exits after the guest powers off").isTrue();
        System.out.println("PERF qemu system_powerdown->exit "
            + TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - powerdownNs) + " ms");
        assertThat(qemu.process.exitValue()).isZero();
        await().atMost(Duration.ofSeconds(5)).until(() -> qemu.eofs.get() == 1);
        assertThat(qemu.eventNames()).containsSubsequence("RESUME", "POWERDOWN", "SHUTDOWN");
        final QmpEvent shutdown = qemu.events.get(qemu.eventNames().lastIndexOf("SHUTDOWN"));
        assertThat(shutdown.guest()).isTrue();
        assertThat(shutdown.reason()).isEqualTo("guest-shutdown");
        assertThat(qemu.serial()).contains("GUEST-POWEROFF");
        qemu.com1.ended().get(5, TimeUnit.SECONDS);
        assertThat(qemu.eofs.get()).isEqualTo(1);
    }

    /** system_reset: the host's RESET then the firmware's guest RESETs, the guest boots again to its marker. */
    @Test
    void systemResetGivesResetEventsAndTheMarkerAgain() throws Exception
    {
        final TestQemu qemu = start(tinySpec(), false);
        qemu.qmp.execute("cont", null, QMP_MS);
        awaitSerial(qemu, "GUEST-READY", 1, BOOT);
        final long resetNs = System.nanoTime();
        qemu.qmp.execute("system_reset", null, QMP_MS);
        awaitSerial(qemu, "GUEST-READY", 2, BOOT);
        System.out.println("PERF qemu system_reset->GUEST-READY "
            + TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - resetNs) + " ms");
        final List<QmpEvent> resets = qemu.events.stream().filter(event -> event.name().equals("RESET")).toList();
        assertThat(resets).isNotEmpty();
        assertThat(resets.get(0).guest()).isFalse();
        assertThat(resets.get(0).reason()).isEqualTo("host-qmp-system-reset");
        assertThat(qemu.eventNames()).doesNotContain("SHUTDOWN");
        assertThat(qemu.qmp.execute("query-status", null, QMP_MS).get("status").asText()).isEqualTo("running");
        qemu.qmp.execute("quit", null, QMP_MS);
        assertThat(qemu.process.waitFor(10, TimeUnit.SECONDS)).isTrue();
    }

    /** QEMU killed from outside: QMP's end of stream without any SHUTDOWN, the serial reader ends too. */
    @Test
    void sigkillIsAnEofWithoutShutdown() throws Exception
    {
        final TestQemu qemu = start(tinySpec(), false);
        qemu.qmp.execute("cont", null, QMP_MS);
        awaitSerial(qemu, "GUEST-READY", 1, BOOT);
        final long killNs = System.nanoTime();
        qemu.process.destroyForcibly(); // SIGKILL
        await().atMost(Duration.ofSeconds(10)).until(() -> qemu.eofs.get() == 1);
        System.out.println("PERF qemu SIGKILL->QMP EOF " + TimeUnit.NANOSECONDS.toMicros(qemu.eofNs - killNs) / 1000.0
            + " ms");
        assertThat(qemu.process.waitFor(10, TimeUnit.SECONDS)).isTrue();
        assertThat(qemu.process.exitValue()).isEqualTo(128 + 9);
        assertThat(qemu.eventNames()).doesNotContain("SHUTDOWN");
        qemu.com1.ended().get(5, TimeUnit.SECONDS);
        assertThat(qemu.qmp.isOpen()).isFalse();
    }
}
