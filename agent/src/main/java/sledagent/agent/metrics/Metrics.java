package sledagent.agent.metrics;

import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import org.HdrHistogram.ConcurrentHistogram;
import org.HdrHistogram.Histogram;

/**
 * The agent's counters and latency histograms, written from any thread without locks (LongAdder,
 * ConcurrentHistogram) and read by {@link PrometheusText} when {@code GET /metrics} is scraped. Gauges that
 * exist elsewhere (VMMs by state, publisher queue) are read at scrape time, not duplicated here.
 */
public final class Metrics
{
    /** Latencies are recorded in microseconds up to an hour, with 3 significant digits. */
    private static final long MAX_US = TimeUnit.HOURS.toMicros(1);
    private static final int DIGITS = 3;

    /** Refused: over the limit and the reserve. */
    public static final String CONNECTION_LIMIT = "limit";
    /** Refused: admitted into the reserve, but its request was not health or force-terminate. */
    public static final String CONNECTION_RESERVE = "reserve";
    /** Closed: no request for the idle timeout. */
    public static final String TIMEOUT_IDLE = "idle";
    /** Answered 408 and closed: a request not read in full within the read timeout. */
    public static final String TIMEOUT_READ = "read";

    private final Map<String, Map<Integer, LongAdder>> requests = new ConcurrentHashMap<>();
    private final Map<String, ConcurrentHistogram> requestLatency = new ConcurrentHashMap<>();
    private final ConcurrentHistogram teardown = histogram();
    private final Map<String, LongAdder> forcedKills = new ConcurrentHashMap<>();
    private final Map<String, LongAdder> crashes = new ConcurrentHashMap<>();
    private final LongAdder teardownRetries = new LongAdder();
    private final LongAdder publishRetries = new LongAdder();
    private final LongAdder publishAcknowledged = new LongAdder();
    private final LongAdder publishRefused = new LongAdder();
    private final LongAdder publishWoken = new LongAdder();
    private final AtomicInteger stopDeadlinesPending = new AtomicInteger();
    private final LongAdder recordWriteFailures = new LongAdder();
    private final AtomicInteger recordsBehind = new AtomicInteger();
    private final Map<String, LongAdder> killsWithoutRecord = new ConcurrentHashMap<>();
    private final LongAdder vmmFaults = new LongAdder();
    private final AtomicInteger openConnections = new AtomicInteger();
    private final Map<String, LongAdder> connectionsRefused = new ConcurrentHashMap<>(
        Map.of(CONNECTION_LIMIT, new LongAdder(), CONNECTION_RESERVE, new LongAdder()));
    private final Map<String, LongAdder> connectionsTimedOut = new ConcurrentHashMap<>(
        Map.of(TIMEOUT_IDLE, new LongAdder(), TIMEOUT_READ, new LongAdder()));

    private static ConcurrentHistogram histogram()
    {
        final ConcurrentHistogram histogram = new ConcurrentHistogram(MAX_US, DIGITS);
        histogram.setAutoResize(false);
        return histogram;
    }

    /** One HTTP request answered: route name, status, and time from request to response. */
    public void request(final String route, final int status, final long nanos)
    {
        requests.computeIfAbsent(route, r -> new ConcurrentHashMap<>())
            .computeIfAbsent(status, s -> new LongAdder()).increment();
        requestLatency.computeIfAbsent(route, r -> histogram()).recordValue(clampUs(nanos));
    }

    /** A zone came down: kill, empty, removed. */
    public void teardown(final long nanos)
    {
        teardown.recordValue(clampUs(nanos));
    }

    public void teardownRetry()
    {
        teardownRetries.increment();
    }

    /** A VMM killed without its cooperation: {@code grace_expired} or {@code force_terminate}. */
    public void forcedKill(final String reason)
    {
        forcedKills.computeIfAbsent(reason, r -> new LongAdder()).increment();
    }

    /** A VMM that died on its own: {@code process_exit}, {@code propolis_lost}. */
    public void crash(final String kind)
    {
        crashes.computeIfAbsent(kind, k -> new LongAdder()).increment();
    }

    public void publishRetry()
    {
        publishRetries.increment();
    }

    public void publishAcknowledged()
    {
        publishAcknowledged.increment();
    }

    /** {@code count} VMMs waiting in back-off were retried at once because Nexus answered again. */
    public void publishWoken(final int count)
    {
        publishWoken.add(count);
    }

