package sledagent.perf;

import java.net.InetSocketAddress;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.HdrHistogram.Histogram;
import sledagent.agent.demo.AgentHttpClient;
import sledagent.agent.demo.ExampleBodies;

/** Registers VMMs over HTTP, {@code threads} at a time. */
final class Register
{
    private Register()
    {
    }

    record Registered(List<UUID> ids)
    {
    }

    /** Registers {@code count} VMMs; {@code latencyNs} (may be null) gets each {@code PUT}'s time. */
    static Registered all(final InetSocketAddress agent, final int count, final int threads,
        final Histogram latencyNs) throws Exception
    {
        final AgentHttpClient client = new AgentHttpClient(URI.create("http://" + agent.getHostString() + ":"
            + agent.getPort()), Duration.ofSeconds(30));
        final List<UUID> ids = new ArrayList<>(count);
        for (int i = 0; i < count; i++)
        {
            ids.add(UUID.randomUUID());
        }
        final AtomicInteger next = new AtomicInteger();
        final AtomicLong failures = new AtomicLong();
        final List<Histogram> perThread = new ArrayList<>();
        final ExecutorService pool = Executors.newFixedThreadPool(threads, LoadAgent.daemon("register"));
        try
        {
            final List<Future<?>> futures = new ArrayList<>();
            for (int t = 0; t < threads; t++)
            {
                final Histogram mine = Measure.histogram();
                perThread.add(mine);
                futures.add(pool.submit(() ->
                {
                    int i;
                    while ((i = next.getAndIncrement()) < count)
                    {
                        final UUID id = ids.get(i);
                        final long start = System.nanoTime();
                        final AgentHttpClient.Answer answer = client.register(id,
                            ExampleBodies.ensureBody(UUID.randomUUID(), "127.0.0.1:" + (20_000 + i % 40_000), 1));
                        mine.recordValue(Math.min(OpenLoopClient.HIGHEST_NS, System.nanoTime() - start));
                        if (answer.status() != 200 && failures.incrementAndGet() == 1)
                        {
                            System.err.println("register " + id + ": " + answer.status() + " " + answer.body());
                        }
                        if (i > 0 && i % 20_000 == 0)
                        {
                            System.out.printf("  registered %d/%d%n", i, count);
                        }
                    }
                    return null;
                }));
            }
            for (final Future<?> future : futures)
            {
                future.get();
            }
        }
        finally
        {
            pool.shutdownNow();
        }
        if (failures.get() > 0)
        {
            throw new IllegalStateException(failures.get() + " of " + count + " registers failed");
        }
        if (latencyNs != null)
        {
            perThread.forEach(latencyNs::add);
        }
        return new Registered(ids);
    }
}
