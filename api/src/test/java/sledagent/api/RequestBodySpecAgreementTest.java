package sledagent.api;

import static org.assertj.core.api.Assertions.assertThat;

import com.atlassian.oai.validator.model.Request.Method;
import com.atlassian.oai.validator.report.SimpleValidationReportFormat;
import com.atlassian.oai.validator.report.ValidationReport;
import com.fasterxml.jackson.core.JsonPointer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.InputStream;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import sledagent.api.validate.InvalidBodyException;
import sledagent.api.validate.RequestBody;

/**
 * The agent's {@link RequestBody} validator and the independent swagger-request-validator, fed the same corpus of
 * register and put-state bodies, must agree on every one (accept or refuse). The corpus: every value of two valid
 * bodies (the full one, which reaches every schema, and the small one Nexus-like tests use) replaced in turn by
 * boundary numbers, wrong types, null, edge strings, or removed, and arrays emptied, shortened and given a
 * duplicate; then random bodies with several such edits at once (seeded; {@code -Dagreement.seed=N} replays).
 * By default each value gets its structural edits, every integer boundary and a seeded sample of the rest (about
 * 2,000 bodies, the reference takes ~20 ms a body); {@code -Dagreement.full=true} tries every edit (~35,000 bodies,
 * about 15 minutes on 2 cores).
 *
 * <p>The reference is the spec with the three documented patches of {@link Specs} plus what
 * {@link Specs#sledAgentBounded()} makes explicit (integer format ranges, the agent's bound on generations).
 * Two things are outside the cross-check and unit-tested in {@code RequestBodyTest}: unknown fields (the
 * reference refuses them everywhere, serde only where the spec says {@code additionalProperties: false}), and the
 * agent's {@code socket-addr} format on {@code propolis_addr} (the reference knows no such format). And one string
 * is left out: IPv4-mapped IPv6 ({@code ::ffff:1.2.3.4}), which Rust's {@code Ipv6Addr} and {@code IpAddr} read as
 * IPv6 but the reference (Guava underneath) reads as IPv4 and so refuses as {@code ipv6}.
 */
class RequestBodySpecAgreementTest
{
    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;
    private static final BigInteger TWO = BigInteger.TWO;

    /** One body that failed to agree, described for the failure message. */
    record Disagreement(String edit, String ours, String theirs)
    {
    }

    @Test
    void agentValidatorAndSpecValidatorAgreeOnEveryEditedBody() throws Exception
    {
        final Specs.Api spec = Specs.sledAgentBounded();
        final List<ObjectNode> bases = List.of(fullBody(), (ObjectNode) Json.mapper().valueToTree(
            Examples.instanceEnsureBody()));
        final long seed = Long.getLong("agreement.seed", System.nanoTime());
        final Random random = new Random(seed);
        final List<Disagreement> disagreements = new ArrayList<>();
        int accepted = 0;
        int total = 0;
        final boolean full = Boolean.getBoolean("agreement.full");
        for (final ObjectNode base : bases)
        {
            assertThat(agree(spec, RequestBody.INSTANCE_ENSURE, Examples.VMM_PATH, base, "base", disagreements))
                .as("the base body is valid").isTrue();
            // The small body's schemas are a subset of the full one's: it is edited only in the random round.
            for (final String pointer : base == bases.get(0) ? pointers(base) : List.<String>of())
            {
                for (final Edit edit : full ? edits(base, pointer) : sample(base, pointer, random))
                {
                    final ObjectNode body = base.deepCopy();
                    edit.apply().accept(body);
                    total++;
                    if (agree(spec, RequestBody.INSTANCE_ENSURE, Examples.VMM_PATH, body, edit.name(), disagreements))
                    {
                        accepted++;
                    }
                }
            }
        }
        for (int i = 0, bodies = full ? 2000 : 60; i < bodies; i++)
        {
            final ObjectNode body = bases.get(random.nextInt(bases.size())).deepCopy();
            final StringBuilder name = new StringBuilder("seed " + seed + " body " + i + ":");
            for (int k = 0, n = 2 + random.nextInt(3); k < n; k++)
            {
                final List<String> pointers = pointers(body);
                final String pointer = pointers.get(random.nextInt(pointers.size()));
                final List<Edit> edits = edits(body, pointer);
                final Edit edit = edits.get(random.nextInt(edits.size()));
                edit.apply().accept(body);
                name.append(' ').append(edit.name());
            }
            total++;
            if (agree(spec, RequestBody.INSTANCE_ENSURE, Examples.VMM_PATH, body, name.toString(), disagreements))
            {
                accepted++;
            }
        }
        for (final String putState : List.of("{\"state\":{\"type\":\"running\"}}",
            "{\"state\":{\"type\":\"migration_target\",\"value\":{\"src_propolis_addr\":\"[fd00::5]:12400\"}}}"))
        {
            final ObjectNode base = (ObjectNode) Json.mapper().readTree(putState);
            for (final String pointer : pointers(base))
            {
                for (final Edit edit : edits(base, pointer))
                {
                    if (pointer.equals("/state/type") && base.get("state").has("value"))
                    {
                        // A unit variant with a "value" beside it: the spec allows the extra field (the branch
                        // does not deny unknown fields), the reference refuses every extra field. Not comparable.
                        continue;
                    }
                    final ObjectNode body = base.deepCopy();
                    edit.apply().accept(body);
                    total++;
                    if (agree(spec, RequestBody.VMM_PUT_STATE, Examples.VMM_STATE_PATH, body, edit.name(),
                        disagreements))
                    {
                        accepted++;
                    }
                }
            }
        }
        System.out.printf("agreement: %d bodies, %d accepted by both, %d refused by both, seed %d%n", total,
            accepted, total - accepted - disagreements.size(), seed);
        assertThat(disagreements).as("bodies the two validators disagree on (seed %d)", seed).isEmpty();
        assertThat(accepted).as("the corpus has valid bodies too").isGreaterThan(100);
        assertThat(total - accepted).as("and invalid ones").isGreaterThan(500);
    }

