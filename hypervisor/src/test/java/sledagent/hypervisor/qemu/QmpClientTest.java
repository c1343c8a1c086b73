package sledagent.hypervisor.qemu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import sledagent.api.Json;

/** The QMP client against {@link FakeUnixServer} playing QEMU's monitor. */
class QmpClientTest
{
    private static final String GREETING = "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, "
        + "\"major\": 7}, \"package\": \"Debian 1:7.2+dfsg-7+deb12u7\"}, \"capabilities\": [\"oob\"]}}\r\n";

    @TempDir
    Path dir;

    private FakeUnixServer qemu;
    private QmpClient client;
    private final List<QmpEvent> events = new CopyOnWriteArrayList<>();
    private final List<String> callbackThreads = new CopyOnWriteArrayList<>();
    private final AtomicInteger eofs = new AtomicInteger();

    @BeforeEach
    void bind() throws Exception
    {
        qemu = new FakeUnixServer(dir.resolve("qmp.sock"));
    }

    @AfterEach
    void cleanup() throws Exception
    {
        if (client != null)
        {
            client.close();
        }
        qemu.close();
    }

    /** Connects in the background, plays greeting + capabilities, returns the open client. */
    private QmpClient handshake() throws Exception
    {
        final CompletableFuture<QmpClient> connecting = CompletableFuture.supplyAsync(() ->
        {
            try
            {
                return QmpClient.connect(qemu.path(), "t", event ->
                {
                    callbackThreads.add(Thread.currentThread().getName());
                    events.add(event);
                }, () ->
                {
                    callbackThreads.add(Thread.currentThread().getName());
                    eofs.incrementAndGet();
                }, 5000);
            }
            catch (final Exception e)
            {
                throw new RuntimeException(e);
            }
        });
        qemu.accept(true);
        qemu.send(GREETING);
        final JsonNode capabilities = Json.mapper().readTree(qemu.nextLine());
        assertThat(capabilities.get("execute").asText()).isEqualTo("qmp_capabilities");
        qemu.send("{\"return\": {}, \"id\": " + capabilities.get("id") + "}\r\n");
        client = connecting.get();
        return client;
    }

    @Test
    void handshakeThenACommandWithArgumentsAndItsReturn() throws Exception
    {
        handshake();
        assertThat(client.greeting().at("/QMP/version/qemu/major").asInt()).isEqualTo(7);
        final CompletableFuture<JsonNode> answer = client.submit("migrate-set-capabilities",
            (ObjectNode) Json.mapper().readTree("{\"capabilities\":[{\"capability\":\"events\",\"state\":true}]}"),
            2000);
        final JsonNode sent = Json.mapper().readTree(qemu.nextLine());
        assertThat(sent.get("execute").asText()).isEqualTo("migrate-set-capabilities");
        assertThat(sent.at("/arguments/capabilities/0/capability").asText()).isEqualTo("events");
        qemu.send("{\"return\": {\"status\": \"prelaunch\"}, \"id\": " + sent.get("id") + "}\r\n");
        assertThat(answer.get().get("status").asText()).isEqualTo("prelaunch");
    }

    @Test
    void anErrorAnswerIsCommandFailedWithClassAndDesc() throws Exception
    {
        handshake();
        final CompletableFuture<JsonNode> answer = client.submit("cont", null, 2000);
        final JsonNode sent = Json.mapper().readTree(qemu.nextLine());
        assertThat(sent.has("arguments")).isFalse();
        qemu.send("{\"id\": " + sent.get("id") + ", \"error\": {\"class\": \"GenericError\", \"desc\": "
            + "\"Resetting the Virtual Machine is required\"}}\r\n");
        assertThatThrownBy(answer::get).cause().isInstanceOfSatisfying(QmpException.CommandFailed.class, e ->
        {
            assertThat(e.errorClass()).isEqualTo("GenericError");
            assertThat(e.description()).isEqualTo("Resetting the Virtual Machine is required");
        });
    }

    @Test
    void answersAreMatchedByIdNotByOrder() throws Exception
    {
        handshake();
        final CompletableFuture<JsonNode> first = client.submit("query-status", null, 2000);
        final CompletableFuture<JsonNode> second = client.submit("query-name", null, 2000);
        final JsonNode one = Json.mapper().readTree(qemu.nextLine());
        final JsonNode two = Json.mapper().readTree(qemu.nextLine());
        qemu.send("{\"return\": {\"name\": \"vm\"}, \"id\": " + two.get("id") + "}\n");
        qemu.send("{\"return\": {\"status\": \"running\"}, \"id\": " + one.get("id") + "}\n");
        assertThat(first.get().get("status").asText()).isEqualTo("running");
        assertThat(second.get().get("name").asText()).isEqualTo("vm");
    }

