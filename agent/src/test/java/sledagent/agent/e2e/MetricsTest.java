package sledagent.agent.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.UUID;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import sledagent.agent.demo.ExampleBodies;

/** {@code GET /metrics}: Prometheus text that counts what happened to real VMMs. */
class MetricsTest
{
    /** A sample line: a metric name, optional labels, a number. */
    private static final Pattern SAMPLE =
        Pattern.compile("[a-z_]+(\\{([a-z_]+=\"[^\"]*\",?)+\\})? -?[0-9]+(\\.[0-9]+)?");

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
    void shouldCountRequestsStatesKillsAndTeardownsInPrometheusText() throws Exception
    {
        final UUID running = UUID.randomUUID();
        final UUID registered = UUID.randomUUID();
        fixture.client.register(running, ExampleBodies.ensureBody(UUID.randomUUID(), AgentFixture.freeAddr(), 1));
        fixture.client.register(registered, ExampleBodies.ensureBody(UUID.randomUUID(), AgentFixture.freeAddr(), 1));
        fixture.client.putState(running, "running");
        await().atMost(Duration.ofSeconds(30)).until(() -> fixture.client.state(running).body().contains("running"));
        fixture.client.state(UUID.randomUUID());

        String text = scrape();
        assertThat(text).contains("sled_agent_vmms{state=\"running\"} 1", "sled_agent_vmms{state=\"starting\"} 1",
            "sled_agent_http_requests_total{route=\"vmm_register\",status=\"200\"} 2",
            "sled_agent_http_requests_total{route=\"vmm_get_state\",status=\"404\"} 1",
            "sled_agent_http_request_duration_seconds{route=\"vmm_get_state\",quantile=\"0.99\"}",
            "sled_agent_publish_queue_depth", "sled_agent_stop_deadlines_pending 0");

        assertThat(fixture.client.forceTerminate(running).status()).isEqualTo(200);
        await().atMost(Duration.ofSeconds(30)).until(() -> fixture.client.state(running).status() == 404);
        text = scrape();
        assertThat(text).contains("sled_agent_forced_kills_total{reason=\"force_terminate\"} 1",
            "sled_agent_zone_teardown_duration_seconds_count 1", "sled_agent_vmms{state=\"running\"} 0");
        for (final String line : text.split("\n"))
        {
            assertThat(line.startsWith("# HELP ") || line.startsWith("# TYPE ") || SAMPLE.matcher(line).matches())
                .as("exposition line: %s", line).isTrue();
        }
    }

    private String scrape() throws Exception
    {
        final HttpResponse<String> response = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
            URI.create("http://127.0.0.1:" + fixture.agent.server().address().getPort() + "/metrics")).build(),
            HttpResponse.BodyHandlers.ofString());
        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(response.headers().firstValue("content-type")).hasValueSatisfying(
            type -> assertThat(type).startsWith("text/plain; version=0.0.4"));
        return response.body();
    }
}
