package sledagent.zones.illumos;

import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import sledagent.zones.CommandRunner;
import sledagent.zones.Zone;
import sledagent.zones.ZoneBackend;
import sledagent.zones.ZoneException;
import sledagent.zones.ZoneNames;
import sledagent.zones.ZoneProcess;

/**
 * illumos zones, driven through {@code zonecfg} and {@code zoneadm} (each run with a deadline by a
 * {@link CommandRunner}), discovered with {@code zoneadm list -cip} ({@link ZoneadmList}).
 *
 * <ul>
 *   <li>create: {@code zonecfg -z Z "create -b; set zonepath=...; ..."} then {@code zoneadm -z Z install}
 *       (an {@code incomplete} zone is uninstalled first). The zone is left installed, not booted.</li>
 *   <li>adopt (after an agent restart): the zone is {@code running} and the recorded {@code zlogin} pid is alive
 *       with its recorded start time ({@link AdoptedZlogin}).</li>
 *   <li>spawn: {@code zoneadm -z Z boot} if the zone is not running, then {@code zlogin -S Z argv...} from the
 *       global zone; the {@code zlogin} process is the handle ({@link ZloginProcess}). Production omicron runs
 *       Propolis as the SMF service {@code svc:/system/illumos/propolis-server:default} and waits for
 *       {@code svc:/milestone/single-user} after boot instead; {@code zlogin} keeps this backend independent of
 *       SMF manifests and gives an exit to watch.</li>
 *   <li>kill: {@code sigsend(P_ZONEID, id, SIGKILL)} through {@link ZoneSignals} (JNA, on illumos only), then
 *       {@code zoneadm -z Z halt}, which kills whatever is left and tears the zone's devices, NICs and mounts
 *       down, leaving it {@code installed}.</li>
 *   <li>empty: the zone is {@code configured}, {@code incomplete} or {@code installed} (or gone).</li>
 *   <li>destroy: {@code zoneadm -z Z uninstall -F} (unless only configured), then {@code zonecfg -z Z delete -F}.
 *       A zone in any other state is not empty and is refused with {@link ZoneException#EBUSY}.</li>
 * </ul>
 *
 * <p>{@link #haltAndRemove} is omicron's {@code halt_and_remove} in one call, with a bounded retry while the zone
 * is {@code shutting_down} or {@code down}. Only zones named {@link ZoneBackend#ZONE_PREFIX}... are touched.
 * Thread-safe: it keeps no state besides its settings.
 */
public final class IllumosZoneBackend implements ZoneBackend
{
    /** {@link #name()} of this backend. */
    public static final String NAME = "illumos-zones";

    private static final System.Logger LOG = System.getLogger(IllumosZoneBackend.class.getName());
    /** Shortest deadline for one {@code zoneadm list} inside {@link #awaitEmpty}, however little time is left. */
    private static final long MIN_LIST_DEADLINE_MS = 100;

    private final CommandRunner runner;
    private final Settings settings;
    private final ZoneSignals signals;
    private volatile boolean closed;

    /**
     * Where zones live, what they are, and how long each step may take.
     *
     * @param zonesRoot        parent of every zonepath ({@code <zonesRoot>/<zone name>}); omicron uses {@code /zone}.
     * @param brand            zone brand, e.g. {@code omicron1}.
     * @param installArgs      extra arguments of {@code zoneadm install} (for {@code omicron1}: the image tarball).
     * @param commandDeadline  deadline of every command except install.
     * @param installDeadline  deadline of {@code zoneadm install}.
     * @param stuckBound       how long {@link #haltAndRemove(Zone)} waits out {@code shutting_down}/{@code down}
     *                         (omicron: 5 minutes).
     * @param pollFirst        first pause between two {@code zoneadm list} while waiting; doubled each time...
     * @param pollMax          ...up to this.
     */
    public record Settings(Path zonesRoot, String brand, List<String> installArgs, Duration commandDeadline,
        Duration installDeadline, Duration stuckBound, Duration pollFirst, Duration pollMax)
    {
        /** Checks and copies. */
        public Settings
        {
            Objects.requireNonNull(zonesRoot, "zonesRoot");
            Objects.requireNonNull(brand, "brand");
            installArgs = List.copyOf(installArgs);
            Objects.requireNonNull(commandDeadline, "commandDeadline");
            Objects.requireNonNull(installDeadline, "installDeadline");
            Objects.requireNonNull(stuckBound, "stuckBound");
            if (pollFirst.isNegative() || pollFirst.isZero() || pollMax.compareTo(pollFirst) < 0)
            {
                throw new IllegalArgumentException("need 0 < pollFirst <= pollMax: " + pollFirst + ", " + pollMax);
            }
        }

        /**
         * {@code /zone}, brand {@code omicron1}, 60 s per command, 10 min install, 5 min stuck bound, 250 ms..5 s
         * polls.
         */
        public static Settings defaults()
        {
            return new Settings(Path.of("/zone"), "omicron1", List.of(), Duration.ofSeconds(60),
                Duration.ofMinutes(10), Duration.ofMinutes(5), Duration.ofMillis(250), Duration.ofSeconds(5));
        }
    }

