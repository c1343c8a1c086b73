package sledagent.agent.tls;

import java.nio.file.Path;

/**
 * PEM files for one side of a TLS connection: this side's certificate chain and its private key, and the CA
 * certificates it trusts to have signed the peer's certificate. Any of them may be null. Only paths: the files
 * are read by {@link PemFiles} when a context is built.
 *
 * @param cert this side's certificate chain (leaf first), PEM {@code CERTIFICATE} blocks; null for none
 * @param key  the private key of {@code cert}, unencrypted PKCS#8 PEM ({@code BEGIN PRIVATE KEY}); null for none
 * @param ca   the CA certificates the peer's certificate must chain to, PEM; null for none
 */
public record TlsFiles(Path cert, Path key, Path ca)
{
    /** Nothing configured: plain HTTP on the API, the JDK's default trust roots for an https Nexus. */
    public static final TlsFiles NONE = new TlsFiles(null, null, null);

    /** True if any file is given. */
    public boolean any()
    {
        return cert != null || key != null || ca != null;
    }

    /** True if this side presents a certificate (certificate and key both given). */
    public boolean identity()
    {
        return cert != null && key != null;
    }
}
