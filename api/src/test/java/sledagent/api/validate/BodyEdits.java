package sledagent.api.validate;

import com.fasterxml.jackson.core.JsonPointer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import sledagent.api.Json;

/** Test bodies: the full register body (every schema it can reach, used at least once) and edits of it. */
final class BodyEdits
{
    /** Means "remove the field" where a value is expected. */
    static final String REMOVE = "<remove>";

    private BodyEdits()
    {
    }

    /** A fresh copy of {@code full-ensure-body.json}. */
    static ObjectNode fullEnsureBody()
    {
        try (InputStream in = BodyEdits.class.getResourceAsStream("full-ensure-body.json"))
        {
            return (ObjectNode) Json.mapper().readTree(in);
        }
        catch (final IOException e)
        {
            throw new UncheckedIOException(e);
        }
    }

    /** Parses JSON text. */
    static JsonNode json(final String text)
    {
        try
        {
            return Json.mapper().readTree(text);
        }
        catch (final IOException e)
        {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Sets the value at {@code pointer} to the JSON {@code valueJson} (or removes it for {@link #REMOVE}); an index one
     * past an array's end appends.
     */
    static JsonNode edit(final JsonNode root, final String pointer, final String valueJson)
    {
        final JsonPointer at = JsonPointer.compile(pointer);
        final JsonNode parent = root.at(at.head());
        final JsonNode value = REMOVE.equals(valueJson) ? null : json(valueJson);
        if (parent instanceof ObjectNode object)
        {
            final String field = at.last().getMatchingProperty();
            if (value == null)
            {
                if (object.remove(field) == null)
                {
                    throw new AssertionError("nothing at " + pointer);
                }
            }
            else
            {
                object.set(field, value);
            }
        }
        else if (parent instanceof ArrayNode array)
        {
            final int index = at.last().getMatchingIndex();
            if (value == null)
            {
                array.remove(index);
            }
            else if (index == array.size())
            {
                array.add(value);
            }
            else
            {
                array.set(index, value);
            }
        }
        else
        {
            throw new AssertionError("no parent at " + pointer + " in the body");
        }
        return root;
    }
}
