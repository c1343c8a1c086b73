package sledagent.perf;

import java.nio.file.Path;
import sledagent.agent.core.SledAgent;

/**
 * End-to-end load tool. One command per scenario; each starts its own agent in this JVM
 * ({@link SledAgent#launch} on 127.0.0.1:0, state directory in {@code /dev/shm}), prints a summary table, and
 * writes one {@code .hgrm} percentile file per measurement (values in microseconds) and a {@code .summary.md}
 * fragment into {@code --out}:
 *
 * <pre>
 * java -cp perf/target/benchmarks.jar sledagent.perf.LoadTool get-state [options]   # agent vs bare Netty
 * java -cp perf/target/benchmarks.jar sledagent.perf.LoadTool lifecycle [options]   # real sims, root
 * java -cp perf/target/benchmarks.jar sledagent.perf.LoadTool scale [options]       # 100,000 VMMs, heap
 * java -cp perf/target/benchmarks.jar sledagent.perf.LoadTool report --results DIR [--jmh FILE] [--splice FILE]
 * java -cp perf/target/benchmarks.jar sledagent.perf.LoadTool jfr-top FILE [--frames N]
 * </pre>
 *
 * <p>The load generator ({@link OpenLoopClient}) runs by default in a second JVM ({@code --client separate}),
 * started by this one and driven over its stdin/stdout, so that its allocations and GC pauses are not charged to
 * the server; {@code --client same} runs it in this JVM. Either way it shares the machine's cores with the
 * server, so each measurement reports the CPU the server JVM, the client and the whole machine used.
 *
 * <p>This class is the command line only. The scenarios are {@link GetStateScenario}, {@link LifecycleScenario}
 * and {@link ScaleScenario}, all reading one {@link LoadOptions}; the load-generator transport is {@link LoadGen}
 * and {@link ChildJvm}; a run's measurement is {@link Measure} with {@link Probes}; {@link JfrTop} summarises a JFR
 * file and {@link Report} writes the summaries and splices RESULTS.md's generated block.
 */
public final class LoadTool
{
    private LoadTool()
    {
    }

    public static void main(final String[] args)
    {
        if (args.length == 0)
        {
            usage();
            System.exit(2);
        }
        final LoadOptions options = LoadOptions.parse(args);
        try
        {
            Probes.Hiccups.start();
            switch (args[0])
            {
                case "get-state" -> new GetStateScenario(options).run();
                case "lifecycle" -> new LifecycleScenario(options).run();
                case "scale" -> new ScaleScenario(options).run();
                case "client" -> ChildJvm.serve();
                case "report" -> Report.run(options);
                case "jfr-top" -> JfrTop.print(Path.of(options.positional(0)), options.integer("frames", 25),
                    System.out);
                default ->
                {
                    usage();
                    System.exit(2);
                }
            }
        }
        catch (final Exception ex)
        {
            System.err.println("LoadTool " + args[0] + " failed: " + ex);
            ex.printStackTrace();
            System.exit(1);
        }
        System.exit(0);
    }

    private static void usage()
    {
        System.err.println("""
            usage: java -cp perf/target/benchmarks.jar sledagent.perf.LoadTool <command> [options]
              get-state  GET /vmms/{id}/state against the agent and a bare Netty server, same run
                         --rates 1000,5000,10000,20000 --duration-s 10 --warmup-s 5 --connections 16
                         --max-connections 16 --vmms 100 --repeat 1 [--jfr]
                         [--idle-connections N (held open to the agent, no request, during the measured runs)]
              lifecycle  register, run, stop, destroyed with real sims in cgroup zones (root)
                         --vmms 24 --concurrency 4 --warmup 0 [--rate R (open loop, lifecycles/s)]
              scale      100,000 registered VMMs (fake zones): heap used and GET /state p99 vs a small table
                         --vmms 100000 --baseline-vmms 100 --rate 20000 --duration-s 10 --warmup-s 5
                         --register-threads 8 --repeat 1 [--jfr] [--disk-dir DIR]
              report     --results DIR [--jmh FILE] [--splice perf/RESULTS.md]
              jfr-top    FILE [--frames 25]
            common: --out DIR (perf/target/results/loadtool) --client separate|same --client-threads 1
                    --client-jvm-opts "-Xms512m -Xmx512m" --agent-log warning|info""");
    }
}