    /** Whether both accept; a disagreement is recorded (and counted as neither). */
    private static boolean agree(final Specs.Api spec, final RequestBody kind, final String path, final JsonNode body,
        final String edit, final List<Disagreement> disagreements)
    {
        String ours = null;
        try
        {
            kind.check(body);
        }
        catch (final InvalidBodyException e)
        {
            ours = e.getMessage();
        }
        final ValidationReport report = spec.requestRaw(Method.PUT, path, body.toString());
        if (ours == null && report.hasErrors() && onlyExtraFieldsInABranch(report))
        {
            // An edit that turned one variant into another kept a field the new variant does not name (e.g. an
            // icmp filter's "value" beside type "tcp"). The spec does not deny unknown fields there and serde
            // accepts them, but inside a oneOf the reference refuses every extra field. Not comparable; where the
            // spec does deny them, RequestBodyTest checks it.
            return false;
        }
        if ((ours == null) == report.hasErrors())
        {
            disagreements.add(new Disagreement(edit, ours == null ? "accepted" : ours,
                report.hasErrors() ? SimpleValidationReportFormat.getInstance().apply(report) : "accepted"));
            return false;
        }
        return ours == null;
    }

    /** True if the reference's only objection is a oneOf branch refusing properties it does not name. */
    private static boolean onlyExtraFieldsInABranch(final ValidationReport report)
    {
        final String text = SimpleValidationReportFormat.getInstance().apply(report);
        return text.contains("Object instance has properties which are not allowed by the schema")
            && text.contains("Instance failed to match exactly one schema")
            && !text.contains("is required") && !text.contains("does not match") && !text.contains("is too")
            && !text.contains("is not a valid") && !text.contains("has incorrect type");
    }

    /** One change to a body. */
    record Edit(String name, Consumer<ObjectNode> apply)
    {
    }

    /**
     * The edits tried at {@code pointer}: removed, null, a wrong type, and for an integer every format boundary; for
     * a string a few of the edge strings and the value with a trailing newline or '-'; the others sampled.
     */
    private static List<Edit> sample(final ObjectNode root, final String pointer, final Random random)
    {
        final List<Edit> all = edits(root, pointer);
        final JsonNode current = root.at(JsonPointer.compile(pointer));
        final List<Edit> chosen = new ArrayList<>();
        final List<Edit> rest = new ArrayList<>();
        for (final Edit edit : all)
        {
            final String value = edit.name().substring(pointer.length());
            final boolean always = value.equals(" removed") || value.equals("=null") || value.equals(" + duplicate")
                || (current.isIntegralNumber() && value.matches("=-?[0-9.]+"))
                || (current.isTextual() && (value.equals("=0") || value.endsWith("\\n\"") || value.endsWith("-\"")))
                || (!current.isTextual() && value.equals("=\"a\""));
            (always ? chosen : rest).add(edit);
        }
        java.util.Collections.shuffle(rest, random);
        chosen.addAll(rest.subList(0, Math.min(current.isTextual() ? 2 : 1, rest.size())));
        return chosen;
    }