    /**
     * @param runner   runs {@code zoneadm}, {@code zonecfg} and {@code zlogin}; its environment's {@code PATH} says
     *                 where they are (tests put stand-ins first).
     * @param settings zone layout and deadlines.
     * @param signals  the force kill before a halt: {@link ZoneSignals#forThisHost()} in production.
     */
    public IllumosZoneBackend(final CommandRunner runner, final Settings settings, final ZoneSignals signals)
    {
        this.runner = Objects.requireNonNull(runner, "runner");
        this.settings = Objects.requireNonNull(settings, "settings");
        this.signals = Objects.requireNonNull(signals, "signals");
    }

    /** The production backend: system {@code PATH}, {@link Settings#defaults()}, {@code sigsend} on illumos. */
    public static IllumosZoneBackend onThisHost()
    {
        return new IllumosZoneBackend(CommandRunner.systemDefault(), Settings.defaults(), ZoneSignals.forThisHost());
    }

    @Override
    public String name()
    {
        return NAME;
    }

    /**
     * {@inheritDoc}
     *
     * <p>Configures ({@code configured} is skipped if the zone exists) and installs the zone; an
     * {@code incomplete} zone is uninstalled and installed again. A zone already installed, or further along, is
     * returned as it is.
     */
    @Override
    public Zone create(final String zoneName)
    {
        ZoneNames.check(zoneName);
        final Optional<ZoneadmList.Entry> entry = find(zoneName);
        final ZoneState state;
        if (entry.isEmpty())
        {
            runner.runChecked(List.of("zonecfg", "-z", zoneName, configureScript(zoneName)),
                settings.commandDeadline());
            state = ZoneState.CONFIGURED;
        }
        else
        {
            state = entry.get().state();
        }
        if (state == ZoneState.INCOMPLETE)
        {
            zoneadm(zoneName, "uninstall", "-F");
        }
        if (state == ZoneState.CONFIGURED || state == ZoneState.INCOMPLETE)
        {
            final List<String> install = new ArrayList<>(List.of("zoneadm", "-z", zoneName, "install"));
            install.addAll(settings.installArgs());
            runner.runChecked(install, settings.installDeadline());
        }
        return new Zone(zoneName, zonePath(zoneName));
    }

    @Override
    public Zone open(final String zoneName)
    {
        ZoneNames.check(zoneName);
        return find(zoneName).map(entry -> new Zone(zoneName, Path.of(entry.path()))).orElse(null);
    }

