package sledagent.agent.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import sledagent.agent.demo.AgentHttpClient;
import sledagent.agent.demo.ExampleBodies;
import sledagent.agent.demo.RecordingNexus;

/**
 * Nexus answers 503 while eight VMMs are registered, run and (half of them) stopped, and for a while after;
 * then it recovers. Every VMM's newest state reaches Nexus, never an older generation after a newer one, and
 * the agent's own reads stay fast all along (the publisher retries in the background and never holds up a VMM
 * or the API).
 *
 * <p>Reads are timed in phases. While the eight sims cold-start (eight JVMs on two cores) every process on the
 * machine, this test's reader included, is starved of CPU for tens of milliseconds at a time, so there only
 * "no read over 1 s" is asserted, and {@code GET /health} is timed alongside as the control. Once the VMMs are
 * up (the outage still going on, with eight publishers retrying) and after Nexus recovers: p99 under 50 ms
 * and no read over 1 s.
 */
class NexusOutageTest
{
    private static final int VMMS = 8;
    private static final long MIN_OUTAGE_MS = 3_000;
    /** How long the outage goes on after every VMM reached its state (publishes keep failing and retrying). */
    private static final long STEADY_OUTAGE_MS = 2_000;
    private static final String[] PHASES = {"VMMs starting", "VMMs stopping", "steady outage", "after recovery"};
    private static final Duration WAIT = Duration.ofSeconds(40);

    private AgentFixture fixture;

    @AfterEach
    void cleanUp() throws Exception
    {
        if (fixture != null)
        {
            try
            {
                fixture.close();
            }
            finally
            {
                // The fixture leaves its state dir (records, VMM logs) behind; this test has no use for it.
                try (java.util.stream.Stream<java.nio.file.Path> paths = java.nio.file.Files.walk(fixture.stateDir))
                {
                    for (final java.nio.file.Path path : paths.sorted(java.util.Comparator.reverseOrder()).toList())
                    {
                        java.nio.file.Files.deleteIfExists(path);
                    }
                }
            }
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
        // Each sample: {latency ns, phase, 0 = GET state / 1 = GET health (control)}.
        final ConcurrentLinkedQueue<long[]> samples = new ConcurrentLinkedQueue<>();
        final AtomicInteger phase = new AtomicInteger();
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
                    samples.add(new long[] {System.nanoTime() - startNs, phase.get(), 0});
                    if (answer.status() != 200 && answer.status() != 404)
                    {
                        throw new AssertionError("GET state of " + id + ": " + answer.status() + " " + answer.body());
                    }
                    if (next % 4 == 0)
                    {
                        final long healthStartNs = System.nanoTime();
                        reader.send("GET", "/health", null);
                        samples.add(new long[] {System.nanoTime() - healthStartNs, phase.get(), 1});
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
            phase.set(1);
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
            phase.set(2);
            final long outageMs = (System.nanoTime() - outageStartNs) / 1_000_000;
            final long steadyMs = Math.max(STEADY_OUTAGE_MS, MIN_OUTAGE_MS - outageMs);
            await().during(Duration.ofMillis(steadyMs)).atMost(Duration.ofMillis(steadyMs + 5_000))
                .untilAsserted(() -> assertThat(nexus.received()).as("Nexus accepted nothing during the outage")
                    .isEmpty());
            for (final UUID id : stopped)
            {
                assertThat(fixture.client.state(id).status()).as("a VMM whose terminal state is not out yet stays")
                    .isEqualTo(200);
            }

            nexus.respondWith(204);
            phase.set(3);

            for (final UUID id : live)
            {
                final JsonNode current = state(id);
                await().atMost(WAIT).pollInterval(Duration.ofMillis(10))
                    .untilAsserted(() -> assertThat(newest(nexus, id))
                        .as("newest state of %s at Nexus", id)
                        .isEqualTo(current.at("/vmm_state/state").asText() + "@" + current.at("/vmm_state/gen")
                            .asLong()));
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
            // A late or repeated publish would show up within this window: the order stays right throughout it.
            await().during(Duration.ofMillis(300)).atMost(Duration.ofSeconds(5))
                .untilAsserted(() -> assertAcceptedInOrder(nexus, ids));
        }
        finally
        {
            reading.set(false);
            readerThread.join(10_000);
        }

        assertThat(readerFailure.get()).as("state reader").isNull();
        final StringBuilder summary = new StringBuilder("GET /state latency by phase (GET /health as control):");
        final List<long[]> all = List.copyOf(samples);
        for (int p = 0; p < PHASES.length; p++)
        {
            summary.append("\n  ").append(PHASES[p]).append(": state ").append(stats(all, p, 0)).append("; health ")
                .append(stats(all, p, 1));
        }
        System.out.println(summary);
        final long[] all0 = latencies(all, 0, PHASES.length, 0);
        assertThat(all0.length).as("state reads made").isGreaterThan(200);
        // While eight sim JVMs start at once on 2 cores the whole machine stalls (GET /health too), so that phase
        // gets only a loose bound; the target is the p99 once the VMMs are up, asserted below.
        assertThat(all0[all0.length - 1]).as("no state read over 3 s. %s", summary).isLessThan(3_000_000_000L);
        final long[] settled = latencies(all, 1, PHASES.length, 0);
        assertThat(settled[settled.length - 1]).as("no state read over 1 s once the VMMs were up. %s", summary)
            .isLessThan(1_000_000_000L);
        assertThat(settled.length).as("state reads once the VMMs were up").isGreaterThan(100);
        assertThat(percentile(settled, 0.99)).as("p99 of state reads once the VMMs were up. %s", summary)
            .isLessThan(50_000_000L);
    }

    /** Gens accepted for each VMM rise strictly; exactly the stopped half (the first) has one terminal state. */
    private static void assertAcceptedInOrder(final RecordingNexus nexus, final List<UUID> ids)
    {
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
    }

    /** Sorted latencies (ns) of kind {@code kind} in phases {@code from} (inclusive) to {@code to} (exclusive). */
    private static long[] latencies(final List<long[]> samples, final int from, final int to, final int kind)
    {
        return samples.stream().filter(x -> x[1] >= from && x[1] < to && x[2] == kind).mapToLong(x -> x[0]).sorted()
            .toArray();
    }

    private static long percentile(final long[] sorted, final double q)
    {
        return sorted[(int)Math.max(0, Math.min(sorted.length - 1, Math.ceil(sorted.length * q) - 1))];
    }

    private static String stats(final List<long[]> samples, final int phase, final int kind)
    {
        final long[] sorted = latencies(samples, phase, phase + 1, kind);
        if (sorted.length == 0)
        {
            return "no reads";
        }
        return sorted.length + " reads, p50 " + percentile(sorted, 0.5) / 1_000 + " us, p99 "
            + percentile(sorted, 0.99) / 1_000 + " us, max " + sorted[sorted.length - 1] / 1_000 + " us";
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
