package sledagent.api;

import static org.assertj.core.api.Assertions.assertThat;

import com.atlassian.oai.validator.model.SimpleRequest;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The spec files are the verbatim copies, the in-memory patches of {@link Specs} change no meaning, and the
 * {@code api-version} header is handled.
 */
class SpecFilesTest
{
    @ParameterizedTest
    @ValueSource(strings = {Specs.SLED_AGENT_FILE, Specs.NEXUS_INTERNAL_FILE, Specs.PROPOLIS_FILE})
    void specFileIsTheVerbatimCopy(final String file) throws Exception
    {
        final Path path = Specs.specsDir().resolve(file);
        final String hash = HexFormat.of().formatHex(
            MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(path)));
        final String expectedPrefix = file.substring(file.lastIndexOf('-') + 1, file.lastIndexOf('.'));
        assertThat(hash).as("sha256 of " + path).startsWith(expectedPrefix);
    }

    @Test
    void apiVersionHeaderMatchesTheSpecAndIsNotDeclaredByIt() throws Exception
    {
        for (final Specs.Api api : new Specs.Api[] {Specs.sledAgent(), Specs.nexusInternal(), Specs.propolis()})
        {
            final String text = Files.readString(Specs.specsDir().resolve(api.file()));
            assertThat(new ObjectMapper().readTree(text).at("/info/version").asText()).isEqualTo(api.version());
            // Dropshot picks the version from the header; the per-version document does not declare it, and the
            // validator does not object to an undeclared header. Requests here send it anyway, like the clients.
            assertThat(text).doesNotContain("api-version");
        }
        final String body = Specs.json(new VmmPutStateBody(new VmmStateRequested.Reboot()));
        Specs.assertValid(Specs.sledAgent().validator().validateRequest(
            SimpleRequest.Builder.put(Examples.VMM_STATE_PATH).withContentType("application/json")
                .withBody(body).build()));
        Specs.assertValid(Specs.sledAgent().validator().validateRequest(
            SimpleRequest.Builder.put(Examples.VMM_STATE_PATH).withContentType("application/json")
                .withHeader("api-version", "48.0.0").withBody(body).build()));
    }

    @ParameterizedTest
    @ValueSource(strings = {"vm1", "a", "A9", "a-b", "a--b", "web-01.oxide.internal", "x.y.z", "0", "1-2-3.4"})
    void hostnamePatternsAgreeOnValidNames(final String name)
    {
        assertThat(Pattern.compile(Specs.HOSTNAME_PATTERN).matcher(name).find()).isTrue();
        assertThat(Pattern.compile(Specs.HOSTNAME_PATTERN_ECMA).matcher(name).find()).isTrue();
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "-", "vm1-", "-vm1", "a.-b", "a-.b", "a..b", ".a", "a.", "a_b", "a b", "vm1.web-"})
    void hostnamePatternsAgreeOnInvalidNames(final String name)
    {
        assertThat(Pattern.compile(Specs.HOSTNAME_PATTERN).matcher(name).find()).isFalse();
        assertThat(Pattern.compile(Specs.HOSTNAME_PATTERN_ECMA).matcher(name).find()).isFalse();
    }

    @Test
    void nullableRefIsInlinedWithItsType() throws Exception
    {
        final ObjectNode spec = (ObjectNode) new ObjectMapper().readTree(
            Specs.specsDir().resolve(Specs.NEXUS_INTERNAL_FILE).toFile());
        final ObjectNode schemas = (ObjectNode) spec.at("/components/schemas");
        assertThat(Specs.inlineNullableRefs(spec, schemas)).isEqualTo(2);
        final ObjectNode migrationIn = (ObjectNode) schemas.at("/SledVmmState/properties/migration_in");
        assertThat(migrationIn.has("allOf")).isFalse();
        assertThat(migrationIn.get("nullable").asBoolean()).isTrue();
        assertThat(migrationIn.get("type").asText()).isEqualTo("object");
        assertThat(migrationIn.get("required")).isEqualTo(schemas.at("/MigrationRuntimeState/required"));
        assertThat(migrationIn.get("properties")).isEqualTo(schemas.at("/MigrationRuntimeState/properties"));
        // A non-nullable allOf is left alone.
        assertThat(schemas.at("/SledVmmState/properties/vmm_state").has("allOf")).isTrue();
    }
}
