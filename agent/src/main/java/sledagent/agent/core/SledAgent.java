package sledagent.agent.core;

import io.netty.util.HashedWheelTimer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import java.util.logging.Logger;
import java.util.stream.Collectors;
import sledagent.agent.config.AgentConfig;
import sledagent.agent.config.Version;
import sledagent.agent.http.HttpServer;
import sledagent.agent.http.ServerTls;
import sledagent.agent.metrics.Metrics;
import sledagent.agent.metrics.PrometheusText;
import sledagent.agent.persist.AgentId;
import sledagent.agent.persist.AlreadyRunningException;
import sledagent.agent.persist.FileVmmStore;
import sledagent.agent.persist.StateDirLock;
import sledagent.agent.publish.NexusClient;
import sledagent.agent.publish.StatePublisher;
import sledagent.agent.runtime.LogJanitor;
import sledagent.agent.runtime.RuntimeSettings;
import sledagent.agent.runtime.ZoneSweeper;
import sledagent.agent.runtime.ZoneVmmDriver;
import sledagent.agent.tls.JdkTls;
import sledagent.agent.vmm.ConcurrentVmmTable;
import sledagent.agent.vmm.KillIntent;
import sledagent.agent.vmm.StoredVmm;
import sledagent.agent.vmm.VmmActor;
import sledagent.agent.vmm.VmmManager;
import sledagent.agent.vmm.VmmStore;
import sledagent.api.VmmState;
import sledagent.hypervisor.PropolisClient;
import sledagent.hypervisor.qemu.ClassArchive;
import sledagent.zones.Zone;
import sledagent.zones.ZoneBackend;
import sledagent.zones.ZoneBackends;
import sledagent.zones.ZoneException;
import sledagent.zones.ZoneProcess;
import sledagent.zones.linux.CgroupZoneBackend;
import sledagent.zones.linux.DirectoryLock;

/**
 * The daemon, assembled: timer, zones, Propolis client, publisher, pools, VMM manager, HTTP server. Built in
 * that order from an {@link AgentContext} and closed in reverse (parts the caller passed in are the caller's to
 * close). Closing the agent leaves VMMs running: they do not depend on it.
 */
public final class SledAgent implements AutoCloseable
{
    private static final Logger LOG = Logger.getLogger(SledAgent.class.getName());
    private static final int BLOCKING_THREADS = 32;
    private static final int BLOCKING_QUEUE = 4096;
    private static final long CALL_TIMEOUT_MS = 5_000;
    private static final long MONITOR_POLL_MS = 30_000;
    private static final long EMPTY_BOUND_MS = 10_000;
    private static final long PUBLISH_FLUSH_BOUND_MS = 5_000;
    /** VMM logs are checked for size and age at least this often (or every sweep, if that is more often). */
    private static final long LOG_CHECK_MAX_INTERVAL_MS = 10_000;

    private final Deque<AutoCloseable> resources;
    private final VmmManager manager;
    private final HttpServer server;
    private final ZoneBackend zones;
    private final HashedWheelTimer timer;

    private SledAgent(final Deque<AutoCloseable> resources, final VmmManager manager, final HttpServer server,
        final ZoneBackend zones, final HashedWheelTimer timer)
    {
        this.resources = resources;
        this.manager = manager;
        this.server = server;
        this.zones = zones;
        this.timer = timer;
    }

    /** Starts an agent that runs the config's VMM (propolis-sim by default); every part made from {@code config}. */
    public static SledAgent launch(final AgentConfig config) throws Exception
    {
        return launch(new AgentContext().config(config));
    }

    /** Starts an agent; {@code vmmCommand} gives the argv of a VMM serving at an address. */
    public static SledAgent launch(final AgentConfig config, final Function<String, List<String>> vmmCommand)
        throws Exception
    {
        return launch(new AgentContext().config(config).vmmCommand(vmmCommand));
    }

