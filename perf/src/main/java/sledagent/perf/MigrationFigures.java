package sledagent.perf;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.WebSocket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import sledagent.agent.demo.TinyGuest;
import sledagent.api.Json;
import sledagent.hypervisor.qemu.BootSource;
import sledagent.hypervisor.qemu.PropolisQemuLauncher;

/**
 * Live-migration figures of a real guest between two propolis-qemu processes on this host (no agent): for each run,
 * boot the tiny guest on a source, let it tick, ensure a target with the MigrationTarget init method and measure
 * ensure(target) -> target {@code Running}; QEMU's own {@code total-time} and {@code downtime} (the source's log
 * line from {@code query-migrate}); and the guest's downtime seen on its serial line: the gap between the arrival of
 * its last tick at the source and its first tick at the target, minus the tick period (1 s of guest time; the
 * guest's clock stands still while it is paused). Usage:
 * {@code MigrationFigures [--runs N] [--memory-mb M] [--dirty-mb D]} (D > 0: the guest keeps rewriting D MiB).
 */
public final class MigrationFigures
{
    private static final Duration BOUND = Duration.ofSeconds(90);
    private static final Pattern TICK = Pattern.compile("tick (\\d+)\r?\n");
    private static final Pattern QEMU_FIGURES = Pattern.compile(
        "QEMU total-time (\\d+) ms, downtime (\\d+) ms, setup-time (\\d+) ms, ram transferred (\\d+) B, "
            + "dirty-sync-count (\\d+)");
    private static final Pattern STOPPED = Pattern.compile("vCPUs stopped at (\\d+) us");
    private static final Pattern RESUMED = Pattern.compile("vCPUs resumed at (\\d+) us");
    private static final Pattern READY = Pattern.compile("propolis-qemu listening on (\\S+) pid (\\d+)");
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();

    private MigrationFigures()
    {
    }

    /**
     * @param args {@code --runs N --memory-mb M --dirty-mb D}
     */
    public static void main(final String[] args) throws Exception
    {
        int runs = 5;
        int memoryMb = 256;
        int dirtyMb = 0;
        for (int i = 0; i + 1 < args.length; i += 2)
        {
            switch (args[i])
            {
                case "--runs" -> runs = Integer.parseInt(args[i + 1]);
                case "--memory-mb" -> memoryMb = Integer.parseInt(args[i + 1]);
                case "--dirty-mb" -> dirtyMb = Integer.parseInt(args[i + 1]);
                default -> throw new IllegalArgumentException("unknown argument " + args[i]);
            }
        }
        final String missing = TinyGuest.missing();
        if (missing != null)
        {
            throw new IllegalStateException("a real guest needs " + missing);
        }
        final TinyGuest guest = TinyGuest.build(Path.of("perf/target/guest").toAbsolutePath());
        final String append = guest.append() + (dirtyMb > 0 ? " dirty_mb=" + dirtyMb : "");
        final BootSource boot = new BootSource.Kernel(guest.vmlinux(), guest.initrd(), append);
        System.out.printf("guest %d MiB, 1 vCPU, TCG, dirty_mb=%d, %d runs%n", memoryMb, dirtyMb, runs);
        final List<long[]> rows = new ArrayList<>();
        for (int run = 1; run <= runs; run++)
        {
            final long[] row = oneRun(boot, memoryMb);
            rows.add(row);
            System.out.printf("run %d: ensure->Running %d ms, QEMU total-time %d ms, QEMU downtime %d ms, "
                + "tick gap - 1 s %d ms, ram transferred %d MiB, dirty syncs %d, vCPUs stopped -> resumed %d ms%n",
                run, row[0], row[1], row[2], row[3], row[4] >> 20, row[5], row[6]);
        }
        final String[] names = {"ensure(target) -> target Running", "QEMU total-time", "QEMU downtime",
            "guest downtime (tick gap - 1 s)", "RAM transferred (MiB)", "dirty syncs",
            "guest paused (source pre-switchover -> target RESUME)"};
        for (int f = 0; f < names.length; f++)
        {
            final int field = f;
            final long[] values = rows.stream().mapToLong(r -> field == 4 ? r[field] >> 20 : r[field]).sorted()
                .toArray();
            System.out.printf(Locale.ROOT, "| %s | %d / %d / %d |%n", names[f], values[0], values[values.length / 2],
                values[values.length - 1]);
        }
    }

