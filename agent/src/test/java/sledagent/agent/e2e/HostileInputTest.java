package sledagent.agent.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import sledagent.agent.demo.AgentHttpClient;
import sledagent.agent.demo.ExampleBodies;
import sledagent.agent.demo.RecordingNexus;
import sledagent.agent.testing.TestZones;

/**
 * Issue 10: a hostile client. Hundreds of malformed requests over raw sockets each get a 4xx (505 for an HTTP
 * version other than 1.0 and 1.1) with the spec's {@code Error} body and no stack trace in the agent's log; an
 * idle connection is closed after the idle timeout; a slowloris client is cut with a 408; a client sending a
 * 2 MiB body with {@code Connection: close} always reads its 413 (lingering close) while VMMs run.
 */
class HostileInputTest
{
    private static final Duration READ = Duration.ofSeconds(10);
    private static final String V = "api-version: 48.0.0\r\n";
    private static final int RUNNING_VMMS = 3;

    private static Path zoneRoot;
    private static Path work;
    private static RecordingNexus nexus;
    private static AgentProcess agent;
    private static InetSocketAddress address;
    private static UUID known;

    @BeforeAll
    static void start() throws Exception
    {
        zoneRoot = TestZones.uniqueRoot();
        work = Files.createTempDirectory("sled-hostile-test");
        nexus = new RecordingNexus();
        agent = AgentProcess.start(nexus.url(), work.resolve("state"), zoneRoot, "5s", work.resolve("agent.log"),
            "--read-timeout", "1s", "--idle-timeout", "2s");
        address = new InetSocketAddress("127.0.0.1", agent.base().getPort());
        for (int i = 0; i < RUNNING_VMMS; i++)
        {
            final UUID id = UUID.randomUUID();
            final AgentHttpClient.Answer registered = agent.client.register(id,
                ExampleBodies.ensureBody(UUID.randomUUID(), AgentFixture.freeAddr(), 1));
            assertThat(registered.status()).as(registered.body()).isEqualTo(200);
            final AgentHttpClient.Answer run = agent.client.putState(id, "running");
            assertThat(run.status()).as(run.body()).isEqualTo(200);
            known = id;
        }
    }

    @AfterAll
    static void stop() throws Exception
    {
        try
        {
            if (agent != null)
            {
                agent.close();
            }
        }
        finally
        {
            try
            {
                if (nexus != null)
                {
                    nexus.close();
                }
            }
            finally
            {
                AgentFixture.removeZones(zoneRoot);
            }
        }
    }

    /** One malformed request and the status class it must get. */
    private record Case(String name, byte[] request, int status)
    {
        Case(final String name, final String request, final int status)
        {
            this(name, request.getBytes(StandardCharsets.ISO_8859_1), status);
        }
    }

    /** Any 4xx. */
    private static final int ANY_4XX = 4;

