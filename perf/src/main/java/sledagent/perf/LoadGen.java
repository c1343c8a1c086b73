package sledagent.perf;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/** The load generator: in this JVM, or in a child JVM driven over stdin/stdout. */
interface LoadGen extends AutoCloseable
{
    /** A run's result and the client's CPU time (ns) over it. */
    record Outcome(OpenLoopClient.Result result, long clientCpuNs, Probes.Gc clientGc, long clientHiccupMaxNs)
    {
    }

    Outcome run(OpenLoopClient.Spec spec, Path requests) throws Exception;

    boolean inProcess();

    String describe();

    static LoadGen create(final LoadOptions options, final Cleanup undo) throws Exception
    {
        final int threads = options.integer("client-threads", 1);
        final String mode = options.string("client", "separate");
        final LoadGen gen = switch (mode)
        {
            case "same" -> new InProcess(threads);
            case "separate" -> ChildJvm.start(threads, options.string("client-jvm-opts", "-Xms512m -Xmx512m"));
            default -> throw new IllegalArgumentException("--client must be same or separate: " + mode);
        };
        undo.push("stop load generator", gen::close);
        return gen;
    }

    /** The client in this JVM. */
    static final class InProcess implements LoadGen
    {
        private final OpenLoopClient client;
        private final int threads;
        private final Map<String, byte[][]> requests = new HashMap<>();

        InProcess(final int threads)
        {
            this.threads = threads;
            this.client = new OpenLoopClient(threads);
        }

        @Override
        public Outcome run(final OpenLoopClient.Spec spec, final Path file) throws Exception
        {
            final byte[][] bytes = requests.computeIfAbsent(file + "@" + spec.target(), key ->
                OpenLoopClient.getRequests(LoadAgent.readLines(file), spec.target()));
            final OpenLoopClient.Result result = client.run(spec, bytes);
            // One JVM: its GC pauses are counted on the server's side.
            return new Outcome(result, result.cpuNs(), new Probes.Gc(0, 0), 0);
        }

        @Override
        public boolean inProcess()
        {
            return true;
        }

        @Override
        public String describe()
        {
            return "in this JVM (" + threads + " event-loop thread(s), " + client.transport() + ")";
        }

        @Override
        public void close()
        {
            client.close();
        }
    }
}
