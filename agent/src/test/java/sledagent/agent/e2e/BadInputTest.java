package sledagent.agent.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.assertj.core.api.SoftAssertions;
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

    /**
     * Issue 10's examples of bodies the v48 spec forbids: each a 400 whose message names the field by its JSON path,
     * nothing registered (the table, {@code GET /vmms} and the state directory unchanged).
     */
    @Test
    void shouldRejectRegisterBodiesTheSpecForbids() throws Exception
    {
        final String valid = ExampleBodies.ensureBody(UUID.randomUUID(), AgentFixture.freeAddr(), 1);
        final Map<String, String> bodies = new LinkedHashMap<>();
        bodies.put("vmm_spec.board.cpus: 300 is outside 0..255 (uint8)", valid.replace("\"cpus\":1", "\"cpus\":300"));
        bodies.put("vmm_spec.board.memory_mb: 18446744073709551616 is outside 0..18446744073709551615 (uint64)",
            valid.replace("\"memory_mb\":512", "\"memory_mb\":18446744073709551616"));
        bodies.put("local_config.hostname: is 921600 characters long, more than the 253 allowed",
            valid.replace("\"hostname\":\"demo-vm\"", "\"hostname\":\"" + "a".repeat(900 * 1024) + "\""));
        bodies.put("vmm_spec.board: is required", valid.replaceFirst("\"board\":\\{.*?\\}\\}\\},", ""));
        bodies.put("vmm_runtime.gen: 9223372036854775807 is outside 0..9223372036854775806",
            valid.replace("\"gen\":1", "\"gen\":9223372036854775807"));
        bodies.put("vmm_runtime.gen: 18446744073709551615 is outside 0..9223372036854775806",
            valid.replace("\"gen\":1", "\"gen\":18446744073709551615"));
        final List<String> stateDirBefore = listing(fixture.stateDir);
        final SoftAssertions each = new SoftAssertions();
        for (final Map.Entry<String, String> body : bodies.entrySet())
        {
            assertThat(body.getValue()).as("the edit applied").isNotEqualTo(valid);
            final UUID id = UUID.randomUUID();
            final AgentHttpClient.Answer answer = fixture.client.register(id, body.getValue());
            each.assertThat(answer.status()).as(body.getKey()).isEqualTo(400);
            each.assertThat(AgentFixture.json(answer.body()).path("message").asText()).startsWith(body.getKey());
            each.assertThat(AgentFixture.json(answer.body()).hasNonNull("request_id")).isTrue();
            each.assertThat(fixture.client.state(id).status()).as(body.getKey()).isEqualTo(404);
        }
        each.assertAll();
        final JsonNode list = AgentFixture.json(fixture.client.send("GET", "/vmms", null).body());
        assertThat(list.get("vmms")).hasSize(1);
        assertThat(list.at("/vmms/0/propolis_id").asText()).isEqualTo(known.toString());
        assertThat(listing(fixture.stateDir)).isEqualTo(stateDirBefore);
    }

    private static List<String> listing(final Path dir) throws IOException
    {
        try (Stream<Path> files = Files.walk(dir))
        {
            return files.map(f -> dir.relativize(f).toString()).sorted().collect(Collectors.toList());
        }
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
