package sledagent.agent.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import javax.net.ssl.SSLContext;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import sledagent.agent.cli.VmmCommand;
import sledagent.agent.demo.AgentHttpClient;
import sledagent.agent.demo.ExampleBodies;
import sledagent.agent.demo.RecordingNexus;
import sledagent.agent.testing.TestCertificates;
import sledagent.agent.tls.JdkTls;
import sledagent.agent.tls.TlsFiles;

/**
 * Mutual TLS with real certificates (made by openssl at run time): the API answers only clients whose
 * certificate the client CA signed, and the agent publishes to an HTTPS Nexus that demands a client certificate.
 */
class MutualTlsTest
{
    /** The agent's HTTP loggers, held strongly (the log manager keeps only weak references). */
    private static final Logger HTTP_LOG = Logger.getLogger("sledagent.agent.http");
    private static final List<LogRecord> RECORDS = new CopyOnWriteArrayList<>();
    private static final Handler CAPTURE = new Handler()
    {
        @Override
        public void publish(final LogRecord record)
        {
            RECORDS.add(record);
        }

        @Override
        public void flush()
        {
        }

        @Override
        public void close()
        {
        }
    };

    private static TestCertificates certs;
    private static AgentFixture fixture;
    private static Level levelBefore;

    @BeforeAll
    static void start() throws Exception
    {
        certs = TestCertificates.create();
        levelBefore = HTTP_LOG.getLevel();
        HTTP_LOG.setLevel(Level.ALL);
        HTTP_LOG.addHandler(CAPTURE);
        try
        {
            final RecordingNexus nexus = new RecordingNexus(JdkTls.context(
                new TlsFiles(certs.serverCert, certs.serverKey, certs.caCert), "test_nexus"));
            fixture = new AgentFixture(nexus, new TlsFiles(certs.serverCert, certs.serverKey, certs.caCert),
                new TlsFiles(certs.clientCert, certs.clientKey, certs.caCert),
                client(new TlsFiles(certs.clientCert, certs.clientKey, certs.caCert)));
        }
        catch (final Exception | Error ex)
        {
            stop();
            throw ex;
        }
    }

    @AfterAll
    static void stop() throws Exception
    {
        try
        {
            if (fixture != null)
            {
                fixture.close();
            }
        }
        finally
        {
            HTTP_LOG.removeHandler(CAPTURE);
            HTTP_LOG.setLevel(levelBefore);
            if (certs != null)
            {
                certs.close();
            }
        }
    }

    @Test
    void shouldServeAndPublishForAClientWithACertificateFromTheClientCa() throws Exception
    {
        assertThat(fixture.base().getScheme()).isEqualTo("https");
        assertThat(fixture.client.send("GET", "/health", null).status()).isEqualTo(200);

        final UUID propolisId = UUID.randomUUID();
        final AgentHttpClient.Answer registered = fixture.client.register(propolisId,
            ExampleBodies.ensureBody(UUID.randomUUID(), AgentFixture.freeAddr(), 1));
        assertThat(registered.status()).as(registered.body()).isEqualTo(200);
        final AgentHttpClient.Answer state = fixture.client.state(propolisId);
        assertThat(state.status()).as(state.body()).isEqualTo(200);
        assertThat(AgentFixture.json(state.body()).path("vmm_state").path("gen").asLong()).isGreaterThanOrEqualTo(1);

        final AgentHttpClient.Answer run = fixture.client.putState(propolisId, "running");
        assertThat(run.status()).as(run.body()).isEqualTo(200);

        // The publish went over TLS to a Nexus that refuses connections without a client certificate.
        Awaitility.await().atMost(Duration.ofSeconds(30)).untilAsserted(() ->
            assertThat(fixture.nexus.received(propolisId)).isNotEmpty());
        assertThat(fixture.nexus.url().getScheme()).isEqualTo("https");

        final AgentHttpClient.Answer terminated = fixture.client.forceTerminate(propolisId);
        assertThat(terminated.status()).as(terminated.body()).isEqualTo(200);
    }

