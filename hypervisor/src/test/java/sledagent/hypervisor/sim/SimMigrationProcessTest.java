package sledagent.hypervisor.sim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static sledagent.api.propolis.PropolisInstanceState.Creating;
import static sledagent.api.propolis.PropolisInstanceState.Destroyed;
import static sledagent.api.propolis.PropolisInstanceState.Failed;
import static sledagent.api.propolis.PropolisInstanceState.Migrating;
import static sledagent.api.propolis.PropolisInstanceState.Running;
import static sledagent.api.propolis.PropolisMigrationState.Device;
import static sledagent.api.propolis.PropolisMigrationState.Error;
import static sledagent.api.propolis.PropolisMigrationState.Finish;
import static sledagent.api.propolis.PropolisMigrationState.Pause;
import static sledagent.api.propolis.PropolisMigrationState.RamPull;
import static sledagent.api.propolis.PropolisMigrationState.RamPush;
import static sledagent.api.propolis.PropolisMigrationState.RamPushDirty;
import static sledagent.api.propolis.PropolisMigrationState.Resume;
import static sledagent.api.propolis.PropolisMigrationState.Sync;
import static sledagent.api.propolis.PropolisStateRequested.Run;

import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import sledagent.api.Json;
import sledagent.api.propolis.InstanceEnsureRequest;
import sledagent.api.propolis.InstanceInitializationMethod;
import sledagent.api.propolis.InstanceMigrateStatusResponse;
import sledagent.api.propolis.InstanceMigrationStatus;
import sledagent.api.propolis.InstanceStateMonitorResponse;
import sledagent.api.propolis.PropolisInstanceState;
import sledagent.api.propolis.PropolisMigrationState;
import sledagent.hypervisor.PropolisClient;
import sledagent.hypervisor.PropolisHttpException;

/**
 * Live migration between two propolis-sims as real processes on loopback, watched through each one's state monitor
 * the way the agent watches it.
 */
class SimMigrationProcessTest
{
    private static final Duration CALL = Duration.ofSeconds(5);
    private static final Duration WAIT = Duration.ofSeconds(20);
    private static final long STEP_MS = 5;
    private static final long MIGRATE_STEP_MS = 40;

    private static PropolisClient client;
    private static HttpClient raw;
    private final List<SimProcess> sims = new ArrayList<>();
    private final List<MonitorLog> monitors = new ArrayList<>();

    @BeforeAll
    static void startClients()
    {
        client = new PropolisClient(Duration.ofSeconds(2));
        raw = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    }

    @AfterAll
    static void closeClient()
    {
        client.close();
    }

    @AfterEach
    void killSims() throws Exception
    {
        monitors.forEach(MonitorLog::stop);
        Exception first = null;
        for (final SimProcess sim : sims)
        {
            try
            {
                sim.close();
            }
            catch (final Exception e)
            {
                first = first == null ? e : first;
            }
        }
        if (first != null)
        {
            throw first;
        }
    }