    /**
     * Starts an agent from {@code context} ({@link AgentContext#conclude() concluded} here): the parts it was given
     * are used and left to the caller to close; the others are made here and closed with the agent, in reverse.
     */
    public static SledAgent launch(final AgentContext context) throws Exception
    {
        context.conclude();
        final AgentConfig config = context.config();
        final Deque<AutoCloseable> resources = new ArrayDeque<>();
        try
        {
            Files.createDirectories(config.stateDir());
            // One agent per state directory and per zone root: two would drive the same VMMs and sweep each
            // other's zones. Taken first, released last.
            resources.push(StateDirLock.acquire(config.stateDir()));
            final String owner = zoneOwner(config.stateDir());
            final HashedWheelTimer timer;
            if (context.timer() != null)
            {
                timer = context.timer();
            }
            else
            {
                timer = AgentContext.newTimer(daemonThreads("sled-timer"));
                resources.push(timer::stop);
            }
            final ZoneBackend zones;
            if (context.zones() != null)
            {
                zones = context.zones();
                LOG.info(() -> "zones: " + zones.name() + " (given by the caller)");
            }
            else
            {
                final ZoneBackends.Choice choice = ZoneBackends.choose(config.zoneBackend(), config.zoneRoot());
                zones = choice.backend();
                resources.push(zones);
                LOG.info(() -> "zones: " + zones.name() + " (" + choice.reason() + ")");
            }
            final AutoCloseable rootLock = lockZoneRoot(zones);
            if (rootLock != null)
            {
                resources.push(rootLock);
            }
            final PropolisClient propolis;
            if (context.propolisClient() != null)
            {
                propolis = context.propolisClient();
            }
            else
            {
                propolis = new PropolisClient(Duration.ofSeconds(2));
                resources.push(propolis);
            }
            final NexusClient nexus;
            if (context.nexusClient() != null)
            {
                nexus = context.nexusClient();
            }
            else
            {
                nexus = new NexusClient(config.nexusUrls(), Duration.ofSeconds(5), Duration.ofSeconds(30),
                    config.nexusTls().any() ? JdkTls.context(config.nexusTls(), "nexus_tls") : null);
                resources.push(nexus);
            }
            final Metrics metrics = context.metrics();
            final StatePublisher publisher = new StatePublisher(nexus, timer, metrics);
            resources.push(publisher);
            final ExecutorService blockingPool = new ThreadPoolExecutor(BLOCKING_THREADS, BLOCKING_THREADS, 30,
                TimeUnit.SECONDS, new ArrayBlockingQueue<>(BLOCKING_QUEUE), daemonThreads("sled-blocking"));
            ((ThreadPoolExecutor)blockingPool).allowCoreThreadTimeOut(true);
            resources.push(() -> shutdown(blockingPool));
            // Each actor has at most one turn queued (its scheduled flag), so this queue holds at most one
            // task per VMM.
            final ExecutorService actorPool = Executors.newFixedThreadPool(
                Math.max(2, Runtime.getRuntime().availableProcessors()), daemonThreads("sled-actor"));
            resources.push(() -> shutdown(actorPool));
            final ClassArchive classArchive = context.classArchive();
            if (classArchive != null)
            {
                // Training takes a second or two of one core; servers started meanwhile run without the archive.
                resources.push(classArchive);
                classArchive.trainInBackground(LOG::info);
            }
            final RuntimeSettings settings = new RuntimeSettings(config.stateDir(), config.stopGraceMs(),
                config.startTimeoutMs(), CALL_TIMEOUT_MS, MONITOR_POLL_MS, EMPTY_BOUND_MS, context.vmmCommand(),
                config.sledId(), owner);
            final ZoneVmmDriver driver = new ZoneVmmDriver(zones, propolis, timer, blockingPool, publisher,
                settings, metrics);
            final VmmStore store;
            if (context.store() != null)
            {
                store = context.store();
            }
            else
            {
                final FileVmmStore files = new FileVmmStore(config.stateDir());
                resources.push(files);
                store = files;
            }
            final VmmManager manager = new VmmManager(new ConcurrentVmmTable(), actorPool, driver, context.clock(),
                store, metrics);
            recover(store, zones, manager);
            final ZoneSweeper sweeper = new ZoneSweeper(zones, id -> manager.table().get(id) != null,
                Duration.ofMillis(EMPTY_BOUND_MS), timer, blockingPool, config.sweepIntervalMs(), owner);
            resources.push(sweeper);
            sweeper.start();
            final LogJanitor logJanitor = new LogJanitor(config.stateDir().resolve("logs"),
                id -> manager.table().get(id) != null, config.vmmLogRetentionMs(), config.vmmLogMaxBytes(), timer,
                blockingPool, Math.min(config.sweepIntervalMs(), LOG_CHECK_MAX_INTERVAL_MS));
            resources.push(logJanitor);
            logJanitor.start();
            // Closed after the server: what is still queued for Nexus gets a bounded chance to go out.
            resources.push(() ->
            {
                final int unsent = publisher.flush(PUBLISH_FLUSH_BOUND_MS);
                if (unsent > 0)
                {
                    LOG.warning(() -> unsent + " VMM state(s) not yet acknowledged by Nexus at shutdown; Nexus "
                        + "will read them with GET /vmms/{id}/state or receive them after the restart");
                }
            });
            final PrometheusText prometheus = new PrometheusText(metrics, () -> vmmsByState(manager),
                () -> new PrometheusText.PublisherStats(publisher.pending(), publisher.oldestLagMs()));
            final HttpServer server = HttpServer.start(config.listen(), 1, manager, blockingPool, prometheus,
                config.httpLimits(), ServerTls.load(config.apiTls()), context.vmmDescription());
            resources.push(server);
            LOG.info(() -> "sled-agent " + Version.text() + " serving on " + server.address() + ", upstream "
                + (config.nexusUrls().isEmpty() ? "none (states are logged)" : config.nexusUrls().toString())
                + ", stop grace " + config.stopGraceMs() + " ms, state dir " + config.stateDir() + ", vmm "
                + context.vmmDescription());
            return new SledAgent(resources, manager, server, zones, timer);
        }
        catch (final Exception ex)
        {
            closeAll(resources, ex);
            throw ex;
        }
    }

