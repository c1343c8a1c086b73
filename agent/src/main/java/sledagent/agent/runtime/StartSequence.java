package sledagent.agent.runtime;

import java.io.IOException;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.http.HttpTimeoutException;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;
import java.util.logging.Logger;
import sledagent.agent.vmm.Event;
import sledagent.api.InstanceEnsureBody;
import sledagent.api.propolis.InstanceEnsureRequest;
import sledagent.api.propolis.InstanceInitializationMethod;
import sledagent.api.propolis.InstanceMetadata;
import sledagent.api.propolis.InstanceProperties;
import sledagent.api.propolis.PropolisStateRequested;
import sledagent.hypervisor.PropolisClient;
import sledagent.hypervisor.PropolisHttpException;
import sledagent.hypervisor.PropolisSpecs;
import sledagent.hypervisor.server.ListenAddress;
import sledagent.zones.Zone;
import sledagent.zones.ZoneBackend;
import sledagent.zones.ZoneProcess;

/**
 * Run = create the zone, spawn the VMM in it, wait until its Propolis answers, ensure, Run. Blocking, on the
 * runtime's pool, all of it inside one deadline ({@code startTimeoutMs}); omicron's equivalent waits have no
 * deadline (#3319). Interrupted when cancelled, and then reports nothing.
 */
final class StartSequence
{
    private static final Logger LOG = Logger.getLogger(StartSequence.class.getName());
    /**
     * Pause between two connects to a Propolis that does not accept connections yet. Every millisecond between the
     * server's bind and the agent's next try is added to the guest's start (a 200 ms cap lost up to 165 ms there,
     * perf/RESULTS.md, issue 14), and a refused connect of a plain socket costs some microseconds, so the probe is
     * a plain connect every few milliseconds; the HTTP call follows once one is accepted.
     */
    private static final long POLL_MS = 5;
    /** Bound of one probe's connect. */
    private static final int PROBE_CONNECT_MS = 250;
    private static final String SLED_MODEL = "sled-agent-java";

    private final UUID propolisId;
    private final InstanceEnsureBody registration;
    private final String migrationSourceAddr;
    private final ZoneBackend zones;
    private final PropolisClient client;
    private final RuntimeSettings settings;

    StartSequence(final UUID propolisId, final InstanceEnsureBody registration, final String migrationSourceAddr,
        final ZoneBackend zones, final PropolisClient client, final RuntimeSettings settings)
    {
        this.propolisId = propolisId;
        this.registration = registration;
        this.migrationSourceAddr = migrationSourceAddr;
        this.zones = zones;
        this.client = client;
        this.settings = settings;
    }

    /** Runs the sequence; returns the event to post (VmmStarted or StartFailed). */
    Event run(final Consumer<ZoneProcess> onSpawned) throws InterruptedException
    {
        final long deadlineNs = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(settings.startTimeoutMs());
        final String addr = registration.propolisAddr();
        final String zoneName = ZoneBackend.ZONE_PREFIX + propolisId;
        try
        {
            final Zone zone = zones.create(zoneName);
            markOwner(zone);
            final ZoneProcess process = zones.spawn(zone, settings.vmmCommand().apply(addr),
                settings.vmmLogFile(zoneName));
            onSpawned.accept(process);
            awaitAnswering(addr, process, deadlineNs);
            await(client.ensure(addr, ensureRequest(), settings.callTimeout()), deadlineNs, "instance ensure");
            if (migrationSourceAddr == null)
            {
                // A migration target runs by itself once the migration completes.
                await(client.putState(addr, PropolisStateRequested.Run, settings.callTimeout()), deadlineNs, "Run");
            }
            return new Event.VmmStarted();
        }
        catch (final InterruptedException ex)
        {
            throw ex;
        }
        catch (final Exception ex)
        {
            return new Event.StartFailed(describe(ex));
        }
    }

    /**
     * After an agent restart: the zone and {@code process} exist; waits until Propolis answers, ensures it if it has
     * no instance yet, and Runs it. A migration target is resumed only if it was ensured already (its source
     * address is not kept), and is not told to Run.
     */
    Event resume(final ZoneProcess process) throws InterruptedException
    {
        final long deadlineNs = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(settings.startTimeoutMs());
        final String addr = registration.propolisAddr();
        try
        {
            awaitAnswering(addr, process, deadlineNs);
            final boolean ensured = hasInstance(addr, deadlineNs);
            final boolean migrationTarget = registration.migrationId() != null;
            if (!ensured)
            {
                if (migrationTarget)
                {
                    return new Event.StartFailed("a migration target's start cannot be resumed before its ensure "
                        + "(the migration source is not known after a restart)");
                }
                await(client.ensure(addr, ensureRequest(), settings.callTimeout()), deadlineNs, "instance ensure");
            }
            if (!migrationTarget)
            {
                // Run is idempotent in Propolis: a VM already running or starting stays so.
                await(client.putState(addr, PropolisStateRequested.Run, settings.callTimeout()), deadlineNs, "Run");
            }
            return new Event.VmmStarted();
        }
        catch (final InterruptedException ex)
        {
            throw ex;
        }
        catch (final Exception ex)
        {
            return new Event.StartFailed("resuming the start after a restart: " + describe(ex));
        }
    }

