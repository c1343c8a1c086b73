package sledagent.agent.config;

/** The agent's version, from the jar manifest (or "dev" when run from classes). */
public final class Version
{
    private Version()
    {
    }

    public static String text()
    {
        final String version = Version.class.getPackage().getImplementationVersion();
        return version == null ? "dev" : version;
    }
}
