package sledagent.api;

import static org.assertj.core.api.Assertions.assertThat;

import com.atlassian.oai.validator.OpenApiInteractionValidator;
import com.atlassian.oai.validator.model.Request;
import com.atlassian.oai.validator.model.SimpleRequest;
import com.atlassian.oai.validator.model.SimpleResponse;
import com.atlassian.oai.validator.report.SimpleValidationReportFormat;
import com.atlassian.oai.validator.report.ValidationReport;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * The three verbatim OpenAPI specs in {@code shared/specs}, each behind the real request validator, plus helpers that
 * turn serialized bodies into validated requests and responses.
 *
 * <p>The specs are Dropshot versioned APIs: the version is chosen by the {@code api-version} request header, which the
 * per-version spec files do not declare. Every request here carries the header the real client sends; the validator
 * ignores undeclared headers, so the header neither helps nor hurts validation.
 *
 * <p>The validator is stricter than serde in one way worth knowing: it injects {@code additionalProperties: false}
 * into every object schema, so a body with a field the spec does not list fails
 * ({@code ...schema.additionalProperties}). That is what we want for what we write. The specs are loaded from the
 * files and patched in memory in three documented places (see {@link #inlineNullableRefs}, {@link #rewritePatterns},
 * {@link #overlappingOneOfToAnyOf}) where the validator would otherwise reject valid bodies.
 */
public final class Specs
{
    static final String SLED_AGENT_FILE = "sled-agent-48.0.0-808ec1.json";
    static final String NEXUS_INTERNAL_FILE = "nexus-internal-1.0.0-6d8ade.json";
    static final String PROPOLIS_FILE = "propolis-server-5.0.0-0c6dd9.json";

    static final String SLED_AGENT_VERSION = "48.0.0";
    static final String NEXUS_INTERNAL_VERSION = "1.0.0";
    static final String PROPOLIS_VERSION = "5.0.0";

    private Specs()
    {
    }

    /** One spec, its validator and the {@code api-version} its clients send. */
    public record Api(String file, String version, OpenApiInteractionValidator validator)
    {
        public ValidationReport request(final Request.Method method, final String path, final Object body)
        {
            return validator.validateRequest(request(method, path, body == null ? null : json(body)).build());
        }

        public ValidationReport requestRaw(final Request.Method method, final String path, final String rawBody)
        {
            return validator.validateRequest(request(method, path, rawBody).build());
        }

        public ValidationReport response(final Request.Method method, final String path, final int status, final Object body)
        {
            return responseRaw(method, path, status, body == null ? null : json(body));
        }

        public ValidationReport responseRaw(final Request.Method method, final String path, final int status,
            final String rawBody)
        {
            final SimpleResponse.Builder response = SimpleResponse.Builder.status(status);
            if (rawBody != null)
            {
                response.withContentType("application/json").withBody(rawBody);
            }
            return validator.validateResponse(path, method, response.build());
        }

        private SimpleRequest.Builder request(final Request.Method method, final String path, final String rawBody)
        {
            final SimpleRequest.Builder request = new SimpleRequest.Builder(method, path)
                .withHeader("api-version", version)
                .withAccept("application/json");
            if (rawBody != null)
            {
                request.withContentType("application/json").withBody(rawBody);
            }
            return request;
        }
    }

    static Api sledAgent()
    {
        return Holder.SLED_AGENT;
    }

    static Api nexusInternal()
    {
        return Holder.NEXUS_INTERNAL;
    }

    public static Api propolis()
    {
        return Holder.PROPOLIS;
    }

    /** Serialized by the one production mapper. */
    static String json(final Object value)
    {
        try
        {
            return Json.mapper().writeValueAsString(value);
        }
        catch (final JsonProcessingException e)
        {
            throw new AssertionError("cannot serialize " + value, e);
        }
    }

    /** Fails with the validator's messages unless the report is clean (no error, no warning). */
    public static void assertValid(final ValidationReport report)
    {
        assertThat(report.getMessages())
            .as(() -> "validator messages:\n" + SimpleValidationReportFormat.getInstance().apply(report))
            .isEmpty();
    }

    /** Fails unless the report has an error whose key is {@code key}. */
    static void assertRejected(final ValidationReport report, final String key)
    {
        assertThat(report.hasErrors()).as("the validator must reject this").isTrue();
        assertThat(keys(report))
            .as(() -> "validator messages:\n" + SimpleValidationReportFormat.getInstance().apply(report))
            .contains(key);
    }

    /** The keys of every message, including nested ones (a failed oneOf reports each branch's errors nested). */
    static List<String> keys(final ValidationReport report)
    {
        return report.getMessages().stream().flatMap(Specs::keys).collect(Collectors.toList());
    }

    private static Stream<String> keys(final ValidationReport.Message message)
    {
        return Stream.concat(Stream.of(message.getKey()), message.getNestedMessages().stream().flatMap(Specs::keys));
    }

    /**
     * {@code shared/specs}: from the {@code shared.dir} system property (surefire sets it), else {@code /work/shared},
     * else {@code ../../shared} relative to the module directory.
     */
    static Path specsDir()
    {
        final String property = System.getProperty("shared.dir");
        final List<Path> candidates = new java.util.ArrayList<>();
        if (property != null && !property.isBlank())
        {
            candidates.add(Path.of(property));
        }
        candidates.add(Path.of("/work/shared"));
        candidates.add(Path.of("").toAbsolutePath().resolve("../../shared").normalize());
        candidates.add(Path.of("").toAbsolutePath().resolve("../shared").normalize());
        for (final Path shared : candidates)
        {
            final Path specs = shared.resolve("specs");
            if (Files.isRegularFile(specs.resolve(SLED_AGENT_FILE)))
            {
                return specs;
            }
        }
        throw new IllegalStateException("no shared/specs/" + SLED_AGENT_FILE + " in any of " + candidates);
    }

    private static Api load(final String file, final String version)
    {
        return load(file, version, tree ->
        {
        }, false);
    }

    /**
     * {@code extraPatch} runs after the documented patches; {@code ignoreExtraFields} turns off the validator's
     * injected {@code additionalProperties: false} (and with it the spec's own, so such cases must be checked apart).
     */
    private static Api load(final String file, final String version,
        final java.util.function.Consumer<ObjectNode> extraPatch, final boolean ignoreExtraFields)
    {
        final Path spec = specsDir().resolve(file);
        final ObjectNode tree;
        try
        {
            tree = (ObjectNode) new ObjectMapper().readTree(spec.toFile());
        }
        catch (final IOException e)
        {
            throw new UncheckedIOException("cannot read " + spec, e);
        }
        final int patched = inlineNullableRefs(tree, (ObjectNode) tree.path("components").path("schemas"));
        if (patched == 0)
        {
            throw new IllegalStateException(file + ": no nullable allOf to patch; has the spec generator changed?");
        }
        rewritePatterns(tree);
        overlappingOneOfToAnyOf((ObjectNode) tree.path("components").path("schemas"));
        extraPatch.accept(tree);
        final OpenApiInteractionValidator.Builder builder = OpenApiInteractionValidator
            .createForInlineApiSpecification(tree.toString());
        if (ignoreExtraFields)
        {
            builder.withLevelResolver(com.atlassian.oai.validator.report.LevelResolver.create()
                .withLevel("validation.request.body.schema.additionalProperties",
                    ValidationReport.Level.IGNORE)
                .build());
        }
        return new Api(file, version, builder.build());
    }

    /**
     * The sled-agent spec as the agent's {@code RequestBody} validator reads it, for cross-checking the two: the
     * integer formats' ranges ({@code uint8} .. {@code uint64}, {@code uint}), which this validator does not know,
     * written as {@code minimum}/{@code maximum}; {@code format: ip} as "ipv4 or ipv6"; the agent's bound on
     * {@code Generation} (a signed 64-bit long that must be able to grow by one); extra fields not checked.
     */
    static Api sledAgentBounded()
    {
        return Holder.SLED_AGENT_BOUNDED;
    }

    private static void boundFormats(final JsonNode node)
    {
        if (node instanceof ObjectNode object)
        {
            final String format = object.path("format").asText("");
            final java.math.BigInteger max = switch (format)
            {
                case "uint8" -> java.math.BigInteger.valueOf(255);
                case "uint16" -> java.math.BigInteger.valueOf(65_535);
                case "uint32" -> java.math.BigInteger.valueOf(4_294_967_295L);
                case "uint64", "uint" -> java.math.BigInteger.ONE.shiftLeft(64).subtract(java.math.BigInteger.ONE);
                default -> null;
            };
            if (max != null && (!object.has("maximum") || object.get("maximum").bigIntegerValue().compareTo(max) > 0))
            {
                object.put("maximum", max);
            }
            // The reference's own format checks are more lenient than the Rust types behind them; these patterns
            // narrow them to what Rust parses: a uuid only hyphenated 8-4-4-4-12 (java.util.UUID takes
            // "1-1-1-1-1"), an ipv4 never in IPv6 notation ("::ffff:1.2.3.4" counts as IPv4 to it), an ipv6 never
            // with a zone ("fe80::1%eth0").
            switch (format)
            {
                case "uuid" -> object.put("pattern",
                    "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$");
                case "ipv4" -> object.put("pattern", "^[0-9.]+$");
                case "ipv6" -> object.put("pattern", "^[0-9a-fA-F:.]+$");
                case "ip" ->
                {
                    // Unknown to the reference, and an anyOf beside "type" loses the type: each branch says it.
                    object.remove("format");
                    object.set("anyOf", new ObjectMapper().createArrayNode()
                        .add(new ObjectMapper().createObjectNode().put("type", "string").put("format", "ipv4")
                            .put("pattern", "^[0-9.]+$"))
                        .add(new ObjectMapper().createObjectNode().put("type", "string").put("format", "ipv6")
                            .put("pattern", "^[0-9a-fA-F:.]+$")));
                }
                default ->
                {
                }
            }
        }
        for (final JsonNode child : node)
        {
            boundFormats(child);
        }
    }

    /**
     * Dropshot (schemars) writes an {@code Option<T>} field as {@code {"nullable": true, "allOf": [{"$ref": T}]}},
     * meaning "null or T", and serde on the other side accepts {@code null}. The validator implements
     * {@code nullable} only by adding {@code "null"} to a {@code type} in the same schema object (the strict
     * OpenAPI 3.0.3 reading), so it rejects {@code null} there. This rewrites each such schema into T's own keywords
     * plus {@code nullable: true}, which says the same thing in a form the validator understands. Only targets that
     * have a {@code type} are rewritten; nested {@code $ref}s inside T stay references. Returns the count.
     */
    static int inlineNullableRefs(final JsonNode node, final ObjectNode schemas)
    {
        int patched = 0;
        if (node instanceof ObjectNode object)
        {
            final JsonNode allOf = object.get("allOf");
            if (object.path("nullable").asBoolean(false) && !object.has("type") && allOf != null
                && allOf.size() == 1 && allOf.get(0).has("$ref"))
            {
                final String ref = allOf.get(0).get("$ref").asText();
                final JsonNode target = schemas.get(ref.substring(ref.lastIndexOf('/') + 1));
                if (ref.startsWith("#/components/schemas/") && target != null && target.has("type"))
                {
                    object.remove("allOf");
                    target.properties().forEach(field ->
                    {
                        if (!field.getKey().equals("description") && !object.has(field.getKey()))
                        {
                            object.set(field.getKey(), field.getValue().deepCopy());
                        }
                    });
                    patched++;
                }
            }
            for (final JsonNode child : object)
            {
                patched += inlineNullableRefs(child, schemas);
            }
        }
        else if (node instanceof ArrayNode array)
        {
            for (final JsonNode child : array)
            {
                patched += inlineNullableRefs(child, schemas);
            }
        }
        return patched;
    }

    /**
     * Propolis {@code SpecKey} is a serde untagged enum {@code Uuid(Uuid) | Name(String)}, emitted as {@code oneOf}
     * of a uuid string and any string. The two overlap (every uuid is a string), so strict {@code oneOf} rejects
     * every uuid key although serde takes the first variant that fits. {@code anyOf} is what the type means.
     */
    static void overlappingOneOfToAnyOf(final ObjectNode schemas)
    {
        final JsonNode specKey = schemas.get("SpecKey");
        if (specKey instanceof ObjectNode key && key.has("oneOf"))
        {
            key.set("anyOf", key.remove("oneOf"));
        }
    }

    /** Hostname: a label may not end in '-'. Java accepts the original; the validator's ECMA 262 checker does not. */
    static final String HOSTNAME_PATTERN =
        "^([a-zA-Z0-9]+[a-zA-Z0-9\\-]*(?<!-))(\\.[a-zA-Z0-9]+[a-zA-Z0-9\\-]*(?<!-))*$";
    static final String HOSTNAME_PATTERN_ECMA =
        "^([a-zA-Z0-9]([a-zA-Z0-9\\-]*[a-zA-Z0-9])?)(\\.[a-zA-Z0-9]([a-zA-Z0-9\\-]*[a-zA-Z0-9])?)*$";

    /**
     * The validator checks every {@code pattern} as an ECMA 262 (Rhino) regex and, on one it cannot compile, refuses
     * the whole body ("Invalid JSON Schema, cannot continue"). The only such pattern in the three specs is the
     * hostname's lookbehind; it is swapped for an equivalent without lookbehind ({@code SpecFilesTest} checks the
     * equivalence). Any other lookbehind is an error, so a new one cannot slip through unpatched.
     */
    static void rewritePatterns(final JsonNode node)
    {
        if (node instanceof ObjectNode object)
        {
            final JsonNode pattern = object.get("pattern");
            if (pattern != null && pattern.isTextual())
            {
                if (pattern.asText().equals(HOSTNAME_PATTERN))
                {
                    object.put("pattern", HOSTNAME_PATTERN_ECMA);
                }
                else if (pattern.asText().contains("(?<"))
                {
                    throw new IllegalStateException("unpatched lookbehind in pattern " + pattern);
                }
            }
        }
        for (final JsonNode child : node)
        {
            rewritePatterns(child);
        }
    }

    /** Lazily parsed, once per JVM: the sled-agent spec alone is 325 kB. */
    private static final class Holder
    {
        static final Api SLED_AGENT = load(SLED_AGENT_FILE, SLED_AGENT_VERSION);
        static final Api NEXUS_INTERNAL = load(NEXUS_INTERNAL_FILE, NEXUS_INTERNAL_VERSION);
        static final Api PROPOLIS = load(PROPOLIS_FILE, PROPOLIS_VERSION);
        static final Api SLED_AGENT_BOUNDED = load(SLED_AGENT_FILE, SLED_AGENT_VERSION, tree ->
        {
            boundFormats(tree);
            ((ObjectNode) tree.at("/components/schemas/Generation")).put("maximum", Long.MAX_VALUE - 1);
        }, true);
    }
}
