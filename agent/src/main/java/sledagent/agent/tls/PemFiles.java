package sledagent.agent.tls;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.Signature;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads PEM certificates and private keys with JDK APIs only, and checks that a key belongs to a certificate.
 * Keys: unencrypted PKCS#8 ({@code -----BEGIN PRIVATE KEY-----}, what {@code openssl genpkey} and OpenSSL 3's
 * {@code req -nodes} write) holding an RSA, EC, Ed25519/Ed448 or RSASSA-PSS key. PKCS#1
 * ({@code BEGIN RSA PRIVATE KEY}), SEC1 ({@code BEGIN EC PRIVATE KEY}) and encrypted keys are refused with the
 * {@code openssl pkcs8} command that converts them. Every failure is an {@link IllegalArgumentException} whose
 * message names the setting and the file.
 */
public final class PemFiles
{
    private static final Pattern BLOCK = Pattern.compile(
        "-----BEGIN ([A-Z0-9 ]+)-----([A-Za-z0-9+/=\\s]*?)-----END \\1-----");
    private static final List<String> KEY_ALGORITHMS = List.of("RSA", "EC", "EdDSA", "XDH", "RSASSA-PSS");
    private static final byte[] PROBE = "sled-agent key check".getBytes(StandardCharsets.US_ASCII);

    private PemFiles()
    {
    }

    /**
     * A private key and the certificate chain it belongs to.
     *
     * @param key   the private key
     * @param chain the certificates, leaf first
     */
    public record Identity(PrivateKey key, List<X509Certificate> chain)
    {
        /** The chain as an array, as the TLS APIs take it. */
        public X509Certificate[] chainArray()
        {
            return chain.toArray(X509Certificate[]::new);
        }
    }

    /** Reads a certificate chain and its key, and checks that they belong together. */
    public static Identity identity(final Path cert, final Path key, final String certSetting,
        final String keySetting)
    {
        final List<X509Certificate> chain = certificates(cert, certSetting);
        final PrivateKey privateKey = privateKey(key, keySetting);
        requireMatch(privateKey, chain.get(0), keySetting + ": " + key + " is not the private key of the certificate "
            + "in " + certSetting + " " + cert + " (" + chain.get(0).getSubjectX500Principal().getName() + ")");
        return new Identity(privateKey, List.copyOf(chain));
    }

    /** Every {@code CERTIFICATE} block of {@code file}, in file order (at least one). */
    public static List<X509Certificate> certificates(final Path file, final String setting)
    {
        final List<X509Certificate> certificates = new ArrayList<>();
        final CertificateFactory factory;
        try
        {
            factory = CertificateFactory.getInstance("X.509");
        }
        catch (final CertificateException ex)
        {
            throw new IllegalStateException("the JDK has no X.509 certificate factory", ex);
        }
        for (final Block block : blocks(file, setting))
        {
            if (!"CERTIFICATE".equals(block.type()))
            {
                continue;
            }
            try
            {
                certificates.add((X509Certificate)factory.generateCertificate(new ByteArrayInputStream(block.der())));
            }
            catch (final CertificateException ex)
            {
                throw new IllegalArgumentException(setting + ": " + file + ": certificate " + (certificates.size() + 1)
                    + " cannot be parsed: " + ex.getMessage());
            }
        }
        if (certificates.isEmpty())
        {
            throw new IllegalArgumentException(setting + ": " + file + ": no PEM CERTIFICATE block");
        }
        return certificates;
    }

