package sledagent.hypervisor.sim;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import sledagent.hypervisor.server.PropolisHttpHandler;
import sledagent.hypervisor.server.PropolisRefusal;

/**
 * propolis-sim's paths outside the Propolis API, served beside the shared core's: {@code PUT /mock/fault} and the
 * source's end of the sims' migration protocol ({@code POST /mock/migrate/{id}/start|poll|finish}). Both are
 * unversioned, like the mock server's own {@code /mock} endpoints.
 */
final class SimRoutes implements PropolisHttpHandler.Extension
{
    private static final String MIGRATE_PREFIX = "/mock/migrate/";
    private static final long POLL_GRACE_MS = 5_000;

    private final SimVm vm;
    private final Runnable exitProcess;
    private PropolisHttpHandler handler;

    /**
     * @param vm          the simulated VM
     * @param exitProcess what {@code exit_now} runs after answering (the process halts with status 1)
     */
    SimRoutes(final SimVm vm, final Runnable exitProcess)
    {
        this.vm = vm;
        this.exitProcess = exitProcess;
    }

    /** The handler these routes extend (for {@code hang_http}); set once, before serving. */
    void attach(final PropolisHttpHandler newHandler)
    {
        this.handler = newHandler;
    }

    @Override
    public boolean serve(final PropolisHttpHandler.Call call) throws PropolisRefusal, IOException, InterruptedException
    {
        final String path = call.path();
        if ("/mock/fault".equals(path))
        {
            call.requireMethod("PUT");
            injectFault(call, parseFault(call.tree(call.jsonBody())));
            return true;
        }
        if (path.startsWith(MIGRATE_PREFIX))
        {
            migrate(call, path.substring(MIGRATE_PREFIX.length()));
            return true;
        }
        return false;
    }

    /** {@code POST /mock/migrate/{id}/start|poll|finish}: the source's end of {@link SimMigration}. */
    private void migrate(final PropolisHttpHandler.Call call, final String rest)
        throws PropolisRefusal, IOException, InterruptedException
    {
        final String[] parts = rest.split("/", -1);
        if (parts.length != 2 || !List.of("start", "poll", "finish").contains(parts[1]))
        {
            throw new PropolisRefusal(404, null, "Not Found");
        }
        call.requireMethod("POST");
        final UUID id;
        try
        {
            id = UUID.fromString(parts[0]);
        }
        catch (final IllegalArgumentException e)
        {
            throw PropolisRefusal.badRequest("bad migration id: " + parts[0]);
        }
        final byte[] body = call.jsonBody();
        switch (parts[1])
        {
            case "start" ->
            {
                final SimMigration.StartRequest start = call.parse(body, SimMigration.StartRequest.class);
                call.send(200, vm.migrateOutStart(id, start.targetStepMs()));
            }
            case "poll" ->
            {
                final SimMigration.PollRequest poll = call.parse(body, SimMigration.PollRequest.class);
                final SimMigration.Report report;
                try
                {
                    // The VM answers within its poll window; the bound here only guards against a bug.
                    report = vm.migrateOutPoll(id, poll.after())
                        .get(SimMigration.POLL_WINDOW_MS + POLL_GRACE_MS, TimeUnit.MILLISECONDS);
                }
                catch (final ExecutionException | TimeoutException e)
                {
                    throw new PropolisRefusal(503, null, "poll not answered: " + e);
                }
                call.send(200, report);
            }
            default -> call.send(200, vm.migrateOutFinish(id));
        }
    }

    private void injectFault(final PropolisHttpHandler.Call call, final SimFault fault) throws IOException
    {
        switch (fault)
        {
            case EXIT_NOW ->
            {
                // Answer first, so the caller knows the fault took; then die at once, skipping shutdown hooks.
                call.send(204, null);
                call.close();
                exitProcess.run();
            }
            case HANG_HTTP ->
            {
                call.send(204, null);
                fault(fault);
            }
            default ->
            {
                fault(fault);
                call.send(204, null);
            }
        }
    }

    /**
     * Puts a fault other than {@code exit_now} in force: {@code hang_http} in the HTTP handler, the others in the VM.
     *
     * @param fault none, hang_stop, hang_http, fail_start or fail_migration
     */
    void fault(final SimFault fault)
    {
        switch (fault)
        {
            case HANG_HTTP -> handler.withholdAnswers();
            case NONE, HANG_STOP, FAIL_START, FAIL_MIGRATION -> vm.fault(fault);
            default -> throw new IllegalArgumentException("not a lasting fault: " + fault);
        }
    }

    private static SimFault parseFault(final JsonNode node) throws PropolisRefusal
    {
        if (!node.isTextual())
        {
            throw PropolisRefusal.badRequest("unable to parse JSON body: expected a fault name as a JSON string");
        }
        try
        {
            return SimFault.fromWire(node.textValue());
        }
        catch (final IllegalArgumentException e)
        {
            throw PropolisRefusal.badRequest(e.getMessage());
        }
    }
}
