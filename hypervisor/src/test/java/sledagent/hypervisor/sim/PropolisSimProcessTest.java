package sledagent.hypervisor.sim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;
import static org.awaitility.Awaitility.await;
import static sledagent.api.propolis.PropolisInstanceState.Creating;
import static sledagent.api.propolis.PropolisInstanceState.Destroyed;
import static sledagent.api.propolis.PropolisInstanceState.Failed;
import static sledagent.api.propolis.PropolisInstanceState.Rebooting;
import static sledagent.api.propolis.PropolisInstanceState.Running;
import static sledagent.api.propolis.PropolisInstanceState.Starting;
import static sledagent.api.propolis.PropolisInstanceState.Stopped;
import static sledagent.api.propolis.PropolisInstanceState.Stopping;
import static sledagent.api.propolis.PropolisStateRequested.Reboot;
import static sledagent.api.propolis.PropolisStateRequested.Run;
import static sledagent.api.propolis.PropolisStateRequested.Stop;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import sledagent.api.Json;
import sledagent.api.propolis.InstanceStateMonitorResponse;
import sledagent.api.propolis.PropolisInstanceState;
import sledagent.hypervisor.PropolisClient;
import sledagent.hypervisor.PropolisHttpException;

/** propolis-sim as a real, separate process, driven by {@link PropolisClient}. */
class PropolisSimProcessTest
{
    private static final Duration CALL = Duration.ofSeconds(5);
    private static final long STEP_MS = 20;

    private static PropolisClient client;
    private static HttpClient raw;
    private SimProcess sim;

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
    void killSim() throws Exception
    {
        if (sim != null)
        {
            sim.close();
        }
    }

    @Test
    void shouldForkOneHelperAndAnswerNoInstanceBeforeEnsure() throws Exception
    {
        sim = SimProcess.start("127.0.0.1:0", STEP_MS);

        assertThat(sim.helpers()).hasSize(1);
        assertThat(sim.helpers().get(0).info().commandLine().orElse("sleep")).contains("sleep");
        assertNoInstance(client.instance(sim.addr(), CALL));
        assertNoInstance(client.putState(sim.addr(), Run, CALL));
        assertNoInstance(client.monitor(sim.addr(), 0, CALL));
    }

    @Test
    void shouldKillTheWholeTreeOnClose() throws Exception
    {
        final SimProcess local = SimProcess.start("127.0.0.1:0", STEP_MS);
        sim = local;
        final List<ProcessHandle> helpers = local.helpers();

        local.close();
        sim = null;

        assertThat(local.process().isAlive()).isFalse();
        assertThat(helpers).isNotEmpty().allMatch(SimProcess::isDead);
    }

    @Test
    void shouldEnsureThenRunThroughEachGeneration() throws Exception
    {
        sim = SimProcess.start("127.0.0.1:0", STEP_MS);

        assertThat(client.ensure(sim.addr(), ensureRequest("vm"), CALL).get().migrate()).isNull();
        final InstanceStateMonitorResponse first = client.monitor(sim.addr(), 0, CALL).get();
        assertThat(first.gen()).isEqualTo(1);
        assertThat(first.state()).isEqualTo(Creating);
        assertThat(first.migration().migrationIn()).isNull();
        client.putState(sim.addr(), Run, CALL).get();

        final Map<Long, PropolisInstanceState> seen = monitorUntil(first.gen(), Running);

        assertThat(seen).containsEntry(3L, Running);
        assertThat(Map.of(2L, Starting, 3L, Running)).containsAllEntriesOf(seen);
        assertThat(client.instance(sim.addr(), CALL).get().instance().state()).isEqualTo(Running);
    }

    @Test
    void shouldStopToDestroyedAndKeepTheProcessRunning() throws Exception
    {
        sim = SimProcess.start("127.0.0.1:0", STEP_MS);
        final long runningGen = running();

        client.putState(sim.addr(), Stop, CALL).get();
        final Map<Long, PropolisInstanceState> seen = monitorUntil(runningGen, Destroyed);

        assertThat(seen).containsEntry(6L, Destroyed);
        assertThat(Map.of(4L, Stopping, 5L, Stopped, 6L, Destroyed)).containsAllEntriesOf(seen);
        final PropolisHttpException gone = httpError(client.monitor(sim.addr(), 7, CALL));
        assertThat(gone.statusCode()).isEqualTo(410);
        assertThat(gone.errorCode()).isEqualTo("NoInstance");
        // Like the real server: Destroyed is not an exit. Whoever started it tears it down.
        await().during(Duration.ofMillis(300)).atMost(Duration.ofSeconds(2)).until(sim.process()::isAlive);
        client.putState(sim.addr(), Stop, CALL).get();
    }

