package sledagent.agent.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import sledagent.api.Json;
import sledagent.api.SledVmmState;
import sledagent.api.VmmState;

/** {@code sled-agent vmm ...} against a real agent in-process: what an operator and a script see. */
class VmmCommandTest
{
    private static final UUID FIRST = UUID.fromString("00000000-0000-4000-8000-000000000001");
    private static final UUID SECOND = UUID.fromString("ffffffff-0000-4000-8000-000000000002");
    private static final UUID INSTANCE = UUID.fromString("11111111-2222-4333-8444-555555555555");

    private TestAgent agent;

    @BeforeEach
    void startAgent() throws Exception
    {
        agent = new TestAgent();
    }

    @AfterEach
    void stopAgent() throws Exception
    {
        if (agent != null)
        {
            agent.close();
        }
    }

    @Test
    void shouldListVmmsAsATableSortedByPropolisId() throws Exception
    {
        agent.register(SECOND, UUID.randomUUID());
        agent.register(FIRST, INSTANCE);

        final CliRun run = CliRun.vmm("list", "--agent", agent.url);

        assertThat(run.status()).as(run.toString()).isZero();
        final List<String> lines = run.out().lines().toList();
        assertThat(lines).hasSize(3);
        assertThat(lines.get(0)).startsWith("PROPOLIS ID").contains("INSTANCE ID", "STATE", "GEN", "UPDATED",
            "MIGRATION");
        assertThat(lines.get(1)).startsWith(FIRST.toString()).contains(INSTANCE.toString(), "starting",
            "2026-11-24T00:00:00Z").endsWith("-");
        assertThat(lines.get(2)).startsWith(SECOND.toString());
        assertThat(lines.get(0).indexOf("STATE")).isEqualTo(lines.get(1).indexOf("starting"));
        assertThat(lines).allSatisfy(line -> assertThat(line).doesNotEndWith(" "));
        assertThat(run.err()).isEmpty();
    }

    @Test
    void shouldListAsOneJsonDocumentWithOptionsBeforeTheCommand() throws Exception
    {
        agent.register(FIRST, INSTANCE);

        final CliRun run = CliRun.vmm("--agent", agent.url, "--json", "list");

        assertThat(run.status()).as(run.toString()).isZero();
        final JsonNode body = Json.mapper().readTree(run.out());
        assertThat(body.path("vmms")).hasSize(1);
        assertThat(body.path("vmms").get(0).path("propolis_id").asText()).isEqualTo(FIRST.toString());
        assertThat(body.path("vmms").get(0).path("state").path("vmm_state").path("state").asText())
            .isEqualTo("starting");
        assertThat(run.out().strip().lines()).hasSize(1);
    }

    @Test
    void shouldSaySoWhenThereAreNoVmms()
    {
        final CliRun run = CliRun.vmm("list", "--agent", agent.url);

        assertThat(run.status()).as(run.toString()).isZero();
        assertThat(run.out()).isEqualTo("no VMMs\n");
        assertThat(CliRun.vmm("list", "--json", "--agent", agent.url).out().strip()).isEqualTo("{\"vmms\":[]}");
    }

    @Test
    void shouldGetOneVmmAsKeyValueLinesOrRawJson() throws Exception
    {
        agent.register(FIRST, INSTANCE);

        final CliRun text = CliRun.vmm("get", FIRST.toString(), "--agent", agent.url);
        final CliRun json = CliRun.vmm("get", "--json", FIRST.toString(), "--agent=" + agent.url);

        assertThat(text.status()).as(text.toString()).isZero();
        assertThat(text.out().lines().toList()).contains(
            "propolis id:    " + FIRST,
            "instance id:    " + INSTANCE,
            "propolis addr:  127.0.0.1:12400",
            "state:          starting",
            "gen:            1",
            "migration in:   -",
            "migration out:  -");
        assertThat(json.status()).as(json.toString()).isZero();
        final SledVmmState state = Json.mapper().readValue(json.out(), SledVmmState.class);
        assertThat(state.vmmState().state()).isEqualTo(VmmState.STARTING);
    }

    @Test
    void shouldStopARegisteredVmmToDestroyed() throws Exception
    {
        agent.register(FIRST, INSTANCE);

        final CliRun run = CliRun.vmm("stop", FIRST.toString(), "--agent", agent.url);

        assertThat(run.status()).as(run.toString()).isZero();
        assertThat(run.out()).contains("propolis id:    " + FIRST, "state:          destroyed", "gen:            2");
        assertThat(run.err()).isEmpty();
    }

