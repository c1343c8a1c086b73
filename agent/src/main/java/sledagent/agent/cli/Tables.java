package sledagent.agent.cli;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** Plain-text layout: left-aligned columns two spaces apart, and aligned {@code key: value} lines. */
public final class Tables
{
    private static final String GAP = "  ";

    private Tables()
    {
    }

    /**
     * A table with a header line and one line per row; every line ends with a newline, none with spaces.
     *
     * @param headers the column titles
     * @param rows    the cells, each row as long as {@code headers}
     * @return the table text
     */
    public static String table(final List<String> headers, final List<List<String>> rows)
    {
        final int[] widths = new int[headers.size()];
        final List<List<String>> lines = new ArrayList<>(rows.size() + 1);
        lines.add(headers);
        lines.addAll(rows);
        for (final List<String> line : lines)
        {
            if (line.size() != headers.size())
            {
                throw new IllegalArgumentException("row has " + line.size() + " cells, table has "
                    + headers.size() + " columns");
            }
            for (int column = 0; column < widths.length; column++)
            {
                widths[column] = Math.max(widths[column], line.get(column).length());
            }
        }
        final StringBuilder text = new StringBuilder();
        for (final List<String> line : lines)
        {
            final StringBuilder row = new StringBuilder();
            for (int column = 0; column < widths.length; column++)
            {
                if (column > 0)
                {
                    row.append(GAP);
                }
                row.append(pad(line.get(column), widths[column]));
            }
            text.append(row.toString().stripTrailing()).append('\n');
        }
        return text.toString();
    }

    /**
     * {@code key: value} lines with the values aligned, in the entries' order.
     *
     * @param entries keys and values
     * @return the lines, each ending with a newline
     */
    public static String keyValues(final List<Map.Entry<String, String>> entries)
    {
        int width = 0;
        for (final Map.Entry<String, String> entry : entries)
        {
            width = Math.max(width, entry.getKey().length() + 1);
        }
        final StringBuilder text = new StringBuilder();
        for (final Map.Entry<String, String> entry : entries)
        {
            text.append(pad(entry.getKey() + ":", width)).append(GAP).append(entry.getValue()).append('\n');
        }
        return text.toString();
    }

    private static String pad(final String cell, final int width)
    {
        return cell.length() >= width ? cell : cell + " ".repeat(width - cell.length());
    }
}
