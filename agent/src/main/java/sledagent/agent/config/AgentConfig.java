package sledagent.agent.config;

import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;
import java.util.UUID;
import sledagent.agent.tls.TlsFiles;

/**
 * Every setting of the daemon, validated on construction.
 *
 * @param listen       address of the HTTP API
 * @param nexusUrls    upstream base URLs (empty: states are only logged and served)
 * @param stateDir     VMM logs (and records) live here
 * @param stopGraceMs  how long a stop may take before the zone is killed
 * @param zoneRoot     cgroup directory under which zones are made; null = the agent's own cgroup
 * @param sledId       this sled's id
 * @param startTimeoutMs how long a VMM may take from spawn to "ensured and told to Run"
 * @param zoneBackend  which zone backend: auto, cgroup, pgroup, illumos or fake
 * @param sweepIntervalMs how often zones the agent has no record of are looked for and removed
 * @param httpLimits  the HTTP API's connection limit and timeouts (null: the defaults)
 * @param vmmLogRetentionMs how long a VMM's log is kept after its VMM left the table (and the log went quiet)
 * @param vmmLogMaxBytes  a running VMM's log is rotated (one old copy kept) once it is larger than this
 * @param apiTls       HTTPS for the API (cert, key, client CA); {@link TlsFiles#NONE}: plain HTTP
 * @param nexusTls     TLS towards an https Nexus (trust roots, client certificate and key); NONE: JDK defaults
 * @param vmm          which VMM runs in each zone (null: {@link VmmChoice#SIM}, the programmatic default)
 */
