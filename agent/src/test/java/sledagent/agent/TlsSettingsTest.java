package sledagent.agent;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import sledagent.agent.testing.TestCertificates;

/** TLS settings are checked before the agent starts: every bad file or combination is exit 2 with a reason. */
class TlsSettingsTest
{
    private static TestCertificates certs;

    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private final ByteArrayOutputStream err = new ByteArrayOutputStream();

    @BeforeAll
    static void makeCertificates() throws Exception
    {
        certs = TestCertificates.create();
        // The server's RSA key in the traditional PKCS#1 form, which is refused with the conversion command.
        certs.openssl("rsa", "-in", "server.key", "-traditional", "-out", "pkcs1.key");
        Files.writeString(certs.dir.resolve("garbage.pem"), "not a certificate\n");
    }

    @AfterAll
    static void removeCertificates() throws Exception
    {
        if (certs != null)
        {
            certs.close();
        }
    }

    @Test
    void shouldRefuseIncompleteCombinations()
    {
        assertRefused("tls_cert and tls_key must be given together", "--tls-client-ca", certs.caCert.toString());
        assertRefused("tls_cert and tls_key must be given together", "--tls-cert", certs.serverCert.toString());
        assertRefused("tls_cert and tls_key must be given together", "--tls-key", certs.serverKey.toString());
        assertRefused("nexus_tls_cert and nexus_tls_key must be given together",
            "--nexus-tls-cert", certs.clientCert.toString());
    }

    @Test
    void shouldRefuseBadFiles()
    {
        assertRefused("is not the private key of the certificate",
            "--tls-cert", certs.serverCert.toString(), "--tls-key", certs.clientKey.toString());
        assertRefused("no such file",
            "--tls-cert", certs.dir.resolve("absent.crt").toString(), "--tls-key", certs.serverKey.toString());
        assertRefused("openssl pkcs8 -topk8 -nocrypt",
            "--tls-cert", certs.serverCert.toString(), "--tls-key", certs.dir.resolve("pkcs1.key").toString());
        assertRefused("no PEM CERTIFICATE block",
            "--tls-cert", certs.serverKey.toString(), "--tls-key", certs.serverKey.toString());
        assertRefused("tls_client_ca: " + certs.dir.resolve("garbage.pem") + ": not a PEM file",
            "--tls-cert", certs.serverCert.toString(), "--tls-key", certs.serverKey.toString(),
            "--tls-client-ca", certs.dir.resolve("garbage.pem").toString());
        assertRefused("nexus_tls_key: " + certs.serverKey + " is not the private key",
            "--nexus-tls-cert", certs.clientCert.toString(), "--nexus-tls-key", certs.serverKey.toString());
        assertRefused("nexus_tls_ca: cannot read", "--nexus-tls-ca", certs.dir.resolve("absent.crt").toString());
    }

    @Test
    void shouldAcceptGoodFilesFromTheConfigFile() throws Exception
    {
        final Path file = certs.dir.resolve("config.toml");
        Files.writeString(file, "tls_cert = \"" + certs.serverCert + "\"\ntls_key = \"" + certs.serverKey + "\"\n"
            + "tls_client_ca = \"" + certs.caCert + "\"\nnexus_urls = [\"https://127.0.0.1:12221\"]\n"
            + "nexus_tls_ca = \"" + certs.caCert + "\"\nnexus_tls_cert = \"" + certs.clientCert + "\"\n"
            + "nexus_tls_key = \"" + certs.clientKey + "\"\n");
        assertThat(run("config", "check", file.toString())).as(text(err)).isZero();
        assertThat(text(out)).contains("HTTPS, client certificate signed by " + certs.caCert)
            .contains("nexus_tls       ca " + certs.caCert);

        Files.writeString(file, "tls_cert = \"" + certs.serverCert + "\"\ntls_key = \"" + certs.clientKey + "\"\n");
        assertThat(run("config", "check", file.toString())).isEqualTo(2);
        assertThat(text(err)).contains("is not the private key");
    }

    private void assertRefused(final String reason, final String... flags)
    {
        err.reset();
        // Should a check be missing, the agent must not start and serve for ever: a state dir that is a file
        // makes it fail at once (status 1).
        final String[] args = new String[flags.length + 3];
        args[0] = "serve";
        args[1] = "--state-dir";
        args[2] = certs.dir.resolve("garbage.pem").toString();
        System.arraycopy(flags, 0, args, 3, flags.length);
        assertThat(run(args)).as(text(err)).isEqualTo(2);
        assertThat(text(err)).contains(reason);
    }

    private int run(final String... args)
    {
        return Main.run(args, new PrintStream(out, true, StandardCharsets.UTF_8),
            new PrintStream(err, true, StandardCharsets.UTF_8));
    }

    private static String text(final ByteArrayOutputStream stream)
    {
        return stream.toString(StandardCharsets.UTF_8);
    }
}
