package sledagent.hypervisor.qemu;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.stream.Stream;
import sledagent.hypervisor.server.JsonWarmup;
import sledagent.hypervisor.sim.PropolisSimLauncher;

/**
 * A class-data archive (a dynamic AppCDS archive, {@code -XX:ArchiveClassesAtExit}, JDK 13 and later) for the
 * propolis-qemu JVMs an agent starts. Without it every server loads and verifies some 1,500 classes of its own
 * (Jackson's, the HTTP server's, ours) from the jar; with it they are mapped from the archive: ensure 150-170 ->
 * 55-65 ms and the bind ~20 ms sooner on these machines (perf/RESULTS.md, issue 14), on every guest's start.
 *
 * <p>The archive is made once by a training run: a propolis-qemu started with the launch flags plus
 * {@code -XX:ArchiveClassesAtExit}, driven over HTTP through the paths a real start takes (the ensure, with
 * {@code /bin/false} as its QEMU so that nothing boots, Run, the state monitor, the instance), then stopped with
 * SIGTERM, at which the JVM writes the archive. It is written under a temporary name and renamed, so a server
 * never sees half an archive. The file name carries a digest of everything the JVM checks the archive against (the
 * {@code java} binary, its version, its base archive, the flags, each class path entry's size and time), so an
 * upgraded JDK or agent gets a new archive and the old ones are deleted. Until it exists, and whenever training
 * fails, servers start without it: the archive only saves time.
 */
public final class ClassArchive implements AutoCloseable
{
    /** Bound of one training run, JVM start to archive written (it takes 1-3 s here). */
    public static final long TRAINING_BOUND_MS = 60_000;
    private static final String PREFIX = "propolis-qemu-";
    private static final String SUFFIX = ".jsa";
    private static final Duration CALL_TIMEOUT = Duration.ofSeconds(10);
    private static final Path SETPRIV = Path.of("/usr/bin/setpriv");

    private final Path dir;
    private final Path file;
    private final List<String> launchFlags;
    private final Object lock = new Object();
    private ExecutorService trainer;
    private Process training;
    private boolean closed;

    private ClassArchive(final Path dir, final List<String> launchFlags, final String key)
    {
        this.dir = dir;
        this.launchFlags = List.copyOf(launchFlags);
        this.file = dir.resolve(PREFIX + key + SUFFIX);
    }

    /**
     * The archive of this JVM's propolis-qemu launches in {@code dir} (nothing is created until {@link #train}).
     *
     * @param dir a directory of the agent's own (created when training)
     * @return the archive, ready or not
     */
    public static ClassArchive in(final Path dir)
    {
        return in(dir, PropolisSimLauncher.javaCommand(PropolisQemuLauncher.MAIN_CLASS));
    }

    /** The archive of the launches of {@code command} (a {@code java} argv ending with the main class). */
    static ClassArchive in(final Path dir, final List<String> command)
    {
        return new ClassArchive(dir, command.subList(0, command.size() - 1), key(command));
    }

    /** The archive's path, whether or not it exists yet. */
    public Path file()
    {
        return file;
    }

    /** The archive to launch with, or null while there is none (a server then starts without it). */
    public Path current()
    {
        return Files.isRegularFile(file) ? file : null;
    }

    /**
     * Trains the archive on a background thread unless it exists; {@code report} gets one line saying what
     * happened. Returns at once.
     *
     * @return the training, done when the archive exists or training failed (true if it exists)
     */
    public Future<Boolean> trainInBackground(final Consumer<String> report)
    {
        synchronized (lock)
        {
            if (closed)
            {
                throw new IllegalStateException("closed");
            }
            if (trainer == null)
            {
                trainer = Executors.newSingleThreadExecutor(runnable ->
                {
                    final Thread thread = new Thread(runnable, "class-archive");
                    thread.setDaemon(true);
                    thread.setPriority(Thread.MIN_PRIORITY);
                    return thread;
                });
            }
            return trainer.submit(() -> train(report));
        }
    }

