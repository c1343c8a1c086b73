package sledagent.agent.cli;

import java.io.InputStream;
import java.io.PrintStream;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import sledagent.agent.config.Version;
import sledagent.api.SledVmmState;
import sledagent.api.VmmPutStateResponse;

/**
 * {@code sled-agent vmm list | get ID | stop ID | terminate ID | watch | console ID}: operator commands against a
 * running agent's HTTP API. Dispatches a parsed command line to {@link AgentApi} and prints text or {@code --json}.
 * Exit status: 0 ok, 1 the agent was unreachable or refused the request, 2 bad usage.
 */
public final class VmmCommand
{
    /** The bound on one request of list, get, stop and terminate (the connect timeout is 2 s). */
    public static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(10);

    private static final String OPTIONS = """

        options (before or after the command):
          --agent URL   the agent's HTTP API (default %s); https:// for a TLS agent
          --tls-ca FILE     PEM CA(s) the agent's certificate must chain to (default: the JDK's)
          --tls-cert FILE   client certificate for an agent that requires one (PEM chain)
          --tls-key FILE    its private key (unencrypted PKCS#8 PEM)
          --json        JSON for scripts instead of text
          --help, -h    this help
        """.formatted(VmmArgs.DEFAULT_AGENT);

    private static final String VMM_USAGE = """
        usage: sled-agent vmm <command> [options]

        Operator commands against a running agent. ID is a propolis id (a UUID).

        commands:
          list          every VMM, as a table sorted by propolis id
          get ID        one VMM's state
          stop ID       ask a VMM to stop; prints the resulting state
          terminate ID  force-terminate a VMM; prints the resulting state
          watch         print each state change as it is seen (polls the agent)
          console ID    attach the terminal to the VMM's serial console (Ctrl-] detaches)
        """ + OPTIONS + """
          --version     print the version

        `sled-agent vmm COMMAND --help` describes a command.
        Exit status: 0 ok, 1 the agent was unreachable or refused the request, 2 bad usage.
        """;

    private static final String LIST_USAGE = """
        usage: sled-agent vmm list [--agent URL] [--json]

        Every VMM the agent has, sorted by propolis id, with the columns PROPOLIS ID, INSTANCE ID, STATE,
        GEN, UPDATED and MIGRATION (in:STATE and/or out:STATE, or - when not migrating).
        --json prints the agent's GET /vmms answer as it is: {"vmms":[...]}.
        """ + OPTIONS;

    private static final String GET_USAGE = """
        usage: sled-agent vmm get ID [--agent URL] [--json]

        One VMM as key: value lines (state, generation, migrations, instance and address).
        --json prints the agent's GET /vmms/ID/state answer (a SledVmmState) as it is.
        Exit 1 with the agent's message if it has no such VMM.
        """ + OPTIONS;

    private static final String STOP_USAGE = """
        usage: sled-agent vmm stop ID [--agent URL] [--json]

        Asks the VMM to stop (PUT /vmms/ID/state {"state":{"type":"stopped"}}) and prints the resulting state;
        a VMM that was never started goes straight to destroyed. The stop itself may take a while: follow it
        with `vmm watch` or `vmm get ID`. --json prints the agent's answer ({"updated_runtime":...}) as it is.
        Exit 1 with the agent's message and error code if it refuses.
        """ + OPTIONS;

    private static final String TERMINATE_USAGE = """
        usage: sled-agent vmm terminate ID [--agent URL] [--json]

        Force-terminates the VMM (POST /vmms/ID/force-terminate): its zone is killed at once, without a
        graceful stop. Prints the resulting state; --json prints the agent's answer (a SledVmmState) as it is.
        Exit 1 with the agent's message and error code if it refuses.
        """ + OPTIONS;

    private static final String WATCH_USAGE = """
        usage: sled-agent vmm watch [--interval DURATION] [--for DURATION] [--agent URL] [--json]

        Prints one line per change: time, propolis id, old state -> new state and generation; VMMs already
        there at the start show as "present", new ones as "appeared", unregistered ones as "gone".
        This is a poll of GET /vmms, not a subscription (the agent has no push endpoint): a state held for
        less than one interval can be missed (the generation still tells). Runs until interrupted.
        --json prints one JSON object per line: {"time","event","propolis_id","instance_id","old_state",
        "new_state","gen","state"}.

          --interval DURATION  time between polls, e.g. 250ms, 2s (default %dms)
          --for DURATION       stop after this long (for scripts), e.g. 30s, 10m
        """.formatted(VmmArgs.DEFAULT_INTERVAL_MS) + OPTIONS;

    private static final String CONSOLE_USAGE = """
        usage: sled-agent vmm console ID [--read-only] [--agent URL]

        Attaches the terminal to the VMM's serial console (com1): finds where its Propolis server listens
        (propolis_addr in GET /vmms, also shown by `vmm get ID`) and opens Propolis's GET /instance/serial
        WebSocket there. Shows the last %d bytes of the console, then its live output; what you type goes to
        the guest (stdin is put in raw mode while attached when it is a terminal).

          --read-only   show the console only; nothing typed reaches the guest

        Ctrl-] (as in telnet) detaches, and so does the end of stdin. Exit 0 when detached, 1 when the console
        connection ended from the VMM's side (or the agent has no such VMM, or its console cannot be reached).
        """.formatted(VmmConsole.REPLAY_BYTES) + OPTIONS;

