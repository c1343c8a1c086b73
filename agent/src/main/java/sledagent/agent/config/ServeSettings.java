package sledagent.agent.config;

import java.net.URI;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import sledagent.agent.log.LogFormat;
import sledagent.agent.tls.TlsFiles;
import sledagent.hypervisor.qemu.BootSource;

/**
 * The settings of {@code serve} as they are gathered: defaults, then the config file, then flags (each later
 * source overrides the earlier one). Values arrive as text from either source and are checked here, with the
 * name of the setting and its source in every message; {@link #toConfig()} checks the whole.
 */
public final class ServeSettings
{
    /** Every key of the config file; the flag of each is {@code --} plus the key with '-' for '_'. */
    public static final List<String> KEYS = List.of("listen", "nexus_urls", "state_dir", "stop_grace",
        "start_timeout", "zone_root", "zones", "sweep_interval", "sled_id", "log_format",
        "max_connections", "idle_timeout", "read_timeout", "vmm_log_retention", "vmm_log_max_size",
        "tls_cert", "tls_key", "tls_client_ca", "nexus_tls_ca", "nexus_tls_cert", "nexus_tls_key",
        "vmm", "qemu", "accel", "guest_kernel", "guest_initrd", "guest_append", "bootrom", "vmm_command");

    private static final Pattern SIZE = Pattern.compile("([0-9]{1,12})\\s*(|k|KiB|K|M|MiB|G|GiB)");

    private String listen = AgentConfig.DEFAULT_LISTEN;
    private List<URI> nexusUrls = new ArrayList<>();
    private boolean nexusFromFlags;
    private Path stateDir = AgentConfig.DEFAULT_STATE_DIR;
    private long stopGraceMs = AgentConfig.DEFAULT_STOP_GRACE_MS;
    private long startTimeoutMs = AgentConfig.DEFAULT_START_TIMEOUT_MS;
    private Path zoneRoot;
    private String zones = AgentConfig.DEFAULT_ZONE_BACKEND;
    private long sweepIntervalMs = AgentConfig.DEFAULT_SWEEP_INTERVAL_MS;
    private long vmmLogRetentionMs = AgentConfig.DEFAULT_VMM_LOG_RETENTION_MS;
    private long vmmLogMaxBytes = AgentConfig.DEFAULT_VMM_LOG_MAX_BYTES;
    private UUID sledId;
    private LogFormat logFormat = LogFormat.JSON;
    private int maxConnections = HttpLimits.DEFAULT_MAX_CONNECTIONS;
    private long idleTimeoutMs = HttpLimits.DEFAULT_IDLE_TIMEOUT_MS;
    private long readTimeoutMs = HttpLimits.DEFAULT_READ_TIMEOUT_MS;
    private final Path[] tls = new Path[TlsKey.values().length];
    /** serve's default is a real VMM; only the programmatic default (AgentConfig) is the simulator. */
    private VmmChoice.Kind vmm = VmmChoice.Kind.QEMU;
    private Path qemu;
    private String accel;
    private Path guestKernel;
    private Path guestInitrd;
    private String guestAppend;
    private Path bootrom;
    private List<String> vmmCommand = List.of();

    /** The TLS file settings: key name in the file, flag {@code --} plus the name with '-' for '_'. */
    public enum TlsKey
    {
        TLS_CERT, TLS_KEY, TLS_CLIENT_CA, NEXUS_TLS_CA, NEXUS_TLS_CERT, NEXUS_TLS_KEY;

        /** The config file key, e.g. {@code tls_client_ca}. */
        public String key()
        {
            return name().toLowerCase(Locale.ROOT);
        }

        /** The flag, e.g. {@code --tls-client-ca}. */
        public String flag()
        {
            return "--" + key().replace('_', '-');
        }

        /** The setting of config file key {@code key}, or null if it is not a TLS key. */
        public static TlsKey ofKey(final String key)
        {
            for (final TlsKey candidate : values())
            {
                if (candidate.key().equals(key))
                {
                    return candidate;
                }
            }
            return null;
        }

        /** The setting of {@code flag}, or null if it is not a TLS flag. */
        public static TlsKey ofFlag(final String flag)
        {
            for (final TlsKey candidate : values())
            {
                if (candidate.flag().equals(flag))
                {
                    return candidate;
                }
            }
            return null;
        }
    }

    public void listen(final String value, final String source)
    {
        try
        {
            AgentConfig.parseHostPort(value);
        }
        catch (final IllegalArgumentException ex)
        {
            throw new SettingException(source, "listen", ex.getMessage());
        }
        listen = value;
    }