    /**
     * {@inheritDoc}
     *
     * <p>Boots the zone if it is {@code installed} or {@code ready}, then starts {@code zlogin -S Z argv...}.
     * The returned handle is the {@code zlogin} process: its exit is the program's exit as seen from the global
     * zone.
     *
     * @throws ZoneException if the zone is missing or in another state, or a command fails.
     */
    @Override
    public ZoneProcess spawn(final Zone zone, final List<String> argv, final Path logFile)
    {
        final String name = ZoneNames.check(zone.name());
        Objects.requireNonNull(logFile, "logFile");
        if (argv.isEmpty())
        {
            throw new ZoneException("spawn in " + name + ": empty argv");
        }
        if (closed)
        {
            throw new ZoneException("spawn in " + name + ": backend is closed");
        }
        final ZoneState state = find(name)
            .orElseThrow(() -> new ZoneException("spawn in " + name + ": no such zone"))
            .state();
        switch (state)
        {
            case INSTALLED, READY -> zoneadm(name, "boot");
            case RUNNING ->
            {
                // Already booted: another process joins it.
            }
            default -> throw new ZoneException("spawn in " + name + ": zone is " + state.text());
        }
        createParent(logFile);
        final List<String> command = new ArrayList<>(List.of("zlogin", "-S", name));
        command.addAll(argv);
        return new ZloginProcess(runner.start(command, ProcessBuilder.Redirect.appendTo(logFile.toFile())));
    }

    /**
     * {@inheritDoc}
     *
     * <p>On illumos the handle is the {@code zlogin} that {@link #spawn} started, a process of the global zone: it
     * is adopted when {@code zoneadm list -cip} shows the zone {@code running} and {@code pid} is alive with the
     * start time {@link ZloginProcess#startTicks()} recorded (milliseconds since the epoch). A zone in any other
     * state has no program left to adopt. What illumos cannot tell from the outside: which zone a {@code zlogin}
     * serves (its arguments are truncated in {@code psinfo}), so a process is adopted only as the pid and start
     * time the agent recorded for this zone. A record without a start time (0, an agent version that stored none)
     * is refused: a recycled pid could not be told apart. Whether Propolis still answers is the agent's check.
     * The adopted process is not this JVM's child: its exit is seen within 5 s ({@link AdoptedZlogin}).
     *
     * @throws ZoneException if the backend is closed, or {@code zoneadm list} fails.
     */
    @Override
    public ZoneProcess adopt(final Zone zone, final long pid, final long startTicks)
    {
        final String name = ZoneNames.check(zone.name());
        if (closed)
        {
            throw new ZoneException("adopt in " + name + ": backend is closed");
        }
        if (pid <= 0 || startTicks <= 0)
        {
            return null;
        }
        final boolean running = find(name).map(entry -> entry.state() == ZoneState.RUNNING).orElse(false);
        return running ? AdoptedZlogin.of(pid, startTicks) : null;
    }

    /**
     * {@inheritDoc}
     *
     * <p>For a zone that may hold processes: {@code sigsend(P_ZONEID, SIGKILL)} through {@link ZoneSignals}, then
     * {@code zoneadm -z Z halt}. A zone already {@code shutting_down} or {@code down} gets the halt again, but its
     * failure is only logged: the zone is on its way down and {@link #awaitEmpty} reports if it stays there.
     *
     * @throws ZoneException if the halt of a running or ready zone fails or misses its deadline.
     */
    @Override
    public void killAll(final Zone zone)
    {
        final String name = ZoneNames.check(zone.name());
        final Optional<ZoneadmList.Entry> entry = find(name);
        if (entry.isEmpty())
        {
            return;
        }
        final ZoneState state = entry.get().state();
        if (state == ZoneState.RUNNING || state == ZoneState.READY)
        {
            forceKill(name);
            zoneadm(name, "halt");
        }
        else if (state.isTransient())
        {
            forceKill(name);
            final CommandRunner.Result halt = runner.run(List.of("zoneadm", "-z", name, "halt"),
                settings.commandDeadline());
            if (!halt.ok())
            {
                LOG.log(Level.WARNING, "zone {0} is {1}; halt again failed: {2}", name, state.text(),
                    halt.output().strip());
            }
        }
    }

    @Override
    public boolean isEmpty(final Zone zone)
    {
        final String name = ZoneNames.check(zone.name());
        return find(name).map(entry -> entry.state().isEmpty()).orElse(true);
    }

