package sledagent.agent.metrics;

import java.util.EnumMap;
import java.util.Locale;
import java.util.Map;
import java.util.function.Supplier;
import org.HdrHistogram.Histogram;
import sledagent.api.VmmState;

/**
 * Renders the metrics in the Prometheus text exposition format (version 0.0.4). Latencies are summaries in
 * seconds with quantiles 0.5, 0.9, 0.99, 0.999 and max from HdrHistogram, since the agent started.
 */
public final class PrometheusText
{
    public static final String CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";
    private static final double[] QUANTILES = {0.5, 0.9, 0.99, 0.999};

    private final Metrics metrics;
    private final Supplier<Map<VmmState, Integer>> vmmsByState;
    private final Supplier<PublisherStats> publisher;

    /** What the publisher reports at scrape time. */
    public record PublisherStats(int queueDepth, long oldestLagMs)
    {
    }

    public PrometheusText(final Metrics metrics, final Supplier<Map<VmmState, Integer>> vmmsByState,
        final Supplier<PublisherStats> publisher)
    {
        this.metrics = metrics;
        this.vmmsByState = vmmsByState;
        this.publisher = publisher;
    }

    public String render()
    {
        final StringBuilder out = new StringBuilder(4096);
        header(out, "sled_agent_vmms", "gauge", "VMMs in the table by published state.");
        final Map<VmmState, Integer> byState = new EnumMap<>(VmmState.class);
        for (final VmmState state : VmmState.values())
        {
            byState.put(state, 0);
        }
        byState.putAll(vmmsByState.get());
        byState.forEach((state, count) -> out.append("sled_agent_vmms{state=\"").append(state.wireName())
            .append("\"} ").append(count).append('\n'));

        header(out, "sled_agent_http_requests_total", "counter", "HTTP requests answered, by route and status.");
        metrics.requestCounts().forEach((route, statuses) -> statuses.forEach((status, count) ->
            out.append("sled_agent_http_requests_total{route=\"").append(route).append("\",status=\"")
                .append(status).append("\"} ").append(count).append('\n')));
        header(out, "sled_agent_http_request_duration_seconds", "summary",
            "Time from request to response, by route.");
        metrics.requestLatencies().forEach((route, histogram) ->
            summary(out, "sled_agent_http_request_duration_seconds", "route=\"" + route + "\"", histogram));

        header(out, "sled_agent_http_connections_open", "gauge", "HTTP connections open now.");
        out.append("sled_agent_http_connections_open ").append(metrics.openConnections()).append('\n');
        header(out, "sled_agent_http_connections_refused_total", "counter",
            "HTTP connections refused: over the limit and its reserve, or in the reserve for another request.");
        metrics.connectionsRefused().forEach((reason, count) -> out.append(
            "sled_agent_http_connections_refused_total{reason=\"").append(reason).append("\"} ").append(count)
            .append('\n'));
        header(out, "sled_agent_http_connections_timed_out_total", "counter",
            "HTTP connections closed by a timeout: idle (no request) or read (request not in within the bound, 408).");
        metrics.connectionsTimedOut().forEach((kind, count) -> out.append(
            "sled_agent_http_connections_timed_out_total{kind=\"").append(kind).append("\"} ").append(count)
            .append('\n'));

        final PublisherStats stats = publisher.get();
        header(out, "sled_agent_publish_queue_depth", "gauge", "VMMs with a state not yet acknowledged by Nexus.");
        out.append("sled_agent_publish_queue_depth ").append(stats.queueDepth()).append('\n');
        header(out, "sled_agent_publish_lag_seconds", "gauge",
            "Age of the oldest state not yet acknowledged by Nexus (0 when none).");
        out.append("sled_agent_publish_lag_seconds ").append(seconds(stats.oldestLagMs() * 1000)).append('\n');
        counter(out, "sled_agent_publish_retries_total", "Publish attempts retried (connection error or 5xx).",
            metrics.publishRetryCount());
        counter(out, "sled_agent_publish_acknowledged_total", "States acknowledged by Nexus.",
            metrics.publishAcknowledgedCount());
        counter(out, "sled_agent_publish_refused_total", "States refused by Nexus with a 4xx (dropped).",
            metrics.publishRefusedCount());
        counter(out, "sled_agent_publish_woken_total", "Retries moved forward (back-off reset) because Nexus "
            + "answered again after failures.", metrics.publishWokenCount());

        header(out, "sled_agent_stop_deadlines_pending", "gauge", "Stop grace deadlines armed and not yet done.");
        out.append("sled_agent_stop_deadlines_pending ").append(metrics.stopDeadlinesPending()).append('\n');

        header(out, "sled_agent_zone_teardown_duration_seconds", "summary",
            "Kill, wait until empty, remove: per zone.");
        summary(out, "sled_agent_zone_teardown_duration_seconds", null, metrics.teardownLatency());
        counter(out, "sled_agent_zone_teardown_retries_total",
            "Teardowns retried (zone would not empty or be removed).",
            metrics.teardownRetries());

        counter(out, "sled_agent_record_write_failures_total",
            "VMM record writes that failed (full disk, no descriptor, I/O error); each is retried.",
            metrics.recordWriteFailureCount());
        header(out, "sled_agent_records_behind", "gauge", "VMMs whose record on disk is behind their state.");
        out.append("sled_agent_records_behind ").append(metrics.recordsBehindCount()).append('\n');
        header(out, "sled_agent_kills_without_record_total", "counter",
            "Stops, force-terminates and unregisters carried out while their record could not be written, by "
            + "whether the kill journal kept them.");
        metrics.killsWithoutRecord().forEach((kind, count)
            -> out.append("sled_agent_kills_without_record_total{kept=\"")
            .append(kind).append("\"} ").append(count).append('\n'));
        counter(out, "sled_agent_vmm_faults_total", "VMMs ended because handling one of their events threw.",
            metrics.vmmFaultCount());

        header(out, "sled_agent_forced_kills_total", "counter", "VMMs killed without their cooperation, by reason.");
        metrics.forcedKills().forEach((reason, count) -> out.append("sled_agent_forced_kills_total{reason=\"")
            .append(reason).append("\"} ").append(count).append('\n'));
        header(out, "sled_agent_crashes_total", "counter", "VMMs that died on their own, by kind.");
        metrics.crashes().forEach((kind, count) -> out.append("sled_agent_crashes_total{kind=\"").append(kind)
            .append("\"} ").append(count).append('\n'));
        return out.toString();
    }

