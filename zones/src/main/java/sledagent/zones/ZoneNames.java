package sledagent.zones;

import java.util.regex.Pattern;

/**
 * The one rule for zone names, shared by every backend: {@link ZoneBackend#ZONE_PREFIX} followed by letters,
 * digits, {@code .}, {@code _} or {@code -}. That is enough for a UUID and leaves no room for a path separator,
 * so a name can never point a backend outside the zones it owns.
 */
public final class ZoneNames
{
    private static final Pattern SUFFIX = Pattern.compile("[A-Za-z0-9._-]+");

    private ZoneNames()
    {
    }

    /** True if {@code name} is a zone name this agent may create or touch. */
    public static boolean isValid(final String name)
    {
        return name != null && name.startsWith(ZoneBackend.ZONE_PREFIX) &&
            SUFFIX.matcher(name.substring(ZoneBackend.ZONE_PREFIX.length())).matches();
    }

    /**
     * Returns {@code name} if it is valid.
     *
     * @throws ZoneException otherwise.
     */
    public static String check(final String name)
    {
        if (!isValid(name))
        {
            throw new ZoneException("refusing zone name " + name + ": must be " + ZoneBackend.ZONE_PREFIX +
                " followed by letters, digits, '.', '_' or '-'");
        }
        return name;
    }
}