public record AgentConfig(
    InetSocketAddress listen,
    List<URI> nexusUrls,
    Path stateDir,
    long stopGraceMs,
    Path zoneRoot,
    UUID sledId,
    long startTimeoutMs,
    String zoneBackend,
    long sweepIntervalMs,
    HttpLimits httpLimits,
    long vmmLogRetentionMs,
    long vmmLogMaxBytes,
    TlsFiles apiTls,
    TlsFiles nexusTls,
    VmmChoice vmm)
{
    public static final String DEFAULT_LISTEN = "127.0.0.1:12345";
    public static final long DEFAULT_STOP_GRACE_MS = 600_000;
    public static final Path DEFAULT_STATE_DIR = Path.of("/var/lib/sled-agent");
    public static final long DEFAULT_START_TIMEOUT_MS = 60_000;
    public static final String DEFAULT_ZONE_BACKEND = "auto";
    public static final long DEFAULT_SWEEP_INTERVAL_MS = 60_000;
    public static final long DEFAULT_VMM_LOG_RETENTION_MS = 24 * 3_600_000L;
    public static final long DEFAULT_VMM_LOG_MAX_BYTES = 64L << 20;

    public AgentConfig
    {
        Objects.requireNonNull(listen, "listen");
        nexusUrls = List.copyOf(nexusUrls);
        Objects.requireNonNull(stateDir, "stateDir");
        Objects.requireNonNull(sledId, "sledId");
        if (stopGraceMs <= 0)
        {
            throw new IllegalArgumentException("stop grace must be positive");
        }
        if (startTimeoutMs <= 0)
        {
            throw new IllegalArgumentException("start timeout must be positive");
        }
        if (sweepIntervalMs <= 0)
        {
            throw new IllegalArgumentException("sweep interval must be positive");
        }
        if (vmmLogRetentionMs <= 0 || vmmLogMaxBytes <= 0)
        {
            throw new IllegalArgumentException("VMM log retention and max size must be positive");
        }
        zoneBackend = zoneBackend == null ? DEFAULT_ZONE_BACKEND : zoneBackend;
        httpLimits = httpLimits == null ? HttpLimits.DEFAULTS : httpLimits;
        for (final URI url : nexusUrls)
        {
            if (!("http".equals(url.getScheme()) || "https".equals(url.getScheme())) || url.getHost() == null)
            {
                throw new IllegalArgumentException("nexus URL must be http://host:port[/prefix] (or https://): " + url);
            }
        }
        apiTls = apiTls == null ? TlsFiles.NONE : apiTls;
        nexusTls = nexusTls == null ? TlsFiles.NONE : nexusTls;
        vmm = vmm == null ? VmmChoice.SIM : vmm;
        if (apiTls.any() && !apiTls.identity())
        {
            throw new IllegalArgumentException("tls_cert and tls_key must be given together"
                + (apiTls.ca() != null ? "; tls_client_ca needs both (it only applies to HTTPS)" : ""));
        }
        if ((nexusTls.cert() == null) != (nexusTls.key() == null))
        {
            throw new IllegalArgumentException("nexus_tls_cert and nexus_tls_key must be given together");
        }
    }

    /** Every setting but the VMM, which is propolis-sim. */
    public AgentConfig(final InetSocketAddress listen, final List<URI> nexusUrls, final Path stateDir,
        final long stopGraceMs, final Path zoneRoot, final UUID sledId, final long startTimeoutMs,
        final String zoneBackend, final long sweepIntervalMs, final HttpLimits httpLimits,
        final long vmmLogRetentionMs, final long vmmLogMaxBytes, final TlsFiles apiTls, final TlsFiles nexusTls)
    {
        this(listen, nexusUrls, stateDir, stopGraceMs, zoneRoot, sledId, startTimeoutMs, zoneBackend,
            sweepIntervalMs, httpLimits, vmmLogRetentionMs, vmmLogMaxBytes, apiTls, nexusTls, VmmChoice.SIM);
    }

    /** The same settings with TLS for the API and towards Nexus. */
    public AgentConfig withTls(final TlsFiles api, final TlsFiles nexus)
    {
        return new AgentConfig(listen, nexusUrls, stateDir, stopGraceMs, zoneRoot, sledId, startTimeoutMs, zoneBackend,
            sweepIntervalMs, httpLimits, vmmLogRetentionMs, vmmLogMaxBytes, api, nexus, vmm);
    }

    /** The same settings with another VMM. */
    public AgentConfig withVmm(final VmmChoice choice)
    {
        return new AgentConfig(listen, nexusUrls, stateDir, stopGraceMs, zoneRoot, sledId, startTimeoutMs, zoneBackend,
            sweepIntervalMs, httpLimits, vmmLogRetentionMs, vmmLogMaxBytes, apiTls, nexusTls, choice);
    }

    /** Every setting but the HTTP limits, the VMM log limits and TLS, which take their defaults (no TLS). */
    public AgentConfig(final InetSocketAddress listen, final List<URI> nexusUrls, final Path stateDir,
        final long stopGraceMs, final Path zoneRoot, final UUID sledId, final long startTimeoutMs,
        final String zoneBackend, final long sweepIntervalMs)
    {
        this(listen, nexusUrls, stateDir, stopGraceMs, zoneRoot, sledId, startTimeoutMs, zoneBackend,
            sweepIntervalMs, HttpLimits.DEFAULTS, DEFAULT_VMM_LOG_RETENTION_MS, DEFAULT_VMM_LOG_MAX_BYTES,
                TlsFiles.NONE,
            TlsFiles.NONE);
    }

    /** The settings most callers give; the rest take their defaults. */
    public AgentConfig(final InetSocketAddress listen, final List<URI> nexusUrls, final Path stateDir,
        final long stopGraceMs, final Path zoneRoot, final UUID sledId, final long startTimeoutMs)
    {
        this(listen, nexusUrls, stateDir, stopGraceMs, zoneRoot, sledId, startTimeoutMs, DEFAULT_ZONE_BACKEND,
            DEFAULT_SWEEP_INTERVAL_MS);
    }

    /** Parses {@code host:port} or {@code [v6]:port}. */
    public static InetSocketAddress parseHostPort(final String text)
    {
        final int colon = text.lastIndexOf(':');
        if (colon <= 0)
        {
            throw new IllegalArgumentException("expected HOST:PORT, got '" + text + "'");
        }
        String host = text.substring(0, colon);
        if (host.startsWith("[") && host.endsWith("]"))
        {
            host = host.substring(1, host.length() - 1);
        }
        final int port;
        try
        {
            port = Integer.parseInt(text.substring(colon + 1));
        }
        catch (final NumberFormatException ex)
        {
            throw new IllegalArgumentException("bad port in '" + text + "'");
        }
        if (port < 0 || port > 65535)
        {
            throw new IllegalArgumentException("port out of range in '" + text + "'");
        }
        return new InetSocketAddress(host, port);
    }
}
