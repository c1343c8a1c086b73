package sledagent.agent.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import sledagent.agent.demo.AgentHttpClient;
import sledagent.agent.demo.ExampleBodies;
import sledagent.agent.demo.RecordingNexus;
import sledagent.agent.testing.TestZones;

/**
 * Issue 10 item 3: past {@code --max-connections} new connections are refused at once and counted, while a
 * reserve still answers {@code GET /health} and {@code POST /vmms/{id}/force-terminate} (and nothing else).
 */
class ConnectionLimitTest
{
    private static final int LIMIT = 40;
    /** HttpLimits.DEFAULT_RESERVE_CONNECTIONS. */
    private static final int RESERVE = 32;
    private static final Duration READ = Duration.ofSeconds(10);

    private Path zoneRoot;
    private Path work;
    private RecordingNexus nexus;
    private AgentProcess agent;
    private final List<Socket> held = new ArrayList<>();

    @BeforeEach
    void setUp() throws Exception
    {
        zoneRoot = TestZones.uniqueRoot();
        work = Files.createTempDirectory("sled-limit-test");
        nexus = new RecordingNexus();
        agent = AgentProcess.start(nexus.url(), work.resolve("state"), zoneRoot, "5s", work.resolve("agent.log"),
            "--max-connections", Integer.toString(LIMIT));
    }

    @AfterEach
    void tearDown() throws Exception
    {
        try
        {
            for (final Socket socket : held)
            {
                socket.close();
            }
            agent.close();
        }
        finally
        {
            try
            {
                nexus.close();
            }
            finally
            {
                AgentFixture.removeZones(zoneRoot);
            }
        }
    }

    @Test
    void shouldRefuseConnectionsPastTheLimitWhileHealthAndForceTerminateStillAnswer() throws Exception
    {
        final UUID id = UUID.randomUUID();
        final AgentHttpClient.Answer registered = agent.client.register(id,
            ExampleBodies.ensureBody(UUID.randomUUID(), AgentFixture.freeAddr(), 1));
        assertThat(registered.status()).as(registered.body()).isEqualTo(200);
        assertThat(agent.client.putState(id, "running").status()).isEqualTo(200);
        await().atMost(Duration.ofSeconds(30)).until(() -> agent.client.state(id).body().contains("\"running\""));

        // The limit taken by connections that each had a request answered (so they are surely accepted).
        final InetSocketAddress address = new InetSocketAddress("127.0.0.1", agent.base().getPort());
        for (int i = 0; i < LIMIT; i++)
        {
            held.add(openAndAsk(address, "GET /health HTTP/1.1\r\nhost: x\r\n\r\n", 200));
        }

        // In the reserve: health and force-terminate answer (once per connection); anything else is a 503.
        final RawExchange.Response health = ask(address, "GET /health HTTP/1.1\r\nhost: x\r\n\r\n");
        assertThat(health.status()).as(health.toString()).isEqualTo(200);
        assertThat(health.closed()).as("a reserve connection serves one request").isTrue();
        final RawExchange.Response other = ask(address, "GET /vmms/" + id + "/state HTTP/1.1\r\nhost: x\r\n"
            + "api-version: 48.0.0\r\n\r\n");
        assertThat(other.status()).as(other.toString()).isEqualTo(503);
        assertThat(other.json().path("message").asText()).contains("too many connections");
        final RawExchange.Response terminated = ask(address, "POST /vmms/" + id + "/force-terminate HTTP/1.1\r\n"
            + "host: x\r\napi-version: 48.0.0\r\ncontent-length: 0\r\n\r\n");
        assertThat(terminated.status()).as(terminated.toString()).isEqualTo(200);
        assertThat(terminated.body()).contains("\"destroyed\"");

        // Limit and reserve both taken: the next connection is closed at once, without an answer.
        for (int i = 0; i < RESERVE; i++)
        {
            final Socket socket = new Socket();
            socket.connect(address);
            held.add(socket);
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> refusedAtOnce(address));

        for (final Socket socket : held)
        {
            socket.close();
        }
        held.clear();
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() ->
        {
            final String metrics = agent.client.send("GET", "/metrics", null).body();
            assertThat(metrics).containsPattern("sled_agent_http_connections_refused_total\\{reason=\"limit\"} [1-9]")
                .containsPattern("sled_agent_http_connections_refused_total\\{reason=\"reserve\"} [1-9]")
                .containsPattern("(?m)^sled_agent_http_connections_open [1-3]$");
        });
    }

    /** A new connection that gets no answer and is closed (EOF or reset) within the read bound. */
    private static boolean refusedAtOnce(final InetSocketAddress address) throws IOException
    {
        final RawExchange.Response response = ask(address, "GET /health HTTP/1.1\r\nhost: x\r\n\r\n");
        return response.status() < 0 && response.error() != null && !response.error().startsWith("no response");
    }

    private static RawExchange.Response ask(final InetSocketAddress address, final String request)
        throws IOException
    {
        return RawExchange.send(address, request.getBytes(StandardCharsets.US_ASCII), READ);
    }

    private static Socket openAndAsk(final InetSocketAddress address, final String request, final int status)
        throws IOException
    {
        final Socket socket = new Socket();
        socket.connect(address);
        socket.setSoTimeout((int)READ.toMillis());
        socket.getOutputStream().write(request.getBytes(StandardCharsets.US_ASCII));
        final RawExchange.Response response = RawExchange.read(socket.getInputStream());
        assertThat(response.status()).as(response.toString()).isEqualTo(status);
        return socket;
    }
}