    @Test
    void shouldMigrateWithEveryPhaseVisibleOnBothSidesAndRunTheSourceDown() throws Exception
    {
        final SimProcess source = sim("--migrate-step-ms", Long.toString(MIGRATE_STEP_MS), "--rundown-ms", "1000");
        final MonitorLog sourceLog = running(source);
        final SimProcess target = sim("--migrate-step-ms", Long.toString(MIGRATE_STEP_MS));
        final UUID migrationId = UUID.randomUUID();

        assertThat(client.ensure(target.addr(), targetRequest(migrationId, source.addr()), CALL).get().migrate()
            .migrationId()).isEqualTo(migrationId);
        final MonitorLog targetLog = watch(target);

        await().atMost(WAIT).until(() -> targetLog.last().state() == Running);
        final InstanceStateMonitorResponse targetLast = targetLog.last();
        assertThat(targetLast.migration()).isEqualTo(new InstanceMigrateStatusResponse(
            new InstanceMigrationStatus(migrationId, Finish), null));
        await().atMost(WAIT).until(() -> sourceLog.last().state() == Destroyed);
        final InstanceStateMonitorResponse sourceLast = sourceLog.last();
        assertThat(sourceLast.migration()).isEqualTo(new InstanceMigrateStatusResponse(
            null, new InstanceMigrationStatus(migrationId, Finish)));

        // gen 1 is Migrating with migration_in Sync; each side's phases come in order (a slow reader may skip some).
        assertThat(targetLog.all().get(0)).isEqualTo(new InstanceStateMonitorResponse(1, Migrating,
            new InstanceMigrateStatusResponse(new InstanceMigrationStatus(migrationId, Sync), null)));
        final List<PropolisMigrationState> targetPhases = phases(targetLog.all(), true);
        assertThat(targetPhases).startsWith(Sync).endsWith(Finish);
        assertThat(List.of(Sync, RamPull, Device, Resume, Finish)).containsSubsequence(targetPhases);
        assertThat(targetLog.all()).allMatch(seen -> seen.state() == (seen.migration().migrationIn().state() == Finish
            ? Running : Migrating));
        final List<PropolisMigrationState> sourcePhases = phases(sourceLog.all(), false);
        assertThat(sourcePhases).startsWith(Sync).endsWith(Finish);
        assertThat(List.of(Sync, RamPush, Pause, RamPushDirty, Device, Finish)).containsSubsequence(sourcePhases);
        // Finish is published while still Migrating; Destroyed only after the rundown.
        assertThat(sourceLog.all()).anyMatch(seen -> seen.state() == Migrating
            && seen.migration().migrationOut().state() == Finish);
        assertThat(sourceLog.all().stream().filter(seen -> seen.migration().migrationOut() != null))
            .allMatch(seen -> seen.state() == Migrating || seen.state() == Destroyed);
        assertGensRise(targetLog.all());
        assertGensRise(sourceLog.all());

        assertThat(httpError(source, 410).errorCode()).isEqualTo("NoInstance");
        final InstanceMigrateStatusResponse status = Json.mapper().readValue(
            get(source, "/instance/migration-status").body(), InstanceMigrateStatusResponse.class);
        assertThat(status).isEqualTo(sourceLast.migration());
        assertThat(client.instance(target.addr(), CALL).get().instance().state()).isEqualTo(Running);
    }

    @Test
    void shouldFailTheMigrationPartWayUnderFailMigration() throws Exception
    {
        final SimProcess source = sim("--migrate-step-ms", Long.toString(MIGRATE_STEP_MS));
        final MonitorLog sourceLog = running(source);
        assertThat(send(source, "PUT", "/mock/fault", "\"fail_migration\"").statusCode()).isEqualTo(204);
        final SimProcess target = sim("--migrate-step-ms", Long.toString(MIGRATE_STEP_MS));
        final UUID migrationId = UUID.randomUUID();

        client.ensure(target.addr(), targetRequest(migrationId, source.addr()), CALL).get();
        final MonitorLog targetLog = watch(target);

        await().atMost(WAIT).until(() -> targetLog.last().state() == Failed);
        assertThat(targetLog.last().migration().migrationIn())
            .isEqualTo(new InstanceMigrationStatus(migrationId, Error));
        await().atMost(WAIT).until(() -> sourceLog.last().migration().migrationOut() != null
            && sourceLog.last().migration().migrationOut().state() == Error);
        assertThat(sourceLog.last().state()).isEqualTo(Running);
        assertThat(phases(sourceLog.all(), false)).containsSubsequence(Sync, Error).doesNotContain(RamPushDirty);
        assertThat(client.instance(source.addr(), CALL).get().instance().state()).isEqualTo(Running);
        await().during(Duration.ofMillis(300)).atMost(Duration.ofSeconds(3))
            .until(() -> sourceLog.last().state() == Running);
    }

    @Test
    void shouldFailTheTargetWhenTheSourceIsKilledMidMigration() throws Exception
    {
        // Slow phases on the source: the kill lands while the target waits for the next one.
        final SimProcess source = sim("--migrate-step-ms", "500");
        final MonitorLog sourceLog = running(source);
        final SimProcess target = sim("--migrate-step-ms", Long.toString(MIGRATE_STEP_MS));
        final UUID migrationId = UUID.randomUUID();
        client.ensure(target.addr(), targetRequest(migrationId, source.addr()), CALL).get();
        final MonitorLog targetLog = watch(target);
        await().atMost(WAIT).until(() -> sourceLog.last().migration().migrationOut() != null
            && sourceLog.last().migration().migrationOut().state() == RamPush);

        final long killedNs = System.nanoTime();
        source.close();

        await().atMost(WAIT).until(() -> targetLog.last().state() == Failed);
        assertThat(Duration.ofNanos(System.nanoTime() - killedNs)).isLessThan(SimMigrationClient.POLL_TIMEOUT
            .plusSeconds(2));
        assertThat(targetLog.last().migration().migrationIn()).isEqualTo(new InstanceMigrationStatus(migrationId,
            Error));
        assertThat(phases(targetLog.all(), true)).doesNotContain(Device, Resume, Finish);
        assertThat(target.stderr()).contains("migration in " + migrationId);
    }

