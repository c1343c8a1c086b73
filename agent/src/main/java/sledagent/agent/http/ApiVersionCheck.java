package sledagent.agent.http;

/**
 * The {@code api-version} request header, checked as Dropshot's {@code ClientSpecifiesVersionInHeader} policy
 * does (dropshot/src/versioning.rs): missing, unparseable as semver, or newer than the served version is a 400
 * with Dropshot's message and no {@code error_code}; any version up to the served one is accepted (the served
 * API answers it; sled-agent's older versions differ only in endpoints this agent does not serve).
 */
final class ApiVersionCheck
{
    /** The header's name. */
    static final String HEADER = "api-version";
    /** The spec's {@code info.version}. */
    static final SemVer SERVED = SemVer.parse("48.0.0");

    private ApiVersionCheck()
    {
    }

    /** Null if {@code value} (the header, null when absent) is acceptable; else the 400's message. */
    static String problem(final String value)
    {
        if (value == null)
        {
            return "missing expected header \"" + HEADER + "\"";
        }
        for (int i = 0; i < value.length(); i++)
        {
            if (value.charAt(i) > 0x7e || (value.charAt(i) < 0x20 && value.charAt(i) != '\t'))
            {
                return "bad value for header \"" + HEADER + "\": not ASCII: \"" + printable(value) + "\"";
            }
        }
        final SemVer version;
        try
        {
            version = SemVer.parse(value);
        }
        catch (final IllegalArgumentException ex)
        {
            return "bad value for header \"" + HEADER + "\": " + ex.getMessage() + ": " + value;
        }
        if (version.compareTo(SERVED) > 0)
        {
            return "server does not support this API version: " + version;
        }
        return null;
    }

    private static String printable(final String value)
    {
        final StringBuilder out = new StringBuilder(Math.min(value.length(), 64) + 8);
        for (int i = 0; i < value.length() && out.length() < 64; i++)
        {
            final char c = value.charAt(i);
            if (c >= 0x20 && c <= 0x7e)
            {
                out.append(c);
            }
            else
            {
                out.append(String.format("\\x%02x", (int)c & 0xff));
            }
        }
        return out.toString();
    }
}
