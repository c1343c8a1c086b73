package sledagent.agent.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import sledagent.agent.demo.ExampleBodies;
import sledagent.agent.demo.RecordingNexus;
import sledagent.api.VmmState;

/**
 * Issue 10: the agent (a separate process) runs out of descriptors: its RLIMIT_NOFILE is lowered to just above what
 * it holds and connections fill the rest, so no file or socket can be opened. A register is refused with 507 naming
 * the real cause, and a force-terminate sent over a connection opened before still kills the VMM at once (the kill
 * journal and a spare descriptor are held from the start); once descriptors are back, the answer and Nexus's
 * `destroyed` follow.
 */
class DescriptorExhaustionTest
{
    private static final Duration WAIT = Duration.ofSeconds(30);

    private ProcessAgents rig;
    private AgentProcess agent;

    @BeforeEach
    void setUp() throws Exception
    {
        rig = new ProcessAgents("emfile-test");
    }

    @AfterEach
    void tearDown() throws Exception
    {
        rig.close();
    }

    @Test
    void shouldKillAndNameTheCauseWhenTheAgentHasNoDescriptorLeft() throws Exception
    {
        agent = rig.start("60s");
        final RecordingNexus nexus = rig.nexus();
        final Path zoneRoot = rig.zoneRoot();
        final UUID id = UUID.randomUUID();
        assertThat(agent.client.register(id, ExampleBodies.ensureBody(UUID.randomUUID(), AgentFixture.freeAddr(), 1))
            .status()).isEqualTo(200);
        assertThat(agent.client.putState(id, "running").status()).isEqualTo(200);
        await().atMost(WAIT).pollInterval(Duration.ofMillis(10)).until(() -> nexus.received(id).stream()
            .anyMatch(r -> r.state().vmmState().state() == VmmState.RUNNING));
        final List<Long> pids = AgentProcess.zonePids(zoneRoot, id);
        assertThat(pids).isNotEmpty();

        PORT.set(agent.base().getPort());
        try (Socket socket = new Socket("127.0.0.1", agent.base().getPort()))
        {
            socket.setSoTimeout((int)WAIT.toMillis());
            final OutputStream out = socket.getOutputStream();
            final BufferedReader in = new BufferedReader(new InputStreamReader(socket.getInputStream(),
                StandardCharsets.UTF_8));
            send(out, "GET", "/health", null);
            assertThat(readAnswer(in)).startsWith("HTTP/1.1 200");

            final String hardLimit = prlimit(agent.pid(), null).trim().split("\\s+")[1];
            final List<Socket> fillers = new ArrayList<>();
            try
            {
                exhaust(agent.pid(), hardLimit, fillers);
                final String body = ExampleBodies.ensureBody(UUID.randomUUID(), AgentFixture.freeAddr(), 1);
                send(out, "PUT", "/vmms/" + UUID.randomUUID(), body);
                final String refused = readAnswer(in);
                assertThat(refused).as("register without a descriptor; log:\n%s", agent.logTail())
                    .startsWith("HTTP/1.1 507").contains("Too many open files");

                send(out, "POST", "/vmms/" + id + "/force-terminate", null);
                try
                {
                    await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(20))
                        .untilAsserted(() -> AgentFixture.assertGone(pids));
                }
                catch (final org.awaitility.core.ConditionTimeoutException ex)
                {
                    throw new AssertionError("the VMM outlived a force-terminate without descriptors; log:\n"
                        + agent.logTail(), ex);
                }
            }
            finally
            {
                prlimit(agent.pid(), hardLimit + ":" + hardLimit);
                for (final Socket filler : fillers)
                {
                    filler.close();
                }
            }
            final String answer = readAnswer(in);
            assertThat(answer).as("log:\n%s", agent.logTail()).startsWith("HTTP/1.1 200").contains("destroyed");
        }
        await().atMost(WAIT).pollInterval(Duration.ofMillis(10)).until(() -> nexus.received(id).stream()
            .anyMatch(r -> r.state().vmmState().state() == VmmState.DESTROYED));
        assertThat(nexus.received(id).stream().filter(r -> r.state().vmmState().state() == VmmState.DESTROYED))
            .hasSize(1);
        await().atMost(WAIT).pollInterval(Duration.ofMillis(10)).until(() -> agent.client.state(id).status() == 404);
    }

    /**
     * Runs the agent out of descriptors as a leak or a flood would: its limit is set just above the highest
     * descriptor it holds, and connections are opened until the agent has taken every number below the limit
     * (accept takes the lowest free one). Then no open can succeed.
     */
    private static void exhaust(final long pid, final String hardLimit, final List<Socket> fillers) throws Exception
    {
        final int limit = descriptors(pid).stream().mapToInt(Integer::intValue).max().orElseThrow() + 1;
        prlimit(pid, limit + ":" + hardLimit);
        final long deadlineNs = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (descriptors(pid).size() < limit)
        {
            assertThat(System.nanoTime() - deadlineNs).as("agent still has free descriptors below %d", limit)
                .isNegative();
            final int before = descriptors(pid).size();
            fillers.add(new Socket("127.0.0.1", PORT.get()));
            // One at a time: wait for the accept, so no connection is left pending to race the kill for a slot.
            final long acceptNs = System.nanoTime() + TimeUnit.SECONDS.toNanos(2);
            while (descriptors(pid).size() <= before && System.nanoTime() - acceptNs < 0)
            {
                Thread.sleep(5);
            }
        }
    }

    private static final java.util.concurrent.atomic.AtomicInteger PORT =
        new java.util.concurrent.atomic.AtomicInteger();

    /** The descriptor numbers {@code pid} holds. */
    private static List<Integer> descriptors(final long pid) throws IOException
    {
        try (java.util.stream.Stream<Path> fds = Files.list(Path.of("/proc", Long.toString(pid), "fd")))
        {
            return fds.map(p -> Integer.parseInt(p.getFileName().toString())).toList();
        }
    }

    /** {@code prlimit --nofile} of {@code pid}: sets {@code soft:hard} if given; returns "soft hard" as it is now. */
    private static String prlimit(final long pid, final String softHard) throws Exception
    {
        final List<String> command = softHard == null
            ? List.of("prlimit", "--pid", Long.toString(pid), "--nofile", "--noheadings", "--output", "SOFT,HARD")
            : List.of("prlimit", "--pid", Long.toString(pid), "--nofile=" + softHard);
        final Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        final String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(process.waitFor(10, TimeUnit.SECONDS)).isTrue();
        assertThat(process.exitValue()).as("%s: %s", command, output).isZero();
        return output;
    }

    private static void send(final OutputStream out, final String method, final String path, final String body)
        throws IOException
    {
        final byte[] bytes = body == null ? new byte[0] : body.getBytes(StandardCharsets.UTF_8);
        final String head = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\napi-version: 48.0.0\r\n"
            + "content-type: application/json\r\ncontent-length: " + bytes.length + "\r\n\r\n";
        out.write(head.getBytes(StandardCharsets.US_ASCII));
        out.write(bytes);
        out.flush();
    }

    /** Reads one answer (status line, headers, content-length body) and returns it as text. */
    private static String readAnswer(final BufferedReader in) throws IOException
    {
        final StringBuilder answer = new StringBuilder();
        int length = 0;
        String line;
        while ((line = in.readLine()) != null && !line.isEmpty())
        {
            answer.append(line).append('\n');
            if (line.toLowerCase(java.util.Locale.ROOT).startsWith("content-length:"))
            {
                length = Integer.parseInt(line.substring(line.indexOf(':') + 1).trim());
            }
        }
        final char[] body = new char[length];
        int read = 0;
        while (read < length)
        {
            final int n = in.read(body, read, length - read);
            if (n < 0)
            {
                break;
            }
            read += n;
        }
        return answer.append('\n').append(body, 0, read).toString();
    }
}