    private static List<Case> cases()
    {
        final List<Case> cases = new ArrayList<>();
        final String id = UUID.randomUUID().toString();
        // Request lines the codec cannot parse.
        for (final String line : List.of("GARBAGE", "GET", "GET /health", "GET /health HTTP/1.1 extra words",
            "GET /health HTTP/x.y", "GET /health HTTX/1.1", "GET /health HTTP/1", "GET /health HTTP/1.",
            "GET /health HTTP/.1", "GET /health HTTP/1.1.1", "G\u00c9T /health HTTP/1.1", "GET\t/health\tHTTP/1.1x",
            "/health HTTP/1.1", "GET /he alth HTTP/1.1", "GET /health HTTP/11.1", "GET /health HTTP/1.11",
            "\u00ff\u00fe\u00fd\u00fc", "GET /health HTTP/1.1 ", "<html>", "{\"json\":true}"))
        {
            cases.add(new Case("request line " + line, line + "\r\nhost: x\r\n\r\n", ANY_4XX));
        }
        cases.add(new Case("binary garbage", new byte[] {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, (byte)0xfc,
            0x03, 0x03, '\r', '\n', '\r', '\n'}, ANY_4XX));
        cases.add(new Case("bare LF line ends", "GET /health HTTP/1.1\nhost: x\n\n", ANY_4XX));
        cases.add(new Case("no line end at all", "GET /health HTTP/1.1", 408));
        cases.add(new Case("headers never end", "GET /health HTTP/1.1\r\nhost: x\r\n", 408));
        // Versions other than HTTP/1.0 and HTTP/1.1: served before the fix.
        for (final String version : List.of("HTTP/9.9", "HTTP/2.0", "HTTP/1.2", "HTTP/0.9", "HTTP/3.0"))
        {
            cases.add(new Case("version " + version, "GET /health " + version + "\r\nhost: x\r\n\r\n", 505));
        }
        // Bad escapes: the connection was closed without an answer before the fix.
        for (final String path : List.of("/vmms/%zz/state", "/vmms/%/state", "/vmms/%4/state", "/vmms/" + id
            + "%zz/state", "/%", "/health%zz", "/vmms/%g0", "/vmms/%%%%", "/metrics%", "/vmms/%c3%28/state"))
        {
            final int status = path.equals("/vmms/%c3%28/state") ? ANY_4XX : 400;
            cases.add(new Case("escape " + path, "GET " + path + " HTTP/1.1\r\nhost: x\r\n" + V + "\r\n", status));
        }
        // api-version as Dropshot checks it: missing, unparseable, newer.
        for (final String request : List.of("GET /vmms/" + id + "/state", "PUT /vmms/" + id, "DELETE /vmms/" + id,
            "PUT /vmms/" + id + "/state", "POST /vmms/" + id + "/force-terminate", "GET /vmms", "GET /nowhere"))
        {
            cases.add(new Case("no api-version " + request, request + " HTTP/1.1\r\nhost: x\r\ncontent-length: 0"
                + "\r\n\r\n", 400));
        }
        for (final String version : List.of("abc", "48", "48.0", "48.0.0.0", "v48.0.0", "049.0.0", "48.00.0",
            "49.0.0", "48.0.1", "48.1.0", "48.0.0+build", "1000.0.0", "48.0.0-", "48..0", "-1.0.0", "48.0.0 x",
            "48.0.0\u00e9", "\u00e948.0.0", "99999999999999999999.0.0"))
        {
            cases.add(new Case("api-version " + version, "GET /vmms/" + id + "/state HTTP/1.1\r\nhost: x\r\n"
                + "api-version: " + version + "\r\n\r\n", 400));
        }
        // Bad JSON bodies.
        for (final String body : List.of("", "{", "}", "null", "[]", "1", "\"x\"", "{\"state\":1}", "{\"state\":",
            "{\"state\":{\"type\":\"running\"}", "{\"state\":{\"type\":\"runnning\"}}", "{'state':'running'}",
            "[".repeat(5_000), "{\"state\":{\"type\":\"running\"}}trailing", "\u00ff\u00fe"))
        {
            cases.add(new Case("put-state body " + shorten(body), withBody("PUT /vmms/" + known + "/state", body),
                400));
            cases.add(new Case("register body " + shorten(body), withBody("PUT /vmms/" + UUID.randomUUID(), body),
                400));
        }
        // Wrong methods, unknown paths, ids that are not UUIDs.
        for (final String request : List.of("POST /vmms/" + id + "/state", "PATCH /vmms/" + id, "GET /vmms/" + id,
            "DELETE /health", "PUT /metrics", "POST /vmms", "GET /vmms/" + id + "/force-terminate",
            "FOO /health", "DELETE /vmms", "POST /health"))
        {
            cases.add(new Case("method " + request, request + " HTTP/1.1\r\nhost: x\r\n" + V
                + "content-length: 0\r\n\r\n", 405));
        }
        for (final String path : List.of("/", "/vmm", "/vmms/" + id + "/nope", "/vmms/" + id + "/state/x",
            "/instances/" + id, "*"))
        {
            cases.add(new Case("path " + path, "GET " + path + " HTTP/1.1\r\nhost: x\r\n" + V + "\r\n", 404));
        }
        for (final String raw : List.of("not-a-uuid", "1234", id.replace("-", ""), id + "0", "{" + id + "}"))
        {
            cases.add(new Case("id " + raw, "GET /vmms/" + raw + "/state HTTP/1.1\r\nhost: x\r\n" + V + "\r\n", 400));
        }
        // Oversize URI, headers, bodies; bad framing.
        cases.add(new Case("long URI", "GET /" + "a".repeat(10_000) + " HTTP/1.1\r\nhost: x\r\n\r\n", 414));
        cases.add(new Case("long header", "GET /health HTTP/1.1\r\nx-big: " + "a".repeat(10_000) + "\r\n\r\n", 431));
        cases.add(new Case("many headers", "GET /health HTTP/1.1\r\n" + "x-h: 0123456789012345678901234567\r\n"
            .repeat(400) + "\r\n", 431));
        final String twoMiB = "x".repeat(2 << 20);
        cases.add(new Case("2 MiB body", "PUT /vmms/" + id + " HTTP/1.1\r\nhost: x\r\n" + V + "content-length: "
            + twoMiB.length() + "\r\n\r\n" + twoMiB, 413));
        cases.add(new Case("2 MiB body, close", "PUT /vmms/" + id + " HTTP/1.1\r\nhost: x\r\n" + V
            + "connection: close\r\ncontent-length: " + twoMiB.length() + "\r\n\r\n" + twoMiB, 413));
        cases.add(new Case("2 MiB announced, expect 100-continue", "PUT /vmms/" + id + " HTTP/1.1\r\nhost: x\r\n"
            + V + "expect: 100-continue\r\ncontent-length: " + twoMiB.length() + "\r\n\r\n", 413));
        cases.add(new Case("2 MiB announced, expect 100-continue, close", "PUT /vmms/" + id + " HTTP/1.1\r\n"
            + "host: x\r\n" + V + "connection: close\r\nexpect: 100-continue\r\ncontent-length: "
            + twoMiB.length() + "\r\n\r\n", 413));
        cases.add(new Case("2 MiB chunked", "PUT /vmms/" + id + " HTTP/1.1\r\nhost: x\r\n" + V
            + "transfer-encoding: chunked\r\n\r\n" + (Integer.toHexString(1 << 20) + "\r\n" + twoMiB.substring(0,
            1 << 20) + "\r\n").repeat(2) + "0\r\n\r\n", 413));
        cases.add(new Case("content-length huge", "PUT /vmms/" + id + " HTTP/1.1\r\nhost: x\r\n" + V
            + "content-length: 99999999999999\r\n\r\n", 413));
        cases.add(new Case("unknown expectation", "PUT /vmms/" + id + " HTTP/1.1\r\nhost: x\r\n" + V
            + "expect: teapot\r\ncontent-length: 2\r\n\r\n{}", 417));
        for (final String length : List.of("abc", "-1", "1, 2", "0x10", " "))
        {
            cases.add(new Case("content-length " + length, "PUT /vmms/" + id + " HTTP/1.1\r\nhost: x\r\n" + V
                + "content-length: " + length + "\r\n\r\n{}", ANY_4XX));
        }
        cases.add(new Case("two content-lengths", "PUT /vmms/" + id + " HTTP/1.1\r\nhost: x\r\n" + V
            + "content-length: 2\r\ncontent-length: 3\r\n\r\n{}", ANY_4XX));
        cases.add(new Case("bad chunk size", "PUT /vmms/" + id + "/state HTTP/1.1\r\nhost: x\r\n" + V
            + "transfer-encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", 400));
        cases.add(new Case("header without colon", "GET /health HTTP/1.1\r\nhost: x\r\nno colon here\r\n\r\n",
            ANY_4XX));
        cases.add(new Case("space before colon", "GET /health HTTP/1.1\r\nhost : x\r\n\r\n", ANY_4XX));
        cases.add(new Case("obsolete line folding", "GET /health HTTP/1.1\r\nhost: x\r\n folded\r\n"
            + "x: \u0001\r\n\r\n", ANY_4XX));
        return cases;
    }