    /** Flags add to one another, and together replace the file's list. */
    public void addNexusUrl(final String value, final String source, final boolean fromFlag)
    {
        if (fromFlag && !nexusFromFlags)
        {
            nexusUrls = new ArrayList<>();
            nexusFromFlags = true;
        }
        final URI url;
        try
        {
            url = URI.create(value);
        }
        catch (final IllegalArgumentException ex)
        {
            throw new SettingException(source, "nexus_urls", "not a URL: " + value);
        }
        if (!("http".equals(url.getScheme()) || "https".equals(url.getScheme())) || url.getHost() == null)
        {
            throw new SettingException(source, "nexus_urls", "must be http://host:port[/prefix] (or https://): "
                + value);
        }
        nexusUrls.add(url);
    }

    public void stateDir(final String value, final String source)
    {
        stateDir = path(value, source, "state_dir");
    }

    public void stopGrace(final String value, final String source)
    {
        stopGraceMs = duration(value, source, "stop_grace");
    }

    public void startTimeout(final String value, final String source)
    {
        startTimeoutMs = duration(value, source, "start_timeout");
    }

    public void zoneRoot(final String value, final String source)
    {
        zoneRoot = path(value, source, "zone_root");
    }

    public void zones(final String value, final String source)
    {
        final String lower = value.toLowerCase(Locale.ROOT);
        if (!List.of("auto", "cgroup", "pgroup", "illumos", "fake").contains(lower))
        {
            throw new SettingException(source, "zones", "expected auto, cgroup, pgroup, illumos or fake, got '"
                + value + "'");
        }
        zones = lower;
    }

    public void sweepInterval(final String value, final String source)
    {
        sweepIntervalMs = duration(value, source, "sweep_interval");
    }

    public void vmmLogRetention(final String value, final String source)
    {
        vmmLogRetentionMs = duration(value, source, "vmm_log_retention");
    }

    /** A size: a number of bytes, or with a suffix k/KiB, M/MiB, G/GiB (powers of 1024), e.g. {@code 64MiB}. */
    public void vmmLogMaxSize(final String value, final String source)
    {
        final Matcher matcher = SIZE.matcher(value.strip());
        if (!matcher.matches())
        {
            throw new SettingException(source, "vmm_log_max_size", "expected a size like 64MiB or 1048576, got '"
                + value + "'");
        }
        final int shift = switch (matcher.group(2))
        {
            case "k", "K", "KiB" -> 10;
            case "M", "MiB" -> 20;
            case "G", "GiB" -> 30;
            default -> 0;
        };
        final long bytes = Long.parseLong(matcher.group(1)) << shift;
        if (bytes <= 0)
        {
            throw new SettingException(source, "vmm_log_max_size", "must be positive, got '" + value + "'");
        }
        vmmLogMaxBytes = bytes;
    }

    public void sledId(final String value, final String source)
    {
        try
        {
            sledId = UUID.fromString(value);
        }
        catch (final IllegalArgumentException ex)
        {
            throw new SettingException(source, "sled_id", "not a UUID: " + value);
        }
    }

    public void logFormat(final String value, final String source)
    {
        try
        {
            logFormat = LogFormat.valueOf(value.toUpperCase(Locale.ROOT));
        }
        catch (final IllegalArgumentException ex)
        {
            throw new SettingException(source, "log_format", "expected json or text, got '" + value + "'");
        }
    }

    public void maxConnections(final String value, final String source)
    {
        try
        {
            maxConnections = Integer.parseInt(value.trim());
        }
        catch (final NumberFormatException ex)
        {
            throw new SettingException(source, "max_connections", "not a number: " + value);
        }
        if (maxConnections <= 0)
        {
            throw new SettingException(source, "max_connections", "must be positive: " + value);
        }
    }

    public void idleTimeout(final String value, final String source)
    {
        idleTimeoutMs = duration(value, source, "idle_timeout");
    }

    public void readTimeout(final String value, final String source)
    {
        readTimeoutMs = duration(value, source, "read_timeout");
    }

    /** A PEM file path (read and checked when the agent starts, or by {@code config check}). */
    public void tlsFile(final TlsKey setting, final String value, final String source)
    {
        tls[setting.ordinal()] = path(value, source, setting.key());
    }

