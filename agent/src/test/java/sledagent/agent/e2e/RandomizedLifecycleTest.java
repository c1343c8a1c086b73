package sledagent.agent.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.lang.reflect.Method;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import sledagent.agent.demo.AgentHttpClient;
import sledagent.agent.demo.ExampleBodies;
import sledagent.agent.demo.RecordingNexus;
import sledagent.agent.e2e.RandomizedVmm.StartFault;
import sledagent.agent.vmm.VmmActor;
import sledagent.api.VmmState;
import sledagent.hypervisor.sim.PropolisSimLauncher;

/**
 * Randomized end to end: {@value #THREADS} threads fire register, run, stop, reboot, force-terminate, delete and
 * get at random on {@value #SLOTS} slots of real VMMs (propolis-sim processes in cgroup zones), some started with a
 * fault ({@code --fault fail_start}, {@code --fault exit_now}, a process that never serves) and some given one once
 * running ({@code hang_stop}, {@code hang_http}, {@code exit_now}, SIGSTOP of every process in the zone). After
 * {@value #RUN_MS} ms every VMM is force-terminated and the test waits until the table is empty. Then, per VMM: the
 * published generations rise strictly (the first is the registered one + 1), at most one terminal state is published
 * and nothing after it, exactly one unless a {@code DELETE} was sent, nothing is received after a {@code DELETE} was
 * answered; and overall: no request took longer than {@value #REQUEST_BOUND_MS} ms, no unexpected status, every id
 * answers 404, no zone and no process is left.
 *
 * <p>The seed comes from {@code -Drandomized.seed=N} (else {@link System#nanoTime()}) and is printed at start and in
 * every assertion message. Thread interleaving is not reproducible, but each thread's choices are.
 */
class RandomizedLifecycleTest
{
    private static final int SLOTS = 24;
    private static final int THREADS = 4;
    /** Every slot starts one VMM; a slot whose VMM is gone may start another while fewer ids than this exist. */
    private static final int MAX_IDS = 48;
    private static final long RUN_MS = 15_000;
    private static final long GRACE_MS = 1_000;
    private static final long START_TIMEOUT_MS = 5_000;
    private static final long REQUEST_BOUND_MS = 5_000;
    /** A publish already in flight when a DELETE is answered may still arrive this late. */
    private static final long AFTER_DELETE_SLACK_MS = 50;
    private static final Duration GONE_WITHIN = Duration.ofSeconds(20);
    private static final List<String> RUNTIME_FAULTS = List.of("hang_stop", "hang_http", "exit_now", "sigstop");

    /** What a thread does next, with its weight. */
    private enum Op
    {
        REGISTER(6), RUN(20), STOP(4), REBOOT(10), FORCE(2), DELETE(2), GET(30), FAULT(16);

        private final int weight;

        Op(final int weight)
        {
            this.weight = weight;
        }

        static Op pick(final Random random)
        {
            int left = random.nextInt(Stream.of(values()).mapToInt(op -> op.weight).sum());
            for (final Op op : values())
            {
                left -= op.weight;
                if (left < 0)
                {
                    return op;
                }
            }
            throw new AssertionError();
        }
    }

    /** One answered (or failed) request to the agent. */
    private record Latency(String op, UUID id, long ms, int status)
    {
    }

    /** An answer and the instant it arrived (null answer: the request threw, already reported). */
    private record Result(AgentHttpClient.Answer answer, Instant at)
    {
        int status()
        {
            return answer == null ? -1 : answer.status();
        }
    }

    /** A place for one VMM at a time; its monitor orders registers against everything else sent for its VMM. */
    private static final class Slot
    {
        private RandomizedVmm vmm;
    }

    private final long seed = Long.getLong("randomized.seed", System.nanoTime());
    private final Map<String, StartFault> startFaults = new ConcurrentHashMap<>();
    private final List<RandomizedVmm> vmms = new CopyOnWriteArrayList<>();
    private final Set<Integer> ports = ConcurrentHashMap.newKeySet();
    private final Queue<String> violations = new ConcurrentLinkedQueue<>();
    private final Queue<Latency> latencies = new ConcurrentLinkedQueue<>();
    private final Map<String, LongAdder> counts = new ConcurrentHashMap<>();
    private final RandomizedProcesses processes = new RandomizedProcesses();
    private final HttpClient faultHttp = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
        .connectTimeout(Duration.ofSeconds(1)).build();
    private final List<ExecutorService> pools = new ArrayList<>();
    private List<StartFault> startFaultChoices;
    private AgentFixture fixture;

