package sledagent.hypervisor.qemu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.atlassian.oai.validator.model.Request.Method;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import sledagent.api.Json;
import sledagent.api.Specs;

/**
 * propolis-qemu as a process, with real QEMU under TCG and the tiny guest ({@code scripts/build-guest.sh}), against
 * the Propolis v5 spec: every answer's JSON validated by the spec file's validator ({@link Specs}), the error codes,
 * and the VM's life (run, reboot, stop, guest poweroff, QEMU killed, QEMU frozen). One guest at a time.
 */
class PropolisQemuProcessTest
{
    private static final Specs.Api API = Specs.propolis();
    private static final Duration BOOT = Duration.ofSeconds(60);
    private static final String MARKER = "GUEST-READY";
    private static Path guest;

    private QemuServerProcess server;

    @BeforeAll
    static void buildGuest() throws Exception
    {
        guest = Path.of("target", "guest").toAbsolutePath();
        final Process build = new ProcessBuilder("bash", "scripts/build-guest.sh", guest.toString())
            .redirectErrorStream(true).start();
        final boolean done = build.waitFor(120, TimeUnit.SECONDS);
        final String output = new String(build.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!done)
        {
            build.destroyForcibly();
        }
        assertThat(done && build.exitValue() == 0).as("build-guest.sh: " + output).isTrue();
    }

    @AfterEach
    void tearDown() throws IOException
    {
        if (server != null)
        {
            server.close();
        }
    }

    @Test
    void shouldAnswerAsTheSpecSaysAroundEnsure() throws Exception
    {
        server = QemuServerProcess.start(guest, null);

        for (final String path : new String[] {"/instance", "/instance/migration-status"})
        {
            assertError(call("GET", path, null), 424, "NoInstance");
        }
        assertError(call("PUT", "/instance/state", "\"Run\""), 424, "NoInstance");
        assertError(call("GET", "/instance/state-monitor", "{\"gen\":0}"), 424, "NoInstance");
        assertError(call("GET", "/instance/serial/history?most_recent=10", null), 424, "NoInstance");

        final ObjectNode crucible = ensureBody("vm");
        ((ObjectNode) crucible.at("/init/value/spec/components")).putObject("disk0-backend")
            .put("type", "crucible_storage_backend").putObject("component")
            .put("readonly", false).put("request_json", "{}");
        final HttpResponse<String> refused = call("PUT", "/instance", crucible.toString());
        assertThat(refused.statusCode()).isEqualTo(400);
        assertThat(refused.body()).contains("disk0-backend").contains("crucible_storage_backend");
        assertValidResponse("PUT", "/instance", refused);
        assertThat(server.children()).as("no QEMU for a refused spec").isEmpty();

        final HttpResponse<String> created = call("PUT", "/instance", ensureBody("vm").toString());
        assertThat(created.statusCode()).as(created.body()).isEqualTo(201);
        assertValidResponse("PUT", "/instance", created);
        assertError(call("PUT", "/instance", ensureBody("other").toString()), 409, "AlreadyInitialized");

        final HttpResponse<String> instance = call("GET", "/instance", null);
        assertValidResponse("GET", "/instance", instance);
        assertThat(tree(instance).at("/instance/state").asText()).isEqualTo("Creating");
        assertValidResponse("GET", "/instance/migration-status", call("GET", "/instance/migration-status", null));
        final HttpResponse<String> first = call("GET", "/instance/state-monitor", "{\"gen\":0}");
        assertValidResponse("GET", "/instance/state-monitor", first);
        assertThat(tree(first).get("gen").asLong()).isEqualTo(1);
        assertError(call("GET", "/instance/serial/history", null), 400, null);
        final HttpResponse<String> history = call("GET", "/instance/serial/history?from_start=0", null);
        assertValidResponse("GET", "/instance/serial/history", history);

        assertThat(call("PUT", "/instance/state", "\"Reboot\"").statusCode()).as("Reboot before Run")
            .isEqualTo(403);
        final HttpResponse<String> stop = call("PUT", "/instance/state", "\"Stop\"");
        assertThat(stop.statusCode()).isEqualTo(204);
        assertValidResponse("PUT", "/instance/state", stop);
        final HttpResponse<String> run = call("PUT", "/instance/state", "\"Run\"");
        assertThat(run.statusCode()).isEqualTo(403);
        assertValidResponse("PUT", "/instance/state", run);
        assertThat(call("PUT", "/instance/state", "\"Stop\"").statusCode()).as("Stop de-duplicated").isEqualTo(204);

        final JsonNode destroyed = awaitState(2, "Destroyed");
        assertThat(destroyed.get("gen").asLong()).as("Stopped, then Destroyed").isEqualTo(3);
        assertThat(server.children()).as("QEMU gone").isEmpty();
        assertThat(server.process().isAlive()).as("the server stays up after Destroyed").isTrue();
        assertError(call("GET", "/instance/state-monitor", "{\"gen\":4}"), 410, "NoInstance");
    }

