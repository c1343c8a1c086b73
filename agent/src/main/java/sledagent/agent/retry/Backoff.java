package sledagent.agent.retry;

import java.util.concurrent.ThreadLocalRandom;

/** Capped exponential back-off with optional jitter: {@code initialMs * 2^attempt}, capped, then +-jitter. */
public record Backoff(long initialMs, long maxMs, double jitter)
{
    /** The publisher's policy (omicron's retry_policy_internal_service): 250 ms, x2, cap 180 s, +-50 %. */
    public static final Backoff PUBLISH = new Backoff(250, 180_000, 0.5);
    /** Local waits (Propolis polling; omicron's retry_policy_local): 50 ms, x2, cap 1 s. */
    public static final Backoff LOCAL = new Backoff(50, 1_000, 0.0);
    /** Retrying a zone that would not come down: 1 s, x2, cap 30 s. */
    public static final Backoff TEARDOWN = new Backoff(1_000, 30_000, 0.0);

    public Backoff
    {
        if (initialMs <= 0 || maxMs < initialMs || jitter < 0 || jitter >= 1)
        {
            throw new IllegalArgumentException("bad backoff " + initialMs + "/" + maxMs + "/" + jitter);
        }
    }

    /** The delay before retry number {@code attempt} (0 = the first retry). */
    public long delayMs(final int attempt)
    {
        final int shift = Math.min(Math.max(attempt, 0), 30);
        final long base = Math.min(maxMs, initialMs << shift);
        if (jitter == 0)
        {
            return base;
        }
        final double factor = 1 + ThreadLocalRandom.current().nextDouble(-jitter, jitter);
        return Math.max(1, Math.min(maxMs, Math.round(base * factor)));
    }
}