    @Test
    void shouldPrintStopAnswerAsJson() throws Exception
    {
        agent.register(FIRST, INSTANCE);

        final CliRun run = CliRun.vmm("stop", FIRST.toString(), "--json", "--agent", agent.url);

        assertThat(run.status()).as(run.toString()).isZero();
        assertThat(Json.mapper().readTree(run.out()).path("updated_runtime").path("vmm_state").path("state")
            .asText()).isEqualTo("destroyed");
    }

    @Test
    void shouldFailWithTheAgentsErrorForAnUnknownVmm()
    {
        final UUID unknown = UUID.randomUUID();

        final CliRun terminate = CliRun.vmm("terminate", unknown.toString(), "--agent", agent.url);
        final CliRun get = CliRun.vmm("get", unknown.toString(), "--agent", agent.url);
        final CliRun stop = CliRun.vmm("--json", "stop", unknown.toString(), "--agent", agent.url);

        for (final CliRun run : List.of(terminate, get, stop))
        {
            assertThat(run.status()).as(run.toString()).isEqualTo(1);
            assertThat(run.err()).isEqualTo("sled-agent: no such VMM " + unknown + " (404 NO_SUCH_INSTANCE)\n");
            assertThat(run.out()).isEmpty();
        }
    }

    @Test
    void shouldTerminateARegisteredVmm() throws Exception
    {
        agent.register(FIRST, INSTANCE);

        final CliRun run = CliRun.vmm("terminate", FIRST.toString(), "--agent", agent.url, "--json");

        assertThat(run.status()).as(run.toString()).isZero();
        final SledVmmState state = Json.mapper().readValue(run.out(), SledVmmState.class);
        assertThat(state.vmmState().state().isTerminal()).as(run.out()).isTrue();
    }

    @Test
    void shouldWatchAVmmAppearChangeStateAndGo() throws Exception
    {
        // Nexus refusing publishes keeps the destroyed VMM in the table until it is unregistered.
        agent.close();
        agent = null;
        agent = TestAgent.withRefusingNexus();
        agent.register(SECOND, UUID.randomUUID());
        final CliRun watch = new CliRun();
        final CompletableFuture<CliRun> running = CompletableFuture.supplyAsync(
            () -> watch.start("watch", "--for", "1s", "--interval", "100ms",
                "--agent", agent.url));

        awaitOutput(watch, () -> watch.out().contains(SECOND + "  present  starting  gen 1"));
        agent.register(FIRST, INSTANCE);
        awaitOutput(watch, () -> watch.out().contains(FIRST + "  appeared  starting  gen 1"));
        assertThat(agent.client.putState(FIRST, "stopped").status()).isEqualTo(200);
        awaitOutput(watch, () -> watch.out().contains(FIRST + "  starting -> destroyed  gen 2"));
        assertThat(agent.client.unregister(FIRST).status()).isEqualTo(200);
        awaitOutput(watch, () -> watch.out().contains(FIRST + "  gone  (was destroyed)  gen 2"));

        final CliRun done = running.get(10, TimeUnit.SECONDS);
        assertThat(done.status()).as(done.toString()).isZero();
        assertThat(done.out().lines()).hasSize(4)
            .allMatch(line -> line.matches("\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z  .*"), "timestamped");
        assertThat(done.err()).contains("polling every 100ms");
    }

    @Test
    void shouldWatchForAGivenTimeAsJsonLines() throws Exception
    {
        agent.register(FIRST, INSTANCE);
        final long start = System.nanoTime();

        final CliRun run = CliRun.vmm("--json", "watch", "--for", "1s", "--agent", agent.url);

        final long tookMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        assertThat(run.status()).as(run.toString()).isZero();
        assertThat(tookMs).isBetween(900L, 3_000L);
        final List<String> lines = run.out().lines().toList();
        assertThat(lines).hasSize(1);
        final JsonNode event = Json.mapper().readTree(lines.get(0));
        assertThat(event.path("event").asText()).isEqualTo("present");
        assertThat(event.path("propolis_id").asText()).isEqualTo(FIRST.toString());
        assertThat(event.path("instance_id").asText()).isEqualTo(INSTANCE.toString());
        assertThat(event.path("old_state").isNull()).isTrue();
        assertThat(event.path("new_state").asText()).isEqualTo("starting");
        assertThat(event.path("gen").asLong()).isEqualTo(1);
        assertThat(event.path("state").path("vmm_state").path("state").asText()).isEqualTo("starting");
        assertThat(run.err()).isEmpty();
    }

    private static void awaitOutput(final CliRun run, final BooleanSupplier condition) throws InterruptedException
    {
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (!condition.getAsBoolean())
        {
            assertThat(System.nanoTime() - deadline).as("waited for output; so far:%n%s", run).isNegative();
            Thread.sleep(10);
        }
    }
}
