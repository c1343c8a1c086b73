package sledagent.agent.http;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** {@code api-version} as Dropshot's {@code ClientSpecifiesVersionInHeader} judges it, with its messages. */
class ApiVersionCheckTest
{
    @Test
    void shouldAcceptTheServedVersionAndOlderOnes()
    {
        assertThat(ApiVersionCheck.problem("48.0.0")).isNull();
        assertThat(ApiVersionCheck.problem("47.0.0")).isNull();
        assertThat(ApiVersionCheck.problem("1.0.0")).isNull();
        assertThat(ApiVersionCheck.problem("48.0.0-rc.1")).as("a pre-release sorts before its release").isNull();
    }

    @Test
    void shouldRefuseAMissingHeaderAsDropshotDoes()
    {
        assertThat(ApiVersionCheck.problem(null)).isEqualTo("missing expected header \"api-version\"");
    }

    @Test
    void shouldRefuseNewerVersionsAsDropshotDoes()
    {
        assertThat(ApiVersionCheck.problem("49.0.0")).isEqualTo("server does not support this API version: 49.0.0");
        assertThat(ApiVersionCheck.problem("48.0.1")).isEqualTo("server does not support this API version: 48.0.1");
        // The semver crate orders build metadata after its absence.
        assertThat(ApiVersionCheck.problem("48.0.0+b1")).startsWith("server does not support");
    }

    @Test
    void shouldRefuseWhatIsNotSemverWithTheParsersReason()
    {
        assertThat(ApiVersionCheck.problem("abc")).isEqualTo("bad value for header \"api-version\": unexpected "
            + "character 'a' while parsing major version number: abc");
        assertThat(ApiVersionCheck.problem("48")).isEqualTo("bad value for header \"api-version\": unexpected "
            + "end of input while parsing major version number: 48");
        assertThat(ApiVersionCheck.problem("048.0.0")).contains("invalid leading zero in major version number");
        assertThat(ApiVersionCheck.problem("")).contains("empty string, expected a semver version");
        assertThat(ApiVersionCheck.problem("48.0.0.0")).startsWith("bad value for header \"api-version\":");
        assertThat(ApiVersionCheck.problem("48.0.0\u00e9")).contains("not ASCII");
    }

    @Test
    void shouldOrderAsTheSemverCrate()
    {
        assertThat(SemVer.parse("1.0.0-alpha").compareTo(SemVer.parse("1.0.0-alpha.1"))).isNegative();
        assertThat(SemVer.parse("1.0.0-alpha.1").compareTo(SemVer.parse("1.0.0-alpha.beta"))).isNegative();
        assertThat(SemVer.parse("1.0.0-beta.2").compareTo(SemVer.parse("1.0.0-beta.11"))).isNegative();
        assertThat(SemVer.parse("1.0.0-rc.1").compareTo(SemVer.parse("1.0.0"))).isNegative();
        assertThat(SemVer.parse("1.0.0").compareTo(SemVer.parse("1.0.0+build"))).isNegative();
        assertThat(SemVer.parse("2.0.0").compareTo(SemVer.parse("10.0.0"))).isNegative();
    }
}
