package sledagent.agent.tls;

import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.util.List;
import javax.net.ssl.KeyManager;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;

/**
 * A JDK {@link SSLContext} from {@link TlsFiles}, for {@code java.net.http} clients (the Nexus client, the
 * {@code vmm} CLI) and for JDK servers (the recording Nexus). Without a CA file the JDK's default trust roots
 * are used; without a certificate none is presented.
 */
public final class JdkTls
{
    /** Password of the in-memory key store only; it never leaves this process. */
    private static final char[] IN_MEMORY = "in-memory".toCharArray();

    private JdkTls()
    {
    }

    /**
     * Builds the context; {@code setting} prefixes the setting names in messages ({@code "nexus_tls"} gives
     * {@code nexus_tls_cert}, {@code nexus_tls_key}, {@code nexus_tls_ca}).
     *
     * @throws IllegalArgumentException when a file is missing, unreadable, malformed, or the key does not match
     */
    public static SSLContext context(final TlsFiles files, final String setting)
    {
        return context(files, setting + "_cert", setting + "_key", setting + "_ca");
    }

    /** Builds the context, naming the three settings as given in messages (e.g. flags). */
    public static SSLContext context(final TlsFiles files, final String certSetting, final String keySetting,
        final String caSetting)
    {
        if ((files.cert() == null) != (files.key() == null))
        {
            throw new IllegalArgumentException(certSetting + " and " + keySetting + " must be given together");
        }
        try
        {
            KeyManager[] keyManagers = null;
            if (files.identity())
            {
                final PemFiles.Identity identity = PemFiles.identity(files.cert(), files.key(), certSetting,
                    keySetting);
                final KeyStore store = emptyStore();
                store.setKeyEntry("identity", identity.key(), IN_MEMORY, identity.chainArray());
                final KeyManagerFactory factory = KeyManagerFactory.getInstance(
                    KeyManagerFactory.getDefaultAlgorithm());
                factory.init(store, IN_MEMORY);
                keyManagers = factory.getKeyManagers();
            }
            TrustManager[] trustManagers = null;
            if (files.ca() != null)
            {
                final TrustManagerFactory factory = TrustManagerFactory.getInstance(
                    TrustManagerFactory.getDefaultAlgorithm());
                factory.init(trustStore(PemFiles.certificates(files.ca(), caSetting)));
                trustManagers = factory.getTrustManagers();
            }
            final SSLContext context = SSLContext.getInstance("TLS");
            context.init(keyManagers, trustManagers, null);
            return context;
        }
        catch (final GeneralSecurityException ex)
        {
            throw new IllegalArgumentException(certSetting + ": cannot build a TLS context: " + ex.getMessage(), ex);
        }
    }

    /** A key store holding {@code cas} as trusted certificates. */
    static KeyStore trustStore(final List<X509Certificate> cas) throws GeneralSecurityException
    {
        final KeyStore store = emptyStore();
        for (int i = 0; i < cas.size(); i++)
        {
            store.setCertificateEntry("ca-" + i, cas.get(i));
        }
        return store;
    }

    private static KeyStore emptyStore() throws GeneralSecurityException
    {
        final KeyStore store = KeyStore.getInstance("PKCS12");
        try
        {
            store.load(null, null);
        }
        catch (final java.io.IOException ex)
        {
            throw new IllegalStateException("an empty in-memory key store cannot fail to load", ex);
        }
        return store;
    }
}
