package sledagent.agent;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.logging.Level;
import sledagent.agent.config.AgentConfig;
import sledagent.agent.config.ConfigFile;
import sledagent.agent.config.Durations;
import sledagent.agent.config.ServeSettings;
import sledagent.agent.config.Version;
import sledagent.agent.demo.Demo;
import sledagent.agent.http.ServerTls;
import sledagent.agent.log.Logging;
import sledagent.agent.persist.AlreadyRunningException;
import sledagent.agent.service.Daemon;
import sledagent.agent.tls.JdkTls;

/**
 * {@code sled-agent serve | demo | --version | --help}. Exit status: 0 ok, 2 bad usage or another agent holds
 * the state directory or zone root, 1 failure.
 */
public final class Main
{
    private static final String USAGE = """
        usage: sled-agent <command> [options]

        commands:
          serve    run the daemon (SIGTERM: stop cleanly, exit 0, VMMs keep running)
                   --config FILE          settings from a TOML file (flags given too override it)
                   --listen HOST:PORT     HTTP API address (default 127.0.0.1:12345)
                   --nexus URL            Nexus internal API base URL (http or https); repeat for failover
                                          (default: none, states are only logged and served)
                   --state-dir DIR        VMM logs and records (default /var/lib/sled-agent)
                   --stop-grace DURATION  how long a stop may take before the zone is killed (default 600s)
                   --zone-root DIR        cgroup v2 directory for zones (default: the agent's own cgroup)
                   --sled-id UUID         this sled's id (default: random)
                   --start-timeout DURATION  spawn to "Propolis ensured and running" (default 60s)
                   --zones BACKEND        auto (default), cgroup, pgroup, illumos or fake
                   --sweep-interval DURATION  how often unknown zones are removed (default 60s)
                   --vmm-log-retention DURATION  keep a VMM's log this long after the VMM is gone (default 24h)
                   --vmm-log-max-size SIZE  rotate a VMM's log past this size, one old copy kept (default 64MiB)
                   --log-format json|text one bunyan JSON object per line (default) or text
                   --max-connections N    HTTP connections served at once (default 4096); beyond it new
                                          ones are closed at once, but for a reserve of 32 that may only
                                          GET /health or POST /vmms/{id}/force-terminate
                   --idle-timeout DURATION  close a connection with no request for this long (default 120s)
                   --read-timeout DURATION  a request not whole this long after its first byte: 408, closed
                                          (default 10s)
                   --tls-cert FILE        serve HTTPS with this PEM certificate chain (default: plain HTTP)
                   --tls-key FILE         its private key: unencrypted PKCS#8 PEM ("BEGIN PRIVATE KEY";
                                          RSA, EC or Ed25519)
                   --tls-client-ca FILE   require client certificates signed by these PEM CA(s) (mutual TLS)
                   --nexus-tls-ca FILE    PEM CA(s) trusted for https:// Nexus URLs (default: the JDK's)
                   --nexus-tls-cert FILE  client certificate presented to Nexus (PEM chain)
                   --nexus-tls-key FILE   its private key (PKCS#8 PEM, as --tls-key)
                   --vmm qemu|sim|command the VMM run in each zone (default qemu; serve exits 2 when QEMU or
                                          the boot source is missing: it never falls back to sim)
                   --qemu PATH            QEMU executable (default qemu-system-x86_64 on the PATH)
                   --accel auto|kvm|tcg   QEMU accelerator (default auto: kvm where /dev/kvm opens and the CPU
                                          has vmx/svm, else tcg)
                   --bootrom FILE         guest firmware, e.g. /usr/share/ovmf/OVMF.fd (boots the spec's disks)
                   --guest-kernel FILE    or boot a kernel directly (bzImage or PVH vmlinux), with
                   --guest-initrd FILE    its initramfs and
                   --guest-append TEXT    its command line
                   --vmm-command 'ARGV'   vmm command: an external Propolis server, words split on spaces,
                                          {listen} replaced by the VMM's HOST:PORT
          config check FILE  read and validate a config file, print the settings
          demo     start the agent with a recording Nexus, run real guests under QEMU (the simulator where
                   QEMU or the guest cannot be had, said so), print their serial lines and what Nexus received
                   --stop-grace DURATION  (default 10s)
                   --sim                  run the simulator even where QEMU can be had
                   --verbose              show the agent's log
          vmm      list | get ID | stop ID | terminate ID | watch: operate a running agent (vmm --help)

        options: --help, --version
        """;

    private Main()
    {
    }

    public static void main(final String[] args)
    {
        System.exit(run(args, System.out, System.err));
    }

