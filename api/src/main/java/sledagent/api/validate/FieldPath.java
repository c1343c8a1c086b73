package sledagent.api.validate;

import java.util.regex.Pattern;

/**
 * Where a value sits in a body, rendered only when something is wrong: {@code vmm_spec.board.cpus},
 * {@code local_config.nics[0].slot}, {@code vmm_spec.components["boot-disk"].type}. The root is {@code body}.
 */
final class FieldPath
{
    /** The whole body. */
    static final FieldPath ROOT = new FieldPath(null, null, -1);

    private static final Pattern PLAIN_NAME = Pattern.compile("[A-Za-z_][A-Za-z0-9_]*");

    private final FieldPath parent;
    private final String name;
    private final int index;

    private FieldPath(final FieldPath parent, final String name, final int index)
    {
        this.parent = parent;
        this.name = name;
        this.index = index;
    }

    /** The field {@code fieldName} of this object. */
    FieldPath field(final String fieldName)
    {
        return new FieldPath(this, fieldName, -1);
    }

    /** Item {@code itemIndex} of this array. */
    FieldPath item(final int itemIndex)
    {
        return new FieldPath(this, null, itemIndex);
    }

    @Override
    public String toString()
    {
        if (parent == null)
        {
            return "body";
        }
        final StringBuilder out = new StringBuilder();
        render(out);
        return out.toString();
    }

    private void render(final StringBuilder out)
    {
        if (parent == null)
        {
            return;
        }
        parent.render(out);
        if (name == null)
        {
            out.append('[').append(index).append(']');
        }
        else if (PLAIN_NAME.matcher(name).matches())
        {
            if (parent.parent != null)
            {
                out.append('.');
            }
            out.append(name);
        }
        else
        {
            out.append('[').append(Echo.string(name)).append(']');
        }
    }
}