    @Test
    void shouldRebootThroughRebootingToRunning() throws Exception
    {
        sim = SimProcess.start("127.0.0.1:0", STEP_MS);
        final long runningGen = running();

        client.putState(sim.addr(), Reboot, CALL).get();
        final Map<Long, PropolisInstanceState> seen = monitorUntil(runningGen, Running);

        assertThat(seen).containsEntry(5L, Running);
        assertThat(Map.of(4L, Rebooting, 5L, Running)).containsAllEntriesOf(seen);
    }

    @Test
    void shouldForbidRebootBeforeRunAndRunAfterStop() throws Exception
    {
        sim = SimProcess.start("127.0.0.1:0", STEP_MS);
        client.ensure(sim.addr(), ensureRequest("vm"), CALL).get();

        assertThat(httpError(client.putState(sim.addr(), Reboot, CALL)).statusCode()).isEqualTo(403);
        client.putState(sim.addr(), Run, CALL).get();
        client.putState(sim.addr(), Stop, CALL).get();
        final PropolisHttpException forbidden = httpError(client.putState(sim.addr(), Run, CALL));

        assertThat(forbidden.statusCode()).isEqualTo(403);
        assertThat(forbidden.errorCode()).startsWith("instance state change not allowed");
    }

    @Test
    void shouldAcceptAnIdenticalEnsureAndRefuseAConflictingOne() throws Exception
    {
        sim = SimProcess.start("127.0.0.1:0", STEP_MS);
        client.ensure(sim.addr(), ensureRequest("vm"), CALL).get();

        assertThat(client.ensure(sim.addr(), ensureRequest("vm"), CALL).get().migrate()).isNull();
        final PropolisHttpException conflict = httpError(client.ensure(sim.addr(), ensureRequest("other"), CALL));

        assertThat(conflict.statusCode()).isEqualTo(409);
        assertThat(conflict.errorCode()).isEqualTo("AlreadyInitialized");
    }

    @Test
    void shouldHoldAMonitorUntilALaterGenerationIsPublished() throws Exception
    {
        sim = SimProcess.start("127.0.0.1:0", STEP_MS);
        client.ensure(sim.addr(), ensureRequest("vm"), CALL).get();
        final CompletableFuture<InstanceStateMonitorResponse> poll =
            client.monitor(sim.addr(), 2, Duration.ofSeconds(30));

        await().during(Duration.ofMillis(300)).atMost(Duration.ofSeconds(3)).until(() -> !poll.isDone());
        client.putState(sim.addr(), Run, CALL).get();

        final InstanceStateMonitorResponse next = poll.get(5, TimeUnit.SECONDS);
        assertThat(next.gen()).isGreaterThanOrEqualTo(2);
        assertThat(next.state()).isIn(Starting, Running);
    }

    @Test
    void shouldStayInStoppingUnderHangStop() throws Exception
    {
        sim = SimProcess.start("127.0.0.1:0", STEP_MS);
        final long runningGen = running();
        fault("hang_stop");

        client.putState(sim.addr(), Stop, CALL).get();

        final InstanceStateMonitorResponse stopping = client.monitor(sim.addr(), runningGen + 1, CALL).get();
        assertThat(stopping.state()).isEqualTo(Stopping);
        await().during(Duration.ofMillis(300)).atMost(Duration.ofSeconds(3))
            .until(() -> client.instance(sim.addr(), CALL).get().instance().state() == Stopping);
        assertThat(cause(client.monitor(sim.addr(), stopping.gen() + 1, Duration.ofMillis(300))))
            .isInstanceOf(HttpTimeoutException.class);
    }

