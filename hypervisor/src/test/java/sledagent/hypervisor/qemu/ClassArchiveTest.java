package sledagent.hypervisor.qemu;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import sledagent.hypervisor.sim.PropolisSimLauncher;

/**
 * The class-data archive of the propolis-qemu servers: trained by a real JVM run, then mapped by a real server
 * started with {@code -Xshare:on} (which refuses to start rather than run without it), whose classes are then
 * reported by the JVM itself as loaded from the archive. No QEMU is needed: training boots nothing.
 */
class ClassArchiveTest
{
    @TempDir
    Path dir;

    @Test
    void shouldTrainAnArchiveThatAServerMapsItsOwnClassesFrom() throws Exception
    {
        final Path stale = Files.writeString(dir.resolve("propolis-qemu-0123456789abcdef.jsa"), "old");
        final List<String> reports = new ArrayList<>();
        // The JVM archives classes from jars only, as the agent's are; the test's own are directories.
        final String classPath = jarredClassPath(dir.resolve("classes.jar"));
        try (ClassArchive archive = ClassArchive.in(dir, withClassPath(
            PropolisSimLauncher.javaCommand(PropolisQemuLauncher.MAIN_CLASS), classPath)))
        {
            assertThat(archive.current()).as("nothing before training").isNull();

            assertThat(archive.train(reports::add)).as("trained: %s", reports).isTrue();

            assertThat(archive.current()).isEqualTo(archive.file());
            assertThat(Files.size(archive.file())).isGreaterThan(1 << 20);
            assertThat(reports).singleElement().asString().contains("ready");
            assertThat(stale).as("an archive of another JDK or agent is deleted").doesNotExist();
            assertThat(dir.resolve("training-run")).doesNotExist();
            try (Stream<Path> files = Files.list(dir))
            {
                assertThat(files.map(Path::toString)).noneMatch(name -> name.endsWith(".partial"));
            }
            assertThat(archive.train(reports::add)).as("an existing archive is kept").isTrue();
            assertThat(reports).hasSize(1);

            final Path classLog = dir.resolve("classes.log");
            final List<String> command = withClassPath(PropolisQemuLauncher.command("127.0.0.1:0", null, "tcg",
                new BootSource.Kernel(Path.of("/dev/null"), null, null), dir.resolve("run"), archive.current()),
                classPath);
            // After the launcher's -Xlog:disable, which would turn the class log off again.
            command.addAll(command.indexOf("-cp"), List.of("-Xshare:on", "-Xlog:class+load=info:file=" + classLog));
            final Process server = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.DISCARD)
                .start();
            try
            {
                final String ready = new BufferedReader(new InputStreamReader(server.getInputStream(),
                    StandardCharsets.UTF_8)).readLine();
                assertThat(ready).as("the server started with -Xshare:on and the archive").contains("listening on");
                assertThat(Files.readAllLines(classLog))
                    .anyMatch(line -> line.contains("sledagent.hypervisor.server.PropolisHttpHandler source: shared"
                        + " objects file (top)"))
                    .anyMatch(line -> line.contains("com.fasterxml.jackson.databind.ObjectMapper source: shared"
                        + " objects file (top)"));
            }
            finally
            {
                server.destroyForcibly();
                assertThat(server.waitFor(30, TimeUnit.SECONDS)).isTrue();
            }
        }
    }

    @Test
    void shouldKeyTheArchiveOnTheClassPathEntriesContents() throws Exception
    {
        final Path jar = Files.writeString(dir.resolve("server.jar"), "v1");
        final List<String> command = withClassPath(PropolisSimLauncher.javaCommand("Main"), jar.toString());
        final String before = ClassArchive.key(command);

        assertThat(ClassArchive.key(command)).isEqualTo(before);
        Files.setLastModifiedTime(jar, FileTime.fromMillis(Files.getLastModifiedTime(jar).toMillis() - 60_000));
        assertThat(ClassArchive.key(command)).as("a rebuilt jar of the same name").isNotEqualTo(before);
        final List<String> otherFlags = new ArrayList<>(command);
        otherFlags.add(1, "-Xmx64m");
        assertThat(ClassArchive.key(otherFlags)).as("other JVM flags").isNotEqualTo(ClassArchive.key(command));
    }

    @Test
    void shouldMakeNothingOnceClosed()
    {
        final List<String> reports = new ArrayList<>();
        final ClassArchive archive = ClassArchive.in(dir.resolve("cache"));
        archive.close();

        assertThat(archive.train(reports::add)).isFalse();
        assertThat(archive.current()).isNull();
    }

    private static List<String> withClassPath(final List<String> command, final String classPath)
    {
        final List<String> changed = new ArrayList<>(command);
        changed.set(changed.indexOf("-cp") + 1, classPath);
        return changed;
    }

    /** This JVM's class path with its directories packed into one jar ({@code jar}) and its jars as they are. */
    private static String jarredClassPath(final Path jar) throws IOException
    {
        final List<String> entries = new ArrayList<>();
        entries.add(jar.toString());
        try (JarOutputStream out = new JarOutputStream(Files.newOutputStream(jar)))
        {
            final Set<String> names = new HashSet<>();
            for (final String entry : System.getProperty("java.class.path").split(File.pathSeparator))
            {
                final Path path = Path.of(entry);
                if (!Files.isDirectory(path))
                {
                    entries.add(entry);
                    continue;
                }
                try (Stream<Path> files = Files.walk(path))
                {
                    for (final Path file : files.filter(Files::isRegularFile).toList())
                    {
                        final String name = path.relativize(file).toString().replace(File.separatorChar, '/');
                        if (names.add(name))
                        {
                            out.putNextEntry(new JarEntry(name));
                            Files.copy(file, out);
                            out.closeEntry();
                        }
                    }
                }
            }
        }
        return String.join(File.pathSeparator, entries);
    }
}
