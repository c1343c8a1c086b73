package sledagent.agent.http;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectReader;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import sledagent.agent.metrics.Metrics;
import sledagent.agent.metrics.PrometheusText;
import sledagent.agent.vmm.ApiError;
import sledagent.agent.vmm.Event;
import sledagent.agent.vmm.Reply;
import sledagent.agent.vmm.VmmActor;
import sledagent.agent.vmm.VmmManager;
import sledagent.api.InstanceEnsureBody;
import sledagent.api.Json;
import sledagent.api.SledVmmState;
import sledagent.api.VmmPutStateBody;
import sledagent.api.VmmStateRequested;
import sledagent.api.validate.InvalidBodyException;
import sledagent.api.validate.RequestBody;

/**
 * The VMM endpoints: decode, one {@link VmmManager} call, encode. Runs on the event loop, so nothing here
 * blocks: a request to a VMM is an offer to its mailbox and the answer comes back as a future.
 */
final class VmmEndpoints
{
    private static final ObjectReader ENSURE_READER = Json.mapper().readerFor(InstanceEnsureBody.class);
    private static final ObjectReader PUT_STATE_READER = Json.mapper().readerFor(VmmPutStateBody.class);
    private static final ObjectReader TREE_READER = Json.mapper().readerFor(JsonNode.class);

    private final VmmManager manager;
    private final Executor blocking;
    private final PrometheusText prometheus;
    private final String vmm;

    /** {@code blocking} runs what must not run on the event loop (the register's durable write). */
    VmmEndpoints(final VmmManager manager, final Executor blocking, final PrometheusText prometheus)
    {
        this(manager, blocking, prometheus, "unknown");
    }

    /** ... and {@code vmm}, which VMM the agent runs (shown by {@code GET /health}). */
    VmmEndpoints(final VmmManager manager, final Executor blocking, final PrometheusText prometheus,
        final String vmm)
    {
        this.manager = manager;
        this.blocking = blocking;
        this.prometheus = prometheus;
        this.vmm = vmm;
        RequestBody.load();
    }

    /** Which VMM the agent runs, one line. */
    String vmm()
    {
        return vmm;
    }

    Metrics metrics()
    {
        return manager.metrics();
    }

    /** {@code GET /metrics}: Prometheus text. */
    HttpAnswer metricsText()
    {
        return HttpAnswer.ok(new PlainText(prometheus.render(), PrometheusText.CONTENT_TYPE));
    }

    /** {@code PUT /vmms/{id}}: decoded and checked here; the record is written on the blocking pool. */
    CompletableFuture<HttpAnswer> register(final UUID propolisId, final InputStream body) throws BadRequestException
    {
        final InstanceEnsureBody ensure = decode(RequestBody.INSTANCE_ENSURE, ENSURE_READER, body);
        checkAddress(ensure.propolisAddr());
        try
        {
            ensure.projectId();
            ensure.siloId();
        }
        catch (final IllegalArgumentException ex)
        {
            throw new BadRequestException(ex.getMessage());
        }
        try
        {
            return CompletableFuture.supplyAsync(() -> answer(manager.register(propolisId, ensure)), blocking);
        }
        catch (final java.util.concurrent.RejectedExecutionException ex)
        {
            return CompletableFuture.completedFuture(HttpAnswer.error(ApiError.unavailable("agent is busy")));
        }
    }

    /** {@code PUT /vmms/{id}/state}. */
    CompletableFuture<HttpAnswer> putState(final UUID propolisId, final InputStream body)
        throws BadRequestException
    {
        final VmmPutStateBody request = decode(RequestBody.VMM_PUT_STATE, PUT_STATE_READER, body);
        final Event event;
        if (request.state() instanceof VmmStateRequested.Running)
        {
            event = new Event.RunRequested();
        }
        else if (request.state() instanceof VmmStateRequested.Stopped)
        {
            event = new Event.StopRequested();
        }
        else if (request.state() instanceof VmmStateRequested.Reboot)
        {
            event = new Event.RebootRequested();
        }
        else if (request.state() instanceof VmmStateRequested.MigrationTarget target)
        {
            checkAddress(target.value().srcPropolisAddr());
            event = new Event.MigrationTargetRequested(target.value());
        }
        else
        {
            throw ApiHandler.unhandled(request.state());
        }
        return manager.request(propolisId, event).thenApply(VmmEndpoints::answer);
    }