    private static String withBody(final String requestLine, final String body)
    {
        final byte[] bytes = body.getBytes(StandardCharsets.ISO_8859_1);
        return requestLine + " HTTP/1.1\r\nhost: x\r\n" + V + "content-type: application/json\r\ncontent-length: "
            + bytes.length + "\r\n\r\n" + body;
    }

    private static String shorten(final String text)
    {
        return text.length() > 24 ? text.substring(0, 24) + "..." : text;
    }

    @Test
    void shouldAnswerEveryMalformedRequestWithAnErrorBodyAndLogNoStackTrace() throws Exception
    {
        final List<Case> cases = cases();
        final List<String> failures = new ArrayList<>();
        int clientErrors = 0;
        for (final Case c : cases)
        {
            final RawExchange.Response response = RawExchange.send(address, c.request(), READ);
            final String problem = problem(c, response);
            if (problem != null)
            {
                failures.add(c.name() + ": " + problem + " -- got " + shorten(response.toString(), 300));
            }
            else if (response.status() / 100 == 4)
            {
                clientErrors++;
            }
        }
        assertThat(failures).as("of %d malformed requests", cases.size()).isEmpty();
        assertThat(clientErrors).isGreaterThanOrEqualTo(100);
        assertThat(agent.client.send("GET", "/health", null).status()).isEqualTo(200);
        assertThat(agent.client.state(known).status()).isEqualTo(200);
        assertNoStackTrace();
    }

