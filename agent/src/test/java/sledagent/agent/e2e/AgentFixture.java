package sledagent.agent.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.function.Function;
import javax.net.ssl.SSLContext;
import sledagent.agent.config.AgentConfig;
import sledagent.agent.config.VmmChoice;
import sledagent.agent.core.SledAgent;
import sledagent.agent.demo.AgentHttpClient;
import sledagent.agent.demo.RecordingNexus;
import sledagent.agent.testing.TestZones;
import sledagent.agent.tls.TlsFiles;
import sledagent.api.Json;
import sledagent.hypervisor.sim.PropolisSimLauncher;

/**
 * A real agent (real HTTP, real cgroups, real propolis-sim processes) with a recording Nexus, on a zone root
 * of its own. {@link #close()} removes every zone and process it made, even after a failed test.
 */
final class AgentFixture implements AutoCloseable
{
    final Path zoneRoot;
    final Path stateDir;
    final RecordingNexus nexus;
    final SledAgent agent;
    final AgentHttpClient client;

    AgentFixture(final long stopGraceMs) throws Exception
    {
        this(stopGraceMs, AgentConfig.DEFAULT_START_TIMEOUT_MS, PropolisSimLauncher::command);
    }

    /** An agent with its own stop grace, start timeout and VMM command (e.g. a sim with a fault armed). */
    AgentFixture(final long stopGraceMs, final long startTimeoutMs,
        final Function<String, List<String>> vmmCommand) throws Exception
    {
        this(stopGraceMs, startTimeoutMs, vmmCommand, null);
    }

    /** An agent running the configured {@code vmm} (e.g. propolis-qemu booting the tiny guest). */
    AgentFixture(final long stopGraceMs, final VmmChoice vmm) throws Exception
    {
        this(stopGraceMs, AgentConfig.DEFAULT_START_TIMEOUT_MS, null, vmm);
    }

    private AgentFixture(final long stopGraceMs, final long startTimeoutMs,
        final Function<String, List<String>> vmmCommand, final VmmChoice vmm) throws Exception
    {
        zoneRoot = TestZones.uniqueRoot();
        stateDir = Files.createTempDirectory("sled-agent-test");
        RecordingNexus startedNexus = null;
        try
        {
            startedNexus = new RecordingNexus();
            final AgentConfig config = new AgentConfig(new InetSocketAddress("127.0.0.1", 0),
                List.of(startedNexus.url()), stateDir, stopGraceMs, zoneRoot, UUID.randomUUID(), startTimeoutMs);
            agent = vmm != null ? SledAgent.launch(config.withVmm(vmm)) : SledAgent.launch(config, vmmCommand);
        }
        catch (final Exception | Error ex)
        {
            if (startedNexus != null)
            {
                startedNexus.close();
            }
            removeZones(zoneRoot);
            throw ex;
        }
        nexus = startedNexus;
        client = new AgentHttpClient(URI.create("http://127.0.0.1:" + agent.server().address().getPort()),
            Duration.ofSeconds(10));
    }

    /**
     * An agent serving its API over {@code apiTls} and publishing to {@code nexus} over {@code nexusTls}; its
     * {@link #client} uses {@code clientTls}. The fixture owns {@code nexus} from here on (closes it, even if the
     * agent does not start).
     */
    AgentFixture(final RecordingNexus nexus, final TlsFiles apiTls, final TlsFiles nexusTls,
        final SSLContext clientTls) throws Exception
    {
        zoneRoot = TestZones.uniqueRoot();
        stateDir = Files.createTempDirectory("sled-agent-test");
        try
        {
            agent = SledAgent.launch(new AgentConfig(new InetSocketAddress("127.0.0.1", 0), List.of(nexus.url()),
                stateDir, 60_000, zoneRoot, UUID.randomUUID(), AgentConfig.DEFAULT_START_TIMEOUT_MS)
                .withTls(apiTls, nexusTls), PropolisSimLauncher::command);
        }
        catch (final Exception | Error ex)
        {
            nexus.close();
            removeZones(zoneRoot);
            throw ex;
        }
        this.nexus = nexus;
        client = new AgentHttpClient(base(), Duration.ofSeconds(10), clientTls);
    }

    /** The agent's base URL: https when it serves TLS. */
    URI base()
    {
        return URI.create((agent.server().tls() ? "https" : "http") + "://127.0.0.1:"
            + agent.server().address().getPort());
    }

    /** A free loopback address for a VMM. */
    static String freeAddr() throws IOException
    {
        try (ServerSocket socket = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress()))
        {
            return "127.0.0.1:" + socket.getLocalPort();
        }
    }

    /** The last {@code lines} lines of every VMM log under the state dir, for a failing test's report. */
    String vmmLogTails(final int lines)
    {
        final StringBuilder out = new StringBuilder();
        try (java.util.stream.Stream<Path> logs = Files.list(stateDir.resolve("logs")))
        {
            for (final Path log : logs.sorted().toList())
            {
                final List<String> all = Files.readAllLines(log, java.nio.charset.StandardCharsets.UTF_8);
                out.append("=== ").append(log.getFileName()).append('\n');
                all.subList(Math.max(0, all.size() - lines), all.size()).forEach(l -> out.append(l).append('\n'));
            }
        }
        catch (final IOException ex)
        {
            out.append("(no VMM logs: ").append(ex).append(")\n");
        }
        return out.toString();
    }

    Path zoneDir(final UUID propolisId)
    {
        return zoneRoot.resolve("oxz_propolis-server_" + propolisId);
    }

    /** Pids in a zone right now (empty if the zone does not exist). */
    List<Long> zonePids(final UUID propolisId) throws IOException
    {
        final Path procs = zoneDir(propolisId).resolve("cgroup.procs");
        final List<Long> pids = new ArrayList<>();
        if (Files.exists(procs))
        {
            for (final String line : Files.readAllLines(procs))
            {
                if (!line.isBlank())
                {
                    pids.add(Long.parseLong(line.trim()));
                }
            }
        }
        return pids;
    }

    static JsonNode json(final String body) throws IOException
    {
        return Json.mapper().readTree(body);
    }

    /**
     * Every pid is dead: absent, or a zombie waiting for its parent to reap it (which this machine's PID 1
     * does late; a zombie runs nothing and holds nothing but its pid).
     */
    static void assertGone(final List<Long> pids) throws IOException
    {
        // Once its cgroup reports populated 0 a process runs nothing more, but the kernel may still be tearing
        // down its PID namespace for a few milliseconds, during which /proc shows it as sleeping: allow that.
        for (final long pid : pids)
        {
            org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(5))
                .pollInterval(java.time.Duration.ofMillis(5))
                .untilAsserted(() -> assertThat(runState(pid)).as("process %d should be gone (state from /proc)", pid)
                    .isIn("gone", "Z", "X"));
        }
    }

    /** The state letter from /proc/PID/stat, or "gone". */
    static String runState(final long pid) throws IOException
    {
        final Path stat = Path.of("/proc/" + pid + "/stat");
        try
        {
            final String text = Files.readString(stat);
            return text.substring(text.lastIndexOf(')') + 2, text.lastIndexOf(')') + 3);
        }
        catch (final java.nio.file.NoSuchFileException ex)
        {
            return "gone";
        }
    }

    @Override
    public void close() throws Exception
    {
        try
        {
            agent.close();
        }
        finally
        {
            nexus.close();
            removeZones(zoneRoot);
        }
    }

    /** Kills and removes every zone under {@code root}, then the root itself. */
    static void removeZones(final Path root) throws InterruptedException
    {
        TestZones.removeAll(root);
    }
}
