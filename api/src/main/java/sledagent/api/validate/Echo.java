package sledagent.api.validate;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.TextNode;

/** Client input quoted back in an error message: short, escaped, never the whole of a huge value. */
final class Echo
{
    /** Longest piece of a client's string or number repeated in a message. */
    static final int MAX_CHARS = 64;

    private Echo()
    {
    }

    /** A scalar as JSON ({@code "vm1-"}, {@code 300}), cut at {@link #MAX_CHARS}; a container by its type. */
    static String value(final JsonNode value)
    {
        if (value.isTextual())
        {
            return string(value.asText());
        }
        if (value.isContainerNode())
        {
            return "an " + (value.isObject() ? "object" : "array");
        }
        return cut(value.asText());
    }

    /** A string as a JSON string literal, cut at {@link #MAX_CHARS} characters (the full length said). */
    static String string(final String text)
    {
        if (text.length() <= MAX_CHARS)
        {
            return new TextNode(text).toString();
        }
        return new TextNode(text.substring(0, MAX_CHARS)).toString() + "... (" + text.length() + " characters)";
    }

    private static String cut(final String text)
    {
        return text.length() <= MAX_CHARS ? text
            : text.substring(0, MAX_CHARS) + "... (" + text.length() + " characters)";
    }

    /** The JSON type of a value, as a message names it: {@code "a string"}, {@code "an integer"}. */
    static String type(final JsonNode value)
    {
        if (value.isTextual())
        {
            return "a string";
        }
        if (value.isIntegralNumber())
        {
            return "an integer";
        }
        if (value.isNumber())
        {
            return "a non-integer number";
        }
        if (value.isBoolean())
        {
            return "a boolean";
        }
        if (value.isObject())
        {
            return "an object";
        }
        if (value.isArray())
        {
            return "an array";
        }
        return "null";
    }
}