    @Test
    void shouldRunRebootAndStopARealGuest() throws Exception
    {
        server = QemuServerProcess.start(guest, null);
        final long ensureNs = System.nanoTime();
        assertThat(call("PUT", "/instance", ensureBody("vm").toString()).statusCode()).isEqualTo(201);
        final ProcessHandle qemu = server.qemu();
        assertThat(call("PUT", "/instance/state", "\"Run\"").statusCode()).isEqualTo(204);
        final JsonNode running = awaitState(2, "Running");
        final long runningMs = msSince(ensureNs);
        assertThat(running.get("gen").asLong()).isEqualTo(3);
        await().atMost(BOOT).pollInterval(Duration.ofMillis(50)).until(() -> markers() >= 1);
        final long markerMs = msSince(ensureNs);
        assertValidResponse("GET", "/instance/serial/history",
            call("GET", "/instance/serial/history?most_recent=4096", null));

        assertThat(call("PUT", "/instance/state", "\"Reboot\"").statusCode()).isEqualTo(204);
        final JsonNode rebooted = awaitState(4, "Running");
        assertThat(rebooted.get("gen").asLong()).as("Rebooting, then Running").isEqualTo(5);
        await().atMost(BOOT).pollInterval(Duration.ofMillis(50)).until(() -> markers() >= 2);
        assertThat(qemu.isAlive()).as("a reboot keeps QEMU").isTrue();

        final long qemuRssKb = rssKb(qemu.pid());
        final long javaRssKb = rssKb(server.process().pid());
        final long stopNs = System.nanoTime();
        assertThat(call("PUT", "/instance/state", "\"Stop\"").statusCode()).isEqualTo(204);
        final JsonNode destroyed = awaitState(6, "Destroyed");
        final long stopMs = msSince(stopNs);
        assertThat(destroyed.get("gen").asLong()).as("Stopping, Stopped, Destroyed").isEqualTo(8);
        assertThat(qemu.isAlive()).isFalse();
        assertThat(server.stderr()).contains("qemu argv: ").contains("accelerator tcg");
        System.out.printf("propolis-qemu figures: ensure+run->Running %d ms, ensure->%s %d ms, stop->Destroyed %d ms,"
            + " propolis-qemu RSS %d MiB, QEMU RSS %d MiB%n", runningMs, MARKER, markerMs, stopMs, javaRssKb / 1024,
            qemuRssKb / 1024);
    }

    @Test
    void shouldEndAsDestroyedWhenTheGuestPowersOff() throws Exception
    {
        // PID 1 is busybox poweroff: it waits 2 s, then powers the machine off through ACPI.
        server = QemuServerProcess.start(guest, "console=ttyS0 quiet panic=-1 rdinit=/bin/poweroff -- -f -d 2");
        assertThat(call("PUT", "/instance", ensureBody("vm").toString()).statusCode()).isEqualTo(201);
        final ProcessHandle qemu = server.qemu();
        assertThat(call("PUT", "/instance/state", "\"Run\"").statusCode()).isEqualTo(204);
        awaitState(2, "Running");
        final JsonNode destroyed = awaitState(4, "Destroyed");
        assertThat(destroyed.get("gen").asLong()).as("Stopping, Stopped, Destroyed; stderr:\n%s", server.stderr())
            .isEqualTo(6);
        assertThat(qemu.isAlive()).isFalse();
    }

    @Test
    void shouldFailWhenQemuIsKilledFromOutside() throws Exception
    {
        server = QemuServerProcess.start(guest, null);
        assertThat(call("PUT", "/instance", ensureBody("vm").toString()).statusCode()).isEqualTo(201);
        final ProcessHandle qemu = server.qemu();
        assertThat(call("PUT", "/instance/state", "\"Run\"").statusCode()).isEqualTo(204);
        awaitState(2, "Running");

        qemu.destroyForcibly();

        final JsonNode failed = awaitState(4, "Failed");
        assertThat(failed.get("gen").asLong()).isEqualTo(4);
        assertThat(server.process().isAlive()).isTrue();
    }