    static int run(final String[] args, final PrintStream out, final PrintStream err)
    {
        if (args.length == 0 || "--help".equals(args[0]) || "-h".equals(args[0]) || "help".equals(args[0]))
        {
            (args.length == 0 ? err : out).print(USAGE);
            return args.length == 0 ? 2 : 0;
        }
        if ("--version".equals(args[0]))
        {
            out.println("sled-agent " + Version.text());
            return 0;
        }
        final List<String> rest = List.of(args).subList(1, args.length);
        try
        {
            return switch (args[0])
            {
                case "serve" -> serve(rest);
                case "config" -> config(rest, out);
                case "demo" -> demo(rest, out);
                case "vmm" -> sledagent.agent.cli.VmmCommand.run(rest, out, err);
                default -> usage(err, "unknown command '" + args[0] + "'");
            };
        }
        catch (final HelpRequested ex)
        {
            out.print(USAGE);
            return 0;
        }
        catch (final UsageException ex)
        {
            return usage(err, ex.getMessage());
        }
        catch (final AlreadyRunningException | StartRefused ex)
        {
            err.println("sled-agent: " + ex.getMessage());
            return 2;
        }
        catch (final Exception ex)
        {
            err.println("sled-agent: " + ex);
            ex.printStackTrace(err);
            return 1;
        }
    }

    private static int serve(final List<String> args) throws Exception
    {
        final ServeSettings settings = serveSettings(args);
        final AgentConfig config = validated(settings);
        try
        {
            // Only serve looks for the files: config check judges a config on a machine without QEMU.
            config.vmm().checkRunnable();
        }
        catch (final IllegalArgumentException ex)
        {
            throw new StartRefused(ex.getMessage());
        }
        Logging.configure(Level.INFO, settings.logFormat());
        return Daemon.run(config);
    }

    /** Defaults, then {@code --config FILE}, then every other flag (later wins). */
    static ServeSettings serveSettings(final List<String> args)
    {
        final ServeSettings settings = new ServeSettings();
        for (int i = 0; i < args.size(); i++)
        {
            if ("--config".equals(args.get(i)))
            {
                applyFile(Path.of(value(args, i + 1, "--config")), settings);
            }
        }
        for (int i = 0; i < args.size(); i++)
        {
            final String flag = args.get(i);
            try
            {
                switch (flag)
                {
                    case "--help", "-h" -> throw new HelpRequested();
                    case "--config" -> i++;
                    case "--listen" -> settings.listen(value(args, ++i, flag), flag);
                    case "--nexus" -> settings.addNexusUrl(value(args, ++i, flag), flag, true);
                    case "--state-dir" -> settings.stateDir(value(args, ++i, flag), flag);
                    case "--stop-grace" -> settings.stopGrace(value(args, ++i, flag), flag);
                    case "--start-timeout" -> settings.startTimeout(value(args, ++i, flag), flag);
                    case "--zone-root" -> settings.zoneRoot(value(args, ++i, flag), flag);
                    case "--zones" -> settings.zones(value(args, ++i, flag), flag);
                    case "--sweep-interval" -> settings.sweepInterval(value(args, ++i, flag), flag);
                    case "--sled-id" -> settings.sledId(value(args, ++i, flag), flag);
                    case "--log-format" -> settings.logFormat(value(args, ++i, flag), flag);
                    case "--max-connections" -> settings.maxConnections(value(args, ++i, flag), flag);
                    case "--idle-timeout" -> settings.idleTimeout(value(args, ++i, flag), flag);
                    case "--read-timeout" -> settings.readTimeout(value(args, ++i, flag), flag);
                    case "--vmm-log-retention" -> settings.vmmLogRetention(value(args, ++i, flag), flag);
                    case "--vmm-log-max-size" -> settings.vmmLogMaxSize(value(args, ++i, flag), flag);
                    case "--vmm" -> settings.vmm(value(args, ++i, flag), flag);
                    case "--qemu" -> settings.qemu(value(args, ++i, flag), flag);
                    case "--accel" -> settings.accel(value(args, ++i, flag), flag);
                    case "--bootrom" -> settings.bootrom(value(args, ++i, flag), flag);
                    case "--guest-kernel" -> settings.guestKernel(value(args, ++i, flag), flag);
                    case "--guest-initrd" -> settings.guestInitrd(value(args, ++i, flag), flag);
                    case "--guest-append" -> settings.guestAppend(value(args, ++i, flag), flag);
                    case "--vmm-command" -> settings.vmmCommand(
                        List.of(value(args, ++i, flag).strip().split("\\s+")), flag);
                    default ->
                    {
                        final ServeSettings.TlsKey tls = ServeSettings.TlsKey.ofFlag(flag);
                        if (tls == null)
                        {
                            throw new UsageException("unknown option '" + flag + "' for serve");
                        }
                        settings.tlsFile(tls, value(args, ++i, flag), flag);
                    }
                }
            }
            catch (final ServeSettings.SettingException ex)
            {
                throw new UsageException(ex.getMessage());
            }
        }
        return settings;
    }

    private static void applyFile(final Path file, final ServeSettings settings)
    {
        try
        {
            ConfigFile.apply(file, settings);
        }
        catch (final ServeSettings.SettingException ex)
        {
            throw new UsageException(ex.getMessage());
        }
    }