    private static String problem(final Case c, final RawExchange.Response response)
    {
        if (response.status() < 0)
        {
            return "no answer";
        }
        final boolean statusOk = c.status() == ANY_4XX ? response.status() / 100 == 4 : response.status() == c.status();
        if (!statusOk)
        {
            return "expected " + (c.status() == ANY_4XX ? "a 4xx" : c.status());
        }
        if (!String.valueOf(response.headers().get("content-type")).startsWith("application/json"))
        {
            return "not JSON";
        }
        final JsonNode error = response.json();
        if (error == null || !error.isObject())
        {
            return "body is not a JSON object";
        }
        final Set<String> keys = new java.util.HashSet<>();
        error.fieldNames().forEachRemaining(keys::add);
        if (!Set.of("request_id", "message", "error_code").containsAll(keys) || !error.path("request_id").isTextual()
            || error.path("request_id").asText().isEmpty() || !error.path("message").isTextual()
            || (error.has("error_code") && !error.get("error_code").isTextual()))
        {
            return "not the spec's Error body";
        }
        return null;
    }

    private static String shorten(final String text, final int max)
    {
        return text.length() > max ? text.substring(0, max) + "..." : text;
    }

    /** Bad input is logged in one line at most: no stack trace (JSON "stack" or text "\tat ") in the log. */
    private static void assertNoStackTrace() throws IOException
    {
        final String log = Files.readString(work.resolve("agent.log"));
        assertThat(log).doesNotContain("\"stack\"").doesNotContain("\tat ").doesNotContain("Exception:");
    }