    @Test
    void aCommandWithoutAnswerTimesOutAndALateAnswerIsDropped() throws Exception
    {
        handshake();
        final long startNs = System.nanoTime();
        assertThatThrownBy(() -> client.execute("stop", null, 300)).isInstanceOf(QmpException.TimedOut.class)
            .hasMessageContaining("stop: no answer from QEMU within 300 ms");
        assertThat(Duration.ofNanos(System.nanoTime() - startNs)).isBetween(Duration.ofMillis(290),
            Duration.ofMillis(2000));
        final JsonNode late = Json.mapper().readTree(qemu.nextLine());
        qemu.send("{\"return\": {}, \"id\": " + late.get("id") + "}\n");
        // The connection is still good for the next call.
        final CompletableFuture<JsonNode> next = client.submit("query-status", null, 2000);
        final JsonNode sent = Json.mapper().readTree(qemu.nextLine());
        qemu.send("{\"return\": {\"status\": \"paused\"}, \"id\": " + sent.get("id") + "}\n");
        assertThat(next.get().get("status").asText()).isEqualTo("paused");
    }

    @Test
    void eventsArriveInOrderOnTheReaderThreadAmongAnswers() throws Exception
    {
        handshake();
        final CompletableFuture<JsonNode> reset = client.submit("system_reset", null, 2000);
        final JsonNode sent = Json.mapper().readTree(qemu.nextLine());
        // QEMU's burst after system_reset: the host's RESET, the answer, then the firmware's two.
        qemu.send("{\"timestamp\": {\"seconds\": 1796236816, \"microseconds\": 26255}, \"event\": \"RESET\", "
            + "\"data\": {\"guest\": false, \"reason\": \"host-qmp-system-reset\"}}\r\n"
            + "{\"return\": {}, \"id\": " + sent.get("id") + "}\r\n"
            + "{\"timestamp\": {\"seconds\": 1796236816, \"microseconds\": 30000}, \"event\": \"RESET\", "
            + "\"data\": {\"guest\": true, \"reason\": \"guest-reset\"}}\r\n"
            + "{\"timestamp\": {\"seconds\": 1796236816, \"microseconds\": 40000}, \"event\": \"RESET\", "
            + "\"data\": {\"guest\": true, \"reason\": \"guest-reset\"}}\r\n"
            + "{\"timestamp\": {\"seconds\": 1796236817, \"microseconds\": 5}, \"event\": \"STOP\"}\r\n");
        reset.get();
        await().atMost(Duration.ofSeconds(5)).until(() -> events.size() == 4);
        assertThat(events).extracting(QmpEvent::name).containsExactly("RESET", "RESET", "RESET", "STOP");
        assertThat(events).extracting(QmpEvent::guest).containsExactly(false, true, true, false);
        assertThat(events.get(0).reason()).isEqualTo("host-qmp-system-reset");
        assertThat(events.get(0).timestamp()).isEqualTo(Instant.ofEpochSecond(1796236816, 26_255_000));
        assertThat(events.get(3).data().isEmpty()).isTrue();
        assertThat(events.get(3).reason()).isNull();
        assertThat(callbackThreads).containsOnly("qmp-t");
    }

    @Test
    void endOfStreamFailsCallsInFlightAndLaterOnesAndSignalsEofOnceAfterTheLastEvent() throws Exception
    {
        handshake();
        final CompletableFuture<JsonNode> inFlight = client.submit("query-status", null, 5000);
        qemu.nextLine();
        qemu.send("{\"timestamp\": {\"seconds\": 1, \"microseconds\": 0}, \"event\": \"SHUTDOWN\", "
            + "\"data\": {\"guest\": true, \"reason\": \"guest-shutdown\"}}\r\n");
        qemu.hangUp();
        assertThatThrownBy(inFlight::get).cause().isInstanceOf(QmpException.Closed.class)
            .hasMessageContaining("end of stream");
        await().atMost(Duration.ofSeconds(5)).until(() -> eofs.get() == 1);
        assertThat(events).extracting(QmpEvent::name).containsExactly("SHUTDOWN");
        assertThat(client.isOpen()).isFalse();
        assertThatThrownBy(() -> client.execute("quit", null, 1000)).isInstanceOf(QmpException.Closed.class);
        client.close();
        assertThat(eofs.get()).isEqualTo(1);
        assertThat(callbackThreads).containsOnly("qmp-t");
    }

    @Test
    void closeFailsCallsInFlightAndSignalsNoEof() throws Exception
    {
        handshake();
        final CompletableFuture<JsonNode> inFlight = client.submit("query-status", null, 5000);
        client.close();
        assertThatThrownBy(inFlight::get).cause().isInstanceOf(QmpException.Closed.class)
            .hasMessageContaining("closed");
        assertThatThrownBy(() -> client.execute("quit", null, 1000)).isInstanceOf(QmpException.Closed.class);
        // The fake sees our end go away; nothing is reported as QEMU's EOF.
        await().during(Duration.ofMillis(300)).atMost(Duration.ofSeconds(2)).until(() -> eofs.get() == 0);
    }