    private static void header(final StringBuilder out, final String name, final String type, final String help)
    {
        out.append("# HELP ").append(name).append(' ').append(help).append('\n');
        out.append("# TYPE ").append(name).append(' ').append(type).append('\n');
    }

    private static void counter(final StringBuilder out, final String name, final String help, final long value)
    {
        header(out, name, "counter", help);
        out.append(name).append(' ').append(value).append('\n');
    }

    private static void summary(final StringBuilder out, final String name, final String labels,
        final Histogram histogram)
    {
        final String prefix = labels == null ? "" : labels + ",";
        for (final double quantile : QUANTILES)
        {
            out.append(name).append('{').append(prefix).append("quantile=\"").append(quantile).append("\"} ")
                .append(seconds(histogram.getValueAtPercentile(quantile * 100))).append('\n');
        }
        out.append(name).append('{').append(prefix).append("quantile=\"1.0\"} ")
            .append(seconds(histogram.getMaxValue())).append('\n');
        final String suffixLabels = labels == null ? "" : "{" + labels + "}";
        out.append(name).append("_sum").append(suffixLabels).append(' ')
            .append(seconds(Math.round(histogram.getMean() * histogram.getTotalCount()))).append('\n');
        out.append(name).append("_count").append(suffixLabels).append(' ').append(histogram.getTotalCount())
            .append('\n');
    }

    private static String seconds(final long micros)
    {
        return String.format(Locale.ROOT, "%.6f", micros / 1_000_000.0);
    }
}
