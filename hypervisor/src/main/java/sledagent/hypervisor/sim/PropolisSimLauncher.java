package sledagent.hypervisor.sim;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The command line that starts propolis-sim as a separate process: this JVM's {@code java}, this JVM's class path,
 * and flags that keep a sim small and quick to start (measured in {@code hypervisor/README.md}).
 */
public final class PropolisSimLauncher
{
    /** The sim's main class. */
    public static final String MAIN_CLASS = "sledagent.hypervisor.sim.PropolisSimMain";

    /**
     * Small-footprint flags, all accepted by JDK 17 and later. The sim allocates little and runs briefly: a serial
     * collector, a small heap, C1 only and no perf-data file save both start time and resident memory.
     */
    private static final List<String> JVM_FLAGS = List.of(
        "-Xms8m",
        "-Xmx24m",
        "-Xss256k",
        "-XX:+UseSerialGC",
        "-XX:TieredStopAtLevel=1",
        "-XX:CICompilerCount=1",
        "-XX:ReservedCodeCacheSize=16m",
        "-XX:-UsePerfData",
        "-Xshare:auto",
        // GET /instance/serial takes the raw connection under the JDK HttpServer (server.RawConnection).
        "--add-opens=jdk.httpserver/sun.net.httpserver=ALL-UNNAMED",
        // stdout carries the ready line; JVM log warnings (stdout by default) go to stderr instead.
        "-Xlog:disable",
        "-Xlog:all=warning:stderr");

    private PropolisSimLauncher()
    {
    }

    /**
     * @param listenAddr {@code HOST:PORT} or {@code [v6]:PORT}; port 0 picks a free port, which the sim reports in
     *                   its first line of stdout
     * @return the argv that starts a sim with the default step delay
     */
    public static List<String> command(final String listenAddr)
    {
        return command(listenAddr, SimOptions.DEFAULT_STEP_MS);
    }

    /**
     * @param listenAddr {@code HOST:PORT} or {@code [v6]:PORT}
     * @param stepMs     delay between simulated transitions
     * @return the argv that starts a sim
     */
    public static List<String> command(final String listenAddr, final long stepMs)
    {
        final List<String> command = new ArrayList<>(javaCommand(MAIN_CLASS));
        command.add("--listen");
        command.add(listenAddr);
        command.add("--step-ms");
        command.add(Long.toString(stepMs));
        return List.copyOf(command);
    }

    /**
     * @param mainClass the class to run
     * @return this JVM's {@code java}, the small-footprint flags, this JVM's class path and {@code mainClass}
     */
    public static List<String> javaCommand(final String mainClass)
    {
        return javaCommand(mainClass, List.of());
    }

    /**
     * @param mainClass the class to run
     * @param jvmFlags  more JVM flags, after the small-footprint ones
     * @return this JVM's {@code java}, the small-footprint flags, {@code jvmFlags}, this JVM's class path and
     *         {@code mainClass}
     */
    public static List<String> javaCommand(final String mainClass, final List<String> jvmFlags)
    {
        final List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.addAll(JVM_FLAGS);
        command.addAll(jvmFlags);
        command.add("-cp");
        command.add(System.getProperty("java.class.path"));
        command.add(mainClass);
        return List.copyOf(command);
    }
}