    /** True if Propolis has an instance (ensured), false if it answers that it has none yet (424 or 404). */
    private boolean hasInstance(final String addr, final long deadlineNs)
        throws InterruptedException, ExecutionException, TimeoutException
    {
        try
        {
            client.instance(addr, settings.callTimeout()).get(Math.max(1, remainingMs(deadlineNs)),
                TimeUnit.MILLISECONDS);
            return true;
        }
        catch (final ExecutionException ex)
        {
            if (ex.getCause() instanceof PropolisHttpException http && (http.statusCode() == 424
                || http.statusCode() == 404))
            {
                return false;
            }
            throw ex;
        }
    }

    /**
     * Marks the zone as this agent's, so no other agent's sweep takes it. Best effort: an unmarked zone is still
     * treated as ours by our own sweeper, so a failed mark must not fail the start.
     */
    private void markOwner(final Zone zone)
    {
        if (settings.zoneOwner() == null)
        {
            return;
        }
        try
        {
            zones.markOwner(zone, settings.zoneOwner());
        }
        catch (final RuntimeException ex)
        {
            LOG.warning(() -> "vmm " + propolisId + ": cannot mark zone " + zone.name() + " as ours: " + ex);
        }
    }

    /** Polls {@code GET /instance} until Propolis answers anything at all (even 424 before ensure). */
    private void awaitAnswering(final String addr, final ZoneProcess process, final long deadlineNs)
        throws InterruptedException, TimeoutException
    {
        final InetSocketAddress socketAddress = ListenAddress.parse(addr);
        while (true)
        {
            if (!process.isAlive())
            {
                throw new IllegalStateException("VMM process exited before its Propolis answered");
            }
            final long remainingMs = remainingMs(deadlineNs);
            if (remainingMs <= 0)
            {
                throw new TimeoutException("Propolis at " + addr + " did not answer within "
                    + settings.startTimeoutMs() + " ms");
            }
            if (!accepts(socketAddress))
            {
                Thread.sleep(Math.min(POLL_MS, Math.max(1, remainingMs(deadlineNs))));
                continue;
            }
            try
            {
                client.instance(addr, settings.callTimeout()).get(remainingMs, TimeUnit.MILLISECONDS);
                return;
            }
            catch (final ExecutionException ex)
            {
                if (ex.getCause() instanceof PropolisHttpException)
                {
                    return;
                }
                if (!(ex.getCause() instanceof ConnectException) && !(ex.getCause() instanceof HttpTimeoutException)
                    && !(ex.getCause() instanceof java.io.IOException))
                {
                    throw new IllegalStateException("Propolis at " + addr + ": " + ex.getCause(), ex.getCause());
                }
            }
            Thread.sleep(Math.min(POLL_MS, Math.max(1, remainingMs(deadlineNs))));
        }
    }

    /**
     * Whether a plain connect to {@code address} is accepted (a server listening there); closed at once. Bounded:
     * an address not yet reachable (a zone's interface still coming up) must not hold the start in SYN retries.
     */
    private static boolean accepts(final InetSocketAddress address)
    {
        try (Socket socket = new Socket())
        {
            socket.connect(address, PROBE_CONNECT_MS);
            return true;
        }
        catch (final IOException ex)
        {
            return false;
        }
    }

    private InstanceEnsureRequest ensureRequest()
    {
        final InstanceMetadata metadata = new InstanceMetadata(registration.projectId(), registration.siloId(),
            settings.sledId(), SLED_MODEL, 0, settings.sledId().toString());
        final String hostname = registration.localConfig().path("hostname").asText("vmm-" + propolisId);
        final InstanceProperties properties = new InstanceProperties(propolisId, hostname,
            "instance " + registration.instanceId(), metadata);
        if (migrationSourceAddr != null)
        {
            return new InstanceEnsureRequest(properties, new InstanceInitializationMethod.MigrationTarget(
                new InstanceInitializationMethod.MigrationTargetValue(registration.migrationId(), Map.of(),
                    migrationSourceAddr)));
        }
        return new InstanceEnsureRequest(properties,
            InstanceInitializationMethod.Spec.of(PropolisSpecs.toV5(registration.vmmSpec())));
    }

    private static <T> T await(final CompletableFuture<T> call, final long deadlineNs, final String what)
        throws InterruptedException, ExecutionException, TimeoutException
    {
        try
        {
            return call.get(Math.max(1, remainingMs(deadlineNs)), TimeUnit.MILLISECONDS);
        }
        catch (final TimeoutException | InterruptedException ex)
        {
            call.cancel(true);
            throw ex;
        }
        catch (final ExecutionException ex)
        {
            throw new ExecutionException(what + " failed: " + ex.getCause(), ex.getCause());
        }
    }

    private static long remainingMs(final long deadlineNs)
    {
        return TimeUnit.NANOSECONDS.toMillis(deadlineNs - System.nanoTime());
    }

    private static String describe(final Throwable ex)
    {
        final String message = ex.getMessage();
        return message == null ? ex.getClass().getSimpleName() : message;
    }
}
