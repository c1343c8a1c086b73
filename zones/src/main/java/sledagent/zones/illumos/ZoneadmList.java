package sledagent.zones.illumos;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import sledagent.zones.ZoneException;

/**
 * Parses {@code zoneadm list -cip}: one zone per line, {@code id:name:state:path:uuid:brand:ip-type}, where id
 * is {@code -} for a zone that is not ready or running, and a {@code :} inside the path is written {@code \:}.
 * Newer illumos appends fields (e.g. a debug id); they are ignored. Older ones print only the first four.
 */
public final class ZoneadmList
{
    private static final int MIN_FIELDS = 4;

    private ZoneadmList()
    {
    }

    /** One line of the listing. {@code id} is empty unless the zone is ready or running. */
    public record Entry(Optional<Long> id, String name, ZoneState state, String stateText, String path, String uuid,
        String brand, String ipType)
    {
    }

    /**
     * Parses the whole output; blank lines are skipped.
     *
     * @throws ZoneException for a line with fewer than four fields or a non-numeric id.
     */
    public static List<Entry> parse(final String output)
    {
        final List<Entry> entries = new ArrayList<>();
        for (final String line : output.split("\n"))
        {
            if (!line.isBlank())
            {
                entries.add(parseLine(line.strip()));
            }
        }
        return entries;
    }

    /** Parses one line. */
    public static Entry parseLine(final String line)
    {
        final List<String> fields = split(line);
        if (fields.size() < MIN_FIELDS)
        {
            throw new ZoneException("unexpected zoneadm list -p line: " + line);
        }
        final String idText = fields.get(0);
        final Optional<Long> id;
        try
        {
            id = "-".equals(idText) ? Optional.empty() : Optional.of(Long.parseLong(idText));
        }
        catch (final NumberFormatException ex)
        {
            throw new ZoneException("unexpected zone id in zoneadm list -p line: " + line, ex);
        }
        return new Entry(id, fields.get(1), ZoneState.parse(fields.get(2)), fields.get(2), fields.get(3),
            field(fields, 4), field(fields, 5), field(fields, 6));
    }

    /** Splits on {@code :} except where it is escaped as {@code \:}; a backslash before anything else is kept. */
    private static List<String> split(final String line)
    {
        final List<String> fields = new ArrayList<>();
        final StringBuilder current = new StringBuilder();
        for (int i = 0; i < line.length(); i++)
        {
            final char c = line.charAt(i);
            if (c == '\\' && i + 1 < line.length() && line.charAt(i + 1) == ':')
            {
                current.append(':');
                i++;
            }
            else if (c == ':')
            {
                fields.add(current.toString());
                current.setLength(0);
            }
            else
            {
                current.append(c);
            }
        }
        fields.add(current.toString());
        return fields;
    }

    private static String field(final List<String> fields, final int index)
    {
        return index < fields.size() ? fields.get(index) : "";
    }
}