    /**
     * {@inheritDoc}
     *
     * <p>Polls {@code zoneadm list -cip}, pausing {@code pollFirst}, doubling up to {@code pollMax}.
     *
     * @throws ZoneException if a {@code zoneadm list} fails or hangs.
     */
    @Override
    public boolean awaitEmpty(final Zone zone, final Duration bound) throws InterruptedException
    {
        final String name = ZoneNames.check(zone.name());
        final long deadlineNs = System.nanoTime() + saturatedNanos(bound);
        long pauseNs = settings.pollFirst().toNanos();
        while (true)
        {
            final long leftNs = deadlineNs - System.nanoTime();
            final Duration listDeadline = Duration.ofNanos(Math.min(settings.commandDeadline().toNanos(),
                Math.max(leftNs, TimeUnit.MILLISECONDS.toNanos(MIN_LIST_DEADLINE_MS))));
            if (find(name, listDeadline).map(entry -> entry.state().isEmpty()).orElse(true))
            {
                return true;
            }
            final long remainingNs = deadlineNs - System.nanoTime();
            if (remainingNs <= 0)
            {
                return false;
            }
            TimeUnit.NANOSECONDS.sleep(Math.min(pauseNs, remainingNs));
            pauseNs = Math.min(pauseNs * 2, settings.pollMax().toNanos());
        }
    }

    /**
     * {@inheritDoc}
     *
     * <p>{@code installed} or {@code incomplete}: {@code zoneadm -z Z uninstall -F}, then
     * {@code zonecfg -z Z delete -F}; {@code configured}: only the delete.
     *
     * @throws ZoneException with {@link ZoneException#EBUSY} for a zone in any other state (it may hold
     *                       processes: {@link #killAll} first, or use {@link #haltAndRemove}); or if a command fails.
     */
    @Override
    public void destroy(final Zone zone)
    {
        final String name = ZoneNames.check(zone.name());
        final Optional<ZoneadmList.Entry> entry = find(name);
        if (entry.isEmpty())
        {
            return;
        }
        final ZoneState state = entry.get().state();
        if (!state.isEmpty())
        {
            throw new ZoneException("zone " + name + " is " + entry.get().stateText() + ", not empty: halt it first",
                ZoneException.EBUSY, null);
        }
        if (state != ZoneState.CONFIGURED)
        {
            zoneadm(name, "uninstall", "-F");
        }
        zonecfgDelete(name);
    }

    /**
     * omicron's {@code halt_and_remove}, waiting out {@code shutting_down}/{@code down} for at most
     * {@link Settings#stuckBound()}. See {@link #haltAndRemove(Zone, Duration)}.
     */
    public Optional<ZoneState> haltAndRemove(final Zone zone) throws InterruptedException
    {
        return haltAndRemove(zone, settings.stuckBound());
    }

