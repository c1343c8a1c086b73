package sledagent.agent.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.UUID;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import sledagent.agent.demo.AgentHttpClient;
import sledagent.agent.demo.ExampleBodies;

/** Bad input gets a clear 4xx with the spec's Error body, and the table is unchanged. */
class BadInputTest
{
    private static AgentFixture fixture;
    private static UUID known;

    @BeforeAll
    static void start() throws Exception
    {
        fixture = new AgentFixture(60_000);
        known = UUID.randomUUID();
        fixture.client.register(known, ExampleBodies.ensureBody(UUID.randomUUID(), AgentFixture.freeAddr(), 1));
    }

    @AfterAll
    static void stop() throws Exception
    {
        fixture.close();
    }

    @Test
    void shouldRejectMalformedJson() throws Exception
    {
        assertError(fixture.client.send("PUT", "/vmms/" + UUID.randomUUID(), "{\"instance_id\": "), 400);
        assertError(fixture.client.send("PUT", "/vmms/" + known + "/state", "not json"), 400);
    }

    @Test
    void shouldRejectWrongTypes() throws Exception
    {
        final String body = ExampleBodies.ensureBody(UUID.randomUUID(), "127.0.0.1:1", 1)
            .replace("\"gen\":1", "\"gen\":\"one\"");
        assertError(fixture.client.register(UUID.randomUUID(), body), 400);
        final String numericInstance = ExampleBodies.ensureBody(UUID.randomUUID(), "127.0.0.1:1", 1)
            .replaceFirst("\"instance_id\":\"[^\"]+\"", "\"instance_id\":42");
        assertError(fixture.client.register(UUID.randomUUID(), numericInstance), 400);
        assertError(fixture.client.send("PUT", "/vmms/" + known + "/state", "{\"state\":\"running\"}"), 400);
        final String missing = ExampleBodies.ensureBody(UUID.randomUUID(), "127.0.0.1:1", 1)
            .replaceFirst("\"propolis_addr\":\"[^\"]+\",", "");
        assertError(fixture.client.register(UUID.randomUUID(), missing), 400);
        final String badAddr = ExampleBodies.ensureBody(UUID.randomUUID(), "nowhere", 1);
        assertError(fixture.client.register(UUID.randomUUID(), badAddr), 400);
    }

    @Test
    void shouldRejectUnknownEnumValues() throws Exception
    {
        assertError(fixture.client.putState(known, "runnning"), 400);
        final String body = ExampleBodies.ensureBody(UUID.randomUUID(), "127.0.0.1:1", 1)
            .replace("\"state\":\"starting\"", "\"state\":\"strating\"");
        assertError(fixture.client.register(UUID.randomUUID(), body), 400);
    }

    @Test
    void shouldRejectNonUuidIds() throws Exception
    {
        assertError(fixture.client.send("GET", "/vmms/not-a-uuid/state", null), 400);
        assertError(fixture.client.send("PUT", "/vmms/1234/state", "{\"state\":{\"type\":\"running\"}}"), 400);
    }

    @Test
    void shouldRejectBodiesOverOneMebibyte() throws Exception
    {
        final String huge = "{\"pad\":\"" + "x".repeat((1 << 20) + 16) + "\"}";
        final AgentHttpClient.Answer answer = fixture.client.send("PUT", "/vmms/" + UUID.randomUUID(), huge);
        assertError(answer, 413);
    }

    @Test
    void shouldAnswerUnknownPathsAndWrongMethods() throws Exception
    {
        assertError(fixture.client.send("GET", "/nope", null), 404);
        assertError(fixture.client.send("GET", "/vmms/" + known + "/nope", null), 404);
        assertError(fixture.client.send("POST", "/vmms/" + known + "/state", "{}"), 405);
        assertError(fixture.client.send("PATCH", "/vmms/" + known, "{}"), 405);
    }

    private static void assertError(final AgentHttpClient.Answer answer, final int status) throws Exception
    {
        assertThat(answer.status()).as(answer.body()).isEqualTo(status);
        final JsonNode body = AgentFixture.json(answer.body());
        assertThat(body.hasNonNull("message")).isTrue();
        assertThat(body.hasNonNull("request_id")).isTrue();
        // The table is unchanged: only the VMM registered in setup, still registered and untouched.
        assertThat(fixture.agent.manager().table().size()).isEqualTo(1);
        assertThat(AgentFixture.json(fixture.client.state(known).body()).at("/vmm_state/gen").asLong()).isEqualTo(1);
    }
}