    @Test
    void connectRetriesUntilQemuCreatesTheSocket() throws Exception
    {
        qemu.close();
        final Path late = dir.resolve("late.sock");
        final CompletableFuture<QmpClient> connecting = CompletableFuture.supplyAsync(() ->
        {
            try
            {
                return QmpClient.connect(late, "late", e -> { }, () -> { }, 5000);
            }
            catch (final Exception e)
            {
                throw new RuntimeException(e);
            }
        });
        await().during(Duration.ofMillis(200)).atMost(Duration.ofSeconds(1)).until(() -> !connecting.isDone());
        qemu = new FakeUnixServer(late);
        qemu.accept(true);
        qemu.send(GREETING);
        final JsonNode capabilities = Json.mapper().readTree(qemu.nextLine());
        qemu.send("{\"return\": {}, \"id\": " + capabilities.get("id") + "}\n");
        client = connecting.get();
        assertThat(client.isOpen()).isTrue();
    }

    @Test
    void connectGivesUpAtItsDeadline()
    {
        final long startNs = System.nanoTime();
        assertThatThrownBy(() -> QmpClient.connect(dir.resolve("never.sock"), "never", e -> { }, () -> { }, 300))
            .isInstanceOf(QmpException.TimedOut.class).hasMessageContaining("never.sock");
        assertThat(Duration.ofNanos(System.nanoTime() - startNs)).isLessThan(Duration.ofSeconds(2));
    }

    @Test
    void aSilentOrForeignPeerFailsTheHandshakeInTime() throws Exception
    {
        final CompletableFuture<Throwable> silent = failure(300);
        qemu.accept(true);
        assertThat(silent.get()).isInstanceOf(QmpException.TimedOut.class).hasMessageContaining("greeting");

        final CompletableFuture<Throwable> foreign = failure(5000);
        qemu.accept(true);
        qemu.send("{\"hello\": \"not qmp\"}\n");
        assertThat(foreign.get()).isInstanceOf(QmpException.class).hasMessageContaining("not a QMP greeting");

        final CompletableFuture<Throwable> refused = failure(5000);
        qemu.accept(true);
        qemu.send(GREETING);
        final JsonNode capabilities = Json.mapper().readTree(qemu.nextLine());
        qemu.send("{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"no\"}, \"id\": "
            + capabilities.get("id") + "}\n");
        assertThat(refused.get()).isInstanceOf(QmpException.CommandFailed.class);
    }

    private CompletableFuture<Throwable> failure(final long timeoutMs)
    {
        return CompletableFuture.supplyAsync(() ->
        {
            try (QmpClient unexpected = QmpClient.connect(qemu.path(), "f", e -> { }, () -> { }, timeoutMs))
            {
                return null;
            }
            catch (final Exception e)
            {
                return e;
            }
        });
    }

    /** A QEMU that stops reading (SIGSTOP): every call still ends in time, and the queue of unsent calls is bounded. */
    @Test
    void aPeerThatStopsReadingBoundsEveryCall() throws Exception
    {
        final CompletableFuture<QmpClient> connecting = CompletableFuture.supplyAsync(() ->
        {
            try
            {
                return QmpClient.connect(qemu.path(), "frozen", e -> { }, () -> { }, 500);
            }
            catch (final Exception e)
            {
                throw new RuntimeException(e);
            }
        });
        qemu.accept(false); // nobody reads what the client writes
        qemu.send(GREETING);
        // The capabilities command is never read, so this must time out, not hang.
        assertThatThrownBy(connecting::get).cause().cause().isInstanceOf(QmpException.TimedOut.class);

        final CompletableFuture<QmpClient> again = CompletableFuture.supplyAsync(() ->
        {
            try
            {
                return QmpClient.connect(qemu.path(), "frozen2", e -> { }, () -> { }, 5000);
            }
            catch (final Exception e)
            {
                throw new RuntimeException(e);
            }
        });
        qemu.accept(true);
        qemu.send(GREETING);
        final JsonNode capabilities = Json.mapper().readTree(qemu.nextLine());
        qemu.send("{\"return\": {}, \"id\": " + capabilities.get("id") + "}\n");
        client = again.get();
        // Now stall it: big commands fill the socket, then the writer blocks, then the queue fills.
        qemu.stopReading();
        final ObjectNode big = Json.mapper().createObjectNode().put("blob", "x".repeat(256 * 1024));
        final List<CompletableFuture<JsonNode>> calls = new ArrayList<>();
        final long startNs = System.nanoTime();
        for (int i = 0; i < QmpClient.MAX_QUEUED_COMMANDS + 20; i++)
        {
            calls.add(client.submit("human-monitor-command", big, 1000));
        }
        assertThat(Duration.ofNanos(System.nanoTime() - startNs)).as("submit never blocks")
            .isLessThan(Duration.ofSeconds(1));
        int queueFull = 0;
        int timedOut = 0;
        for (final CompletableFuture<JsonNode> call : calls)
        {
            try
            {
                call.get();
            }
            catch (final ExecutionException e)
            {
                if (e.getCause() instanceof QmpException.TimedOut)
                {
                    timedOut++;
                }
                else if (e.getCause().getMessage().contains("commands already wait to be written"))
                {
                    queueFull++;
                }
            }
        }
        assertThat(queueFull).isPositive();
        assertThat(queueFull + timedOut).isEqualTo(calls.size());
        assertThat(Duration.ofNanos(System.nanoTime() - startNs)).isLessThan(Duration.ofSeconds(5));
    }
}
