package sledagent.perf;

import java.nio.file.Path;
import java.util.List;

/**
 * End-to-end stop latency of a real agent (real HTTP, real cgroups, real propolis-sim JVMs), in HdrHistograms.
 *
 * <pre>
 * java -cp perf/target/benchmarks.jar sledagent.perf.StopLatency &lt;scenario&gt; [options]
 *
 *   force-terminate  --vmms N (20)     force-terminate N running sims one at a time; raw cgroup kill floor
 *   crash-detect     --vmms N (20)     SIGKILL N sims' JVMs one at a time; time to failed (Nexus, GET /state)
 *   deadlines        --pending N (10000)  lateness of N pending 1-3 s timeouts: HashedWheelTimer vs STPE(1)
 *   guest            --vmm sim|qemu (sim) --vmms N   N VMMs each, one at a time: register -> running (-> the guest's
 *                    marker), stop -> destroyed, force-terminate -> zone gone -> Nexus ack, crash (SIGKILL of QEMU,
 *                    or of the sim's JVM) -> failed; RSS of the Propolis server's JVM and of QEMU
 *   peer             --vmms N   ours (qemu) interleaved with libvirt (its own libvirtd, under PID 1 then under a
 *                    subreaper) and bare QEMU on the same guest: start -> marker, destroy, crash -> event
 *   guest-lifecycle  --vmm sim|qemu --vmms N --concurrency C (2)   N full lifecycles through the HTTP API, C at once
 *                    (register, run, marker / running, stop, destroyed at Nexus, unregister): lifecycles/s and
 *                    per-phase percentiles; with qemu the floor: the same guest booted and quit in bare QEMU, C at once
 *   guest-deadline   --vmm sim|qemu --vmms N --grace-ms G (1000)   stop of a VMM whose Propolis server is SIGSTOPped:
 *                    stop -> destroyed at Nexus minus the grace (lateness), the agent's kill -> empty, zone gone
 *   memory           --vmms N   N real guests running at once (started 2 at a time): RSS, PSS and private memory of
 *                    each propolis-qemu JVM and each QEMU
 *
 *   --out DIR (perf/target/results)  .hgrm per metric, samples CSV, captured agent log
 *   --warmup K (0)       extra VMMs stopped first and not recorded
 *   --batch B (4)        sims started at a time
 *   --start-timeout-ms (120000), --settle-ms (1000) after all run, --pause-ms (100) between stops
 *   --state-poll-us (500) GET /state poll interval in crash-detect
 *   --seed S (42)        delays in deadlines
 *   --probe-last-look    force-terminate: before each force, time the call the agent's last look makes
 *                        (state-monitor gen 0 with PropolisClient) from this JVM, to split the teardown
 *   --concurrency C (2)  guest-lifecycle: lifecycles at once (2 cores and TCG guests here: keep it at 2)
 *   --grace-ms G         the agent's stop grace (guest-deadline: 1000; others: the agent's default)
 * </pre>
 *
 * Must run where it may create cgroups under its own cgroup (root on these machines). Everything it makes (zones
 * under {@code <agent cgroup>/sledperf-<uuid>}, processes, temporary state) is removed on the way out, also
 * after a failure or Ctrl-C. Every wait is bounded.
 */
public final class StopLatency
{
    /** Parsed command line. */
    static final class Options
    {
        String scenario;
        int vmms = 20;
        int pending = 10_000;
        int warmup;
        int batch = 4;
        long startTimeoutMs = 120_000;
        long settleMs = 1_000;
        long pauseMs = 100;
        long statePollUs = 500;
        long seed = 42;
        boolean probeLastLook;
        /** guest: sim or qemu. */
        String vmm = "sim";
        /** guest-lifecycle: lifecycles in flight at once. */
        int concurrency = 2;
        /** The agent's stop grace; 0 = the scenario's default. */
        long graceMs;
        Path out = Path.of("perf/target/results");
    }

    private static final List<String> SCENARIOS = List.of("force-terminate", "crash-detect", "deadlines", "guest",
        "peer", "guest-lifecycle", "guest-deadline", "memory");

    private StopLatency()
    {
    }

