package sledagent.agent.cli;

import java.io.PrintStream;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

/**
 * {@code vmm watch}: polls {@code GET /vmms} at a fixed rate and prints one line per change. It is a poll, not
 * a subscription (the agent has no push endpoint), so a state held for less than one interval may be missed;
 * the generation shows how many publications happened in between.
 *
 * <p>The first poll must succeed (otherwise the command fails); later failures are reported on stderr once
 * and the loop keeps polling, diffing against the last answer it had when the agent answers again.
 */
public final class WatchLoop
{
    /** The bound on one poll; shorter near the end of {@code --for}. */
    public static final Duration POLL_TIMEOUT = Duration.ofSeconds(5);

    private static final long MIN_POLL_TIMEOUT_MS = 500;

    private final AgentApi api;
    private final long intervalMs;
    private final long forMs;
    private final boolean json;
    private final PrintStream out;
    private final PrintStream err;

    /**
     * A watch.
     *
     * @param api        the agent
     * @param intervalMs time between two polls
     * @param forMs      how long to watch; 0 means until interrupted
     * @param json       one JSON object per line instead of text
     * @param out        where events go
     * @param err        where notes about lost and regained contact go
     */
    public WatchLoop(final AgentApi api, final long intervalMs, final long forMs, final boolean json,
        final PrintStream out, final PrintStream err)
    {
        if (intervalMs <= 0 || forMs < 0)
        {
            throw new IllegalArgumentException("interval must be positive and duration not negative");
        }
        this.api = api;
        this.intervalMs = intervalMs;
        this.forMs = forMs;
        this.json = json;
        this.out = out;
        this.err = err;
    }

    /**
     * Watches until {@code forMs} has passed (or forever when 0).
     *
     * @throws AgentException       when the first poll fails
     * @throws InterruptedException when the thread is interrupted (the operator's way to stop it in-process)
     */
    public void run() throws AgentException, InterruptedException
    {
        final long start = System.nanoTime();
        final long deadline = start + TimeUnit.MILLISECONDS.toNanos(forMs);
        final long interval = TimeUnit.MILLISECONDS.toNanos(intervalMs);
        Map<UUID, VmmView> last = null;
        boolean lost = false;
        long next = start;
        if (!json)
        {
            err.println("watching the VMMs of the agent at " + api.url() + ": polling every " + intervalMs + "ms"
                + (forMs == 0 ? " until interrupted" : " for " + forMs + "ms"));
        }
        while (true)
        {
            final Duration timeout = forMs == 0 ? POLL_TIMEOUT
                : Duration.ofMillis(Math.min(POLL_TIMEOUT.toMillis(),
                    Math.max(MIN_POLL_TIMEOUT_MS, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime()))));
            try
            {
                final List<VmmView> vmms = api.list(timeout).value();
                if (lost)
                {
                    err.println("sled-agent: the agent at " + api.url() + " answers again");
                    lost = false;
                }
                for (final WatchEvent event : Changes.between(last, vmms, Instant.now()))
                {
                    out.println(json ? event.json() : event.text());
                }
                out.flush();
                last = Changes.index(vmms);
            }
            catch (final AgentException ex)
            {
                if (last == null)
                {
                    throw ex;
                }
                if (!lost)
                {
                    err.println("sled-agent: " + ex.getMessage() + " (still polling every " + intervalMs + "ms)");
                    lost = true;
                }
            }
            final long now = System.nanoTime();
            next += interval;
            if (now - next > 0)
            {
                // The poll took longer than the interval: poll again at once rather than in a burst.
                next = now;
            }
            if (forMs > 0 && next - deadline > 0)
            {
                return;
            }
            TimeUnit.NANOSECONDS.sleep(next - System.nanoTime());
        }
    }
}
