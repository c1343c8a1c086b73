package sledagent.agent.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import sledagent.agent.demo.AgentHttpClient;
import sledagent.agent.demo.ExampleBodies;
import sledagent.agent.demo.RecordingNexus;
import sledagent.api.VmmState;

/** The one path everything builds on, for real: register, run, stop, destroy a propolis-sim in a cgroup zone. */
class EndToEndTest
{
    private static final Duration WAIT = Duration.ofSeconds(30);

    private AgentFixture fixture;

    @BeforeEach
    void start() throws Exception
    {
        fixture = new AgentFixture(60_000);
    }

    @AfterEach
    void stop() throws Exception
    {
        fixture.close();
    }

    @Test
    void shouldRunAndStopRealVmmPublishingEachStateWithRisingGenerations() throws Exception
    {
        final UUID id = UUID.randomUUID();
        final long registeredGen = 7;
        final AgentHttpClient.Answer registered = fixture.client.register(id,
            ExampleBodies.ensureBody(UUID.randomUUID(), AgentFixture.freeAddr(), registeredGen));
        assertThat(registered.status()).isEqualTo(200);
        assertThat(AgentFixture.json(registered.body()).at("/vmm_state/gen").asLong()).isEqualTo(registeredGen);

        final AgentHttpClient.Answer run = fixture.client.putState(id, "running");
        assertThat(run.status()).isEqualTo(200);
        assertThat(AgentFixture.json(run.body()).get("updated_runtime").isNull()).isTrue();
        awaitPublished(id, VmmState.RUNNING);
        final List<Long> pids = fixture.zonePids(id);
        assertThat(pids).as("the sim's wrapper, the sim and its child").hasSizeGreaterThanOrEqualTo(3);
        assertThat(AgentFixture.json(fixture.client.state(id).body()).at("/vmm_state/state").asText())
            .isEqualTo("running");

        final AgentHttpClient.Answer stop = fixture.client.putState(id, "stopped");
        assertThat(stop.status()).isEqualTo(200);
        assertThat(AgentFixture.json(stop.body()).at("/updated_runtime/vmm_state/state").asText())
            .isEqualTo("stopping");
        awaitPublished(id, VmmState.DESTROYED);
        await().atMost(WAIT).until(() -> fixture.client.state(id).status() == 404);

        final List<RecordingNexus.Received> received = fixture.nexus.received(id);
        final List<String> states = received.stream().map(r -> r.state().vmmState().state().wireName()).toList();
        assertThat(states.stream().dropWhile("starting"::equals).toList())
            .containsExactly("running", "stopping", "destroyed");
        for (int i = 0; i < received.size(); i++)
        {
            assertThat(received.get(i).state().vmmState().gen()).isEqualTo(registeredGen + 1 + i);
            assertThat(received.get(i).apiVersion()).isEqualTo("1.0.0");
        }
        AgentFixture.assertGone(pids);
        assertThat(fixture.zoneDir(id)).doesNotExist();
        final JsonNode notFound = AgentFixture.json(fixture.client.state(id).body());
        assertThat(notFound.get("error_code").asText()).isEqualTo("NO_SUCH_INSTANCE");
        assertThat(notFound.hasNonNull("request_id")).isTrue();
        final AgentHttpClient.Answer delete = fixture.client.unregister(id);
        assertThat(delete.status()).isEqualTo(200);
        assertThat(AgentFixture.json(delete.body())).isEqualTo(AgentFixture.json("{\"updated_runtime\":null}"));
    }

    @Test
    void shouldReturnCurrentStateOnSecondRegisterAndRefuseAnotherInstance() throws Exception
    {
        final UUID id = UUID.randomUUID();
        final UUID instance = UUID.randomUUID();
        final String addr = AgentFixture.freeAddr();
        assertThat(fixture.client.register(id, ExampleBodies.ensureBody(instance, addr, 3)).status()).isEqualTo(200);
        final AgentHttpClient.Answer again = fixture.client.register(id, ExampleBodies.ensureBody(instance, addr, 9));
        assertThat(again.status()).isEqualTo(200);
        assertThat(AgentFixture.json(again.body()).at("/vmm_state/gen").asLong()).as("the new body is ignored")
            .isEqualTo(3);
        final AgentHttpClient.Answer other = fixture.client.register(id,
            ExampleBodies.ensureBody(UUID.randomUUID(), addr, 3));
        assertThat(other.status()).isBetween(400, 599);
        assertThat(AgentFixture.json(other.body()).hasNonNull("message")).isTrue();
    }

    @Test
    void shouldAnswer404ForStateChangesOfUnknownVmm() throws Exception
    {
        for (final String state : List.of("running", "stopped", "reboot"))
        {
            final AgentHttpClient.Answer answer = fixture.client.putState(UUID.randomUUID(), state);
            assertThat(answer.status()).as(state).isEqualTo(404);
            assertThat(AgentFixture.json(answer.body()).get("error_code").asText()).isEqualTo("NO_SUCH_INSTANCE");
        }
        assertThat(fixture.client.forceTerminate(UUID.randomUUID()).status()).isEqualTo(404);
    }

    @Test
    void shouldDestroyNeverStartedVmmOnStopWithoutSpawningAnything() throws Exception
    {
        final UUID id = UUID.randomUUID();
        fixture.client.register(id, ExampleBodies.ensureBody(UUID.randomUUID(), AgentFixture.freeAddr(), 1));
        final AgentHttpClient.Answer stop = fixture.client.putState(id, "stopped");
        assertThat(stop.status()).isEqualTo(200);
        assertThat(AgentFixture.json(stop.body()).at("/updated_runtime/vmm_state/state").asText())
            .isEqualTo("destroyed");
        awaitPublished(id, VmmState.DESTROYED);
        await().atMost(WAIT).until(() -> fixture.client.state(id).status() == 404);
        assertThat(fixture.nexus.received(id)).singleElement()
            .satisfies(r -> assertThat(r.state().vmmState().gen()).isEqualTo(2));
        assertThat(fixture.zoneDir(id)).doesNotExist();
        assertThat(fixture.agent.zones().list()).isEmpty();
    }

    @Test
    void shouldKillWholeTreeOnDeleteOfRunningVmmAndPublishNothingAfter() throws Exception
    {
        final UUID id = UUID.randomUUID();
        fixture.client.register(id, ExampleBodies.ensureBody(UUID.randomUUID(), AgentFixture.freeAddr(), 1));
        fixture.client.putState(id, "running");
        awaitPublished(id, VmmState.RUNNING);
        final List<Long> pids = fixture.zonePids(id);
        assertThat(pids).isNotEmpty();
        final int publishedBefore = fixture.nexus.received(id).size();

        final AgentHttpClient.Answer delete = fixture.client.unregister(id);
        assertThat(delete.status()).isEqualTo(200);
        assertThat(AgentFixture.json(delete.body()).at("/updated_runtime/vmm_state/state").asText())
            .isEqualTo("failed");
        AgentFixture.assertGone(pids);
        assertThat(fixture.zoneDir(id)).doesNotExist();
        assertThat(fixture.client.state(id).status()).isEqualTo(404);
        // A stray publish would show up within this window: none does.
        await().during(Duration.ofMillis(300)).atMost(Duration.ofSeconds(2))
            .untilAsserted(() -> assertThat(fixture.nexus.received(id)).hasSize(publishedBefore));
    }

    private void awaitPublished(final UUID id, final VmmState state)
    {
        await().atMost(WAIT).pollInterval(Duration.ofMillis(5)).until(() -> fixture.nexus.received(id).stream()
            .anyMatch(r -> r.state().vmmState().state() == state));
    }
}
