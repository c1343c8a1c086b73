package sledagent.agent.cli;

import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.regex.Pattern;
import javax.net.ssl.SSLContext;
import sledagent.agent.config.Durations;
import sledagent.agent.tls.JdkTls;
import sledagent.agent.tls.TlsFiles;

/**
 * A parsed {@code sled-agent vmm ...} command line. The global options ({@code --agent}, {@code --json},
 * {@code --help}) may come before or after the subcommand; {@code --help} wins over any other problem.
 *
 * @param command    list, get, stop, terminate, watch or console; may be null with {@code help} or {@code version}
 * @param propolisId the VMM of get, stop, terminate and console; null otherwise
 * @param agent      the agent's base URL
 * @param json       print JSON instead of text
 * @param help       print the usage of {@code command} (of {@code vmm} when null) and exit 0
 * @param version    print the version and exit 0
 * @param intervalMs watch: time between polls
 * @param forMs      watch: how long to run; 0 means until interrupted
 * @param tls        for an https agent: {@code --tls-ca} trust roots, {@code --tls-cert}/{@code --tls-key} client
 *                   certificate; null: the JDK's defaults
 * @param readOnly   console: show the console without sending input
 */
public record VmmArgs(String command, UUID propolisId, URI agent, boolean json, boolean help, boolean version,
    long intervalMs, long forMs, SSLContext tls, boolean readOnly)
{
    /** Where the agent listens unless {@code --agent} says otherwise. */
    public static final String DEFAULT_AGENT = "http://127.0.0.1:12345";

    /** Time between two polls of {@code vmm watch} unless {@code --interval} says otherwise. */
    public static final long DEFAULT_INTERVAL_MS = 250;

    /** The subcommands, in the order the usage lists them. */
    public static final List<String> COMMANDS = List.of("list", "get", "stop", "terminate", "watch", "console");

    private static final List<String> TLS_FLAGS = List.of("--tls-ca", "--tls-cert", "--tls-key");

    private static final Pattern UUID_TEXT =
        Pattern.compile("[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}");

    /**
     * Parses the arguments after {@code vmm}.
     *
     * @param args the arguments
     * @return the command line
     * @throws UsageException when it is not a valid command line (and {@code --help} was not given)
     */
    public static VmmArgs parse(final List<String> args)
    {
        String command = null;
        final List<String> positionals = new ArrayList<>();
        String agentText = DEFAULT_AGENT;
        String intervalText = null;
        String forText = null;
        Path tlsCa = null;
        Path tlsCert = null;
        Path tlsKey = null;
        boolean json = false;
        boolean help = false;
        boolean version = false;
        boolean readOnly = false;
        String problem = null;
        for (int i = 0; i < args.size(); i++)
        {
            final String token = args.get(i);
            final int equals = token.startsWith("--") ? token.indexOf('=') : -1;
            final String name = equals > 0 ? token.substring(0, equals) : token;
            final String inline = equals > 0 ? token.substring(equals + 1) : null;
            final boolean takesValue = "--agent".equals(name) || "--interval".equals(name) || "--for".equals(name)
                || TLS_FLAGS.contains(name);
            String value = null;
            if (takesValue)
            {
                if (inline != null)
                {
                    value = inline;
                }
                else if (i + 1 < args.size())
                {
                    value = args.get(++i);
                }
                else
                {
                    problem = first(problem, name + " needs a value");
                    continue;
                }
            }
            else if (inline != null)
            {
                problem = first(problem, name + " takes no value");
                continue;
            }
            switch (name)
            {
                case "--help", "-h" -> help = true;
                case "--version" -> version = true;
                case "--json" -> json = true;
                case "--read-only" -> readOnly = true;
                case "--agent" -> agentText = value;
                case "--interval" -> intervalText = value;
                case "--for" -> forText = value;
                case "--tls-ca" -> tlsCa = Path.of(value);
                case "--tls-cert" -> tlsCert = Path.of(value);
                case "--tls-key" -> tlsKey = Path.of(value);
                default ->
                {
                    if (token.startsWith("-") && token.length() > 1)
                    {
                        problem = first(problem, "unknown option '" + token + "'"
                            + (command == null ? "" : " for vmm " + command));
                    }
                    else if (command == null)
                    {
                        command = token;
                    }
                    else
                    {
                        positionals.add(token);
                    }
                }
            }
        }
        if ("help".equals(command))
        {
            help = true;
            command = positionals.isEmpty() ? null : positionals.get(0);
        }
        final String known = command != null && COMMANDS.contains(command) ? command : null;
        if (help || version)
        {
            return new VmmArgs(known, null, null, json, help, !help, DEFAULT_INTERVAL_MS, 0, null,
                false);
        }
        if (command == null)
        {
            throw new UsageException(problem != null ? problem : "missing command: one of "
                + String.join(", ", COMMANDS), null);
        }
        if (known == null)
        {
            throw new UsageException("unknown vmm command '" + command + "'", null);
        }
        if (problem != null)
        {
            throw new UsageException(problem, known);
        }
        if (!"watch".equals(known) && (intervalText != null || forText != null))
        {
            throw new UsageException((intervalText != null ? "--interval" : "--for")
                + " is an option of vmm watch", known);
        }
        if (readOnly && !"console".equals(known))
        {
            throw new UsageException("--read-only is an option of vmm console", known);
        }
        if (json && "console".equals(known))
        {
            throw new UsageException("vmm console has no --json (it copies the console's bytes)", known);
        }
        final boolean needsId = "get".equals(known) || "stop".equals(known) || "terminate".equals(known)
            || "console".equals(known);
        final int expected = needsId ? 1 : 0;
        if (positionals.size() < expected)
        {
            throw new UsageException("vmm " + known + " needs a VMM id (the propolis id, a UUID)", known);
        }
        if (positionals.size() > expected)
        {
            throw new UsageException("unexpected argument '" + positionals.get(expected) + "' for vmm " + known,
                known);
        }
        final UUID propolisId = needsId ? propolisId(positionals.get(0), known) : null;
        final long intervalMs = intervalText == null ? DEFAULT_INTERVAL_MS : duration(intervalText, "--interval");
        final long forMs = forText == null ? 0 : duration(forText, "--for");
        return new VmmArgs(known, propolisId, agent(agentText, known), json, false, false, intervalMs, forMs,
            tls(new TlsFiles(tlsCert, tlsKey, tlsCa), known), readOnly);
    }

    private static SSLContext tls(final TlsFiles files, final String command)
    {
        if (!files.any())
        {
            return null;
        }
        try
        {
            return JdkTls.context(files, "--tls-cert", "--tls-key", "--tls-ca");
        }
        catch (final IllegalArgumentException ex)
        {
            throw new UsageException(ex.getMessage(), command);
        }
    }

    private static String first(final String problem, final String another)
    {
        return problem != null ? problem : another;
    }

    /** Strictly the canonical 8-4-4-4-12 form, as the agent's routes take it. */
    private static UUID propolisId(final String text, final String command)
    {
        if (!UUID_TEXT.matcher(text).matches())
        {
            throw new UsageException("not a VMM id (expected a UUID like 6dd4b1a6-...): '" + text + "'", command);
        }
        return UUID.fromString(text);
    }

    private static long duration(final String text, final String flag)
    {
        try
        {
            return Durations.parseMs(text);
        }
        catch (final IllegalArgumentException | ArithmeticException ex)
        {
            throw new UsageException(flag + ": " + ex.getMessage(), "watch");
        }
    }

    /** {@code http(s)://HOST:PORT[/prefix]}; a bare {@code HOST:PORT} means http. */
    private static URI agent(final String text, final String command)
    {
        final String full = text.contains("://") ? text : "http://" + text;
        final URI uri;
        try
        {
            uri = new URI(full);
        }
        catch (final URISyntaxException ex)
        {
            throw new UsageException("--agent: not a URL: '" + text + "'", command);
        }
        final boolean http = "http".equalsIgnoreCase(uri.getScheme()) || "https".equalsIgnoreCase(uri.getScheme());
        if (!http || uri.getHost() == null || uri.getQuery() != null || uri.getFragment() != null)
        {
            throw new UsageException("--agent: expected http://HOST:PORT, got '" + text + "'", command);
        }
        return uri;
    }
}