    @BeforeEach
    void start() throws Exception
    {
        System.out.printf("RandomizedLifecycleTest: seed %d (rerun with -Drandomized.seed=%d)%n", seed, seed);
        startFaultChoices = new ArrayList<>(List.of(StartFault.NEVER_UP));
        if (simAcceptsFault("fail_start") && simAcceptsFault("exit_now"))
        {
            startFaultChoices.add(StartFault.FAIL_START);
            startFaultChoices.add(StartFault.EXIT_AT_START);
        }
        else
        {
            System.out.println("RandomizedLifecycleTest: propolis-sim has no --fault yet; start faults: never-up only");
        }
        fixture = new AgentFixture(GRACE_MS, START_TIMEOUT_MS, this::command);
    }

    @AfterEach
    void cleanUp() throws Exception
    {
        for (final ExecutorService pool : pools)
        {
            pool.shutdownNow();
        }
        for (final ExecutorService pool : pools)
        {
            pool.awaitTermination(15, TimeUnit.SECONDS);
        }
        if (fixture != null)
        {
            fixture.close();
        }
    }

    @Test
    @Timeout(value = 180, unit = TimeUnit.SECONDS)
    void shouldKeepEveryInvariantWhateverIsFiredAtRandomVmms() throws Exception
    {
        final long startNs = System.nanoTime();
        final Slot[] slots = new Slot[SLOTS];
        for (int i = 0; i < SLOTS; i++)
        {
            slots[i] = new Slot();
        }

        // Phase 1: random operations and faults, bounded in time.
        final ExecutorService workers = pool();
        final long endNs = startNs + TimeUnit.MILLISECONDS.toNanos(RUN_MS);
        final List<Future<?>> running = new ArrayList<>();
        for (int t = 0; t < THREADS; t++)
        {
            final Random random = new Random(seed + t * 0x9E3779B97F4A7C15L);
            running.add(workers.submit(() -> work(random, slots, endNs)));
        }
        awaitAll(running, "worker");
        final long randomMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startNs);