    @Test
    void shouldAnswerNothingUnderHangHttpAndTheCallTimesOutInTime() throws Exception
    {
        sim = SimProcess.start("127.0.0.1:0", STEP_MS);
        client.ensure(sim.addr(), ensureRequest("vm"), CALL).get();
        fault("hang_http");
        final long startNs = System.nanoTime();

        final Throwable failure = cause(client.instance(sim.addr(), Duration.ofMillis(500)));

        final long elapsedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startNs);
        assertThat(failure).isInstanceOf(HttpTimeoutException.class);
        assertThat(elapsedMs).isGreaterThanOrEqualTo(500).isLessThan(2_000);
        assertThat(cause(client.putState(sim.addr(), Stop, Duration.ofMillis(300))))
            .isInstanceOf(HttpTimeoutException.class);
        assertThat(sim.process().isAlive()).isTrue();
    }

    @Test
    void shouldExitWithStatusOneUnderExitNowAndLeaveTheHelperToTheZoneKill() throws Exception
    {
        sim = SimProcess.start("127.0.0.1:0", STEP_MS);
        final List<ProcessHandle> helpers = sim.helpers();

        fault("exit_now");

        final Process exited = sim.process().onExit().get(10, TimeUnit.SECONDS);
        assertThat(exited.exitValue()).isEqualTo(1);
        // The orphaned helper lives on: only killing the whole zone takes it (here: SimProcess.close()).
        assertThat(helpers).hasSize(1).allMatch(ProcessHandle::isAlive);
    }

    @Test
    void shouldFailToStartUnderFailStart() throws Exception
    {
        sim = SimProcess.start("127.0.0.1:0", STEP_MS);
        client.ensure(sim.addr(), ensureRequest("vm"), CALL).get();
        fault("fail_start");

        client.putState(sim.addr(), Run, CALL).get();
        final Map<Long, PropolisInstanceState> seen = monitorUntil(1, Failed);

        assertThat(seen).containsEntry(3L, Failed);
        assertThat(Map.of(2L, Starting, 3L, Failed)).containsAllEntriesOf(seen);
    }

    @Test
    void shouldFailToStartWhenStartedWithFaultFailStart() throws Exception
    {
        sim = SimProcess.start("127.0.0.1:0", STEP_MS, "--fault", "fail_start");
        client.ensure(sim.addr(), ensureRequest("vm"), CALL).get();

        client.putState(sim.addr(), Run, CALL).get();

        assertThat(monitorUntil(1, Failed)).containsEntry(3L, Failed);
    }

    @Test
    void shouldAnswer400ToMalformedBodies() throws Exception
    {
        sim = SimProcess.start("127.0.0.1:0", STEP_MS);
        client.ensure(sim.addr(), ensureRequest("vm"), CALL).get();

        assertThat(send("PUT", "/instance/state", "\"Walk\"").statusCode()).isEqualTo(400);
        assertThat(send("PUT", "/instance/state", "Run").statusCode()).isEqualTo(400);
        assertThat(send("PUT", "/instance/state", "").statusCode()).isEqualTo(400);
        assertThat(send("GET", "/instance/state-monitor", "{\"gen\":-1}").statusCode()).isEqualTo(400);
        assertThat(send("GET", "/instance/state-monitor", "{}").statusCode()).isEqualTo(400);
        assertThat(send("PUT", "/instance", "{\"properties\":{}}").statusCode()).isEqualTo(400);
        assertThat(send("PUT", "/mock/fault", "\"bogus\"").statusCode()).isEqualTo(400);
        final HttpResponse<String> response = send("PUT", "/instance/state", "[1]");
        final Map<?, ?> error = Json.mapper().readValue(response.body(), Map.class);
        assertThat(error.get("request_id")).isNotNull();
        assertThat((String) error.get("message")).startsWith("unable to parse JSON body");
    }

    @Test
    void shouldAnswerUnknownPathsMethodsAndVersionsAsDropshotDoes() throws Exception
    {
        sim = SimProcess.start("127.0.0.1:0", STEP_MS);

        assertThat(send("GET", "/nope", null).statusCode()).isEqualTo(404);
        final HttpResponse<String> wrongMethod = send("POST", "/instance/state", "\"Run\"");
        assertThat(wrongMethod.statusCode()).isEqualTo(405);
        assertThat(wrongMethod.headers().firstValue("allow")).hasValue("PUT");
        final HttpResponse<String> unversioned = raw.send(HttpRequest.newBuilder(uri("/instance")).GET().build(),
            HttpResponse.BodyHandlers.ofString());
        assertThat(unversioned.statusCode()).isEqualTo(400);
        assertThat(unversioned.body()).contains("api-version");
    }

    @Test
    void shouldListenOnIpv6() throws Exception
    {
        try
        {
            sim = SimProcess.start("[::1]:0", STEP_MS);
        }
        catch (final IOException e)
        {
            org.junit.jupiter.api.Assumptions.abort("no IPv6 loopback here: " + e.getMessage());
        }

        assertThat(sim.addr()).startsWith("[");
        client.ensure(sim.addr(), ensureRequest("vm"), CALL).get();
        assertThat(client.instance(sim.addr(), CALL).get().instance().state()).isEqualTo(Creating);
    }

    /** Ensure and run, then wait for Running; returns its generation (3). */
    private long running() throws Exception
    {
        client.ensure(sim.addr(), ensureRequest("vm"), CALL).get();
        client.putState(sim.addr(), Run, CALL).get();
        final Map<Long, PropolisInstanceState> seen = monitorUntil(1, Running);
        return ((TreeMap<Long, PropolisInstanceState>) seen).lastKey();
    }

    /**
     * Polls the monitor the way the agent does (ask for last gen + 1) until {@code target} appears; returns every
     * generation seen after {@code afterGen}. States may be skipped (the monitor answers with the newest), never
     * reordered, so each seen gen must carry its own state.
     */
    private Map<Long, PropolisInstanceState> monitorUntil(final long afterGen, final PropolisInstanceState target)
        throws Exception
    {
        final TreeMap<Long, PropolisInstanceState> seen = new TreeMap<>();
        long gen = afterGen;
        final long deadlineNs = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (System.nanoTime() - deadlineNs < 0)
        {
            final InstanceStateMonitorResponse next = client.monitor(sim.addr(), gen + 1, CALL).get();
            assertThat(next.gen()).isGreaterThan(gen);
            seen.put(next.gen(), next.state());
            gen = next.gen();
            if (next.state() == target)
            {
                return seen;
            }
        }
        return fail("never saw %s; saw %s", target, seen);
    }

    private void fault(final String name) throws Exception
    {
        assertThat(send("PUT", "/mock/fault", "\"" + name + "\"").statusCode()).isEqualTo(204);
    }

    private HttpResponse<String> send(final String method, final String path, final String body) throws Exception
    {
        final HttpRequest.Builder request = HttpRequest.newBuilder(uri(path))
            .timeout(CALL)
            .header("api-version", "5.0.0");
        if (body == null)
        {
            request.method(method, HttpRequest.BodyPublishers.noBody());
        }
        else
        {
            request.header("content-type", "application/json")
                .method(method, HttpRequest.BodyPublishers.ofString(body));
        }
        return raw.send(request.build(), HttpResponse.BodyHandlers.ofString());
    }

    private URI uri(final String path)
    {
        return URI.create("http://" + sim.addr() + path);
    }

    private static sledagent.api.propolis.InstanceEnsureRequest ensureRequest(final String name)
    {
        return SimVmTest.ensureRequest(name);
    }

    private static void assertNoInstance(final CompletableFuture<?> call)
    {
        final PropolisHttpException error = httpError(call);
        assertThat(error.statusCode()).isEqualTo(424);
        assertThat(error.isNoInstance()).isTrue();
    }

    private static PropolisHttpException httpError(final CompletableFuture<?> call)
    {
        final Throwable failure = cause(call);
        assertThat(failure).isInstanceOf(PropolisHttpException.class);
        return (PropolisHttpException) failure;
    }

    private static Throwable cause(final CompletableFuture<?> call)
    {
        try
        {
            call.get(10, TimeUnit.SECONDS);
        }
        catch (final ExecutionException e)
        {
            return e.getCause();
        }
        catch (final Exception e)
        {
            throw new AssertionError("the call did not fail within 10 s", e);
        }
        throw new AssertionError("the call succeeded");
    }
}