    @Test
    void shouldFailTheTargetWhenTheSourceIsNotRunning() throws Exception
    {
        final SimProcess source = sim();
        client.ensure(source.addr(), SimVmTest.ensureRequest("vm"), CALL).get();
        final SimProcess target = sim();
        final UUID migrationId = UUID.randomUUID();

        client.ensure(target.addr(), targetRequest(migrationId, source.addr()), CALL).get();
        final MonitorLog targetLog = watch(target);

        await().atMost(WAIT).until(() -> targetLog.last().state() == Failed);
        assertThat(targetLog.last()).isEqualTo(new InstanceStateMonitorResponse(2, Failed,
            new InstanceMigrateStatusResponse(new InstanceMigrationStatus(migrationId, Error), null)));
        final InstanceStateMonitorResponse sourceNow = client.monitor(source.addr(), 0, CALL).get();
        assertThat(sourceNow).isEqualTo(new InstanceStateMonitorResponse(1, Creating,
            InstanceMigrateStatusResponse.NONE));
        assertThat(target.stderr()).contains("Operation requires an active instance");
    }

    @Test
    void shouldFailTheTargetWhenNothingListensAtTheSourceAddress() throws Exception
    {
        final int closedPort;
        try (ServerSocket socket = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress()))
        {
            closedPort = socket.getLocalPort();
        }
        final SimProcess target = sim();
        final UUID migrationId = UUID.randomUUID();

        client.ensure(target.addr(), targetRequest(migrationId, "127.0.0.1:" + closedPort), CALL).get();
        final MonitorLog targetLog = watch(target);