    @Test
    void shouldCloseAnIdleConnection() throws Exception
    {
        try (Socket socket = new Socket())
        {
            socket.connect(address);
            socket.setSoTimeout(30_000);
            // One request answered, then nothing: the connection is closed after the idle timeout (2 s).
            socket.getOutputStream().write(("GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
                .getBytes(StandardCharsets.US_ASCII));
            assertThat(RawExchange.read(socket.getInputStream()).status()).isEqualTo(200);
            final long startNs = System.nanoTime();
            assertThat(socket.getInputStream().read()).as("EOF").isEqualTo(-1);
            assertThat(Duration.ofNanos(System.nanoTime() - startNs)).isLessThan(Duration.ofSeconds(20));
        }
        try (Socket silent = new Socket())
        {
            silent.connect(address);
            silent.setSoTimeout(30_000);
            assertThat(silent.getInputStream().read()).as("EOF of a connection that never sent").isEqualTo(-1);
        }
        assertThat(metric("sled_agent_http_connections_timed_out_total{kind=\"idle\"}")).isGreaterThanOrEqualTo(2);
    }

    @Test
    void shouldCutASlowlorisClientWithA408() throws Exception
    {
        final ExecutorService trickler = Executors.newSingleThreadExecutor();
        try (Socket socket = new Socket())
        {
            socket.connect(address);
            socket.setSoTimeout(30_000);
            final OutputStream out = socket.getOutputStream();
            out.write("GET /health HTTP/1.1\r\nhost: x\r\n".getBytes(StandardCharsets.US_ASCII));
            // One header byte every 100 ms for 30 s, never ending the headers (idle never applies: bytes flow).
            final Iterator<Integer> bytes = "x-slow: ".concat("a".repeat(300)).chars().iterator();
            final Future<?> trickle = trickler.submit(() ->
            {
                while (bytes.hasNext())
                {
                    out.write(bytes.next());
                    out.flush();
                    TimeUnit.MILLISECONDS.sleep(100);
                }
                return null;
            });
            final InputStream in = socket.getInputStream();
            final RawExchange.Response response = RawExchange.read(in);
            assertThat(response.status()).as(response.toString()).isEqualTo(408);
            assertThat(response.json().path("message").asText()).contains("not received within");
            assertThat(in.read()).as("EOF").isEqualTo(-1);
            assertThat(trickle.isDone()).as("cut while the client was still trickling").isFalse();
            trickle.cancel(true);
        }
        finally
        {
            trickler.shutdownNow();
            assertThat(trickler.awaitTermination(5, TimeUnit.SECONDS)).isTrue();
        }
        assertThat(metric("sled_agent_http_connections_timed_out_total{kind=\"read\"}")).isPositive();
    }

    /** Issue 10 item 5: twenty 2 MiB bodies sent whole with Connection: close, as urllib does, all read the 413. */
    @Test
    void shouldLetEveryConnectionCloseClientReadIts413WhileVmmsRun() throws Exception
    {
        final String body = "x".repeat(2 << 20);
        final List<String> lost = new ArrayList<>();
        for (int i = 0; i < 20; i++)
        {
            final String request = "PUT /vmms/" + UUID.randomUUID() + " HTTP/1.1\r\nhost: x\r\n" + V
                + "connection: close\r\ncontent-type: application/json\r\ncontent-length: " + body.length()
                + "\r\n\r\n" + body;
            final RawExchange.Response response = RawExchange.send(address,
                request.getBytes(StandardCharsets.ISO_8859_1), READ);
            if (response.status() != 413 || response.json() == null || !response.json().has("request_id"))
            {
                lost.add(i + ": " + shorten(response.toString(), 200));
            }
        }
        assertThat(lost).as("2 MiB PUTs with Connection: close that did not read their 413").isEmpty();
        assertThat(agent.client.state(known).status()).isEqualTo(200);
    }

    private static long metric(final String series) throws IOException, InterruptedException
    {
        final String text = agent.client.send("GET", "/metrics", null).body();
        return text.lines().filter(line -> line.startsWith(series + " ")).mapToLong(
            line -> (long)Double.parseDouble(line.substring(series.length() + 1))).findFirst().orElse(-1);
    }
}
