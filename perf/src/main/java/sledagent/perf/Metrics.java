package sledagent.perf;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.HdrHistogram.Histogram;

/**
 * Named latency histograms in microseconds (HdrHistogram, 3 significant digits, auto-resizing), plus the raw
 * samples of each run for a CSV. Printed in milliseconds; each metric is written as an {@code .hgrm} percentile
 * file (values in microseconds) that HdrHistogram's plotter reads.
 */
final class Metrics
{
    private final String scenario;
    private final Map<String, Histogram> histograms = new LinkedHashMap<>();
    private final Map<String, String> descriptions = new LinkedHashMap<>();
    private final List<String> csvHeader = new ArrayList<>();
    private final List<List<String>> csvRows = new ArrayList<>();

    Metrics(final String scenario)
    {
        this.scenario = scenario;
    }

    /** Declares a metric (the order of declaration is the order of printing). */
    void define(final String name, final String description)
    {
        final Histogram histogram = new Histogram(3);
        histogram.setAutoResize(true);
        histograms.put(name, histogram);
        descriptions.put(name, description);
    }

    /** Records one value; negative values (clock noise) count as 0. */
    void record(final String name, final long micros)
    {
        final Histogram histogram = histograms.get(name);
        if (histogram == null)
        {
            throw new IllegalArgumentException("undefined metric " + name);
        }
        histogram.recordValue(Math.max(0, micros));
    }

    Histogram histogram(final String name)
    {
        return histograms.get(name);
    }

    /** Columns of the per-sample CSV. */
    void csvColumns(final String... names)
    {
        csvHeader.clear();
        csvHeader.addAll(List.of(names));
    }

    void csvRow(final Object... values)
    {
        final List<String> row = new ArrayList<>(values.length);
        for (final Object value : values)
        {
            row.add(String.valueOf(value));
        }
        csvRows.add(row);
    }

    /** One line per metric: count, p50, p90, p99, max, mean, in milliseconds. */
    void print(final PrintStream out)
    {
        out.printf(Locale.ROOT, "%-28s %6s %9s %9s %9s %9s %9s  %s%n", "metric (ms)", "n", "p50", "p90", "p99",
            "max", "mean", "what");
        for (final Map.Entry<String, Histogram> entry : histograms.entrySet())
        {
            final Histogram h = entry.getValue();
            if (h.getTotalCount() == 0)
            {
                out.printf(Locale.ROOT, "%-28s %6d %9s %9s %9s %9s %9s  %s%n", entry.getKey(), 0, "-", "-", "-", "-",
                    "-", descriptions.get(entry.getKey()));
                continue;
            }
            out.printf(Locale.ROOT, "%-28s %6d %9.3f %9.3f %9.3f %9.3f %9.3f  %s%n", entry.getKey(), h.getTotalCount(),
                ms(h.getValueAtPercentile(50)), ms(h.getValueAtPercentile(90)), ms(h.getValueAtPercentile(99)),
                ms(h.getMaxValue()), h.getMean() / 1000.0, descriptions.get(entry.getKey()));
        }
    }

    /** Writes {@code <scenario>.<metric>.hgrm} per metric and {@code <scenario>.samples.csv}; returns the files. */
    List<Path> write(final Path dir) throws IOException
    {
        Files.createDirectories(dir);
        final List<Path> written = new ArrayList<>();
        for (final Map.Entry<String, Histogram> entry : histograms.entrySet())
        {
            if (entry.getValue().getTotalCount() == 0)
            {
                continue;
            }
            final Path file = dir.resolve(scenario + "." + entry.getKey() + ".hgrm");
            try (PrintStream out = new PrintStream(Files.newOutputStream(file), false, "US-ASCII"))
            {
                // Scaling ratio 1: values (and the file) are in microseconds.
                entry.getValue().outputPercentileDistribution(out, 1.0);
            }
            written.add(file);
        }
        if (!csvHeader.isEmpty())
        {
            final Path csv = dir.resolve(scenario + ".samples.csv");
            final StringBuilder text = new StringBuilder(String.join(",", csvHeader)).append('\n');
            for (final List<String> row : csvRows)
            {
                text.append(String.join(",", row)).append('\n');
            }
            Files.writeString(csv, text);
            written.add(csv);
        }
        return written;
    }

    static double ms(final long micros)
    {
        return micros / 1000.0;
    }
}
