package sledagent.hypervisor.sim;

import java.io.IOException;
import java.net.ConnectException;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.function.UnaryOperator;
import sledagent.api.propolis.PropolisMigrationState;
import sledagent.hypervisor.server.PropolisRefusal;

/**
 * {@link SimMigration.Link} straight to other {@link SimVm}s of the same test, by a made-up address: a refusal of the
 * source fails the call as an HTTP refusal would, an unknown or cut address as a refused or reset connection would.
 */
final class DirectLink implements SimMigration.Link
{
    private final Map<String, SimVm> sources = new HashMap<>();
    private final Set<String> cut = new HashSet<>();
    private final Set<CompletableFuture<SimMigration.Report>> pending = new HashSet<>();
    private UnaryOperator<SimMigration.Report> tamper = UnaryOperator.identity();

    DirectLink add(final String addr, final SimVm source)
    {
        sources.put(addr, source);
        return this;
    }

    /** The source at {@code addr} vanishes: calls in flight fail as reset, later ones as refused. */
    void cut(final String addr)
    {
        cut.add(addr);
        for (final CompletableFuture<SimMigration.Report> call : Set.copyOf(pending))
        {
            call.completeExceptionally(new IOException("connection reset"));
        }
    }

    /** Changes every report on its way to the target. */
    void tamper(final UnaryOperator<SimMigration.Report> newTamper)
    {
        tamper = newTamper;
    }

    @Override
    public CompletableFuture<SimMigration.Report> start(final String srcAddr, final UUID id, final long targetStepMs)
    {
        return call(srcAddr, source -> CompletableFuture.completedFuture(source.migrateOutStart(id, targetStepMs)));
    }

    @Override
    public CompletableFuture<SimMigration.Report> poll(final String srcAddr, final UUID id,
        final PropolisMigrationState after)
    {
        return call(srcAddr, source -> source.migrateOutPoll(id, after));
    }

    @Override
    public CompletableFuture<SimMigration.Report> finish(final String srcAddr, final UUID id)
    {
        return call(srcAddr, source -> CompletableFuture.completedFuture(source.migrateOutFinish(id)));
    }

    private CompletableFuture<SimMigration.Report> call(final String srcAddr, final SourceCall call)
    {
        final SimVm source = sources.get(srcAddr);
        if (source == null || cut.contains(srcAddr))
        {
            return CompletableFuture.failedFuture(new ConnectException("Connection refused: " + srcAddr));
        }
        final CompletableFuture<SimMigration.Report> answer;
        try
        {
            answer = call.on(source);
        }
        catch (final PropolisRefusal refusal)
        {
            return CompletableFuture.failedFuture(new SimMigration.Refused(refusal.statusCode() + " "
                + refusal.errorCode() + ": " + refusal.getMessage()));
        }
        final CompletableFuture<SimMigration.Report> result = new CompletableFuture<>();
        pending.add(result);
        result.whenComplete((report, failure) -> pending.remove(result));
        answer.whenComplete((report, failure) ->
        {
            if (failure != null)
            {
                result.completeExceptionally(failure);
            }
            else
            {
                result.complete(tamper.apply(report));
            }
        });
        return result;
    }

    @FunctionalInterface
    private interface SourceCall
    {
        CompletableFuture<SimMigration.Report> on(SimVm source) throws PropolisRefusal;
    }
}
