package sledagent.perf;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.HdrHistogram.Histogram;

/** The client in a second JVM ({@code LoadTool client}), one JSON line per run each way. */
final class ChildJvm implements LoadGen
{
    private static final ObjectMapper PLAIN = new ObjectMapper();

    private final Process process;
    private final BufferedWriter stdin;
    private final BufferedReader stdout;
    private final String description;

    private ChildJvm(final Process process, final String description)
    {
        this.process = process;
        this.description = description;
        this.stdin = new BufferedWriter(new OutputStreamWriter(process.getOutputStream(), StandardCharsets.UTF_8));
        this.stdout = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
    }

    static ChildJvm start(final int threads, final String jvmOpts) throws IOException
    {
        final List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        for (final String opt : jvmOpts.trim().split("\\s+"))
        {
            if (!opt.isEmpty())
            {
                command.add(opt);
            }
        }
        command.add("-Dsledperf.client.threads=" + threads);
        command.add("-cp");
        command.add(System.getProperty("java.class.path"));
        command.add(LoadTool.class.getName());
        command.add("client");
        final Process process = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        final ChildJvm child = new ChildJvm(process, "in a second JVM (pid " + process.pid() + ", " + jvmOpts
            + ", " + threads + " event-loop thread(s))");
        final String ready = child.stdout.readLine();
        if (ready == null || !ready.startsWith("READY"))
        {
            process.destroyForcibly();
            throw new IllegalStateException("load generator JVM did not start: " + ready);
        }
        return child;
    }

    @Override
    public Outcome run(final OpenLoopClient.Spec spec, final Path requests) throws Exception
    {
        final ObjectNode command = PLAIN.createObjectNode()
            .put("host", spec.target().getHostString())
            .put("port", spec.target().getPort())
            .put("closed", spec.closed())
            .put("rate", spec.ratePerSec())
            .put("durationNs", spec.durationNs())
            .put("connections", spec.connections())
            .put("requests", requests.toAbsolutePath().toString());
        stdin.write(PLAIN.writeValueAsString(command));
        stdin.newLine();
        stdin.flush();
        final String line = stdout.readLine();
        if (line == null || !line.startsWith("RESULT "))
        {
            throw new IllegalStateException("load generator JVM: " + line);
        }
        final JsonNode json = PLAIN.readTree(line.substring("RESULT ".length()));
        if (json.has("error"))
        {
            throw new IllegalStateException("load generator JVM: " + json.get("error").asText());
        }
        final OpenLoopClient.Result result = new OpenLoopClient.Result(decode(json.get("latency").asText()),
            decode(json.get("sendLag").asText()), json.get("sent").asLong(), json.get("completed").asLong(),
            json.get("errors").asLong(), json.get("unsent").asLong(), json.get("elapsedNs").asLong(),
            json.get("cpuNs").asLong());
        return new Outcome(result, json.get("processCpuNs").asLong(), new Probes.Gc(json.get("gcCount").asLong(),
            json.get("gcMs").asLong()), json.get("hiccupMaxNs").asLong());
    }

    @Override
    public boolean inProcess()
    {
        return false;
    }

    @Override
    public String describe()
    {
        return description;
    }

    @Override
    public void close() throws Exception
    {
        try
        {
            stdin.write("quit");
            stdin.newLine();
            stdin.flush();
        }
        catch (final IOException ex)
        {
            // Already gone.
        }
        if (!process.waitFor(5, TimeUnit.SECONDS))
        {
            process.destroyForcibly();
        }
    }

    /** The child side: {@code READY}, then one {@code RESULT {json}} per command line, until {@code quit}. */
    static void serve() throws Exception
    {
        final int threads = Integer.getInteger("sledperf.client.threads", 1);
        final BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        final PrintStream out = new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), true,
            StandardCharsets.UTF_8);
        final Map<String, byte[][]> cache = new HashMap<>();
        Probes.Hiccups.start();
        try (OpenLoopClient client = new OpenLoopClient(threads))
        {
            out.println("READY " + client.transport());
            String line;
            while ((line = in.readLine()) != null && !line.equals("quit"))
            {
                try
                {
                    final JsonNode command = PLAIN.readTree(line);
                    final InetSocketAddress target = new InetSocketAddress(command.get("host").asText(),
                        command.get("port").asInt());
                    final Path file = Path.of(command.get("requests").asText());
                    final byte[][] requests = cache.computeIfAbsent(file + "@" + target, key ->
                        OpenLoopClient.getRequests(LoadAgent.readLines(file), target));
                    // Start each run with an empty young generation, and with the request bytes (12 MB for
                    // 100,000 VMMs) already in the old one: their first copy would otherwise be a pause of tens
                    // of ms inside the run, charged to the server by the coordinated-omission correction.
                    System.gc();
                    Probes.Hiccups.interval();
                    final long cpuBefore = Probes.processCpuNs();
                    final Probes.Gc gcBefore = Probes.Gc.now();
                    final OpenLoopClient.Result result = client.run(new OpenLoopClient.Spec(target,
                        command.get("closed").asBoolean(), command.get("rate").asDouble(),
                        command.get("durationNs").asLong(), command.get("connections").asInt()), requests);
                    final long processCpu = Probes.processCpuNs() - cpuBefore;
                    final Probes.Gc gc = Probes.Gc.now().minus(gcBefore);
                    final ObjectNode answer = PLAIN.createObjectNode()
                        .put("latency", encode(result.latency()))
                        .put("sendLag", encode(result.sendLag()))
                        .put("sent", result.sent())
                        .put("completed", result.completed())
                        .put("errors", result.errors())
                        .put("unsent", result.unsent())
                        .put("elapsedNs", result.elapsedNs())
                        .put("cpuNs", result.cpuNs())
                        .put("processCpuNs", processCpu)
                        .put("gcCount", gc.count())
                        .put("gcMs", gc.ms())
                        .put("hiccupMaxNs", Probes.Hiccups.interval().getMaxValue());
                    out.println("RESULT " + PLAIN.writeValueAsString(answer));
                }
                catch (final Exception ex)
                {
                    out.println("RESULT " + PLAIN.writeValueAsString(PLAIN.createObjectNode()
                        .put("error", String.valueOf(ex))));
                }
            }
        }
    }

    static String encode(final Histogram histogram)
    {
        final ByteBuffer buffer = ByteBuffer.allocate(histogram.getNeededByteBufferCapacity());
        final int length = histogram.encodeIntoCompressedByteBuffer(buffer);
        return Base64.getEncoder().encodeToString(java.util.Arrays.copyOf(buffer.array(), length));
    }

    static Histogram decode(final String base64) throws Exception
    {
        return Histogram.decodeFromCompressedByteBuffer(ByteBuffer.wrap(Base64.getDecoder().decode(base64)), 0);
    }
}