    /** The settings as a config, with the TLS files read and checked (so a bad one is exit 2, not 1). */
    private static AgentConfig validated(final ServeSettings settings)
    {
        try
        {
            final AgentConfig config = settings.toConfig();
            ServerTls.load(config.apiTls());
            JdkTls.context(config.nexusTls(), "nexus_tls");
            return config;
        }
        catch (final IllegalArgumentException ex)
        {
            throw new UsageException(ex.getMessage());
        }
    }

    /** {@code config check FILE}: reads and validates a config file, prints the settings it gives. */
    private static int config(final List<String> args, final PrintStream out)
    {
        if (args.size() == 1 && ("--help".equals(args.get(0)) || "-h".equals(args.get(0))))
        {
            throw new HelpRequested();
        }
        if (args.size() != 2 || !"check".equals(args.get(0)))
        {
            throw new UsageException("usage: sled-agent config check FILE");
        }
        final ServeSettings settings = new ServeSettings();
        applyFile(Path.of(args.get(1)), settings);
        final AgentConfig config = validated(settings);
        out.println(args.get(1) + ": ok");
        out.println("  listen          " + config.listen().getHostString() + ":" + config.listen().getPort());
        out.println("  nexus_urls      " + (config.nexusUrls().isEmpty() ? "(none: states are only logged)"
            : config.nexusUrls()));
        out.println("  state_dir       " + config.stateDir());
        out.println("  stop_grace      " + config.stopGraceMs() + " ms");
        out.println("  start_timeout   " + config.startTimeoutMs() + " ms");
        out.println("  zone_root       " + (config.zoneRoot() == null ? "(the agent's own cgroup)"
            : config.zoneRoot()));
        out.println("  zones           " + config.zoneBackend());
        out.println("  sweep_interval  " + config.sweepIntervalMs() + " ms");
        out.println("  log_format      " + settings.logFormat().name().toLowerCase(java.util.Locale.ROOT));
        out.println("  max_connections " + config.httpLimits().maxConnections() + " (+ "
            + config.httpLimits().reserveConnections() + " reserved for health and force-terminate)");
        out.println("  idle_timeout    " + config.httpLimits().idleTimeoutMs() + " ms");
        out.println("  read_timeout    " + config.httpLimits().readTimeoutMs() + " ms");
        out.println("  vmm_log_retention " + config.vmmLogRetentionMs() + " ms");
        out.println("  vmm_log_max_size  " + config.vmmLogMaxBytes() + " bytes");
        out.println("  vmm             " + config.vmm().describe());
        out.println("  api             " + (!config.apiTls().any() ? "HTTP"
            : config.apiTls().ca() == null ? "HTTPS" : "HTTPS, client certificate signed by " + config.apiTls().ca()));
        if (config.nexusTls().any())
        {
            out.println("  nexus_tls       ca " + orDefault(config.nexusTls().ca(), "(JDK default)") + ", cert "
                + orDefault(config.nexusTls().cert(), "(none)"));
        }
        return 0;
    }

    private static String orDefault(final Object value, final String otherwise)
    {
        return value == null ? otherwise : value.toString();
    }

    private static int demo(final List<String> args, final PrintStream out) throws Exception
    {
        long stopGraceMs = 10_000;
        boolean verbose = false;
        boolean sim = false;
        for (int i = 0; i < args.size(); i++)
        {
            final String flag = args.get(i);
            switch (flag)
            {
                case "--help", "-h" -> throw new HelpRequested();
                case "--stop-grace" -> stopGraceMs = duration(value(args, ++i, flag), flag);
                case "--verbose" -> verbose = true;
                case "--sim" -> sim = true;
                default -> throw new UsageException("unknown option '" + flag + "' for demo");
            }
        }
        Logging.configure(verbose ? Level.INFO : Level.WARNING);
        return Demo.run(out, stopGraceMs, sim);
    }

    private static String value(final List<String> args, final int index, final String flag)
    {
        if (index >= args.size())
        {
            throw new UsageException(flag + " needs a value");
        }
        return args.get(index);
    }

    private static long duration(final String text, final String flag)
    {
        try
        {
            return Durations.parseMs(text);
        }
        catch (final IllegalArgumentException ex)
        {
            throw new UsageException(flag + ": " + ex.getMessage());
        }
    }

    private static int usage(final PrintStream err, final String message)
    {
        if (message != null)
        {
            err.println("sled-agent: " + message);
        }
        err.print(USAGE);
        return 2;
    }

    /** {@code --help} after a command: the usage on stdout, exit 0. */
    private static final class HelpRequested extends RuntimeException
    {
        HelpRequested()
        {
            super(null, null, false, false);
        }
    }

    /** A configuration that cannot run on this machine (e.g. no QEMU): exit 2 with the reason, no usage. */
    private static final class StartRefused extends RuntimeException
    {
        StartRefused(final String message)
        {
            super(message);
        }
    }

    /** Bad command line: exit 2 with the usage. */
    private static final class UsageException extends RuntimeException
    {
        UsageException(final String message)
        {
            super(message);
        }
    }
}