    /** This agent's zone owner token, or null (zones unmarked, only unmarked zones swept) if it cannot be kept. */
    private static String zoneOwner(final Path stateDir)
    {
        try
        {
            final String owner = AgentId.loadOrCreate(stateDir);
            LOG.info(() -> "zones are marked with owner " + owner + " (" + stateDir.resolve(AgentId.FILE) + ")");
            return owner;
        }
        catch (final IOException ex)
        {
            LOG.warning(() -> "cannot keep an owner id in " + stateDir + " (" + ex.getMessage() + "): new zones are "
                + "not marked, and only unmarked zones are swept");
            return null;
        }
    }

    /**
     * Locks the zone root when it is a directory shared through the file system (the cgroup backend); the
     * process-group and fake backends keep zones in memory, so nothing else can see them. illumos zones are
     * host-wide; there the state-directory lock is the guard.
     */
    private static AutoCloseable lockZoneRoot(final ZoneBackend zones)
    {
        if (!(zones instanceof CgroupZoneBackend cgroups))
        {
            return null;
        }
        final Path root = cgroups.root();
        final DirectoryLock lock = DirectoryLock.tryAcquire(root);
        if (lock == null)
        {
            final long pid = DirectoryLock.holderPid(root);
            throw new AlreadyRunningException("another sled-agent (pid " + (pid > 0 ? Long.toString(pid) : "unknown")
                + ") holds the zone root " + root + "; one agent per zone root");
        }
        return lock;
    }

    /**
     * Puts every stored VMM back in the table: its zone's main process is adopted if it is still the same
     * process, alive, in the zone; the lifecycle decides the rest (resume, fail, finish a teardown, re-publish).
     */
    private static void recover(final VmmStore store, final ZoneBackend zones, final VmmManager manager)
        throws IOException
    {
        final List<StoredVmm> stored = store.loadAll();
        final Map<UUID, List<KillIntent>> journalled = store.journalledKills();
        store.forgetJournalledKillsBut(stored.stream().map(StoredVmm::propolisId).collect(Collectors.toSet()));
        int adopted = 0;
        for (final StoredVmm vmm : stored)
        {
            ZoneProcess process = null;
            final Zone zone = zones.open(ZoneBackend.ZONE_PREFIX + vmm.propolisId());
            if (zone != null && vmm.vmmPid() > 0)
            {
                try
                {
                    process = zones.adopt(zone, vmm.vmmPid(), vmm.vmmStartTicks());
                }
                catch (final ZoneException ex)
                {
                    LOG.warning(() -> "vmm " + vmm.propolisId() + ": cannot adopt pid " + vmm.vmmPid() + ": " + ex);
                }
            }
            if (process != null)
            {
                adopted++;
            }
            manager.recover(vmm, process, journalled.getOrDefault(vmm.propolisId(), List.of()));
        }
        if (!stored.isEmpty())
        {
            final int adoptedCount = adopted;
            LOG.info(() -> "recovered " + stored.size() + " VMM record(s); re-adopted " + adoptedCount
                + " running VMM process(es)");
        }
    }

    private static Map<VmmState, Integer> vmmsByState(final VmmManager manager)
    {
        final Map<VmmState, Integer> counts = new EnumMap<>(VmmState.class);
        for (final VmmActor actor : manager.table().actors())
        {
            counts.merge(actor.snapshot().vmmState().state(), 1, Integer::sum);
        }
        return counts;
    }

    public VmmManager manager()
    {
        return manager;
    }

    public HttpServer server()
    {
        return server;
    }

    public ZoneBackend zones()
    {
        return zones;
    }

    /** The shared timer (for the service manager's watchdog pings). */
    public HashedWheelTimer timer()
    {
        return timer;
    }

    /** Stops serving and releases the agent's resources; VMMs keep running. */
    @Override
    public void close()
    {
        final RuntimeException failure = closeAll(resources, null);
        if (failure != null)
        {
            throw failure;
        }
    }

    private static RuntimeException closeAll(final Deque<AutoCloseable> resources, final Exception primary)
    {
        RuntimeException failure = null;
        while (!resources.isEmpty())
        {
            try
            {
                resources.pop().close();
            }
            catch (final Exception ex)
            {
                if (primary != null)
                {
                    primary.addSuppressed(ex);
                }
                else if (failure == null)
                {
                    failure = new IllegalStateException("closing sled-agent failed", ex);
                }
                else
                {
                    failure.addSuppressed(ex);
                }
            }
        }
        return failure;
    }

    private static void shutdown(final ExecutorService pool) throws InterruptedException
    {
        pool.shutdownNow();
        pool.awaitTermination(2, TimeUnit.SECONDS);
    }

    static ThreadFactory daemonThreads(final String prefix)
    {
        final AtomicInteger count = new AtomicInteger();
        return runnable ->
        {
            final Thread thread = new Thread(runnable, prefix + "-" + count.incrementAndGet());
            thread.setDaemon(true);
            return thread;
        };
    }
}
