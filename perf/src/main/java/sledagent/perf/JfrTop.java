package sledagent.perf;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import jdk.jfr.Configuration;
import jdk.jfr.Recording;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordedFrame;
import jdk.jfr.consumer.RecordedStackTrace;
import jdk.jfr.consumer.RecordingFile;

/** The hottest methods of a JFR file (execution samples), self and inclusive, and its GC pauses. */
final class JfrTop
{
    private JfrTop()
    {
    }

    static void print(final Path file, final int frames, final PrintStream out) throws IOException
    {
        final Map<String, Integer> self = new HashMap<>();
        final Map<String, Integer> inclusive = new HashMap<>();
        final Map<String, Integer> threads = new HashMap<>();
        final Map<String, Integer> nativeTop = new HashMap<>();
        int samples = 0;
        int nativeSamples = 0;
        int gcs = 0;
        double gcPauseMs = 0;
        double gcMaxMs = 0;
        try (RecordingFile recording = new RecordingFile(file))
        {
            while (recording.hasMoreEvents())
            {
                final RecordedEvent event = recording.readEvent();
                final String type = event.getEventType().getName();
                if (type.equals("jdk.ExecutionSample"))
                {
                    final RecordedStackTrace stack = event.getStackTrace();
                    if (stack == null || stack.getFrames().isEmpty())
                    {
                        continue;
                    }
                    samples++;
                    final String thread = event.getThread("sampledThread") == null ? "?"
                        : event.getThread("sampledThread").getJavaName();
                    threads.merge(thread == null ? "?" : thread.replaceAll("\\d+", "N"), 1, Integer::sum);
                    self.merge(frameName(stack.getFrames().get(0)), 1, Integer::sum);
                    final java.util.Set<String> seen = new java.util.HashSet<>();
                    for (final RecordedFrame frame : stack.getFrames())
                    {
                        final String name = frameName(frame);
                        if (seen.add(name))
                        {
                            inclusive.merge(name, 1, Integer::sum);
                        }
                    }
                }
                else if (type.equals("jdk.NativeMethodSample"))
                {
                    final RecordedStackTrace stack = event.getStackTrace();
                    if (stack != null && !stack.getFrames().isEmpty())
                    {
                        nativeSamples++;
                        nativeTop.merge(frameName(stack.getFrames().get(0)) + " <- "
                            + (stack.getFrames().size() > 1 ? frameName(stack.getFrames().get(1)) : ""), 1,
                            Integer::sum);
                    }
                }
                else if (type.equals("jdk.GarbageCollection"))
                {
                    gcs++;
                    final double pause = event.getDuration("sumOfPauses").toNanos() / 1e6;
                    gcPauseMs += pause;
                    gcMaxMs = Math.max(gcMaxMs, event.getDuration("longestPause").toNanos() / 1e6);
                }
            }
        }
        out.printf("JFR %s: %d Java execution samples (every 1 ms); %d GCs, pauses %.1f ms in all, longest %.2f ms%n",
            file,
            samples, gcs, gcPauseMs, gcMaxMs);
        out.printf("threads in native code: %d samples (every 5 ms), by method:%n", nativeSamples);
        top(nativeTop, 8, nativeSamples, out);
        out.println("Java samples by thread:");
        top(threads, 10, samples, out);
        out.println("hottest methods (self):");
        top(self, frames, samples, out);
        out.println("hottest methods (inclusive):");
        top(inclusive, frames, samples, out);
    }

    private static String frameName(final RecordedFrame frame)
    {
        return frame.getMethod().getType().getName() + "." + frame.getMethod().getName();
    }

    private static void top(final Map<String, Integer> counts, final int limit, final int total,
        final PrintStream out)
    {
        counts.entrySet().stream().sorted(Map.Entry.<String, Integer>comparingByValue().reversed()).limit(limit)
            .forEach(e -> out.printf("  %5.1f%%  %s%n", 100.0 * e.getValue() / Math.max(1, total), e.getKey()));
    }

    static Recording startJfr(final Path file) throws Exception
    {
        Files.createDirectories(file.getParent());
        final Recording recording = new Recording(Configuration.getConfiguration("profile"));
        // Denser than "profile" (10 and 20 ms): a 10 s run of one busy event loop gets thousands of samples.
        recording.enable("jdk.ExecutionSample").withPeriod(Duration.ofMillis(1));
        recording.enable("jdk.NativeMethodSample").withPeriod(Duration.ofMillis(5));
        recording.setDestination(file);
        recording.start();
        return recording;
    }
}
