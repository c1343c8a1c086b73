package sledagent.perf;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** {@code --key value} options (a key followed by another key, or last, is a flag); bare words are positional. */
final class LoadOptions
{
    /** Where results go unless {@code --out} says otherwise. */
    static final Path DEFAULT_OUT = Path.of("perf/target/results/loadtool");

    private final List<String> raw;
    private final Map<String, String> values = new HashMap<>();
    private final List<String> positional = new ArrayList<>();

    private LoadOptions(final List<String> raw)
    {
        this.raw = raw;
    }

    static LoadOptions parse(final String[] args)
    {
        final LoadOptions options = new LoadOptions(List.of(args));
        for (int i = 1; i < args.length; i++)
        {
            if (args[i].startsWith("--"))
            {
                final String key = args[i].substring(2);
                if (i + 1 < args.length && !args[i + 1].startsWith("--"))
                {
                    options.values.put(key, args[++i]);
                }
                else
                {
                    options.values.put(key, "true");
                }
            }
            else
            {
                options.positional.add(args[i]);
            }
        }
        return options;
    }

    List<String> raw()
    {
        return raw;
    }

    String positional(final int index)
    {
        if (index >= positional.size())
        {
            throw new IllegalArgumentException("missing argument " + (index + 1));
        }
        return positional.get(index);
    }

    String string(final String key, final String fallback)
    {
        return values.getOrDefault(key, fallback);
    }

    int integer(final String key, final int fallback)
    {
        return values.containsKey(key) ? Integer.parseInt(values.get(key).replace("_", "")) : fallback;
    }

    double decimal(final String key, final double fallback)
    {
        return values.containsKey(key) ? Double.parseDouble(values.get(key).replace("_", "")) : fallback;
    }

    boolean flag(final String key)
    {
        return Boolean.parseBoolean(values.getOrDefault(key, "false"));
    }

    List<Double> doubles(final String key, final String fallback)
    {
        final List<Double> list = new ArrayList<>();
        for (final String part : values.getOrDefault(key, fallback).split(","))
        {
            list.add(Double.parseDouble(part.trim().replace("_", "")));
        }
        return list;
    }

    Path out() throws IOException
    {
        final Path out = Path.of(string("out", DEFAULT_OUT.toString()));
        Files.createDirectories(out);
        return out;
    }
}