    long publishWokenCount()
    {
        return publishWoken.sum();
    }

    public void publishRefused()
    {
        publishRefused.increment();
    }

    public void stopDeadlineArmed()
    {
        stopDeadlinesPending.incrementAndGet();
    }

    public void stopDeadlineDone()
    {
        stopDeadlinesPending.decrementAndGet();
    }

    /** A VMM record could not be written (it is retried; see {@link #recordBehind}). */
    public void recordWriteFailed()
    {
        recordWriteFailures.increment();
    }

    /** A VMM's record fell behind its state ({@code true}) or caught up again ({@code false}). */
    public void recordBehind(final boolean behind)
    {
        if (behind)
        {
            recordsBehind.incrementAndGet();
        }
        else
        {
            recordsBehind.decrementAndGet();
        }
    }

    /** A kill carried out although its record could not be written: {@code journalled} or not even that. */
    public void killWithoutRecord(final boolean journalled)
    {
        killsWithoutRecord.computeIfAbsent(journalled ? "journalled" : "lost", k -> new LongAdder()).increment();
    }

    /** Handling an event of a VMM threw; the VMM was ended. */
    public void vmmFault()
    {
        vmmFaults.increment();
    }

    /** A connection was accepted; returns how many are open now (this one included). */
    public int connectionOpened()
    {
        return openConnections.incrementAndGet();
    }

    public void connectionClosed()
    {
        openConnections.decrementAndGet();
    }

    /** A connection refused: {@link #CONNECTION_LIMIT} or {@link #CONNECTION_RESERVE}. */
    public void connectionRefused(final String reason)
    {
        connectionsRefused.computeIfAbsent(reason, r -> new LongAdder()).increment();
    }

    /** A connection closed by a timeout: {@link #TIMEOUT_IDLE} or {@link #TIMEOUT_READ}. */
    public void connectionTimedOut(final String kind)
    {
        connectionsTimedOut.computeIfAbsent(kind, k -> new LongAdder()).increment();
    }

    // ---- reads, for the exposition ----

    long recordWriteFailureCount()
    {
        return recordWriteFailures.sum();
    }

    int recordsBehindCount()
    {
        return Math.max(0, recordsBehind.get());
    }

    Map<String, Long> killsWithoutRecord()
    {
        return sums(killsWithoutRecord);
    }

    long vmmFaultCount()
    {
        return vmmFaults.sum();
    }

    int openConnections()
    {
        return Math.max(0, openConnections.get());
    }

    Map<String, Long> connectionsRefused()
    {
        return sums(connectionsRefused);
    }

    Map<String, Long> connectionsTimedOut()
    {
        return sums(connectionsTimedOut);
    }

    Map<String, Map<Integer, Long>> requestCounts()
    {
        final Map<String, Map<Integer, Long>> copy = new TreeMap<>();
        requests.forEach((route, byStatus) ->
        {
            final Map<Integer, Long> statuses = new TreeMap<>();
            byStatus.forEach((status, count) -> statuses.put(status, count.sum()));
            copy.put(route, statuses);
        });
        return copy;
    }

    Map<String, Histogram> requestLatencies()
    {
        final Map<String, Histogram> copy = new TreeMap<>();
        requestLatency.forEach((route, histogram) -> copy.put(route, histogram.copy()));
        return copy;
    }

    Histogram teardownLatency()
    {
        return teardown.copy();
    }

    Map<String, Long> forcedKills()
    {
        return sums(forcedKills);
    }

    Map<String, Long> crashes()
    {
        return sums(crashes);
    }

    long teardownRetries()
    {
        return teardownRetries.sum();
    }

    long publishRetryCount()
    {
        return publishRetries.sum();
    }

    long publishAcknowledgedCount()
    {
        return publishAcknowledged.sum();
    }

    long publishRefusedCount()
    {
        return publishRefused.sum();
    }

    int stopDeadlinesPending()
    {
        return Math.max(0, stopDeadlinesPending.get());
    }

    private static Map<String, Long> sums(final Map<String, LongAdder> adders)
    {
        final Map<String, Long> copy = new TreeMap<>();
        adders.forEach((key, adder) -> copy.put(key, adder.sum()));
        return copy;
    }

    private static long clampUs(final long nanos)
    {
        return Math.min(MAX_US, Math.max(0, TimeUnit.NANOSECONDS.toMicros(nanos)));
    }
}