    private VmmCommand()
    {
    }

    /**
     * Runs {@code sled-agent vmm ARGS}.
     *
     * @param args the arguments after {@code vmm}
     * @param out  results and help
     * @param err  errors, usage after a usage error, and notes
     * @return the exit status: 0 ok, 1 failure, 2 bad usage
     */
    public static int run(final List<String> args, final PrintStream out, final PrintStream err)
    {
        return run(args, System.in, out, err);
    }

    /**
     * Runs {@code sled-agent vmm ARGS} with {@code in} as the console's input.
     *
     * @param args the arguments after {@code vmm}
     * @param in   what {@code vmm console} sends to the guest
     * @param out  results and help
     * @param err  errors, usage after a usage error, and notes
     * @return the exit status: 0 ok, 1 failure, 2 bad usage
     */
    public static int run(final List<String> args, final InputStream in, final PrintStream out,
        final PrintStream err)
    {
        final VmmArgs parsed;
        try
        {
            parsed = VmmArgs.parse(args);
        }
        catch (final UsageException ex)
        {
            err.println("sled-agent: " + ex.getMessage());
            err.print(usage(ex.command()));
            return 2;
        }
        if (parsed.help())
        {
            out.print(usage(parsed.command()));
            return 0;
        }
        if (parsed.version())
        {
            out.println("sled-agent " + Version.text());
            return 0;
        }
        final AgentApi api = new AgentApi(parsed.agent(), REQUEST_TIMEOUT, parsed.tls());
        try
        {
            switch (parsed.command())
            {
                case "list" -> list(api, parsed.json(), out);
                case "get" -> get(api, parsed.propolisId(), parsed.json(), out);
                case "stop" -> stop(api, parsed.propolisId(), parsed.json(), out, err);
                case "terminate" -> terminate(api, parsed.propolisId(), parsed.json(), out);
                case "watch" -> watch(api, parsed, out, err);
                case "console" ->
                {
                    return VmmConsole.attach(api, parsed.propolisId(), parsed.readOnly(), in, out, err);
                }
                default -> throw new IllegalStateException("unhandled command " + parsed.command());
            }
            out.flush();
            return 0;
        }
        catch (final AgentException ex)
        {
            err.println("sled-agent: " + ex.getMessage());
            return 1;
        }
        catch (final InterruptedException ex)
        {
            Thread.currentThread().interrupt();
            err.println("sled-agent: interrupted");
            return 1;
        }
    }

    /**
     * The usage of a subcommand, or of {@code vmm} itself.
     *
     * @param command list, get, stop, terminate, watch, console, or null
     * @return the usage text
     */
    public static String usage(final String command)
    {
        if (command == null)
        {
            return VMM_USAGE;
        }
        return switch (command)
        {
            case "list" -> LIST_USAGE;
            case "get" -> GET_USAGE;
            case "stop" -> STOP_USAGE;
            case "terminate" -> TERMINATE_USAGE;
            case "watch" -> WATCH_USAGE;
            case "console" -> CONSOLE_USAGE;
            default -> VMM_USAGE;
        };
    }

    private static void list(final AgentApi api, final boolean json, final PrintStream out)
        throws AgentException, InterruptedException
    {
        final AgentApi.Result<List<VmmView>> vmms = api.list();
        out.print(json ? raw(vmms.body()) : VmmFormat.list(vmms.value()));
    }

    private static void get(final AgentApi api, final UUID propolisId, final boolean json, final PrintStream out)
        throws AgentException, InterruptedException
    {
        final AgentApi.Result<SledVmmState> state = api.state(propolisId);
        if (json)
        {
            out.print(raw(state.body()));
            return;
        }
        // The state endpoint has no instance id or address; the listing has them (unless it went since).
        VmmView view = null;
        for (final VmmView vmm : api.list().value())
        {
            if (vmm.propolisId().equals(propolisId))
            {
                view = vmm;
            }
        }
        out.print(VmmFormat.details(propolisId, view, state.value()));
    }

    private static void stop(final AgentApi api, final UUID propolisId, final boolean json, final PrintStream out,
        final PrintStream err) throws AgentException, InterruptedException
    {
        final AgentApi.Result<VmmPutStateResponse> answer = api.stop(propolisId);
        if (json)
        {
            out.print(raw(answer.body()));
            return;
        }
        SledVmmState state = answer.value().updatedRuntime();
        if (state == null)
        {
            err.println("sled-agent: stop requested; the state has not changed yet");
            state = api.state(propolisId).value();
        }
        out.print(VmmFormat.details(propolisId, null, state));
    }

    private static void terminate(final AgentApi api, final UUID propolisId, final boolean json,
        final PrintStream out) throws AgentException, InterruptedException
    {
        final AgentApi.Result<SledVmmState> state = api.terminate(propolisId);
        out.print(json ? raw(state.body()) : VmmFormat.details(propolisId, null, state.value()));
    }

    private static void watch(final AgentApi api, final VmmArgs args, final PrintStream out, final PrintStream err)
        throws AgentException
    {
        try
        {
            new WatchLoop(api, args.intervalMs(), args.forMs(), args.json(), out, err).run();
        }
        catch (final InterruptedException ex)
        {
            // Interrupting a watch is how it is meant to end.
            Thread.currentThread().interrupt();
        }
    }

    /** The agent's body as one document on its own line. */
    private static String raw(final String body)
    {
        return body.strip() + "\n";
    }
}
