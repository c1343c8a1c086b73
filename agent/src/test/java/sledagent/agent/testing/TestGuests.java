package sledagent.agent.testing;

import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;
import sledagent.agent.demo.TinyGuest;

/** The tiny real guest for the tests that boot one: built once into the module's build folder, or the test skipped. */
public final class TestGuests
{
    private TestGuests()
    {
    }

    /**
     * Builds (or finds already built) the tiny guest under {@code target/guest}. Without QEMU or the guest's packages
     * the calling test is skipped, except where {@code SLED_AGENT_REQUIRE_TOOLS=1} (CI): there it fails.
     */
    public static TinyGuest buildOrSkip() throws Exception
    {
        final String missing = TinyGuest.missing();
        if (missing != null)
        {
            if ("1".equals(System.getenv("SLED_AGENT_REQUIRE_TOOLS")))
            {
                throw new AssertionError("real guests need " + missing + " and SLED_AGENT_REQUIRE_TOOLS=1");
            }
            Assumptions.abort("no real guest on this machine: missing " + missing);
        }
        return TinyGuest.build(Path.of("target", "guest").toAbsolutePath());
    }
}
