package sledagent.agent.testing;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;

/**
 * Real certificates made at run time with {@code openssl} into a temporary directory: a CA, a server certificate
 * for 127.0.0.1 (RSA, subjectAltName IP), a client certificate it signed (EC P-256), and a "stranger" client
 * certificate signed by another CA that carries the <em>same</em> name as the first, so only the signature tells
 * them apart (and the client's key manager, which picks a certificate by issuer name, really presents it).
 * Without openssl the test is skipped, unless {@code SLED_AGENT_REQUIRE_TOOLS=1} (CI) makes that a failure.
 */
public final class TestCertificates implements AutoCloseable
{
    private static final String CA_NAME = "/CN=sled-agent test CA";
    private static final long OPENSSL_BOUND_S = 30;
    private static final AtomicLong SERIAL = new AtomicLong(System.nanoTime() & 0xffffffffL);

    public final Path dir;
    public final Path caCert;
    public final Path serverCert;
    public final Path serverKey;
    public final Path clientCert;
    public final Path clientKey;
    public final Path otherCaCert;
    public final Path strangerCert;
    public final Path strangerKey;

    private TestCertificates(final Path dir)
    {
        this.dir = dir;
        caCert = dir.resolve("ca.crt");
        serverCert = dir.resolve("server.crt");
        serverKey = dir.resolve("server.key");
        clientCert = dir.resolve("client.crt");
        clientKey = dir.resolve("client.key");
        otherCaCert = dir.resolve("other-ca.crt");
        strangerCert = dir.resolve("stranger.crt");
        strangerKey = dir.resolve("stranger.key");
    }

    /** Makes every certificate and key (a second or so: one RSA key, the rest EC). */
    public static TestCertificates create() throws IOException, InterruptedException
    {
        requireOpenssl();
        final TestCertificates certs = new TestCertificates(Files.createTempDirectory("sled-agent-tls"));
        try
        {
            certs.makeCa("ca");
            certs.makeCa("other-ca");
            certs.makeLeaf("server", "rsa:2048", "/CN=127.0.0.1", "ca",
                "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=critical,CA:FALSE\n");
            certs.makeLeaf("client", "ec", "/CN=nexus-client", "ca",
                "extendedKeyUsage=clientAuth\nbasicConstraints=critical,CA:FALSE\n");
            certs.makeLeaf("stranger", "ec", "/CN=stranger", "other-ca",
                "extendedKeyUsage=clientAuth\nbasicConstraints=critical,CA:FALSE\n");
            return certs;
        }
        catch (final IOException | InterruptedException | RuntimeException | Error ex)
        {
            certs.close();
            throw ex;
        }
    }

    /** Skips the calling test without openssl, or fails it when {@code SLED_AGENT_REQUIRE_TOOLS=1}. */
    public static void requireOpenssl()
    {
        if (opensslPath() != null)
        {
            return;
        }
        if ("1".equals(System.getenv("SLED_AGENT_REQUIRE_TOOLS")))
        {
            throw new AssertionError("openssl is not installed and SLED_AGENT_REQUIRE_TOOLS=1: the TLS tests need it");
        }
        Assumptions.abort("openssl is not installed: TLS tests skipped");
    }

    /** Runs {@code openssl ARGS} in {@link #dir}, bounded; fails with its output if it fails. */
    public void openssl(final String... args) throws IOException, InterruptedException
    {
        final List<String> command = new ArrayList<>();
        command.add(opensslPath());
        command.addAll(List.of(args));
        final Path output = dir.resolve("openssl.out");
        final Process process = new ProcessBuilder(command).directory(dir.toFile())
            .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
            .redirectErrorStream(true).redirectOutput(output.toFile()).start();
        if (!process.waitFor(OPENSSL_BOUND_S, TimeUnit.SECONDS))
        {
            process.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
            throw new AssertionError("openssl did not finish within " + OPENSSL_BOUND_S + " s: " + command);
        }
        if (process.exitValue() != 0)
        {
            throw new AssertionError("openssl failed (" + process.exitValue() + "): " + command + "\n"
                + Files.readString(output, StandardCharsets.UTF_8));
        }
    }

    private void makeCa(final String name) throws IOException, InterruptedException
    {
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", name + ".key", "-out", name + ".crt", "-days", "2", "-subj", CA_NAME,
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign");
    }

    private void makeLeaf(final String name, final String keyKind, final String subject, final String ca,
        final String extensions) throws IOException, InterruptedException
    {
        final List<String> request = new ArrayList<>(List.of("req", "-new", "-newkey", keyKind));
        if ("ec".equals(keyKind))
        {
            request.addAll(List.of("-pkeyopt", "ec_paramgen_curve:P-256"));
        }
        request.addAll(List.of("-nodes", "-keyout", name + ".key", "-out", name + ".csr", "-subj", subject));
        openssl(request.toArray(String[]::new));
        Files.writeString(dir.resolve(name + ".ext"), extensions, StandardCharsets.US_ASCII);
        openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".crt", "-CAkey", ca + ".key",
            "-set_serial", Long.toString(SERIAL.incrementAndGet()), "-days", "2", "-extfile", name + ".ext",
            "-out", name + ".crt");
    }

    private static String opensslPath()
    {
        for (final String entry : System.getenv().getOrDefault("PATH", "/usr/bin:/bin").split(File.pathSeparator))
        {
            final Path candidate = Path.of(entry, "openssl");
            if (Files.isExecutable(candidate))
            {
                return candidate.toString();
            }
        }
        return null;
    }

    /** Deletes the directory and every key in it. */
    @Override
    public void close() throws IOException
    {
        try (Stream<Path> paths = Files.walk(dir))
        {
            for (final Path path : paths.sorted(Comparator.reverseOrder()).toList())
            {
                Files.deleteIfExists(path);
            }
        }
    }
}