    /** {@code GET /vmms/{id}/state}: from the snapshot, never through the mailbox. */
    HttpAnswer getState(final UUID propolisId)
    {
        final SledVmmState state = manager.state(propolisId);
        return state == null ? HttpAnswer.error(ApiError.noSuchInstance()) : HttpAnswer.ok(state);
    }

    /** {@code DELETE /vmms/{id}}. */
    CompletableFuture<HttpAnswer> unregister(final UUID propolisId)
    {
        return manager.request(propolisId, new Event.UnregisterRequested()).thenApply(VmmEndpoints::answer);
    }

    /** {@code POST /vmms/{id}/force-terminate}. */
    CompletableFuture<HttpAnswer> forceTerminate(final UUID propolisId)
    {
        return manager.request(propolisId, new Event.ForceTerminateRequested()).thenApply(VmmEndpoints::answer);
    }

    /** {@code GET /vmms}: every VMM in the table with its state. */
    HttpAnswer list()
    {
        final List<VmmSummary> vmms = new ArrayList<>();
        for (final VmmActor actor : manager.table().actors())
        {
            vmms.add(new VmmSummary(actor.propolisId(), actor.record().registration().instanceId(),
                actor.record().registration().propolisAddr(), actor.snapshot()));
        }
        return HttpAnswer.ok(new VmmList(vmms));
    }

    private static HttpAnswer answer(final Reply reply)
    {
        if (reply instanceof Reply.Ok ok)
        {
            return HttpAnswer.ok(ok.body());
        }
        if (reply instanceof Reply.Failed failed)
        {
            return HttpAnswer.error(failed.error());
        }
        if (reply instanceof Reply.Deferred)
        {
            // The actor keeps a deferred request's future and completes it later with Ok or Failed.
            // Never this: logged as the bug it is, answered 500 as before.
            ApiHandler.unhandled(reply);
            return HttpAnswer.error(ApiError.internal("unexpected reply " + reply));
        }
        throw ApiHandler.unhandled(reply);
    }

    /** Parsed to a tree, checked against every constraint of its v48 schema, then bound. */
    private static <T> T decode(final RequestBody kind, final ObjectReader reader, final InputStream body)
        throws BadRequestException
    {
        try
        {
            final JsonNode tree = TREE_READER.readValue(body);
            if (tree == null || tree.isMissingNode())
            {
                throw new BadRequestException("request body must be a JSON object");
            }
            kind.check(tree);
            final T value = reader.readValue(tree);
            if (value == null)
            {
                throw new BadRequestException("request body must be a JSON object");
            }
            return value;
        }
        catch (final InvalidBodyException ex)
        {
            throw new BadRequestException(ex.getMessage());
        }
        catch (final JsonProcessingException ex)
        {
            throw new BadRequestException("unable to parse JSON body: " + ex.getOriginalMessage());
        }
        catch (final IOException ex)
        {
            throw new BadRequestException("unable to read body: " + ex.getMessage());
        }
    }

    /** {@code ip:port} or {@code [v6]:port}, port 1..65535. */
    static void checkAddress(final String addr) throws BadRequestException
    {
        final int colon = addr.lastIndexOf(':');
        final boolean v6 = addr.startsWith("[");
        if (colon <= 0 || (v6 && addr.charAt(colon - 1) != ']') || (!v6 && addr.indexOf(':') != colon))
        {
            throw new BadRequestException("address must be ip:port or [ipv6]:port: " + addr);
        }
        try
        {
            final int port = Integer.parseInt(addr.substring(colon + 1));
            if (port < 1 || port > 65535)
            {
                throw new NumberFormatException();
            }
        }
        catch (final NumberFormatException ex)
        {
            throw new BadRequestException("bad port in address: " + addr);
        }
    }

    /** A body that is text, not JSON. */
    record PlainText(String text, String contentType)
    {
    }

    /** One row of {@code GET /vmms}. */
    record VmmSummary(UUID propolisId, UUID instanceId, String propolisAddr, SledVmmState state)
    {
    }

    /** The body of {@code GET /vmms}. */
    record VmmList(List<VmmSummary> vmms)
    {
    }

    /** Bad input: answered 400 with the message. */
    static final class BadRequestException extends Exception
    {
        BadRequestException(final String message)
        {
            super(message);
        }
    }
}