    @Test
    void shouldStopAFrozenQemuByKillingIt() throws Exception
    {
        server = QemuServerProcess.start(guest, null);
        assertThat(call("PUT", "/instance", ensureBody("vm").toString()).statusCode()).isEqualTo(201);
        final ProcessHandle qemu = server.qemu();
        assertThat(call("PUT", "/instance/state", "\"Run\"").statusCode()).isEqualTo(204);
        awaitState(2, "Running");
        signal("STOP", qemu.pid());

        final long stopNs = System.nanoTime();
        assertThat(call("PUT", "/instance/state", "\"Stop\"").statusCode()).isEqualTo(204);
        final JsonNode destroyed = awaitState(4, "Destroyed");
        final long stopMs = msSince(stopNs);
        assertThat(destroyed.get("gen").asLong()).isEqualTo(6);
        assertThat(qemu.isAlive()).isFalse();
        assertThat(server.stderr()).contains("SIGKILL");
        System.out.printf("propolis-qemu figures: stop of a SIGSTOPped QEMU -> Destroyed %d ms%n", stopMs);
    }

    // ---- helpers ----

    private int markers() throws Exception
    {
        final HttpResponse<String> history = call("GET", "/instance/serial/history?from_start=0&max_bytes=1048576",
            null);
        final StringBuilder text = new StringBuilder();
        tree(history).get("data").forEach(b -> text.append((char) b.asInt()));
        return text.toString().split(MARKER, -1).length - 1;
    }

    /** Long-polls from {@code fromGen} until the state is {@code state} (a bounded wait). */
    private JsonNode awaitState(final long fromGen, final String state) throws Exception
    {
        final long deadlineNs = System.nanoTime() + BOOT.toNanos();
        long gen = fromGen;
        while (System.nanoTime() < deadlineNs)
        {
            final HttpResponse<String> answer = call("GET", "/instance/state-monitor", "{\"gen\":" + gen + "}");
            assertThat(answer.statusCode()).as(answer.body()).isEqualTo(200);
            assertValidResponse("GET", "/instance/state-monitor", answer);
            final JsonNode body = tree(answer);
            if (state.equals(body.get("state").asText()))
            {
                return body;
            }
            gen = body.get("gen").asLong() + 1;
        }
        throw new AssertionError("no " + state + " within " + BOOT + "; stderr:\n" + server.stderr());
    }

    private HttpResponse<String> call(final String method, final String path, final String body) throws Exception
    {
        return server.call(method, path, body);
    }

    private static void assertError(final HttpResponse<String> response, final int status, final String errorCode)
        throws IOException
    {
        assertThat(response.statusCode()).as(response.body()).isEqualTo(status);
        final JsonNode body = tree(response);
        assertThat(body.hasNonNull("request_id")).isTrue();
        assertThat(body.hasNonNull("message")).isTrue();
        if (errorCode != null)
        {
            assertThat(body.path("error_code").asText()).isEqualTo(errorCode);
        }
        final String path = response.request().uri().getPath();
        assertValidResponse(response.request().method(), path, response);
    }

    private static void assertValidResponse(final String method, final String path,
        final HttpResponse<String> response)
    {
        final String body = response.body().isEmpty() ? null : response.body();
        Specs.assertValid(API.responseRaw(Method.valueOf(method), path, response.statusCode(), body));
    }

    private static JsonNode tree(final HttpResponse<String> response) throws IOException
    {
        return Json.mapper().readTree(response.body());
    }

    private static ObjectNode ensureBody(final String name)
    {
        final ObjectNode body = Json.mapper().createObjectNode();
        final ObjectNode properties = body.putObject("properties");
        properties.put("id", new UUID(7, 7).toString()).put("name", name).put("description", "");
        properties.putObject("metadata").put("project_id", new UUID(1, 1).toString())
            .put("silo_id", new UUID(1, 2).toString()).put("sled_id", new UUID(1, 3).toString())
            .put("sled_model", "gimlet").put("sled_revision", 2).put("sled_serial", "BRM42220016");
        final ObjectNode spec = body.putObject("init").put("method", "Spec").putObject("value").putObject("spec");
        spec.putObject("board").put("cpus", 1).put("memory_mb", 256)
            .putObject("chipset").put("type", "i440_fx").putObject("value").put("enable_pcie", false);
        spec.putObject("components").putObject("com1").put("type", "serial_port")
            .putObject("component").put("num", "com1");
        return body;
    }

    private static long msSince(final long startNs)
    {
        return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startNs);
    }

    private static long rssKb(final long pid) throws IOException
    {
        for (final String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "status")))
        {
            if (line.startsWith("VmRSS:"))
            {
                return Long.parseLong(line.replaceAll("[^0-9]", ""));
            }
        }
        return -1;
    }

    private static void signal(final String name, final long pid) throws Exception
    {
        final Process kill = new ProcessBuilder("kill", "-" + name, Long.toString(pid)).start();
        assertThat(kill.waitFor(5, TimeUnit.SECONDS) && kill.exitValue() == 0).isTrue();
    }
}