    /** {@code qemu}, {@code sim} or {@code command}. */
    public void vmm(final String value, final String source)
    {
        try
        {
            vmm = VmmChoice.Kind.parse(value);
        }
        catch (final IllegalArgumentException ex)
        {
            throw new SettingException(source, "vmm", ex.getMessage());
        }
    }

    /** The QEMU executable (a bare name is looked up on the PATH when {@code serve} starts). */
    public void qemu(final String value, final String source)
    {
        qemu = path(value, source, "qemu");
    }

    public void accel(final String value, final String source)
    {
        final String lower = value.strip().toLowerCase(Locale.ROOT);
        if (!List.of("auto", "kvm", "tcg").contains(lower))
        {
            throw new SettingException(source, "accel", "expected auto, kvm or tcg, got '" + value + "'");
        }
        accel = lower;
    }

    public void guestKernel(final String value, final String source)
    {
        guestKernel = path(value, source, "guest_kernel");
    }

    public void guestInitrd(final String value, final String source)
    {
        guestInitrd = path(value, source, "guest_initrd");
    }

    public void guestAppend(final String value, final String source)
    {
        guestAppend = value;
    }

    public void bootrom(final String value, final String source)
    {
        bootrom = path(value, source, "bootrom");
    }

    /** The argv template of {@code vmm = command}, holding {@value VmmChoice#LISTEN}. */
    public void vmmCommand(final List<String> value, final String source)
    {
        if (value.isEmpty() || value.stream().noneMatch(arg -> arg.contains(VmmChoice.LISTEN)))
        {
            throw new SettingException(source, "vmm_command", "must be a command holding " + VmmChoice.LISTEN
                + " (the listen address the agent gives the VMM), got " + value);
        }
        vmmCommand = List.copyOf(value);
    }

    /** The VMM settings as one choice; a contradiction (both boot sources, a template without command) refused. */
    VmmChoice vmmChoice()
    {
        if (guestKernel != null && bootrom != null)
        {
            throw new IllegalArgumentException("guest_kernel and bootrom are two boot sources: give one");
        }
        if (guestKernel == null && (guestInitrd != null || guestAppend != null))
        {
            throw new IllegalArgumentException("guest_initrd and guest_append go with guest_kernel");
        }
        return switch (vmm)
        {
            case SIM -> VmmChoice.SIM;
            case QEMU -> VmmChoice.qemu(qemu, accel, guestKernel != null
                ? new BootSource.Kernel(guestKernel, guestInitrd, guestAppend)
                : bootrom != null ? new BootSource.Bootrom(bootrom) : null);
            case COMMAND ->
            {
                if (vmmCommand.isEmpty())
                {
                    throw new IllegalArgumentException("vmm = command needs vmm_command (--vmm-command '... "
                        + VmmChoice.LISTEN + " ...')");
                }
                yield VmmChoice.command(vmmCommand);
            }
        };
    }

    public LogFormat logFormat()
    {
        return logFormat;
    }

    /** The validated settings; a random sled id if none was given. */
    public AgentConfig toConfig()
    {
        return new AgentConfig(AgentConfig.parseHostPort(listen), nexusUrls, stateDir, stopGraceMs, zoneRoot,
            sledId == null ? UUID.randomUUID() : sledId, startTimeoutMs, zones, sweepIntervalMs,
            HttpLimits.DEFAULTS.with(maxConnections, idleTimeoutMs, readTimeoutMs), vmmLogRetentionMs,
            vmmLogMaxBytes, new TlsFiles(tls(TlsKey.TLS_CERT), tls(TlsKey.TLS_KEY), tls(TlsKey.TLS_CLIENT_CA)),
            new TlsFiles(tls(TlsKey.NEXUS_TLS_CERT), tls(TlsKey.NEXUS_TLS_KEY), tls(TlsKey.NEXUS_TLS_CA)),
            vmmChoice());
    }

    private Path tls(final TlsKey setting)
    {
        return tls[setting.ordinal()];
    }

    private static long duration(final String value, final String source, final String key)
    {
        try
        {
            return Durations.parseMs(value);
        }
        catch (final IllegalArgumentException | ArithmeticException ex)
        {
            throw new SettingException(source, key, ex.getMessage());
        }
    }

    private static Path path(final String value, final String source, final String key)
    {
        if (value.isBlank())
        {
            throw new SettingException(source, key, "must not be empty");
        }
        return Path.of(value);
    }

    /** A setting that is wrong, with where it came from. */
    public static final class SettingException extends IllegalArgumentException
    {
        public SettingException(final String source, final String key, final String message)
        {
            super(source + ": " + key + ": " + message);
        }
    }
}
