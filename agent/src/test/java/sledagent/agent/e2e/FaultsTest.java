package sledagent.agent.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.function.Function;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import sledagent.agent.demo.AgentHttpClient;
import sledagent.agent.demo.ExampleBodies;
import sledagent.agent.demo.RecordingNexus;
import sledagent.api.VmmState;
import sledagent.hypervisor.sim.PropolisSimLauncher;

/**
 * A stop never hangs: for every way a VMM can misbehave, stop and force-terminate end with the VMM gone, its zone
 * removed, its processes dead, and exactly one terminal state published (destroyed after a stop or a force,
 * failed after a crash). Real sims, real cgroups, a 1 s grace.
 */
class FaultsTest
{
    private static final long GRACE_MS = 1_000;
    private static final long START_TIMEOUT_MS = 3_000;
    /** Generous bound for "the VMM is gone": grace + kill + publish, on a loaded 2-core machine. */
    private static final Duration GONE_WITHIN = Duration.ofSeconds(15);
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();

    /** How a VMM misbehaves. */
    enum Fault
    {
        HANG_STOP, HANG_HTTP, FROZEN, EXIT_NOW, FAIL_START, NEVER_UP
    }

    /** How the test ends it. */
    enum Ending
    {
        STOP, FORCE
    }

    private AgentFixture fixture;

    static List<Arguments> cases()
    {
        final List<Arguments> cases = new ArrayList<>();
        for (final Fault fault : Fault.values())
        {
            for (final Ending ending : Ending.values())
            {
                cases.add(Arguments.of(fault, ending));
            }
        }
        return cases;
    }

    @AfterEach
    void cleanUp() throws Exception
    {
        if (fixture != null)
        {
            fixture.close();
        }
    }

    @ParameterizedTest(name = "{0} then {1}")
    @MethodSource("cases")
    void shouldEndWithVmmGoneAndOneTerminalState(final Fault fault, final Ending ending) throws Exception
    {
        fixture = new AgentFixture(GRACE_MS, START_TIMEOUT_MS, command(fault));
        final UUID id = UUID.randomUUID();
        final String addr = AgentFixture.freeAddr();
        assertThat(fixture.client.register(id, ExampleBodies.ensureBody(UUID.randomUUID(), addr, 1)).status())
            .isEqualTo(200);
        assertThat(fixture.client.putState(id, "running").status()).isEqualTo(200);

        final VmmState expected;
        final List<Long> pids;
        switch (fault)
        {
            case HANG_STOP, HANG_HTTP, FROZEN ->
            {
                awaitPublished(id, VmmState.RUNNING);
                pids = fixture.zonePids(id);
                injectIntoRunning(fault, addr, pids);
                expected = VmmState.DESTROYED;
                end(id, ending);
            }
            case EXIT_NOW ->
            {
                awaitPublished(id, VmmState.RUNNING);
                pids = fixture.zonePids(id);
                sendFault(addr, "exit_now");
                // Seen from the process itself (pidfd), not from a failed call.
                awaitPublished(id, VmmState.FAILED);
                expected = VmmState.FAILED;
                endGone(id, ending);
            }
            case FAIL_START ->
            {
                awaitPublished(id, VmmState.FAILED);
                // Failed by Propolis (Run went Starting then Failed), not by a sim that could not start.
                assertThat(java.nio.file.Files.readString(fixture.stateDir.resolve("logs")
                    .resolve("oxz_propolis-server_" + id + ".log"))).contains("listening");
                pids = List.of();
                expected = VmmState.FAILED;
                endGone(id, ending);
            }
            default ->
            {
                // NEVER_UP: the process runs but never serves; end it while the start still waits for it.
                await().atMost(GONE_WITHIN).until(() -> !fixture.zonePids(id).isEmpty());
                pids = fixture.zonePids(id);
                expected = VmmState.DESTROYED;
                end(id, ending);
            }
        }

        awaitPublished(id, expected);
        await().atMost(GONE_WITHIN).until(() -> fixture.client.state(id).status() == 404);
        AgentFixture.assertGone(pids);
        assertThat(fixture.zoneDir(id)).doesNotExist();
        // A late publish would show up within this window: the published states stay right throughout it.
        await().during(Duration.ofMillis(200)).atMost(Duration.ofSeconds(2)).untilAsserted(() ->
        {
            final List<VmmState> published = fixture.nexus.received(id).stream()
                .map(r -> r.state().vmmState().state()).toList();
            assertThat(published.stream().filter(VmmState::isTerminal).toList()).containsExactly(expected);
            assertThat(published.get(published.size() - 1)).isEqualTo(expected);
            assertGensRiseByOne(fixture.nexus.received(id));
        });
    }

