package sledagent.perf;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Named samples (in the figure's own unit, e.g. ms) and their table: n, min, median, p90, max of each figure, in
 * the order the figures were first recorded. Percentiles are nearest-rank (the smallest sample with at least p% of
 * the samples at or below it), so every number printed is a sample that was measured. Not thread-safe: the
 * scenarios record from one thread once their workers are done.
 */
final class FigureTable
{
    /** min / median / p90 / max of one figure. */
    record Summary(int n, double min, double median, double p90, double max)
    {
    }

    private final Map<String, List<Double>> figures = new LinkedHashMap<>();

    /** Adds one sample of {@code name}. */
    void add(final String name, final double value)
    {
        figures.computeIfAbsent(name, k -> new ArrayList<>()).add(value);
    }

    /** The summary of {@code name}, or null if it has no sample. */
    Summary summary(final String name)
    {
        final List<Double> values = figures.get(name);
        return values == null || values.isEmpty() ? null : summarize(values);
    }

    /** n, min, nearest-rank median and p90, max of a non-empty list. */
    static Summary summarize(final List<Double> samples)
    {
        if (samples.isEmpty())
        {
            throw new IllegalArgumentException("no samples");
        }
        final List<Double> sorted = new ArrayList<>(samples);
        sorted.sort(null);
        return new Summary(sorted.size(), sorted.get(0), percentile(sorted, 50), percentile(sorted, 90),
            sorted.get(sorted.size() - 1));
    }

    /** The nearest-rank {@code p}th percentile (0 < p <= 100) of an ascending, non-empty list. */
    static double percentile(final List<Double> sorted, final double p)
    {
        if (p <= 0 || p > 100)
        {
            throw new IllegalArgumentException("percentile must be in (0, 100]: " + p);
        }
        final int rank = (int)Math.ceil(p / 100 * sorted.size());
        return sorted.get(Math.max(rank, 1) - 1);
    }

    /** The table: a header line, then one line per figure (two decimals). */
    String format()
    {
        final StringBuilder table = new StringBuilder();
        table.append(String.format(Locale.ROOT, "%-66s %4s %9s %9s %9s %9s%n", "figure", "n", "min", "median", "p90",
            "max"));
        for (final Map.Entry<String, List<Double>> entry : figures.entrySet())
        {
            final Summary s = summarize(entry.getValue());
            table.append(String.format(Locale.ROOT, "%-66s %4d %9.2f %9.2f %9.2f %9.2f%n", entry.getKey(), s.n(),
                s.min(), s.median(), s.p90(), s.max()));
        }
        return table.toString();
    }
}
