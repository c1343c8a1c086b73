// Issue 14 probe: T threads, each saving its own VMM record K times through FileVmmStore.save on /tmp (ext4).
// Run: java -cp perf/target/benchmarks.jar perf/scripts/probes/WriteProbe.java T K
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.UUID;
import sledagent.agent.demo.ExampleBodies;
import sledagent.agent.persist.FileVmmStore;
import sledagent.agent.vmm.StoredVmm;
import sledagent.agent.vmm.VmmRecord;
import sledagent.api.InstanceEnsureBody;
import sledagent.api.Json;

/** T threads, each saving its own VMM's record K times with FileVmmStore.save (blocking) on a real disk. */
public class WriteProbe
{
    public static void main(String[] args) throws Exception
    {
        final int threads = Integer.parseInt(args[0]);
        final int each = Integer.parseInt(args[1]);
        final Path dir = Files.createTempDirectory(Path.of("/tmp"), "i14probe");
        final FileVmmStore store = new FileVmmStore(dir);
        final long[][] lat = new long[threads][each];
        final List<Thread> ts = new ArrayList<>();
        final long t0 = System.nanoTime();
        for (int t = 0; t < threads; t++)
        {
            final int tt = t;
            final UUID id = UUID.randomUUID();
            final String body = ExampleBodies.ensureBody(UUID.randomUUID(), "127.0.0.1:1", 1);
            final VmmRecord rec = VmmRecord.registered(id, Json.mapper().readValue(body, InstanceEnsureBody.class),
                Instant.now(), 600_000);
            final Thread th = new Thread(() -> {
                try
                {
                    for (int k = 0; k < each; k++)
                    {
                        final long s = System.nanoTime();
                        store.save(StoredVmm.of(rec, k + 1, 1));
                        lat[tt][k] = System.nanoTime() - s;
                    }
                }
                catch (Exception e)
                {
                    throw new RuntimeException(e);
                }
            });
            th.start();
            ts.add(th);
        }
        for (Thread th : ts)
        {
            th.join();
        }
        final long total = System.nanoTime() - t0;
        store.close();
        final long[] all = Arrays.stream(lat).flatMapToLong(Arrays::stream).sorted().toArray();
        System.out.printf("threads %d x %d saves: %.0f saves/s, latency p50 %.2f ms p99 %.2f ms%n", threads, each,
            threads * each / (total / 1e9), all[all.length / 2] / 1e6, all[(int)(all.length * 0.99)] / 1e6);
        try (var s = Files.walk(dir))
        {
            s.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }
}
