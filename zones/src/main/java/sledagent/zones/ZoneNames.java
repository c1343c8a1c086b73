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
    /** Owner tokens: short and plain, so they fit an xattr, a file or a zonecfg attribute as they are. */
    private static final Pattern OWNER = Pattern.compile("[A-Za-z0-9._-]{1,64}");

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

    /**
     * Returns {@code owner} if it is a valid owner token (1 to 64 letters, digits, '.', '_' or '-').
     *
     * @throws IllegalArgumentException otherwise.
     */
    public static String checkOwner(final String owner)
    {
        if (owner == null || !OWNER.matcher(owner).matches())
        {
            throw new IllegalArgumentException("bad zone owner token '" + owner + "': 1 to 64 letters, digits, "
                + "'.', '_' or '-'");
        }
        return owner;
    }
}
