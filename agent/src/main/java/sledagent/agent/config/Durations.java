package sledagent.agent.config;

import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Parses durations as operators write them: {@code 600s}, {@code 2s}, {@code 500ms}, {@code 10m}, {@code 1h}. */
public final class Durations
{
    private static final Pattern FORM = Pattern.compile("(\\d+)(ms|s|m|h)");

    private Durations()
    {
    }

    /** The duration in milliseconds; IllegalArgumentException with a clear message otherwise. */
    public static long parseMs(final String text)
    {
        final Matcher matcher = FORM.matcher(text.trim().toLowerCase(Locale.ROOT));
        if (!matcher.matches())
        {
            throw new IllegalArgumentException("bad duration '" + text + "': use a number and a unit, e.g. 600s, "
                + "500ms, 10m, 1h");
        }
        final long amount = Long.parseLong(matcher.group(1));
        final long unitMs = switch (matcher.group(2))
        {
            case "ms" -> 1L;
            case "s" -> 1_000L;
            case "m" -> 60_000L;
            default -> 3_600_000L;
        };
        final long ms = Math.multiplyExact(amount, unitMs);
        if (ms <= 0)
        {
            throw new IllegalArgumentException("duration must be positive: " + text);
        }
        return ms;
    }
}