    /** One migration; the figures in the order printed. */
    private static long[] oneRun(final BootSource boot, final int memoryMb) throws Exception
    {
        try (Server source = Server.start(boot); Server target = Server.start(boot))
        {
            source.call("PUT", "/instance", ensureBody(memoryMb));
            source.call("PUT", "/instance/state", "\"Run\"");
            final Ticks sourceTicks = new Ticks(source.addr);
            waitFor(() -> sourceTicks.count() >= 3, "3 ticks at the source");
            // As the agent does: follow the source's state-monitor (its go waits until Finish has been seen).
            final Thread sourceWatch = watch(source);
            final long ensureNs = System.nanoTime();
            target.call("PUT", "/instance", targetBody(source.addr));
            final Ticks targetTicks = new Ticks(target.addr);
            long gen = 0;
            while (true)
            {
                final JsonNode state = Json.mapper().readTree(target.call("GET", "/instance/state-monitor",
                    "{\"gen\":" + gen + "}"));
                if (state.get("state").asText().equals("Running"))
                {
                    break;
                }
                if (state.get("state").asText().equals("Failed"))
                {
                    throw new IllegalStateException("the migration failed; source log:\n" + source.log());
                }
                gen = state.get("gen").asLong() + 1;
            }
            final long runningMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - ensureNs);
            final int lastAtSource = sourceTicks.last();
            waitFor(() -> targetTicks.arrivalNs(lastAtSource + 1) != null, "the next tick at the target");
            final long gapMs = TimeUnit.NANOSECONDS.toMillis(targetTicks.arrivalNs(lastAtSource + 1)
                - sourceTicks.arrivalNs(lastAtSource)) - 1000;
            waitFor(() -> QEMU_FIGURES.matcher(source.log()).find(), "the source's figures");
            final Matcher qemu = QEMU_FIGURES.matcher(source.log());
            if (!qemu.find())
            {
                throw new IllegalStateException("no figures in the source's log");
            }
            sourceTicks.close();
            targetTicks.close();
            sourceWatch.interrupt();
            final Matcher stopped = STOPPED.matcher(source.log());
            final Matcher resumed = RESUMED.matcher(target.log());
            if (!stopped.find() || !resumed.find())
            {
                throw new IllegalStateException("no vCPU stop/resume times in the logs");
            }
            final long pausedMs = (Long.parseLong(resumed.group(1)) - Long.parseLong(stopped.group(1))) / 1000;
            return new long[] {runningMs, Long.parseLong(qemu.group(1)), Long.parseLong(qemu.group(2)), gapMs,
                Long.parseLong(qemu.group(4)), Long.parseLong(qemu.group(5)), pausedMs};
        }
    }

    /** A thread that long-polls {@code server}'s state-monitor, one generation after the other, until interrupted. */
    private static Thread watch(final Server server)
    {
        final Thread thread = new Thread(() ->
        {
            long gen = 0;
            while (!Thread.currentThread().isInterrupted())
            {
                try
                {
                    gen = Json.mapper().readTree(server.call("GET", "/instance/state-monitor", "{\"gen\":" + gen
                        + "}")).get("gen").asLong() + 1;
                }
                catch (final InterruptedException e)
                {
                    return;
                }
                catch (final Exception e)
                {
                    // 410 once Destroyed, or the server gone: nothing more to see.
                    return;
                }
            }
        }, "source-watch");
        thread.setDaemon(true);
        thread.start();
        return thread;
    }

    private static String ensureBody(final int memoryMb)
    {
        final ObjectNode body = properties();
        final ObjectNode spec = body.putObject("init").put("method", "Spec").putObject("value").putObject("spec");
        spec.putObject("board").put("cpus", 1).put("memory_mb", memoryMb)
            .putObject("chipset").put("type", "i440_fx").putObject("value").put("enable_pcie", false);
        spec.putObject("components").putObject("com1").put("type", "serial_port")
            .putObject("component").put("num", "com1");
        return body.toString();
    }

    private static String targetBody(final String sourceAddr)
    {
        final ObjectNode body = properties();
        body.putObject("init").put("method", "MigrationTarget").putObject("value")
            .put("migration_id", UUID.randomUUID().toString()).put("src_addr", sourceAddr)
            .putObject("replace_components");
        return body.toString();
    }

    private static ObjectNode properties()
    {
        final ObjectNode body = Json.mapper().createObjectNode();
        final ObjectNode properties = body.putObject("properties");
        properties.put("id", UUID.randomUUID().toString()).put("name", "perf-vm").put("description", "");
        properties.putObject("metadata").put("project_id", new UUID(1, 1).toString())
            .put("silo_id", new UUID(1, 2).toString()).put("sled_id", new UUID(1, 3).toString())
            .put("sled_model", "gimlet").put("sled_revision", 2).put("sled_serial", "perf");
        return body;
    }

    private static void waitFor(final java.util.function.BooleanSupplier done, final String what)
        throws InterruptedException
    {
        final long deadlineNs = System.nanoTime() + BOUND.toNanos();
        while (!done.getAsBoolean())
        {
            if (System.nanoTime() > deadlineNs)
            {
                throw new IllegalStateException("no " + what + " within " + BOUND);
            }
            Thread.sleep(5);
        }
    }

    /** A propolis-qemu process (TCG, the guest), killed with its QEMU on close. */
    private static final class Server implements AutoCloseable
    {
        final Process process;
        final String addr;
        final Path log;
        final Path runDir;

        private Server(final Process process, final String addr, final Path log, final Path runDir)
        {
            this.process = process;
            this.addr = addr;
            this.log = log;
            this.runDir = runDir;
        }

        static Server start(final BootSource boot) throws IOException
        {
            final Path log = Files.createTempFile("propolis-qemu-", ".log");
            final Path runDir = Files.createTempDirectory("pq-perf-");
            final Process process = new ProcessBuilder(PropolisQemuLauncher.command("127.0.0.1:0", null, "tcg",
                boot, runDir)).redirectError(log.toFile()).start();
            final BufferedReader out = new BufferedReader(new InputStreamReader(process.getInputStream(),
                StandardCharsets.UTF_8));
            for (String line = out.readLine(); line != null; line = out.readLine())
            {
                final Matcher ready = READY.matcher(line);
                if (ready.matches())
                {
                    return new Server(process, ready.group(1), log, runDir);
                }
            }
            process.destroyForcibly();
            throw new IOException("propolis-qemu did not start: " + Files.readString(log));
        }

        String call(final String method, final String path, final String body) throws Exception
        {
            final HttpResponse<String> answer = HTTP.send(HttpRequest.newBuilder(URI.create("http://" + addr + path))
                .timeout(BOUND).header("api-version", "5.0.0").header("content-type", "application/json")
                .method(method, HttpRequest.BodyPublishers.ofString(body == null ? "" : body)).build(),
                HttpResponse.BodyHandlers.ofString());
            if (answer.statusCode() / 100 != 2)
            {
                throw new IOException(method + " " + path + ": " + answer.statusCode() + " " + answer.body());
            }
            return answer.body();
        }

        String log()
        {
            try
            {
                return Files.readString(log);
            }
            catch (final IOException e)
            {
                return "";
            }
        }

        @Override
        public void close() throws Exception
        {
            process.descendants().forEach(ProcessHandle::destroyForcibly);
            process.destroyForcibly();
            process.waitFor(10, TimeUnit.SECONDS);
            Files.deleteIfExists(log);
            try (var paths = Files.walk(runDir))
            {
                paths.sorted(java.util.Comparator.reverseOrder()).forEach(path -> path.toFile().delete());
            }
        }
    }

    /** A serial WebSocket client that timestamps each {@code tick N} line as it arrives. */
    private static final class Ticks implements WebSocket.Listener, AutoCloseable
    {
        private final StringBuilder pending = new StringBuilder();
        /** First arrival of each tick number (a target replays the moved history: those are not new). */
        private final Map<Integer, Long> arrivalsNs = new ConcurrentHashMap<>();
        private final WebSocket socket;

        Ticks(final String addr) throws Exception
        {
            socket = HTTP.newWebSocketBuilder().header("api-version", "5.0.0")
                .buildAsync(URI.create("ws://" + addr + "/instance/serial"), this).get(10, TimeUnit.SECONDS);
        }

        @Override
        public CompletionStage<?> onBinary(final WebSocket webSocket, final ByteBuffer data, final boolean last)
        {
            final long nowNs = System.nanoTime();
            synchronized (pending)
            {
                while (data.hasRemaining())
                {
                    pending.append((char) (data.get() & 0xff));
                }
                final Matcher tick = TICK.matcher(pending);
                int end = 0;
                while (tick.find())
                {
                    arrivalsNs.putIfAbsent(Integer.parseInt(tick.group(1)), nowNs);
                    end = tick.end();
                }
                pending.delete(0, end);
            }
            webSocket.request(1);
            return null;
        }

        int count()
        {
            return arrivalsNs.size();
        }

        Long arrivalNs(final int tick)
        {
            return arrivalsNs.get(tick);
        }

        int last()
        {
            return arrivalsNs.keySet().stream().mapToInt(Integer::intValue).max().orElse(0);
        }

        @Override
        public void close()
        {
            socket.abort();
        }
    }
}