    /**
     * Removes the zone whatever it is doing, as omicron's {@code halt_and_remove} does, by the state
     * {@code zoneadm list -cip} shows:
     * <ul>
     *   <li>{@code running}, {@code ready}: force kill ({@link ZoneSignals}), {@code halt}, {@code uninstall -F};</li>
     *   <li>{@code configured}: nothing (never installed);</li>
     *   <li>{@code shutting_down}, {@code down}: not removable yet; look again after a pause ({@code pollFirst},
     *       doubling up to {@code pollMax}) until another state shows or {@code stuckBound} has passed;</li>
     *   <li>any other ({@code installed}, {@code incomplete}, {@code mounted}): {@code uninstall -F};</li>
     * </ul>
     * and always ends with {@code zonecfg -z Z delete -F}.
     *
     * @return the state the zone was removed from, or empty if there was no such zone.
     * @throws ZoneException with {@link ZoneException#EBUSY} if the zone is still {@code shutting_down} or
     *                       {@code down} when the bound has passed (it is left as it is); or if a command fails
     *                       or misses its deadline.
     */
    public Optional<ZoneState> haltAndRemove(final Zone zone, final Duration stuckBound) throws InterruptedException
    {
        final String name = ZoneNames.check(zone.name());
        final long startNs = System.nanoTime();
        final long deadlineNs = startNs + saturatedNanos(stuckBound);
        long pauseNs = settings.pollFirst().toNanos();
        int checks = 0;
        while (true)
        {
            final Optional<ZoneadmList.Entry> entry = find(name);
            checks++;
            if (entry.isEmpty())
            {
                return Optional.empty();
            }
            final ZoneState state = entry.get().state();
            if (state.isTransient())
            {
                final long remainingNs = deadlineNs - System.nanoTime();
                if (remainingNs <= 0)
                {
                    final long waitedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startNs);
                    throw new ZoneException("zone " + name + " still " + state.text() + " after " + checks +
                        " checks over " + waitedMs + " ms; not removed", ZoneException.EBUSY, null);
                }
                LOG.log(Level.DEBUG, "zone {0} is {1}; looking again in {2} ms", name, state.text(),
                    TimeUnit.NANOSECONDS.toMillis(Math.min(pauseNs, remainingNs)));
                TimeUnit.NANOSECONDS.sleep(Math.min(pauseNs, remainingNs));
                pauseNs = Math.min(pauseNs * 2, settings.pollMax().toNanos());
                continue;
            }
            if (state == ZoneState.RUNNING || state == ZoneState.READY)
            {
                forceKill(name);
                zoneadm(name, "halt");
            }
            if (state != ZoneState.CONFIGURED)
            {
                zoneadm(name, "uninstall", "-F");
            }
            zonecfgDelete(name);
            return Optional.of(state);
        }
    }

    /** {@inheritDoc} From {@code zoneadm list -cip}: every zone whose name is a valid zone name of this agent. */
    @Override
    public List<String> list()
    {
        final List<String> names = new ArrayList<>();
        for (final ZoneadmList.Entry entry : listAll(settings.commandDeadline()))
        {
            if (ZoneNames.isValid(entry.name()))
            {
                names.add(entry.name());
            }
        }
        names.sort(null);
        return names;
    }

    /** Refuses further spawns. There is nothing else to release: commands run only inside calls. */
    @Override
    public void close()
    {
        closed = true;
    }

    /** The zonepath a zone of this name gets. */
    public Path zonePath(final String zoneName)
    {
        return settings.zonesRoot().resolve(ZoneNames.check(zoneName));
    }

    private String configureScript(final String zoneName)
    {
        return "create -b; set zonepath=" + zonePath(zoneName) + "; set brand=" + settings.brand() +
            "; set autoboot=false; set ip-type=exclusive";
    }

    private void forceKill(final String name)
    {
        try
        {
            signals.sigkillAll(name);
        }
        catch (final RuntimeException ex)
        {
            // The halt that follows kills them too; the force kill only makes it quicker.
            LOG.log(Level.WARNING, "sigsend(P_ZONEID) for zone " + name + " failed; halting anyway", ex);
        }
    }

    private void zoneadm(final String name, final String... args)
    {
        final List<String> command = new ArrayList<>(List.of("zoneadm", "-z", name));
        command.addAll(List.of(args));
        runner.runChecked(command, settings.commandDeadline());
    }

    private void zonecfgDelete(final String name)
    {
        runner.runChecked(List.of("zonecfg", "-z", name, "delete", "-F"), settings.commandDeadline());
    }

    private Optional<ZoneadmList.Entry> find(final String name)
    {
        return find(name, settings.commandDeadline());
    }

    private Optional<ZoneadmList.Entry> find(final String name, final Duration deadline)
    {
        for (final ZoneadmList.Entry entry : listAll(deadline))
        {
            if (entry.name().equals(name))
            {
                return Optional.of(entry);
            }
        }
        return Optional.empty();
    }

    private List<ZoneadmList.Entry> listAll(final Duration deadline)
    {
        return ZoneadmList.parse(runner.runChecked(List.of("zoneadm", "list", "-cip"), deadline).output());
    }

    private static void createParent(final Path logFile)
    {
        final Path parent = logFile.toAbsolutePath().getParent();
        if (parent == null)
        {
            return;
        }
        try
        {
            Files.createDirectories(parent);
        }
        catch (final IOException ex)
        {
            throw new ZoneException("cannot create the log directory " + parent, ex);
        }
    }

    private static long saturatedNanos(final Duration bound)
    {
        if (bound.isNegative())
        {
            return 0;
        }
        try
        {
            return bound.toNanos();
        }
        catch (final ArithmeticException ex)
        {
            return Long.MAX_VALUE / 2;
        }
    }

    @Override
    public String toString()
    {
        return NAME + "[" + settings.zonesRoot() + ", " + settings.brand() + ", " + runner + "]";
    }
}