    private static List<Edit> edits(final ObjectNode root, final String pointer)
    {
        final JsonPointer at = JsonPointer.compile(pointer);
        final JsonNode current = root.at(at);
        final List<JsonNode> values = new ArrayList<>();
        values.add(NODES.nullNode());
        values.add(NODES.booleanNode(true));
        values.add(NODES.objectNode());
        values.add(NODES.arrayNode());
        values.add(NODES.numberNode(1.5));
        values.add(NODES.numberNode(1.0));
        for (final BigInteger n : List.of(BigInteger.valueOf(-1), BigInteger.ZERO, BigInteger.ONE,
            BigInteger.valueOf(255), BigInteger.valueOf(256), BigInteger.valueOf(65_535), BigInteger.valueOf(65_536),
            TWO.pow(32).subtract(BigInteger.ONE), TWO.pow(32), TWO.pow(63).subtract(TWO),
            TWO.pow(63).subtract(BigInteger.ONE), TWO.pow(64).subtract(BigInteger.ONE), TWO.pow(64)))
        {
            values.add(NODES.numberNode(n));
        }
        final boolean agentFormatted = pointer.endsWith("propolis_addr");
        if (!agentFormatted)
        {
            for (final String s : List.of("", "a", "vm1-", "Net0", "net0", "x:y", "1.2.3.4", "01.2.3.4",
                "1.2.3.256", "::1", "fe80::1%eth0", "::1.2.3.4", "64:ff9b::1.2.3.4", "1:2:3:4:5:6:7:8:9", "10.0.0.0/8",
                "10.0.0.0/33", "fd00::/64", "fd00::/129", "22", "80-8080", "123456", "0-255", "A8:40:25:F0:00:01",
                "A8:40:25:F0:00", "6dd4a3c1-5c0b-4f38-a1a1-2b4e21a0d1f7", "6dd4a3c1-5c0b-4f38-a1a1-2b4e21a0d1f",
                "2025-04-01T23:06:55Z", "2025-04-01T23:06:55.123+02:00", "2025-04-01 23:06:55Z",
                "2025-13-01T00:00:00Z", "com1", "com5", "running", "runnning", "i440_fx", "amd", "vpc", "ip", "tcp",
                "a".repeat(63), "a".repeat(64), "a".repeat(253), "a".repeat(254)))
            {
                values.add(NODES.textNode(s));
            }
            if (current.isTextual())
            {
                final String text = current.asText();
                values.add(NODES.textNode(text + "\n"));
                values.add(NODES.textNode(text + "-"));
                values.add(NODES.textNode("-" + text));
                values.add(NODES.textNode(text.toUpperCase(java.util.Locale.ROOT)));
                values.add(NODES.textNode(text + "x"));
                if (!text.isEmpty())
                {
                    values.add(NODES.textNode(text.substring(0, text.length() - 1)));
                }
            }
        }
        final List<Edit> edits = new ArrayList<>();
        for (final JsonNode value : values)
        {
            if (!value.equals(current))
            {
                edits.add(new Edit(pointer + "=" + cut(value.toString()), body -> set(body, at, value.deepCopy())));
            }
        }
        edits.add(new Edit(pointer + " removed", body -> remove(body, at)));
        if (current.isArray() && current.size() > 0)
        {
            edits.add(new Edit(pointer + " + duplicate", body -> ((ArrayNode) body.at(at)).add(current.get(0)
                .deepCopy())));
        }
        return edits;
    }

    private static String cut(final String text)
    {
        return text.length() > 40 ? text.substring(0, 40) + "..." : text;
    }

    private static void set(final ObjectNode root, final JsonPointer at, final JsonNode value)
    {
        final JsonNode parent = root.at(at.head());
        if (parent instanceof ObjectNode object)
        {
            object.set(at.last().getMatchingProperty(), value);
        }
        else if (parent instanceof ArrayNode array && at.last().getMatchingIndex() < array.size())
        {
            array.set(at.last().getMatchingIndex(), value);
        }
    }

    private static void remove(final ObjectNode root, final JsonPointer at)
    {
        final JsonNode parent = root.at(at.head());
        if (parent instanceof ObjectNode object)
        {
            object.remove(at.last().getMatchingProperty());
        }
        else if (parent instanceof ArrayNode array && at.last().getMatchingIndex() < array.size())
        {
            array.remove(at.last().getMatchingIndex());
        }
    }

    /** Every value's JSON pointer, the root excluded. */
    private static List<String> pointers(final JsonNode root)
    {
        final List<String> out = new ArrayList<>();
        collect(root, "", out);
        return out;
    }

    private static void collect(final JsonNode node, final String pointer, final List<String> out)
    {
        if (!pointer.isEmpty())
        {
            out.add(pointer);
        }
        if (node.isObject())
        {
            node.fields().forEachRemaining(e -> collect(e.getValue(),
                pointer + "/" + e.getKey().replace("~", "~0").replace("/", "~1"), out));
        }
        else if (node.isArray())
        {
            // Items of a scalar array share one schema: the first stands for them all.
            for (int i = 0; i < node.size() && (i == 0 || node.get(i).isContainerNode()); i++)
            {
                collect(node.get(i), pointer + "/" + i, out);
            }
        }
    }

    private static ObjectNode fullBody() throws Exception
    {
        try (InputStream in = RequestBodySpecAgreementTest.class.getResourceAsStream(
            "/sledagent/api/validate/full-ensure-body.json"))
        {
            return (ObjectNode) Json.mapper().readTree(in);
        }
    }
}