        await().atMost(WAIT).until(() -> targetLog.last().state() == Failed);
        assertThat(targetLog.last().migration().migrationIn()).isEqualTo(new InstanceMigrationStatus(migrationId,
            Error));
        assertThat(target.stderr()).contains("ConnectException");
    }

    @Test
    void shouldServeTheSourceProtocolWithDropshotShapedRefusals() throws Exception
    {
        final SimProcess source = sim();
        final UUID migrationId = UUID.randomUUID();
        final String start = "/mock/migrate/" + migrationId + "/start";

        assertThat(send(source, "POST", start, "{\"target_step_ms\":5}").statusCode()).isEqualTo(424);
        client.ensure(source.addr(), SimVmTest.ensureRequest("vm"), CALL).get();
        final HttpResponse<String> notRunning = send(source, "POST", start, "{\"target_step_ms\":5}");
        assertThat(notRunning.statusCode()).isEqualTo(403);
        assertThat(notRunning.body()).contains("Operation requires an active instance");
        assertThat(send(source, "GET", start, null).statusCode()).isEqualTo(405);
        assertThat(send(source, "POST", "/mock/migrate/nope/start", "{}").statusCode()).isEqualTo(400);
        assertThat(send(source, "POST", "/mock/migrate/" + migrationId + "/jump", "{}").statusCode()).isEqualTo(404);
        assertThat(send(source, "POST", "/mock/migrate/" + migrationId + "/poll", "{}").statusCode()).isEqualTo(400);
        assertThat(send(source, "POST", "/mock/migrate/" + migrationId + "/poll", "{\"after\":\"Sync\"}")
            .statusCode()).isEqualTo(404);

        client.putState(source.addr(), Run, CALL).get();
        await().atMost(WAIT).until(() -> client.instance(source.addr(), CALL).get().instance().state() == Running);
        final HttpResponse<String> started = send(source, "POST", start, "{\"target_step_ms\":5}");
        assertThat(started.statusCode()).isEqualTo(200);
        assertThat(Json.mapper().readValue(started.body(), SimMigration.Report.class))
            .isEqualTo(new SimMigration.Report(migrationId, Sync, null));
        final HttpResponse<String> again = send(source, "POST", start, "{\"target_step_ms\":5}");
        assertThat(again.statusCode()).isEqualTo(403);
        assertThat(again.body()).contains("Instance is already a migration source");
    }

    // ---- helpers ----

    private SimProcess sim(final String... extraArgs) throws Exception
    {
        final SimProcess sim = SimProcess.start("127.0.0.1:0", STEP_MS, extraArgs);
        sims.add(sim);
        return sim;
    }

    /** Ensures the VM from a spec, runs it, and watches its monitor from Running on. */
    private MonitorLog running(final SimProcess sim) throws Exception
    {
        client.ensure(sim.addr(), SimVmTest.ensureRequest("vm"), CALL).get();
        client.putState(sim.addr(), Run, CALL).get();
        final MonitorLog log = watch(sim);
        await().atMost(WAIT).until(() -> log.last().state() == Running);
        return log;
    }

    private MonitorLog watch(final SimProcess sim)
    {
        final MonitorLog log = new MonitorLog(sim.addr());
        monitors.add(log);
        return log;
    }

    private static InstanceEnsureRequest targetRequest(final UUID migrationId, final String srcAddr)
    {
        return new InstanceEnsureRequest(SimVmTest.ensureRequest("vm").properties(),
            new InstanceInitializationMethod.MigrationTarget(new InstanceInitializationMethod.MigrationTargetValue(
                migrationId, Map.of(), srcAddr)));
    }

    /** The distinct phases of one direction's migration, in the order seen. */
    private static List<PropolisMigrationState> phases(final List<InstanceStateMonitorResponse> seen,
        final boolean in)
    {
        final List<PropolisMigrationState> phases = new ArrayList<>();
        for (final InstanceStateMonitorResponse response : seen)
        {
            final InstanceMigrationStatus status = in ? response.migration().migrationIn()
                : response.migration().migrationOut();
            if (status != null && (phases.isEmpty() || phases.get(phases.size() - 1) != status.state()))
            {
                phases.add(status.state());
            }
        }
        return phases;
    }

    private static void assertGensRise(final List<InstanceStateMonitorResponse> seen)
    {
        for (int i = 1; i < seen.size(); i++)
        {
            assertThat(seen.get(i).gen()).isGreaterThan(seen.get(i - 1).gen());
            // Each gen is a change: of the state, or of a migration.
            assertThat(seen.get(i).gen() > seen.get(i - 1).gen() + 1
                || !seen.get(i).state().equals(seen.get(i - 1).state())
                || !seen.get(i).migration().equals(seen.get(i - 1).migration())).isTrue();
        }
    }

    private PropolisHttpException httpError(final SimProcess sim, final long gen) throws Exception
    {
        final long last = client.monitor(sim.addr(), 0, CALL).get().gen();
        try
        {
            client.monitor(sim.addr(), last + 1, CALL).get();
        }
        catch (final java.util.concurrent.ExecutionException e)
        {
            assertThat(e.getCause()).isInstanceOf(PropolisHttpException.class);
            final PropolisHttpException error = (PropolisHttpException) e.getCause();
            assertThat(error.statusCode()).isEqualTo((int) gen);
            return error;
        }
        throw new AssertionError("the monitor answered past the last generation");
    }

    private static HttpResponse<String> get(final SimProcess sim, final String path) throws Exception
    {
        return raw.send(HttpRequest.newBuilder(URI.create("http://" + sim.addr() + path)).timeout(CALL)
            .header("api-version", "5.0.0").GET().build(), HttpResponse.BodyHandlers.ofString());
    }

    private static HttpResponse<String> send(final SimProcess sim, final String method, final String path,
        final String body) throws Exception
    {
        final HttpRequest.Builder request = HttpRequest.newBuilder(URI.create("http://" + sim.addr() + path))
            .timeout(CALL);
        if (body == null)
        {
            request.method(method, HttpRequest.BodyPublishers.noBody());
        }
        else
        {
            request.header("content-type", "application/json").method(method,
                HttpRequest.BodyPublishers.ofString(body));
        }
        return raw.send(request.build(), HttpResponse.BodyHandlers.ofString());
    }

    /**
     * Follows one sim's state monitor as the agent does (gen 0, then last gen + 1), asynchronously, and keeps every
     * answer. Ends on an error (410 after the last gen, or the sim gone) or on {@link #stop()}.
     */
    private static final class MonitorLog
    {
        private final String addr;
        private final List<InstanceStateMonitorResponse> seen = new CopyOnWriteArrayList<>();
        private volatile boolean stopped;

        MonitorLog(final String addr)
        {
            this.addr = addr;
            next(0);
        }

        private void next(final long gen)
        {
            client.monitor(addr, gen, Duration.ofSeconds(30)).whenComplete((response, failure) ->
            {
                if (response != null)
                {
                    seen.add(response);
                    if (!stopped)
                    {
                        next(response.gen() + 1);
                    }
                }
            });
        }

        List<InstanceStateMonitorResponse> all()
        {
            return List.copyOf(seen);
        }

        /** The newest answer; a placeholder (gen 0, Creating) before the first. */
        InstanceStateMonitorResponse last()
        {
            final List<InstanceStateMonitorResponse> all = all();
            return all.isEmpty() ? new InstanceStateMonitorResponse(0, PropolisInstanceState.Creating,
                InstanceMigrateStatusResponse.NONE) : all.get(all.size() - 1);
        }

        void stop()
        {
            stopped = true;
        }
    }
}