    @Test
    void shouldRefuseAClientWithoutACertificate() throws Exception
    {
        final String line = assertRefusedAtHandshake(new TlsFiles(null, null, certs.caCert));
        assertThat(line).containsIgnoringCase("empty client certificate");
    }

    @Test
    void shouldRefuseAClientWhoseCertificateAnotherCaSigned() throws Exception
    {
        // Same issuer name as the client CA, so the client really presents it; only the signature is wrong.
        final String line = assertRefusedAtHandshake(new TlsFiles(certs.strangerCert, certs.strangerKey,
            certs.caCert));
        assertThat(line).as("a certificate was presented and refused").doesNotContainIgnoringCase("empty");
    }

    @Test
    void shouldNotAnswerPlainHttpOnTheTlsPort() throws Exception
    {
        final URI plain = URI.create("http://127.0.0.1:" + fixture.agent.server().address().getPort());
        final int before = RECORDS.size();
        assertThatThrownBy(() -> new AgentHttpClient(plain, Duration.ofSeconds(10)).send("GET", "/health", null))
            .isInstanceOf(IOException.class);
        assertLoggedWithoutStackTrace(before, "not a TLS record");
    }

    @Test
    void shouldLetTheCliTalkToATlsAgent()
    {
        final String agent = fixture.base().toString();
        final ByteArrayOutputStream out = new ByteArrayOutputStream();
        final ByteArrayOutputStream err = new ByteArrayOutputStream();
        final PrintStream outStream = new PrintStream(out, true, StandardCharsets.UTF_8);
        final PrintStream errStream = new PrintStream(err, true, StandardCharsets.UTF_8);
        assertThat(VmmCommand.run(List.of("list", "--json", "--agent", agent, "--tls-ca", certs.caCert.toString(),
            "--tls-cert", certs.clientCert.toString(), "--tls-key", certs.clientKey.toString()), outStream, errStream))
            .as(err.toString(StandardCharsets.UTF_8)).isZero();
        assertThat(out.toString(StandardCharsets.UTF_8)).contains("\"vmms\"");
        // Without a client certificate the agent refuses: status 1, "failed".
        assertThat(VmmCommand.run(List.of("list", "--agent", agent, "--tls-ca", certs.caCert.toString()), outStream,
            errStream)).isEqualTo(1);
        assertThat(VmmCommand.run(List.of("list", "--agent", agent, "--tls-ca", certs.caCert.toString(),
            "--tls-cert", certs.clientCert.toString()), outStream, errStream)).isEqualTo(2);
        assertThat(err.toString(StandardCharsets.UTF_8))
            .contains("--tls-cert and --tls-key must be given together");
    }

    /**
     * A client with {@code files} gets no answer: the server fails the handshake (with TLS 1.3 the client may
     * only see the connection close), logs one line without a stack trace, and returns that line.
     */
    private static String assertRefusedAtHandshake(final TlsFiles files) throws Exception
    {
        final int before = RECORDS.size();
        final AgentHttpClient refused = new AgentHttpClient(fixture.base(), Duration.ofSeconds(10), client(files));
        assertThatThrownBy(() -> refused.send("GET", "/health", null)).isInstanceOf(IOException.class);
        final String line = assertLoggedWithoutStackTrace(before, "TLS handshake from");
        // The right client still gets in (the refusals did not break the server).
        assertThat(fixture.client.send("GET", "/health", null).status()).isEqualTo(200);
        return line;
    }

    /** Waits for a log line containing {@code expected} after record {@code before}; none has a stack trace. */
    private static String assertLoggedWithoutStackTrace(final int before, final String expected)
    {
        final String line = Awaitility.await().atMost(Duration.ofSeconds(5)).until(() ->
            RECORDS.subList(before, RECORDS.size()).stream().map(LogRecord::getMessage)
                .filter(message -> message.contains(expected)).findFirst().orElse(null), java.util.Objects::nonNull);
        assertThat(RECORDS.subList(before, RECORDS.size()))
            .as("refused connections are logged without stack traces")
            .allSatisfy(record -> assertThat(record.getThrown()).as(record.getMessage()).isNull());
        return line;
    }

    private static SSLContext client(final TlsFiles files)
    {
        return JdkTls.context(files, "test_client");
    }
}
