package sledagent.agent.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import sledagent.agent.demo.AgentHttpClient;
import sledagent.agent.demo.ExampleBodies;
import sledagent.agent.demo.RecordingNexus;

/**
 * Nexus answers 503 while eight VMMs are registered, run and (half of them) stopped; then it recovers. Every
 * VMM's newest state reaches Nexus, never an older generation after a newer one, and the agent's own reads stay
 * fast all along (the publisher retries in the background and never holds up a VMM or the API).
 */
class NexusOutageTest
{
    private static final int VMMS = 8;
    private static final long MIN_OUTAGE_MS = 3_000;
    private static final Duration WAIT = Duration.ofSeconds(40);

    private AgentFixture fixture;

    @AfterEach
    void cleanUp() throws Exception
    {
        if (fixture != null)
        {
            fixture.close();
        }
    }

    @Test
    void shouldDeliverEveryNewestStateInOrderAfterOutageWhileReadsStayFast() throws Exception
    {
        fixture = new AgentFixture(60_000);
        final RecordingNexus nexus = fixture.nexus;
        nexus.respondWith(503);
        final long outageStartNs = System.nanoTime();

        final List<UUID> ids = new ArrayList<>();
        for (int i = 0; i < VMMS; i++)
        {
            final UUID id = UUID.randomUUID();
            ids.add(id);
            final AgentHttpClient.Answer registered = fixture.client.register(id,
                ExampleBodies.ensureBody(UUID.randomUUID(), AgentFixture.freeAddr(), 1));
            assertThat(registered.status()).as(registered.body()).isEqualTo(200);
        }

        // Read every VMM's state in a loop for the whole test, timing each read.
        final ConcurrentLinkedQueue<Long> latenciesNs = new ConcurrentLinkedQueue<>();
        final AtomicBoolean reading = new AtomicBoolean(true);
        final AtomicReference<Throwable> readerFailure = new AtomicReference<>();
        final AgentHttpClient reader = new AgentHttpClient(
            URI.create("http://127.0.0.1:" + fixture.agent.server().address().getPort()), Duration.ofSeconds(5));
        final Thread readerThread = new Thread(() ->
        {
            try
            {
                int next = 0;
                while (reading.get())
                {
                    final UUID id = ids.get(next++ % ids.size());
                    final long startNs = System.nanoTime();
                    final AgentHttpClient.Answer answer = reader.state(id);
                    latenciesNs.add(System.nanoTime() - startNs);
                    if (answer.status() != 200 && answer.status() != 404)
                    {
                        throw new AssertionError("GET state of " + id + ": " + answer.status() + " " + answer.body());
                    }
                    Thread.sleep(2);
                }
            }
            catch (final Throwable ex)
            {
                readerFailure.set(ex);
            }
        }, "state-reader");
        readerThread.setDaemon(true);
        readerThread.start();

        try
        {
            for (final UUID id : ids)
            {
                final AgentHttpClient.Answer run = fixture.client.putState(id, "running");
                assertThat(run.status()).as(run.body()).isEqualTo(200);
            }
            for (final UUID id : ids)
            {
                await().atMost(WAIT).pollInterval(Duration.ofMillis(10))
                    .until(() -> "running".equals(state(id).at("/vmm_state/state").asText()));
            }
            final List<UUID> stopped = ids.subList(0, VMMS / 2);
            final List<UUID> live = ids.subList(VMMS / 2, VMMS);
            for (final UUID id : stopped)
            {
                final AgentHttpClient.Answer stop = fixture.client.putState(id, "stopped");
                assertThat(stop.status()).as(stop.body()).isEqualTo(200);
            }
            for (final UUID id : stopped)
            {
                // Torn down, but its terminal state is not out yet: it stays readable (DESIGN rule 7).
                await().atMost(WAIT).pollInterval(Duration.ofMillis(10))
                    .until(() -> "destroyed".equals(state(id).at("/vmm_state/state").asText()));
            }
            final long outageMs = (System.nanoTime() - outageStartNs) / 1_000_000;
            if (outageMs < MIN_OUTAGE_MS)
            {
                Thread.sleep(MIN_OUTAGE_MS - outageMs);
            }
            assertThat(nexus.received()).as("Nexus accepted nothing during the outage").isEmpty();
            for (final UUID id : stopped)
            {
                assertThat(fixture.client.state(id).status()).as("a VMM whose terminal state is not out yet stays")
                    .isEqualTo(200);
            }

            nexus.respondWith(204);

            for (final UUID id : live)
            {
                final JsonNode current = state(id);
                await().atMost(WAIT).pollInterval(Duration.ofMillis(10))
                    .untilAsserted(() -> assertThat(newest(nexus, id))
                        .as("newest state of %s at Nexus", id)
                        .isEqualTo(current.at("/vmm_state/state").asText() + "@" + current.at("/vmm_state/gen").asLong()));
                assertThat(current.at("/vmm_state/state").asText()).isEqualTo("running");
            }
            for (final UUID id : stopped)
            {
                await().atMost(WAIT).pollInterval(Duration.ofMillis(10))
                    .until(() -> newest(nexus, id).startsWith("destroyed@"));
                await().atMost(WAIT).pollInterval(Duration.ofMillis(10))
                    .until(() -> fixture.client.state(id).status() == 404);
                assertThat(fixture.zoneDir(id)).doesNotExist();
            }
            // A moment for any late or repeated publish to show up before the order is checked.
            Thread.sleep(300);
        }
        finally
        {
            reading.set(false);
            readerThread.join(10_000);
        }

        for (final UUID id : ids)
        {
            final List<RecordingNexus.Received> received = nexus.received(id);
            final List<String> seen = received.stream()
                .map(r -> r.state().vmmState().gen() + ":" + r.state().vmmState().state().wireName()).toList();
            for (int i = 1; i < received.size(); i++)
            {
                assertThat(received.get(i).state().vmmState().gen()).as("gens accepted for %s: %s", id, seen)
                    .isGreaterThan(received.get(i - 1).state().vmmState().gen());
            }
            assertThat(received.stream().filter(r -> r.state().vmmState().state().isTerminal()).count())
                .as("terminal states accepted for %s: %s", id, seen)
                .isEqualTo(ids.indexOf(id) < VMMS / 2 ? 1 : 0);
        }

        assertThat(readerFailure.get()).as("state reader").isNull();
        final long[] sorted = latenciesNs.stream().mapToLong(Long::longValue).sorted().toArray();
        assertThat(sorted.length).as("state reads made").isGreaterThan(200);
        final long p50Us = sorted[sorted.length / 2] / 1_000;
        final long p99Us = sorted[(int)Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)] / 1_000;
        final long maxUs = sorted[sorted.length - 1] / 1_000;
        final String summary = "GET /state over " + sorted.length + " reads: p50 " + p50Us + " us, p99 " + p99Us
            + " us, max " + maxUs + " us; slowest: " + Arrays.toString(Arrays.copyOfRange(sorted,
                Math.max(0, sorted.length - 5), sorted.length));
        System.out.println(summary);
        assertThat(p99Us).as(summary).isLessThan(50_000);
        assertThat(maxUs).as(summary).isLessThan(1_000_000);
    }

    private JsonNode state(final UUID id) throws Exception
    {
        final AgentHttpClient.Answer answer = fixture.client.state(id);
        assertThat(answer.status()).as("GET state of %s: %s", id, answer.body()).isEqualTo(200);
        return AgentFixture.json(answer.body());
    }

    /** "state@gen" of the newest state Nexus accepted for {@code id}, or "none". */
    private static String newest(final RecordingNexus nexus, final UUID id)
    {
        final List<RecordingNexus.Received> received = nexus.received(id);
        if (received.isEmpty())
        {
            return "none";
        }
        final RecordingNexus.Received last = received.get(received.size() - 1);
        return last.state().vmmState().state().wireName() + "@" + last.state().vmmState().gen();
    }
}
