package sledagent.api.validate;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.BigIntegerNode;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Checks a JSON value against a schema of an OpenAPI 3.0 document as serde reads it. Every keyword the v48 request
 * schemas use is enforced: {@code $ref}, {@code allOf}, {@code oneOf}, {@code type}, {@code nullable}, {@code enum},
 * {@code required}, {@code properties}, {@code additionalProperties} (false or a schema), {@code minimum},
 * {@code maximum}, {@code format}, {@code minLength}, {@code maxLength}, {@code pattern}, {@code items},
 * {@code minItems}, {@code maxItems}, {@code uniqueItems}; a schema with any other validation keyword is refused at
 * construction, so a new spec cannot be half-checked. Plus two agent extensions, {@code x-agent-maximum} (with
 * {@code x-agent-reason}) and {@code x-agent-format}, see {@link RequestSchemas}.
 *
 * <p>Semantics that differ from a strict JSON Schema reading, each because serde does: {@code oneOf} accepts a
 * value that fits at least one branch (an untagged enum takes the first that fits; Propolis {@code SpecKey}'s uuid
 * and name branches overlap, and a strict one-of would refuse every uuid key; the tagged ones are disjoint anyway),
 * an {@code integer} is a JSON number without fraction or exponent, and a {@code pattern}'s {@code $} is the end of
 * the text (Java's would also match before a final newline).
 *
 * <p>Immutable after construction, so one instance serves every event loop. Only values the schema describes are
 * visited, so the work is bounded by the body's size and the recursion by the schema's depth.
 */
final class SchemaValidator
{
    private static final Set<String> KNOWN_KEYWORDS = Set.of("$ref", "allOf", "oneOf", "type", "nullable", "enum",
        "required", "properties", "additionalProperties", "minimum", "maximum", "format", "minLength", "maxLength",
        "pattern", "items", "minItems", "maxItems", "uniqueItems", "description", "title", "example", "default",
        "x-rust-type", "x-agent-maximum", "x-agent-reason", "x-agent-format");

    /** What a oneOf branch may say and still be merged into one enum. */
    private static final Set<String> ENUM_BRANCH_KEYWORDS = Set.of("type", "enum", "description", "title");

    private final Map<String, JsonNode> schemas;
    private final Map<String, Pattern> patterns = new HashMap<>();
    /** Each oneOf whose branches are objects tagged by a one-value {@code type} enum: tag to branch. */
    private final Map<JsonNode, Map<String, JsonNode>> taggedOneOfs = new IdentityHashMap<>();
    /** Each oneOf whose branches are all enums: the values of all of them. */
    private final Map<JsonNode, List<JsonNode>> enumOneOfs = new IdentityHashMap<>();

    /** {@code schemas} by name, as in {@code components.schemas}; each is checked and its patterns compiled. */
    SchemaValidator(final Map<String, JsonNode> schemas)
    {
        this.schemas = Map.copyOf(schemas);
        for (final Map.Entry<String, JsonNode> schema : schemas.entrySet())
        {
            prepare(schema.getValue(), schema.getKey());
        }
    }

    /** Checks {@code value} against the named schema; the first problem found is thrown. */
    void check(final String schemaName, final JsonNode value) throws InvalidBodyException
    {
        final JsonNode schema = schemas.get(schemaName);
        if (schema == null)
        {
            throw new IllegalArgumentException("no schema " + schemaName);
        }
        final Problem problem = check(value, schema, FieldPath.ROOT);
        if (problem != null)
        {
            throw new InvalidBodyException(problem.path().toString(), problem.detail());
        }
    }

    /** One thing wrong, where. */
    private record Problem(FieldPath path, String detail)
    {
    }

    private Problem check(final JsonNode value, final JsonNode schema, final FieldPath path)
    {
        final JsonNode ref = schema.get("$ref");
        if (ref != null)
        {
            return check(value, resolve(ref), path);
        }
        if (value.isNull())
        {
            return schema.path("nullable").asBoolean(false) ? null : new Problem(path, "must not be null");
        }
        for (final JsonNode part : schema.path("allOf"))
        {
            final Problem problem = check(value, part, path);
            if (problem != null)
            {
                return problem;
            }
        }
        if (schema.has("oneOf"))
        {
            final Problem problem = checkOneOf(value, schema, path);
            if (problem != null)
            {
                return problem;
            }
        }
        final String type = schema.path("type").asText("");
        if (!type.isEmpty() && !hasType(value, type))
        {
            return new Problem(path, "must be " + article(type) + ", not " + Echo.type(value));
        }
        final JsonNode allowed = schema.get("enum");
        if (allowed != null && !contains(allowed, value))
        {
            return new Problem(path, Echo.value(value) + " is not one of " + list(allowed));
        }
        if (value.isTextual())
        {
            return checkString(value.asText(), schema, path);
        }
        if (value.isIntegralNumber())
        {
            return checkInteger(value.bigIntegerValue(), schema, path);
        }
        if (value.isArray())
        {
            return checkArray(value, schema, path);
        }
        if (value.isObject())
        {
            return checkObject(value, schema, path);
        }
        return null;
    }

    private Problem checkOneOf(final JsonNode value, final JsonNode schema, final FieldPath path)
    {
        final JsonNode oneOf = schema.get("oneOf");
        final Map<String, JsonNode> tagged = taggedOneOfs.get(oneOf);
        if (tagged != null)
        {
            if (!value.isObject())
            {
                return new Problem(path, "must be an object, not " + Echo.type(value));
            }
            final JsonNode tag = value.get("type");
            if (tag == null)
            {
                return new Problem(path.field("type"), "is required");
            }
            final JsonNode branch = tag.isTextual() ? tagged.get(tag.asText()) : null;
            if (branch == null)
            {
                return new Problem(path.field("type"), Echo.value(tag) + " is not one of " + tagged.keySet());
            }
            return check(value, branch, path);
        }
        final List<JsonNode> values = enumOneOfs.get(oneOf);
        if (values != null)
        {
            for (final JsonNode candidate : values)
            {
                if (candidate.equals(value))
                {
                    return null;
                }
            }
            return new Problem(path, Echo.value(value) + " is not one of " + list(values));
        }
        final List<String> misses = new ArrayList<>();
        for (final JsonNode branch : oneOf)
        {
            final Problem problem = check(value, branch, path);
            if (problem == null)
            {
                return null;
            }
            final String title = branch.path("title").asText("form " + (misses.size() + 1));
            misses.add(title + ": " + (problem.path() == path ? "" : problem.path() + " ") + problem.detail());
        }
        return new Problem(path, Echo.value(value) + " matches none of its forms (" + String.join("; ", misses)
            + ")");
    }

    private Problem checkString(final String text, final JsonNode schema, final FieldPath path)
    {
        final int maxLength = schema.path("maxLength").asInt(Integer.MAX_VALUE);
        final int minLength = schema.path("minLength").asInt(0);
        // The length bound first: the pattern never runs over a string the spec already refuses by size.
        if (text.length() > maxLength && text.codePointCount(0, text.length()) > maxLength)
        {
            return new Problem(path, "is " + text.codePointCount(0, text.length()) + " characters long, more than the "
                + maxLength + " allowed");
        }
        if (text.codePointCount(0, text.length()) < minLength)
        {
            return new Problem(path, Echo.string(text) + " is shorter than the " + minLength + " characters required");
        }
        final JsonNode pattern = schema.get("pattern");
        if (pattern != null && !patterns.get(pattern.asText()).matcher(text).find())
        {
            return new Problem(path, Echo.string(text) + " does not match the pattern " + pattern.asText());
        }
        for (final String key : List.of("format", "x-agent-format"))
        {
            final JsonNode format = schema.get(key);
            if (format != null && Formats.isKnownStringFormat(format.asText()))
            {
                final String expected = Formats.checkString(format.asText(), text);
                if (expected != null)
                {
                    return new Problem(path, Echo.string(text) + " is not " + expected);
                }
            }
        }
        return null;
    }

    private Problem checkInteger(final BigInteger number, final JsonNode schema, final FieldPath path)
    {
        BigInteger min = null;
        BigInteger max = null;
        final List<String> why = new ArrayList<>();
        final BigInteger[] range = Formats.INTEGER_RANGES.get(schema.path("format").asText(""));
        if (range != null)
        {
            min = range[0];
            max = range[1];
            why.add(schema.get("format").asText());
        }
        if (schema.has("minimum"))
        {
            min = greater(min, schema.get("minimum").bigIntegerValue());
        }
        if (schema.has("maximum"))
        {
            max = smaller(max, schema.get("maximum").bigIntegerValue());
        }
        if (schema.has("x-agent-maximum"))
        {
            max = smaller(max, schema.get("x-agent-maximum").bigIntegerValue());
            why.add(schema.path("x-agent-reason").asText());
        }
        if ((min != null && number.compareTo(min) < 0) || (max != null && number.compareTo(max) > 0))
        {
            return new Problem(path, Echo.value(BigIntegerNode.valueOf(number)) + " is outside "
                + (min == null ? "" : min) + ".." + (max == null ? "" : max)
                + (why.isEmpty() ? "" : " (" + String.join("; ", why) + ")"));
        }
        return null;
    }

    private Problem checkArray(final JsonNode array, final JsonNode schema, final FieldPath path)
    {
        final int minItems = schema.path("minItems").asInt(0);
        final int maxItems = schema.path("maxItems").asInt(Integer.MAX_VALUE);
        if (array.size() < minItems || array.size() > maxItems)
        {
            final String wanted = minItems == maxItems ? "exactly " + minItems
                : array.size() < minItems ? "at least " + minItems : "at most " + maxItems;
            return new Problem(path, "has " + array.size() + " items, " + wanted + " allowed");
        }
        final JsonNode items = schema.get("items");
        final boolean unique = schema.path("uniqueItems").asBoolean(false);
        final Map<JsonNode, Integer> seen = unique ? new HashMap<>() : null;
        for (int i = 0; i < array.size(); i++)
        {
            final JsonNode item = array.get(i);
            if (items != null)
            {
                final Problem problem = check(item, items, path.item(i));
                if (problem != null)
                {
                    return problem;
                }
            }
            if (unique)
            {
                final Integer first = seen.putIfAbsent(item, i);
                if (first != null)
                {
                    return new Problem(path.item(i), "repeats item " + first + " (items must be unique)");
                }
            }
        }
        return null;
    }

    private Problem checkObject(final JsonNode object, final JsonNode schema, final FieldPath path)
    {
        for (final JsonNode required : schema.path("required"))
        {
            if (!object.has(required.asText()))
            {
                return new Problem(path.field(required.asText()), "is required");
            }
        }
        final JsonNode properties = schema.path("properties");
        for (final Iterator<Map.Entry<String, JsonNode>> fields = properties.fields(); fields.hasNext();)
        {
            final Map.Entry<String, JsonNode> field = fields.next();
            final JsonNode fieldValue = object.get(field.getKey());
            if (fieldValue != null)
            {
                final Problem problem = check(fieldValue, field.getValue(), path.field(field.getKey()));
                if (problem != null)
                {
                    return problem;
                }
            }
        }
        final JsonNode additional = schema.get("additionalProperties");
        if (additional == null || additional.isBoolean() && additional.asBoolean())
        {
            return null;
        }
        for (final Iterator<Map.Entry<String, JsonNode>> fields = object.fields(); fields.hasNext();)
        {
            final Map.Entry<String, JsonNode> field = fields.next();
            if (properties.has(field.getKey()))
            {
                continue;
            }
            if (additional.isBoolean())
            {
                return new Problem(path.field(field.getKey()), "is not a known field (allowed: "
                    + fieldNames(properties) + ")");
            }
            final Problem problem = check(field.getValue(), additional, path.field(field.getKey()));
            if (problem != null)
            {
                return problem;
            }
        }
        return null;
    }

    private JsonNode resolve(final JsonNode ref)
    {
        final String text = ref.asText();
        final JsonNode target = schemas.get(text.substring(text.lastIndexOf('/') + 1));
        if (target == null)
        {
            throw new IllegalStateException("unresolved " + text);
        }
        return target;
    }

    private static boolean hasType(final JsonNode value, final String type)
    {
        return switch (type)
        {
            case "object" -> value.isObject();
            case "array" -> value.isArray();
            case "string" -> value.isTextual();
            case "integer" -> value.isIntegralNumber();
            case "number" -> value.isNumber();
            case "boolean" -> value.isBoolean();
            default -> throw new IllegalStateException("unknown type " + type);
        };
    }

    private static String article(final String type)
    {
        return (type.equals("object") || type.equals("array") || type.equals("integer") ? "an " : "a ") + type;
    }

    private static boolean contains(final JsonNode allowed, final JsonNode value)
    {
        for (final JsonNode candidate : allowed)
        {
            if (candidate.equals(value))
            {
                return true;
            }
        }
        return false;
    }

    private static String list(final Iterable<JsonNode> values)
    {
        final List<String> texts = new ArrayList<>();
        values.forEach(v -> texts.add(v.asText()));
        return texts.toString();
    }

    private static List<String> fieldNames(final JsonNode object)
    {
        final List<String> names = new ArrayList<>();
        object.fieldNames().forEachRemaining(names::add);
        return names;
    }

    private static BigInteger greater(final BigInteger a, final BigInteger b)
    {
        return a == null || b.compareTo(a) > 0 ? b : a;
    }

    private static BigInteger smaller(final BigInteger a, final BigInteger b)
    {
        return a == null || b.compareTo(a) < 0 ? b : a;
    }

    /** Refuses what this class cannot enforce, compiles patterns and classifies each oneOf, recursively. */
    private void prepare(final JsonNode schema, final String where)
    {
        if (!schema.isObject())
        {
            throw new IllegalArgumentException(where + ": a schema must be an object");
        }
        for (final Iterator<String> names = schema.fieldNames(); names.hasNext();)
        {
            final String keyword = names.next();
            if (!KNOWN_KEYWORDS.contains(keyword))
            {
                throw new IllegalArgumentException(where + ": keyword " + keyword + " is not enforced");
            }
        }
        if (schema.has("$ref"))
        {
            resolve(schema.get("$ref"));
        }
        final JsonNode format = schema.get("format");
        if (format != null && !Formats.INTEGER_RANGES.containsKey(format.asText())
            && !Formats.isKnownStringFormat(format.asText()))
        {
            throw new IllegalArgumentException(where + ": format " + format + " is not enforced");
        }
        final JsonNode agentFormat = schema.get("x-agent-format");
        if (agentFormat != null && !Formats.isKnownStringFormat(agentFormat.asText()))
        {
            throw new IllegalArgumentException(where + ": x-agent-format " + agentFormat + " is not enforced");
        }
        final JsonNode pattern = schema.get("pattern");
        if (pattern != null)
        {
            patterns.computeIfAbsent(pattern.asText(), SchemaValidator::compile);
        }
        for (final JsonNode part : schema.path("allOf"))
        {
            prepare(part, where + ".allOf");
        }
        if (schema.has("oneOf"))
        {
            for (final JsonNode part : schema.get("oneOf"))
            {
                prepare(part, where + ".oneOf");
            }
            classifyOneOf(schema.get("oneOf"));
        }
        for (final Iterator<Map.Entry<String, JsonNode>> fields = schema.path("properties").fields(); fields.hasNext();)
        {
            final Map.Entry<String, JsonNode> field = fields.next();
            prepare(field.getValue(), where + "." + field.getKey());
        }
        if (schema.has("items"))
        {
            prepare(schema.get("items"), where + "[]");
        }
        if (schema.path("additionalProperties").isObject())
        {
            prepare(schema.get("additionalProperties"), where + ".*");
        }
    }

    private void classifyOneOf(final JsonNode oneOf)
    {
        final Map<String, JsonNode> tags = new LinkedHashMap<>();
        final List<JsonNode> values = new ArrayList<>();
        boolean allTagged = true;
        boolean allEnums = true;
        for (final JsonNode reference : oneOf)
        {
            final JsonNode branch = reference.has("$ref") ? resolve(reference.get("$ref")) : reference;
            final JsonNode tag = branch.path("properties").path("type").path("enum");
            final boolean isTagged = branch.path("type").asText("").equals("object") && tag.size() == 1
                && tag.get(0).isTextual() && branch.path("required").toString().contains("\"type\"")
                && tags.putIfAbsent(tag.get(0).asText(), branch) == null;
            allTagged &= isTagged;
            final boolean isEnum = branch.has("enum") && branch.path("type").asText("string").equals("string")
                && ENUM_BRANCH_KEYWORDS.containsAll(fieldNames(branch));
            allEnums &= isEnum;
            if (isEnum)
            {
                branch.get("enum").forEach(values::add);
            }
        }
        if (allTagged)
        {
            taggedOneOfs.put(oneOf, tags);
        }
        else if (allEnums && new HashSet<>(values).size() == values.size())
        {
            enumOneOfs.put(oneOf, List.copyOf(values));
        }
    }

    /** A spec pattern as ECMA 262 reads it: an unescaped {@code $} outside a class is the very end. */
    private static Pattern compile(final String pattern)
    {
        final StringBuilder out = new StringBuilder(pattern.length() + 8);
        boolean inClass = false;
        for (int i = 0; i < pattern.length(); i++)
        {
            final char c = pattern.charAt(i);
            if (c == '\\' && i + 1 < pattern.length())
            {
                out.append(c).append(pattern.charAt(++i));
                continue;
            }
            if (c == '[')
            {
                inClass = true;
            }
            else if (c == ']')
            {
                inClass = false;
            }
            out.append(c == '$' && !inClass ? "\\z" : String.valueOf(c));
        }
        return Pattern.compile(out.toString());
    }
}