        // Phase 2: end every VMM with force-terminate and wait until the table is empty.
        for (final RandomizedVmm vmm : vmms)
        {
            processes.record(pids(vmm));
        }
        final ExecutorService enders = pool();
        final List<Future<?>> ending = new ArrayList<>();
        for (final RandomizedVmm vmm : vmms)
        {
            ending.add(enders.submit(() ->
            {
                force(vmm, "force-end");
                return null;
            }));
        }
        awaitAll(ending, "force-end");
        try
        {
            await().atMost(GONE_WITHIN).pollInterval(Duration.ofMillis(50))
                .until(() -> fixture.agent.manager().table().size() == 0);
        }
        catch (final org.awaitility.core.ConditionTimeoutException ex)
        {
            violations.add("table not empty " + GONE_WITHIN.toSeconds() + " s after force-terminating everything: "
                + fixture.agent.manager().table().actors().stream().map(VmmActor::toString).toList());
        }
        final long endedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startNs);
        // A stray late publish would break what Nexus received: it stays right throughout this window (a break is
        // reported by the checks below).
        try
        {
            await().during(Duration.ofMillis(300)).atMost(Duration.ofSeconds(2)).until(() ->
            {
                final List<String> problems = new ArrayList<>();
                for (final RandomizedVmm vmm : vmms)
                {
                    checkPublished(vmm, problems);
                }
                return problems.isEmpty();
            });
        }
        catch (final org.awaitility.core.ConditionTimeoutException ex)
        {
            // The checks below name what is wrong.
        }

        // Phase 3: the invariants.
        for (final RandomizedVmm vmm : vmms)
        {
            final Result gone = call("get-end", vmm, () -> fixture.client.state(vmm.id));
            if (gone.answer() != null && gone.status() != 404)
            {
                violations.add(vmm.id + ": GET after the end answered " + gone.status() + " " + gone.answer().body());
            }
            checkPublished(vmm, violations);
        }
        summarize(randomMs, endedMs);

        assertThat(List.copyOf(violations)).as("invariant violations; %s", ctx()).isEmpty();
        final Latency slowest = latencies.stream().max(Comparator.comparingLong(Latency::ms)).orElseThrow();
        assertThat(slowest.ms()).as("slowest request %s; every request must answer within %d ms; %s", slowest,
            REQUEST_BOUND_MS, ctx()).isLessThanOrEqualTo(REQUEST_BOUND_MS);
        assertThat(fixture.agent.manager().table().size()).as("VMMs left in the table; %s", ctx()).isZero();
        assertThat(leftZones()).as("zones left under %s; %s", fixture.zoneRoot, ctx()).isEmpty();
        // The kernel may take a few ms past populated 0 to finish a PID namespace: allow it that long.
        org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(5))
            .pollInterval(java.time.Duration.ofMillis(10))
            .untilAsserted(() -> assertThat(processes.survivors()).as("processes seen in zones still alive; %s", ctx())
                .isEmpty());
    }

    // ---------------------------------------------------------------------------------------------------------
    // Phase 1: one worker.

    private Void work(final Random random, final Slot[] slots, final long endNs) throws Exception
    {
        final Map<UUID, Long> lastSeenGen = new HashMap<>();
        while (System.nanoTime() < endNs)
        {
            final Slot slot = slots[random.nextInt(slots.length)];
            final Op op = Op.pick(random);
            final RandomizedVmm vmm;
            synchronized (slot)
            {
                vmm = slot.vmm;
            }
            if (vmm == null || op == Op.REGISTER || (vmm.seenGone && vmms.size() < MAX_IDS))
            {
                // A slot whose VMM is gone is refilled (while the id budget lasts).
                register(slot, random);
            }
            else
            {
                switch (op)
                {
                    case RUN -> putState(slot, vmm, "running", Set.of(200, 404, 409, 410));
                    case STOP -> putState(slot, vmm, "stopped", Set.of(200, 404, 410));
                    case REBOOT -> putState(slot, vmm, "reboot", Set.of(200, 404, 409, 410));
                    case FORCE ->
                    {
                        touch(slot, vmm);
                        force(vmm, "force");
                    }
                    case DELETE -> delete(slot, vmm);
                    case GET -> get(vmm, lastSeenGen);
                    case FAULT -> fault(vmm, random);
                    default -> throw new AssertionError(op);
                }
                processes.record(pids(vmm));
            }
            Thread.sleep(20 + random.nextInt(180));
        }
        return null;
    }

    /**
     * A new VMM in an empty slot (or one whose VMM is gone, while the id budget lasts), or the same register again
     * for a VMM nothing else was sent to yet (it must answer the registered state and ignore the new body).
     */
    private void register(final Slot slot, final Random random) throws Exception
    {
        synchronized (slot)
        {
            final RandomizedVmm current = slot.vmm;
            if (current != null && !current.touched)
            {
                final Result again = call("register-again", current, () -> fixture.client.register(current.id,
                    ExampleBodies.ensureBody(current.instanceId, current.addr, current.registeredGen + 5)));
                if (expect("register-again", current, again, Set.of(200), false))
                {
                    expectRegistered(current, again);
                }
                return;
            }
            if (current != null)
            {
                if (vmms.size() >= MAX_IDS)
                {
                    return;
                }
                final Result state = call("get", current, () -> fixture.client.state(current.id));
                if (state.status() != 404)
                {
                    return;
                }
            }
            final String addr = uniqueAddr();
            final StartFault startFault = random.nextInt(100) < 15
                ? startFaultChoices.get(random.nextInt(startFaultChoices.size()))
                : StartFault.NONE;
            final RandomizedVmm vmm = new RandomizedVmm(UUID.randomUUID(), UUID.randomUUID(), addr,
                1 + random.nextInt(1_000), startFault);
            startFaults.put(addr, startFault);
            vmms.add(vmm);
            slot.vmm = vmm;
            final Result registered = call("register", vmm, () -> fixture.client.register(vmm.id,
                ExampleBodies.ensureBody(vmm.instanceId, vmm.addr, vmm.registeredGen)));
            if (expect("register", vmm, registered, Set.of(200), false))
            {
                expectRegistered(vmm, registered);
            }
        }
        // Mostly, what Nexus does next: run it (so that most VMMs get to run before something ends them).
        if (random.nextInt(4) != 0)
        {
            final RandomizedVmm vmm;
            synchronized (slot)
            {
                vmm = slot.vmm;
            }
            putState(slot, vmm, "running", Set.of(200, 404, 409, 410));
        }
    }

    private void expectRegistered(final RandomizedVmm vmm, final Result result) throws IOException
    {
        final JsonNode body = AgentFixture.json(result.answer().body());
        if (body.at("/vmm_state/gen").asLong() != vmm.registeredGen
            || !"starting".equals(body.at("/vmm_state/state").asText()))
        {
            violations.add(vmm + ": register answered " + body + ", expected state starting at gen "
                + vmm.registeredGen + " (nothing else was sent for it)");
        }
    }

    /** From now on this id is never registered again (see {@link RandomizedVmm#touched}). */
    private static void touch(final Slot slot, final RandomizedVmm vmm)
    {
        synchronized (slot)
        {
            vmm.touched = true;
        }
    }

    private void putState(final Slot slot, final RandomizedVmm vmm, final String state, final Set<Integer> allowed)
        throws Exception
    {
        touch(slot, vmm);
        if ("running".equals(state))
        {
            vmm.runSent = true;
        }
        final String op = "running".equals(state) ? "run" : "stopped".equals(state) ? "stop" : "reboot";
        final Result result = call(op, vmm, () -> fixture.client.putState(vmm.id, state));
        expect(op, vmm, result, allowed, true);
    }

    /** Force-terminate answers once the zone is gone, with the final state. */
    private void force(final RandomizedVmm vmm, final String op) throws Exception
    {
        final Result result = call(op, vmm, () -> fixture.client.forceTerminate(vmm.id));
        if (expect(op, vmm, result, Set.of(200, 404, 410), true) && result.status() == 200)
        {
            final String state = AgentFixture.json(result.answer().body()).at("/vmm_state/state").asText();
            if (!"destroyed".equals(state) && !"failed".equals(state))
            {
                violations.add(vmm + ": " + op + " answered 200 with state " + state + ": " + result.answer().body());
            }
            if (Files.exists(fixture.zoneDir(vmm.id)))
            {
                violations.add(vmm + ": " + op + " answered 200 while its zone still exists");
            }
        }
    }

    /** DELETE answers (with failed, or null if the id was already gone) once the zone is gone. */
    private void delete(final Slot slot, final RandomizedVmm vmm) throws Exception
    {
        synchronized (slot)
        {
            vmm.touched = true;
            vmm.deleteSent = true;
        }
        final Result result = call("delete", vmm, () -> fixture.client.unregister(vmm.id));
        if (expect("delete", vmm, result, Set.of(200), true) && result.status() == 200)
        {
            vmm.deleteAnswered(result.at());
            final JsonNode runtime = AgentFixture.json(result.answer().body()).get("updated_runtime");
            if (runtime == null || !runtime.isNull())
            {
                final String state = runtime == null ? "(missing)" : runtime.at("/vmm_state/state").asText();
                if (!"failed".equals(state) && !"destroyed".equals(state))
                {
                    violations.add(vmm + ": delete answered " + result.answer().body());
                }
            }
            if (Files.exists(fixture.zoneDir(vmm.id)))
            {
                violations.add(vmm + ": delete answered 200 while its zone still exists");
            }
        }
    }

    /** GET answers from the snapshot; one thread never sees a VMM's generation go backwards. */
    private void get(final RandomizedVmm vmm, final Map<UUID, Long> lastSeenGen) throws Exception
    {
        final Result result = call("get", vmm, () -> fixture.client.state(vmm.id));
        if (expect("get", vmm, result, Set.of(200, 404), false) && result.status() == 200)
        {
            final long gen = AgentFixture.json(result.answer().body()).at("/vmm_state/gen").asLong();
            final Long before = lastSeenGen.put(vmm.id, gen);
            if (before != null && gen < before)
            {
                violations.add(vmm + ": GET went back from gen " + before + " to " + gen);
            }
        }
    }

    /** Once a VMM is running, at most one fault: hang_stop, hang_http, exit_now, or SIGSTOP of its processes. */
    private void fault(final RandomizedVmm vmm, final Random random) throws Exception
    {
        final Result result = call("get", vmm, () -> fixture.client.state(vmm.id));
        if (result.status() != 200
            || !"running".equals(AgentFixture.json(result.answer().body()).at("/vmm_state/state").asText()))
        {
            return;
        }
        final String fault = RUNTIME_FAULTS.get(random.nextInt(RUNTIME_FAULTS.size()));
        if (!vmm.runtimeFault.compareAndSet(null, fault))
        {
            return;
        }
        count("fault " + fault);
        if ("sigstop".equals(fault))
        {
            final List<Long> pids = pids(vmm);
            processes.record(pids);
            for (final long pid : pids)
            {
                new ProcessBuilder("kill", "-STOP", Long.toString(pid)).redirectErrorStream(true).start().waitFor();
            }
        }
        else
        {
            // Fire and forget: hang_http never answers, exit_now may exit before answering.
            faultHttp.sendAsync(HttpRequest.newBuilder(URI.create("http://" + vmm.addr + "/mock/fault"))
                .timeout(Duration.ofSeconds(2))
                .header("content-type", "application/json")
                .PUT(HttpRequest.BodyPublishers.ofString("\"" + fault + "\""))
                .build(), HttpResponse.BodyHandlers.discarding());
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // Requests: timing, statuses.

    private Result call(final String op, final RandomizedVmm vmm, final Callable<AgentHttpClient.Answer> request)
        throws InterruptedException
    {
        final long startNs = System.nanoTime();
        AgentHttpClient.Answer answer = null;
        try
        {
            answer = request.call();
        }
        catch (final InterruptedException ex)
        {
            throw ex;
        }
        catch (final Exception ex)
        {
            violations.add(vmm + ": " + op + " failed after " + (System.nanoTime() - startNs) / 1_000_000 + " ms: "
                + ex);
        }
        final Instant at = Instant.now();
        final long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startNs);
        latencies.add(new Latency(op, vmm.id, ms, answer == null ? -1 : answer.status()));
        if (answer != null && answer.status() == 404)
        {
            vmm.seenGone = true;
        }
        count(op + " " + (answer == null ? "error" : answer.status()));
        return new Result(answer, at);
    }

    /**
     * Records a violation unless the status is allowed; a mailbox request may also meet a full mailbox (503
     * INSTANCE_CHANNEL_FULL). True if there is an answer with an allowed status.
     */
    private boolean expect(final String op, final RandomizedVmm vmm, final Result result, final Set<Integer> allowed,
        final boolean throughMailbox) throws IOException
    {
        if (result.answer() == null)
        {
            return false;
        }
        if (allowed.contains(result.status()))
        {
            return true;
        }
        if (throughMailbox && result.status() == 503 && "INSTANCE_CHANNEL_FULL".equals(
            AgentFixture.json(result.answer().body()).path("error_code").asText()))
        {
            return false;
        }
        violations.add(vmm + ": " + op + " answered " + result.status() + " " + result.answer().body());
        return false;
    }

    private void count(final String what)
    {
        counts.computeIfAbsent(what, k -> new LongAdder()).increment();
    }

    // ---------------------------------------------------------------------------------------------------------
    // Phase 3: what Nexus received, and what is left.

    private void checkPublished(final RandomizedVmm vmm, final Collection<String> sink)
    {
        final List<RecordingNexus.Received> received = fixture.nexus.received(vmm.id);
        final String states = received.stream()
            .map(r -> r.state().vmmState().state().wireName() + "@" + r.state().vmmState().gen()).toList().toString();
        if (!received.isEmpty() && received.get(0).state().vmmState().gen() != vmm.registeredGen + 1)
        {
            sink.add(vmm + ": first published gen is not the registered gen + 1: " + states);
        }
        int terminals = 0;
        for (int i = 0; i < received.size(); i++)
        {
            final VmmState state = received.get(i).state().vmmState().state();
            if (i > 0 && received.get(i).state().vmmState().gen() <= received.get(i - 1).state().vmmState().gen())
            {
                sink.add(vmm + ": published generations do not rise strictly: " + states);
            }
            if (terminals > 0)
            {
                sink.add(vmm + ": published " + state.wireName() + " after a terminal state: " + states);
            }
            if (state.isTerminal())
            {
                terminals++;
            }
        }
        if (terminals > 1)
        {
            sink.add(vmm + ": " + terminals + " terminal states published: " + states);
        }
        if (terminals == 0 && !vmm.deleteSent)
        {
            sink.add(vmm + ": never deleted, force-terminated at the end, yet no terminal state published: "
                + states);
        }
        final Instant deleted = vmm.deleteAnsweredAt.get();
        if (deleted != null)
        {
            final Instant limit = deleted.plusMillis(AFTER_DELETE_SLACK_MS);
            for (final RecordingNexus.Received r : received)
            {
                if (r.at().isAfter(limit))
                {
                    sink.add(vmm + ": " + r.state().vmmState().state().wireName() + "@"
                        + r.state().vmmState().gen() + " received " + Duration.between(deleted, r.at()).toMillis()
                        + " ms after its DELETE was answered (" + deleted + "): " + states);
                }
            }
        }
    }

    private List<String> leftZones() throws IOException
    {
        if (!Files.isDirectory(fixture.zoneRoot))
        {
            return List.of();
        }
        try (Stream<Path> children = Files.list(fixture.zoneRoot))
        {
            return children.map(p -> p.getFileName().toString()).filter(name -> name.startsWith("oxz_")).toList();
        }
    }

    private void summarize(final long randomMs, final long endedMs)
    {
        final Map<String, Long> sortedCounts = new TreeMap<>();
        counts.forEach((k, v) -> sortedCounts.put(k, v.sum()));
        final Map<StartFault, Long> byStartFault = new EnumMap<>(StartFault.class);
        vmms.forEach(v -> byStartFault.merge(v.startFault, 1L, Long::sum));
        final Map<String, Long> endings = vmms.stream().collect(Collectors.groupingBy(v -> fixture.nexus.received(v.id)
            .stream().map(r -> r.state().vmmState().state()).filter(VmmState::isTerminal).map(VmmState::wireName)
            .findFirst().orElse("none" + (v.deleteSent ? " (deleted)" : "")), TreeMap::new, Collectors.counting()));
        final long ran = vmms.stream().filter(v -> fixture.nexus.received(v.id).stream()
            .anyMatch(r -> r.state().vmmState().state() == VmmState.RUNNING)).count();
        final Map<String, Long> slowest = new TreeMap<>();
        latencies.forEach(l -> slowest.merge(l.op(), l.ms(), Math::max));
        System.out.printf("RandomizedLifecycleTest: seed %d, %d VMM ids, %d requests, random phase %d ms, all gone at "
                + "%d ms, %d pids seen, %d VMMs published running%n  requests: %s%n  start faults: %s%n"
                + "  terminal published: %s%n"
                + "  slowest ms by op: %s%n  violations: %d%n",
            seed, vmms.size(), latencies.size(), randomMs, endedMs, processes.size(), ran, sortedCounts, byStartFault,
            endings, slowest, violations.size());
    }

    // ---------------------------------------------------------------------------------------------------------
    // Plumbing.

    private String ctx()
    {
        return "seed " + seed + " (rerun with -Drandomized.seed=" + seed + ")";
    }

    private List<String> command(final String addr)
    {
        final StartFault fault = startFaults.getOrDefault(addr, StartFault.NONE);
        if (fault == StartFault.NEVER_UP)
        {
            return List.of("sleep", "1000");
        }
        final List<String> argv = new ArrayList<>(PropolisSimLauncher.command(addr));
        if (fault == StartFault.FAIL_START || fault == StartFault.EXIT_AT_START)
        {
            argv.add("--fault");
            argv.add(fault == StartFault.FAIL_START ? "fail_start" : "exit_now");
        }
        return argv;
    }

    /** Whether the sim's command line knows {@code --fault NAME} (asked of its parser, without starting a JVM). */
    private static boolean simAcceptsFault(final String name)
    {
        try
        {
            final Method parse = Class.forName("sledagent.hypervisor.sim.SimOptions")
                .getDeclaredMethod("parse", String[].class);
            parse.setAccessible(true);
            parse.invoke(null, (Object)new String[] {"--listen", "127.0.0.1:0", "--fault", name});
            return true;
        }
        catch (final ReflectiveOperationException | RuntimeException ex)
        {
            return false;
        }
    }

    /** A free loopback address no other VMM of this test was given (a fault must reach the right sim). */
    private String uniqueAddr() throws IOException
    {
        while (true)
        {
            final String addr = AgentFixture.freeAddr();
            if (ports.add(Integer.parseInt(addr.substring(addr.lastIndexOf(':') + 1))))
            {
                return addr;
            }
        }
    }

    private List<Long> pids(final RandomizedVmm vmm)
    {
        try
        {
            return fixture.zonePids(vmm.id);
        }
        catch (final IOException ex)
        {
            // The zone went away while being read.
            return List.of();
        }
    }

    private ExecutorService pool()
    {
        final ExecutorService pool = Executors.newFixedThreadPool(THREADS, runnable ->
        {
            final Thread thread = new Thread(runnable, "randomized-" + pools.size());
            thread.setDaemon(true);
            return thread;
        });
        pools.add(pool);
        return pool;
    }

    private void awaitAll(final List<Future<?>> futures, final String what) throws InterruptedException
    {
        for (final Future<?> future : futures)
        {
            try
            {
                future.get(60, TimeUnit.SECONDS);
            }
            catch (final ExecutionException ex)
            {
                violations.add(what + " thread failed: " + ex.getCause());
            }
            catch (final java.util.concurrent.TimeoutException ex)
            {
                violations.add(what + " thread still busy after 60 s");
            }
        }
    }
}
