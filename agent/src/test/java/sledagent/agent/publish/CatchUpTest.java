package sledagent.agent.publish;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.netty.util.HashedWheelTimer;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import sledagent.agent.demo.RecordingNexus;
import sledagent.agent.metrics.Metrics;
import sledagent.agent.retry.Backoff;
import sledagent.api.SledVmmState;
import sledagent.api.VmmRuntimeState;
import sledagent.api.VmmState;

/**
 * Issue 10 item 7: after an outage long enough for every VMM's back-off to have grown to seconds, Nexus comes
 * back and every VMM's newest state reaches it within about a second (bound here: 2 s), each VMM's generations
 * in order and the superseded one never sent. A real HTTP Nexus ({@link RecordingNexus}) on loopback answers 503
 * during the outage. The back-off starts at 50 ms (not 250) so an 8 s outage grows it as a 30 s one would the
 * real policy: 7 doublings, so retries are seconds apart (+-50 % jitter), which is what delays the old publisher.
 */
class CatchUpTest
{
    private static final int VMMS = 100;
    private static final long OUTAGE_MS = 8_000;
    private static final Duration CATCH_UP_BOUND = Duration.ofSeconds(2);
    private static final Backoff SHORT_PUBLISH = new Backoff(50, 180_000, 0.5);

    @Test
    void shouldDeliverEveryNewestStateWithinTwoSecondsOfNexusComingBack() throws Exception
    {
        final HashedWheelTimer timer = new HashedWheelTimer(10, TimeUnit.MILLISECONDS);
        try (RecordingNexus nexus = new RecordingNexus();
             NexusClient client = new NexusClient(List.of(nexus.url()), Duration.ofSeconds(2), Duration.ofSeconds(5));
             StatePublisher publisher = new StatePublisher(client, timer, new Metrics(), SHORT_PUBLISH))
        {
            nexus.respondWith(503);
            final List<UUID> ids = new ArrayList<>();
            for (int i = 0; i < VMMS; i++)
            {
                final UUID id = UUID.randomUUID();
                ids.add(id);
                publisher.publish(id, state(VmmState.STARTING, 2), event -> { });
            }
            Thread.sleep(OUTAGE_MS / 2);
            for (final UUID id : ids)
            {
                publisher.publish(id, state(VmmState.RUNNING, 3), event -> { });
            }
            Thread.sleep(OUTAGE_MS / 2);

            final Instant back = Instant.now();
            nexus.respondWith(200);

            await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(20))
                .until(() -> ids.stream().allMatch(id -> newestGen(nexus, id) == 3));
            Duration slowest = Duration.ZERO;
            for (final UUID id : ids)
            {
                final List<RecordingNexus.Received> received = nexus.received(id);
                assertThat(received).as("only the newest state of %s is sent", id).hasSize(1);
                assertThat(received.get(0).state().vmmState().gen()).isEqualTo(3);
                final Duration late = Duration.between(back, received.get(0).at());
                slowest = late.compareTo(slowest) > 0 ? late : slowest;
            }
            System.out.println("CATCHUP slowest " + slowest.toMillis() + " ms");
            assertThat(slowest).as("newest state of every VMM within %s of Nexus coming back", CATCH_UP_BOUND)
                .isLessThan(CATCH_UP_BOUND);
            // Nexus records a state before its answer reaches the publisher: the last acks may still be in flight.
            await().atMost(Duration.ofSeconds(5)).pollInterval(Duration.ofMillis(10))
                .untilAsserted(() -> assertThat(publisher.pending()).isZero());
        }
        finally
        {
            timer.stop();
        }
    }

    private static long newestGen(final RecordingNexus nexus, final UUID id)
    {
        final List<RecordingNexus.Received> received = nexus.received(id);
        return received.isEmpty() ? -1 : received.get(received.size() - 1).state().vmmState().gen();
    }

    private static SledVmmState state(final VmmState state, final long gen)
    {
        return new SledVmmState(new VmmRuntimeState(state, gen, Instant.now()), null, null);
    }
}