    /** The one private key of {@code file}. */
    public static PrivateKey privateKey(final Path file, final String setting)
    {
        final List<Block> keys = blocks(file, setting).stream().filter(b -> b.type().endsWith("PRIVATE KEY")).toList();
        if (keys.size() != 1)
        {
            throw new IllegalArgumentException(setting + ": " + file + ": expected one PEM private key block, found "
                + keys.size());
        }
        final Block key = keys.get(0);
        if (!"PRIVATE KEY".equals(key.type()))
        {
            throw new IllegalArgumentException(setting + ": " + file + ": a '" + key.type() + "' block; only "
                + "unencrypted PKCS#8 ('PRIVATE KEY') is read. Convert with: openssl pkcs8 -topk8 -nocrypt -in "
                + file + " -out KEY.pem");
        }
        final PKCS8EncodedKeySpec spec = new PKCS8EncodedKeySpec(key.der());
        for (final String algorithm : KEY_ALGORITHMS)
        {
            try
            {
                return KeyFactory.getInstance(algorithm).generatePrivate(spec);
            }
            catch (final GeneralSecurityException ex)
            {
                // Not this algorithm (or not in this JDK): try the next.
            }
        }
        throw new IllegalArgumentException(setting + ": " + file + ": not a PKCS#8 " + String.join(", ",
            KEY_ALGORITHMS) + " private key");
    }

    /**
     * Fails unless {@code key} is the private half of {@code certificate}'s public key: signs a probe with one
     * and verifies it with the other. Key kinds that cannot sign (XDH) are not checked here; a wrong one of those
     * fails the handshake instead.
     */
    public static void requireMatch(final PrivateKey key, final X509Certificate certificate, final String message)
    {
        final String signature = switch (key.getAlgorithm())
        {
            case "RSA" -> "SHA256withRSA";
            case "EC" -> "SHA256withECDSA";
            case "EdDSA", "Ed25519", "Ed448" -> "EdDSA";
            default -> null;
        };
        if (signature == null)
        {
            return;
        }
        boolean matches;
        try
        {
            final Signature signer = Signature.getInstance(signature);
            signer.initSign(key);
            signer.update(PROBE);
            final byte[] signed = signer.sign();
            final Signature verifier = Signature.getInstance(signature);
            verifier.initVerify(certificate.getPublicKey());
            verifier.update(PROBE);
            matches = verifier.verify(signed);
        }
        catch (final GeneralSecurityException ex)
        {
            // E.g. an EC key against an RSA certificate: the verifier refuses the key kind.
            matches = false;
        }
        if (!matches)
        {
            throw new IllegalArgumentException(message);
        }
    }

    private static List<Block> blocks(final Path file, final String setting)
    {
        final String text;
        try
        {
            text = Files.readString(file, StandardCharsets.US_ASCII);
        }
        catch (final IOException | java.io.UncheckedIOException ex)
        {
            throw new IllegalArgumentException(setting + ": cannot read " + file + ": " + describe(ex));
        }
        final List<Block> blocks = new ArrayList<>();
        final Matcher matcher = BLOCK.matcher(text);
        while (matcher.find())
        {
            try
            {
                blocks.add(new Block(matcher.group(1), Base64.getMimeDecoder().decode(matcher.group(2))));
            }
            catch (final IllegalArgumentException ex)
            {
                throw new IllegalArgumentException(setting + ": " + file + ": bad base64 in a " + matcher.group(1)
                    + " block");
            }
        }
        if (blocks.isEmpty())
        {
            throw new IllegalArgumentException(setting + ": " + file
                + ": not a PEM file (no -----BEGIN ...----- block)");
        }
        return blocks;
    }

    private static String describe(final Exception ex)
    {
        if (ex instanceof java.nio.file.NoSuchFileException)
        {
            return "no such file";
        }
        if (ex instanceof java.nio.file.AccessDeniedException)
        {
            return "permission denied";
        }
        if (ex instanceof java.nio.charset.MalformedInputException)
        {
            return "not a PEM (text) file";
        }
        return ex.getMessage() == null ? ex.getClass().getSimpleName() : ex.getMessage();
    }

    /** One PEM block: its type ("CERTIFICATE", "PRIVATE KEY", ...) and decoded bytes. */
    private record Block(String type, byte[] der)
    {
    }
}
