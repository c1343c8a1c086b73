package sledagent.agent.http;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A semantic version as the Rust {@code semver} crate reads and orders it (Dropshot compares the
 * {@code api-version} header with it): {@code MAJOR.MINOR.PATCH[-PRE][+BUILD]}, no leading zeros, no
 * whitespace; a pre-release sorts before its release; build metadata sorts after its absence.
 */
record SemVer(long major, long minor, long patch, String pre, String build) implements Comparable<SemVer>
{
    private static final String NUMBER = "(0|[1-9][0-9]{0,18})";
    private static final String IDENTS = "[0-9A-Za-z-]+(?:\\.[0-9A-Za-z-]+)*";
    private static final Pattern FORM = Pattern.compile(
        NUMBER + "\\." + NUMBER + "\\." + NUMBER + "(?:-(" + IDENTS + "))?(?:\\+(" + IDENTS + "))?");

    /** Parses {@code text}; IllegalArgumentException says what is wrong in the semver crate's words. */
    static SemVer parse(final String text)
    {
        final Matcher matcher = FORM.matcher(text);
        if (!matcher.matches())
        {
            throw new IllegalArgumentException(reason(text));
        }
        try
        {
            return new SemVer(Long.parseLong(matcher.group(1)), Long.parseLong(matcher.group(2)),
                Long.parseLong(matcher.group(3)), matcher.group(4) == null ? "" : matcher.group(4),
                matcher.group(5) == null ? "" : matcher.group(5));
        }
        catch (final NumberFormatException ex)
        {
            // Past Long.MAX_VALUE: no served API will ever have such a version.
            throw new IllegalArgumentException("version number too large");
        }
    }

    private static String reason(final String text)
    {
        if (text.isEmpty())
        {
            return "empty string, expected a semver version";
        }
        final String[] parts = {"major", "minor", "patch"};
        int at = 0;
        for (int part = 0; part < parts.length; part++)
        {
            final int start = at;
            while (at < text.length() && Character.isDigit(text.charAt(at)))
            {
                at++;
            }
            if (at == start)
            {
                return at >= text.length()
                    ? "unexpected end of input while parsing " + parts[part] + " version number"
                    : "unexpected character '" + text.charAt(at) + "' while parsing " + parts[part]
                        + " version number";
            }
            if (text.charAt(start) == '0' && at - start > 1)
            {
                return "invalid leading zero in " + parts[part] + " version number";
            }
            if (at - start > 19)
            {
                return "value of " + parts[part] + " version number exceeds u64::MAX";
            }
            if (part < 2)
            {
                if (at >= text.length())
                {
                    return "unexpected end of input while parsing " + parts[part] + " version number";
                }
                if (text.charAt(at) != '.')
                {
                    return "unexpected character '" + text.charAt(at) + "' after " + parts[part]
                        + " version number, expected '.'";
                }
                at++;
            }
        }
        return "unexpected character after patch version number, or bad pre-release or build metadata";
    }

    @Override
    public int compareTo(final SemVer other)
    {
        int order = Long.compare(major, other.major);
        order = order != 0 ? order : Long.compare(minor, other.minor);
        order = order != 0 ? order : Long.compare(patch, other.patch);
        if (order != 0)
        {
            return order;
        }
        if (pre.isEmpty() != other.pre.isEmpty())
        {
            return pre.isEmpty() ? 1 : -1;
        }
        order = compareIdentifiers(pre, other.pre);
        return order != 0 ? order : compareIdentifiers(build, other.build);
    }

    /** Dot-separated identifiers: numeric ones numerically and before alphanumeric ones; more wins a tie. */
    private static int compareIdentifiers(final String left, final String right)
    {
        if (left.isEmpty() || right.isEmpty())
        {
            return Boolean.compare(!left.isEmpty(), !right.isEmpty());
        }
        final String[] a = left.split("\\.");
        final String[] b = right.split("\\.");
        for (int i = 0; i < Math.min(a.length, b.length); i++)
        {
            final boolean aNumeric = a[i].chars().allMatch(Character::isDigit);
            final boolean bNumeric = b[i].chars().allMatch(Character::isDigit);
            final int order;
            if (aNumeric && bNumeric)
            {
                order = a[i].length() != b[i].length()
                    ? Integer.compare(a[i].length(), b[i].length()) : a[i].compareTo(b[i]);
            }
            else if (aNumeric != bNumeric)
            {
                order = aNumeric ? -1 : 1;
            }
            else
            {
                order = a[i].compareTo(b[i]);
            }
            if (order != 0)
            {
                return order;
            }
        }
        return Integer.compare(a.length, b.length);
    }

    @Override
    public String toString()
    {
        return major + "." + minor + "." + patch + (pre.isEmpty() ? "" : "-" + pre)
            + (build.isEmpty() ? "" : "+" + build);
    }
}
