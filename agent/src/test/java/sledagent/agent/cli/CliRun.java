package sledagent.agent.cli;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;

/** One run of {@code sled-agent vmm ...} through {@link VmmCommand#run} with stdout and stderr captured. */
final class CliRun
{
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private final ByteArrayOutputStream err = new ByteArrayOutputStream();
    private int status = -1;

    /** Runs the command (blocking) and returns this run. */
    static CliRun vmm(final String... args)
    {
        return new CliRun().start(args);
    }

    CliRun start(final String... args)
    {
        status = VmmCommand.run(List.of(args), new PrintStream(out, true, StandardCharsets.UTF_8),
            new PrintStream(err, true, StandardCharsets.UTF_8));
        return this;
    }

    int status()
    {
        return status;
    }

    /** Stdout so far (safe to read while the command runs on another thread). */
    String out()
    {
        return out.toString(StandardCharsets.UTF_8);
    }

    String err()
    {
        return err.toString(StandardCharsets.UTF_8);
    }

    @Override
    public String toString()
    {
        return "status " + status + "\n--- stdout\n" + out() + "--- stderr\n" + err();
    }
}