    public static void main(final String[] args) throws Exception
    {
        final Options options;
        try
        {
            options = parse(args);
        }
        catch (final IllegalArgumentException ex)
        {
            System.err.println(ex.getMessage());
            System.err.println("usage: java -cp perf/target/benchmarks.jar sledagent.perf.StopLatency "
                + String.join("|", SCENARIOS) + " [--vmms N] [--pending N] [--out DIR] [--warmup K] [--batch B]"
                + " [--start-timeout-ms MS] [--settle-ms MS] [--pause-ms MS] [--state-poll-us US] [--seed S]"
                + " [--probe-last-look] [--vmm sim|qemu] [--concurrency C] [--grace-ms G]");
            System.exit(2);
            return;
        }
        System.out.printf("StopLatency %s on %d CPUs, JDK %s (%s)%n", options.scenario,
            Runtime.getRuntime().availableProcessors(), System.getProperty("java.vm.version"),
            System.getProperty("java.vm.name"));
        int status = 0;
        final LogCapture logs = LogCapture.install();
        try (Cleanup cleanup = new Cleanup())
        {
            switch (options.scenario)
            {
                case "force-terminate" -> ForceTerminateScenario.run(options, cleanup, logs);
                case "crash-detect" -> CrashDetectScenario.run(options, cleanup, logs);
                case "guest" -> GuestScenario.run(options, cleanup);
                case "peer" -> PeerScenario.run(options, cleanup);
                case "guest-lifecycle" -> GuestLifecycleScenario.run(options, cleanup);
                case "guest-deadline" -> GuestDeadlineScenario.run(options, cleanup);
                case "memory" -> MemoryScenario.run(options, cleanup);
                default -> DeadlineScenario.run(options);
            }
        }
        catch (final Exception ex)
        {
            System.err.println("StopLatency " + options.scenario + " failed: " + ex);
            ex.printStackTrace();
            status = 1;
        }
        // The agent's pools are daemon threads; leave no doubt that the run is over.
        System.exit(status);
    }

    static Options parse(final String[] args)
    {
        if (args.length == 0 || !SCENARIOS.contains(args[0]))
        {
            throw new IllegalArgumentException(args.length == 0 ? "no scenario given" : "unknown scenario " + args[0]);
        }
        final Options options = new Options();
        options.scenario = args[0];
        for (int i = 1; i < args.length; i++)
        {
            final String flag = args[i];
            if ("--probe-last-look".equals(flag))
            {
                options.probeLastLook = true;
                continue;
            }
            if (i + 1 >= args.length)
            {
                throw new IllegalArgumentException(flag + " needs a value");
            }
            final String value = args[++i];
            switch (flag)
            {
                case "--vmms" -> options.vmms = positive(flag, value);
                case "--pending" -> options.pending = positive(flag, value);
                case "--warmup" -> options.warmup = nonNegative(flag, value);
                case "--batch" -> options.batch = positive(flag, value);
                case "--start-timeout-ms" -> options.startTimeoutMs = positive(flag, value);
                case "--settle-ms" -> options.settleMs = nonNegative(flag, value);
                case "--pause-ms" -> options.pauseMs = nonNegative(flag, value);
                case "--state-poll-us" -> options.statePollUs = nonNegative(flag, value);
                case "--seed" -> options.seed = Long.parseLong(value);
                case "--concurrency" -> options.concurrency = positive(flag, value);
                case "--grace-ms" -> options.graceMs = positive(flag, value);
                case "--out" -> options.out = Path.of(value);
                case "--vmm" ->
                {
                    if (!List.of("sim", "qemu").contains(value))
                    {
                        throw new IllegalArgumentException("--vmm: sim or qemu, not " + value);
                    }
                    options.vmm = value;
                }
                default -> throw new IllegalArgumentException("unknown option " + flag);
            }
        }
        return options;
    }

    private static int positive(final String flag, final String value)
    {
        final int parsed = nonNegative(flag, value);
        if (parsed == 0)
        {
            throw new IllegalArgumentException(flag + " must be positive");
        }
        return parsed;
    }

    private static int nonNegative(final String flag, final String value)
    {
        try
        {
            final int parsed = Integer.parseInt(value);
            if (parsed < 0)
            {
                throw new IllegalArgumentException(flag + " must not be negative");
            }
            return parsed;
        }
        catch (final NumberFormatException ex)
        {
            throw new IllegalArgumentException(flag + ": not a number: " + value);
        }
    }
}