    private void injectIntoRunning(final Fault fault, final String addr, final List<Long> pids) throws Exception
    {
        switch (fault)
        {
            case HANG_STOP -> sendFault(addr, "hang_stop");
            case HANG_HTTP -> sendFault(addr, "hang_http");
            default ->
            {
                for (final long pid : pids)
                {
                    new ProcessBuilder("kill", "-STOP", Long.toString(pid)).start().waitFor();
                }
            }
        }
    }

    /** Stop or force-terminate a VMM that does not cooperate; both must answer at once. */
    private void end(final UUID id, final Ending ending) throws Exception
    {
        final long startNs = System.nanoTime();
        final AgentHttpClient.Answer answer = ending == Ending.STOP
            ? fixture.client.putState(id, "stopped")
            : fixture.client.forceTerminate(id);
        final long tookMs = (System.nanoTime() - startNs) / 1_000_000;
        assertThat(answer.status()).as(answer.body()).isEqualTo(200);
        assertThat(tookMs).as("%s answered without waiting on the VMM", ending).isLessThan(5_000);
        if (ending == Ending.FORCE)
        {
            assertThat(AgentFixture.json(answer.body()).at("/vmm_state/state").asText()).isEqualTo("destroyed");
        }
    }

    /** Stop or force-terminate a VMM that already crashed: it is gone (404) or on its way out (410). */
    private void endGone(final UUID id, final Ending ending) throws Exception
    {
        final AgentHttpClient.Answer answer = ending == Ending.STOP
            ? fixture.client.putState(id, "stopped")
            : fixture.client.forceTerminate(id);
        assertThat(answer.status()).as(answer.body()).isIn(200, 404, 410);
    }

    private void awaitPublished(final UUID id, final VmmState state)
    {
        await().atMost(GONE_WITHIN).pollInterval(Duration.ofMillis(5)).until(() -> fixture.nexus.received(id)
            .stream().anyMatch(r -> r.state().vmmState().state() == state));
    }

    private static void assertGensRiseByOne(final List<RecordingNexus.Received> received)
    {
        for (int i = 1; i < received.size(); i++)
        {
            assertThat(received.get(i).state().vmmState().gen())
                .isEqualTo(received.get(i - 1).state().vmmState().gen() + 1);
        }
    }

    private static Function<String, List<String>> command(final Fault fault)
    {
        return switch (fault)
        {
            case FAIL_START -> addr ->
            {
                final List<String> argv = new ArrayList<>(PropolisSimLauncher.command(addr));
                argv.add("--fault");
                argv.add("fail_start");
                return argv;
            };
            case NEVER_UP -> addr -> List.of("sleep", "1000");
            default -> PropolisSimLauncher::command;
        };
    }

    /** {@code PUT /mock/fault}; a sim told to hang or exit may never answer, which is fine. */
    private static void sendFault(final String addr, final String fault)
    {
        final HttpRequest request = HttpRequest.newBuilder(URI.create("http://" + addr + "/mock/fault"))
            .timeout(Duration.ofSeconds(2))
            .header("content-type", "application/json")
            .PUT(HttpRequest.BodyPublishers.ofString("\"" + fault + "\""))
            .build();
        try
        {
            HTTP.send(request, HttpResponse.BodyHandlers.discarding());
        }
        catch (final Exception ex)
        {
            // hang_http never answers; exit_now may exit before answering.
        }
    }
}