    /**
     * Trains the archive unless it exists, blocking: the trainee is killed {@link #TRAINING_BOUND_MS} after its
     * start if it has not exited by then.
     *
     * @param report gets one line saying what happened
     * @return true if the archive exists afterwards
     */
    public boolean train(final Consumer<String> report)
    {
        if (current() != null)
        {
            return true;
        }
        final long startNs = System.nanoTime();
        final Path partial = dir.resolve(file.getFileName() + ".partial");
        final Path trainingLog = dir.resolve("training.log");
        final Path runDir = dir.resolve("training-run");
        try
        {
            Files.createDirectories(dir);
            Files.deleteIfExists(partial);
            final List<String> argv = new ArrayList<>();
            if (Files.isExecutable(SETPRIV))
            {
                // Not in a zone: if the agent dies mid-training, the kernel kills the trainee with it.
                argv.addAll(List.of(SETPRIV.toString(), "--pdeathsig", "KILL", "--"));
            }
            argv.addAll(launchFlags);
            argv.add("-XX:ArchiveClassesAtExit=" + partial);
            argv.add(PropolisQemuLauncher.MAIN_CLASS);
            argv.addAll(List.of("--listen", "127.0.0.1:0", "--qemu", "/bin/false", "--accel", "tcg",
                "--kernel", "/dev/null", "--run-dir", runDir.toString()));
            final Process process = start(argv, trainingLog);
            if (process == null)
            {
                return false;
            }
            // The whole run is bounded: a trainee that never prints its ready line or never exits is killed.
            final CompletableFuture<Void> bound = new CompletableFuture<>();
            bound.completeOnTimeout(null, TRAINING_BOUND_MS, TimeUnit.MILLISECONDS).thenRun(process::destroyForcibly);
            try
            {
                exercise(process);
                process.destroy();
                if (!process.waitFor(TRAINING_BOUND_MS, TimeUnit.MILLISECONDS))
                {
                    throw new IOException("the training server did not exit within " + TRAINING_BOUND_MS + " ms");
                }
            }
            finally
            {
                bound.cancel(false);
                process.destroyForcibly();
                synchronized (lock)
                {
                    training = null;
                }
            }
            if (!Files.isRegularFile(partial) || Files.size(partial) == 0)
            {
                throw new IOException("the JVM wrote no archive; " + trainingLog + " ends: " + tail(trainingLog));
            }
            moveIntoPlace(partial);
            deleteOthers();
            report.accept("class archive for propolis-qemu ready: " + file + " (" + Files.size(file) / 1024
                + " KiB, trained in " + TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startNs) + " ms)");
            return true;
        }
        catch (final IOException | RuntimeException e)
        {
            report.accept("class archive for propolis-qemu not made (servers start without it): " + e);
            return false;
        }
        catch (final InterruptedException e)
        {
            Thread.currentThread().interrupt();
            return false;
        }
        finally
        {
            deleteQuietly(partial);
            deleteTree(runDir);
        }
    }

    /** Starts the training server, or null if closed. */
    private Process start(final List<String> argv, final Path trainingLog) throws IOException
    {
        synchronized (lock)
        {
            if (closed)
            {
                return null;
            }
            training = new ProcessBuilder(argv)
                .redirectError(ProcessBuilder.Redirect.to(trainingLog.toFile()))
                .start();
            return training;
        }
    }

    /** Drives the training server through a start's requests; its answers do not matter, the code they ran does. */
    private static void exercise(final Process process) throws IOException, InterruptedException
    {
        final String ready;
        final BufferedReader stdout = new BufferedReader(
            new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
        ready = stdout.readLine();
        final int at = ready == null ? -1 : ready.indexOf(" listening on ");
        if (at < 0)
        {
            throw new IOException("the training server did not start (said " + ready + ")");
        }
        final String addr = ready.substring(at + " listening on ".length()).split(" ")[0];
        final HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(CALL_TIMEOUT).build();
        call(client, "GET", addr, "/instance", null);
        call(client, "PUT", addr, "/instance", JsonWarmup.ENSURE);
        call(client, "PUT", addr, "/instance/state", "\"Run\"");
        call(client, "GET", addr, "/instance/state-monitor", "{\"gen\":0}");
        call(client, "GET", addr, "/instance", null);
        call(client, "GET", addr, "/instance/serial/history?most_recent=1024", null);
        call(client, "PUT", addr, "/instance/state", "\"Stop\"");
    }

    private static void call(final HttpClient client, final String method, final String addr, final String path,
        final String body) throws IOException, InterruptedException
    {
        final HttpRequest.Builder request = HttpRequest.newBuilder(URI.create("http://" + addr + path))
            .timeout(CALL_TIMEOUT).header("api-version", "5.0.0");
        if (body != null)
        {
            request.header("content-type", "application/json");
        }
        request.method(method, body == null ? HttpRequest.BodyPublishers.noBody()
            : HttpRequest.BodyPublishers.ofString(body));
        client.send(request.build(), HttpResponse.BodyHandlers.discarding());
    }

    private void moveIntoPlace(final Path partial) throws IOException
    {
        try
        {
            Files.move(partial, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        }
        catch (final AtomicMoveNotSupportedException e)
        {
            // Same directory: cannot happen on a POSIX file system; a plain move is the next best.
            Files.move(partial, file, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    /** Deletes the archives of earlier JDKs or agents (other digests) in the directory. */
    private void deleteOthers() throws IOException
    {
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir, PREFIX + "*" + SUFFIX))
        {
            for (final Path entry : entries)
            {
                if (!entry.equals(file))
                {
                    deleteQuietly(entry);
                }
            }
        }
    }

    /**
     * A digest of what the JVM checks a dynamic archive against: the launch command (the {@code java} binary, the
     * flags, the class path), the JVM's version, and the size and time of the base archive and of each class path
     * entry (a rebuilt jar of the same name must not meet an old archive).
     */
    static String key(final List<String> command)
    {
        try
        {
            final MessageDigest digest = MessageDigest.getInstance("SHA-256");
            final List<String> parts = new ArrayList<>(command);
            parts.add(System.getProperty("java.vm.version"));
            final Path home = Path.of(System.getProperty("java.home"));
            parts.add(stamp(home.resolve("lib/server/classes.jsa")));
            parts.add(stamp(home.resolve("lib/server/classes_nocoops.jsa")));
            final int cp = command.indexOf("-cp");
            if (cp >= 0 && cp + 1 < command.size())
            {
                for (final String entry : command.get(cp + 1).split(File.pathSeparator))
                {
                    parts.add(stamp(Path.of(entry)));
                }
            }
            for (final String part : parts)
            {
                digest.update(part.getBytes(StandardCharsets.UTF_8));
                digest.update((byte)0);
            }
            return HexFormat.of().formatHex(digest.digest(), 0, 8);
        }
        catch (final NoSuchAlgorithmException e)
        {
            throw new IllegalStateException("SHA-256 is part of every JDK", e);
        }
    }

    private static String stamp(final Path path)
    {
        try
        {
            final BasicFileAttributes attributes = Files.readAttributes(path, BasicFileAttributes.class);
            return path + ":" + attributes.size() + ":" + attributes.lastModifiedTime().toMillis();
        }
        catch (final IOException e)
        {
            return path + ":absent";
        }
    }

    private static void deleteQuietly(final Path path)
    {
        try
        {
            Files.deleteIfExists(path);
        }
        catch (final IOException e)
        {
            // Left for the next training, which deletes it first.
        }
    }

    /** The end of a small log, for a report. */
    private static String tail(final Path log)
    {
        try
        {
            final String text = Files.readString(log, StandardCharsets.UTF_8).strip();
            return text.substring(Math.max(0, text.length() - 600));
        }
        catch (final IOException e)
        {
            return "(unreadable: " + e + ")";
        }
    }

    private static void deleteTree(final Path root)
    {
        if (!Files.exists(root))
        {
            return;
        }
        try (Stream<Path> paths = Files.walk(root))
        {
            paths.sorted(Comparator.reverseOrder()).forEach(ClassArchive::deleteQuietly);
        }
        catch (final IOException e)
        {
            // Left for the next training.
        }
    }

    /** Kills a training run under way and stops the training thread (an archive already made stays). */
    @Override
    public void close()
    {
        final ExecutorService stopping;
        synchronized (lock)
        {
            closed = true;
            if (training != null)
            {
                training.destroyForcibly();
            }
            stopping = trainer;
        }
        if (stopping != null)
        {
            stopping.shutdownNow();
            try
            {
                stopping.awaitTermination(TRAINING_BOUND_MS, TimeUnit.MILLISECONDS);
            }
            catch (final InterruptedException e)
            {
                Thread.currentThread().interrupt();
            }
        }
    }
}
