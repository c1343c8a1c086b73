package sledagent.agent.core;

import io.netty.util.HashedWheelTimer;
import java.time.Clock;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import sledagent.agent.config.AgentConfig;
import sledagent.agent.config.VmmChoice;
import sledagent.agent.metrics.Metrics;
import sledagent.agent.publish.NexusClient;
import sledagent.agent.vmm.VmmStore;
import sledagent.hypervisor.PropolisClient;
import sledagent.hypervisor.qemu.ClassArchive;
import sledagent.zones.ZoneBackend;

/**
 * Everything a {@link SledAgent} is built from, in one place (as Aeron's {@code MediaDriver.Context}): the settings
 * ({@link AgentConfig}) and the parts a caller may hand in instead of the ones the agent would make (zones, record
 * store, clock, VMM launcher, timer, metrics, Propolis and Nexus clients). Fluent: {@code part(value)} sets and
 * returns the context, {@code part()} reads. {@link #conclude()} fills what is left from the settings and checks
 * the whole once; {@link SledAgent#launch(AgentContext)} calls it.
 *
 * <p><b>Who closes what.</b> A part passed in stays the caller's: the agent uses it and never closes it (close it
 * after the agent). A part left unset is made by the agent during {@code launch}, in its order (state-directory
 * lock, timer, zones, zone-root lock, clients, ..., record store), and closed by the agent in reverse: so a
 * failure part-way closes exactly what was made. {@code conclude} itself makes only defaults that hold nothing
 * (clock, VMM launcher, metrics, the propolis-qemu class archive: a file name until the agent trains it).
 *
 * <p>A given zone backend that is not the cgroup backend itself (a wrapper) gets no zone-root lock: the caller
 * keeps other agents off its root. A given record store is opened by the caller, before the agent takes the
 * state-directory lock. Both are for tools and tests; the daemon sets neither.
 */
public final class AgentContext
{
    /** Wheel tick of the agent's timer: deadlines fire at most about this late (plus scheduling noise). */
    public static final long TIMER_TICK_MS = 10;
    /** Buckets of the agent's timer wheel. */
    public static final int TIMER_WHEEL_SLOTS = 1024;
    /** Under the state dir: propolis-qemu's sockets, one sub-directory per VM. */
    public static final String VMM_RUN_DIR = "vmm-run";
    /** Under the state dir: the class-data archive of the propolis-qemu servers, made by the agent. */
    public static final String CLASS_ARCHIVE_DIR = "class-archive";

    private AgentConfig config;
    private ZoneBackend zones;
    private VmmStore store;
    private Clock clock;
    private Function<String, List<String>> vmmCommand;
    private String vmmDescription;
    private ClassArchive classArchive;
    private HashedWheelTimer timer;
    private Metrics metrics;
    private PropolisClient propolisClient;
    private NexusClient nexusClient;
    private boolean concluded;

    /**
     * A timer built as the agent builds its own (tick {@link #TIMER_TICK_MS}, {@link #TIMER_WHEEL_SLOTS} slots),
     * for a caller that passes its own or measures it.
     */
    public static HashedWheelTimer newTimer(final ThreadFactory threads)
    {
        // One shared wheel for every deadline and retry (issue 3 asks for it). TimerBenchmark: schedule+cancel
        // 125 ns against a ScheduledThreadPoolExecutor's 50, and late by up to one tick (p99 10.7 ms with 10,000
        // pending, StopLatency deadlines), far inside the 200 ms goal; its per-timeout cost is O(1) where the
        // executor's heap is O(log n). Re-weigh if deadlines ever need millisecond precision.
        return new HashedWheelTimer(threads, TIMER_TICK_MS, TimeUnit.MILLISECONDS, TIMER_WHEEL_SLOTS);
    }

    /** The settings (required). */
    public AgentContext config(final AgentConfig config)
    {
        checkOpen();
        this.config = config;
        return this;
    }

    public AgentConfig config()
    {
        return config;
    }

    /** The zone backend to use (caller's: not closed by the agent); unset: chosen from the settings. */
    public AgentContext zones(final ZoneBackend zones)
    {
        checkOpen();
        this.zones = zones;
        return this;
    }

    /** The given zone backend, or null (the agent chooses and owns one). */
    public ZoneBackend zones()
    {
        return zones;
    }

    /** The VMM record store (caller's: not closed by the agent); unset: files in the state directory. */
    public AgentContext store(final VmmStore store)
    {
        checkOpen();
        this.store = store;
        return this;
    }

    /** The given record store, or null (the agent opens and owns one in the state directory). */
    public VmmStore store()
    {
        return store;
    }

    /** The wall clock VMM states are stamped with; default UTC system clock. */
    public AgentContext clock(final Clock clock)
    {
        checkOpen();
        this.clock = clock;
        return this;
    }

    public Clock clock()
    {
        return clock;
    }

    /** The argv of a VMM serving at an address; default propolis-sim. */
    public AgentContext vmmCommand(final Function<String, List<String>> vmmCommand)
    {
        checkOpen();
        this.vmmCommand = vmmCommand;
        return this;
    }

    public Function<String, List<String>> vmmCommand()
    {
        return vmmCommand;
    }

    /** Which VMM the agent runs, one line (for the log and {@code GET /health}); null until concluded. */
    public String vmmDescription()
    {
        return vmmDescription;
    }

    /**
     * The class-data archive of the configured propolis-qemu servers (made, when unset, only for the configured
     * {@code qemu} VMM; the agent trains it in the background and closes it), or null.
     */
    public ClassArchive classArchive()
    {
        return classArchive;
    }

    /** The one timer for deadlines, retries and periodic jobs (caller's: not stopped by the agent). */
    public AgentContext timer(final HashedWheelTimer timer)
    {
        checkOpen();
        this.timer = timer;
        return this;
    }

    /** The given timer, or null (the agent makes one with {@link #newTimer} and stops it). */
    public HashedWheelTimer timer()
    {
        return timer;
    }

    /** The agent's counters; default a fresh set. */
    public AgentContext metrics(final Metrics metrics)
    {
        checkOpen();
        this.metrics = metrics;
        return this;
    }

    public Metrics metrics()
    {
        return metrics;
    }

    /** The client for the VMMs' Propolis APIs (caller's: not closed by the agent). */
    public AgentContext propolisClient(final PropolisClient propolisClient)
    {
        checkOpen();
        this.propolisClient = propolisClient;
        return this;
    }

    /** The given Propolis client, or null (the agent makes and closes one). */
    public PropolisClient propolisClient()
    {
        return propolisClient;
    }

    /** The client towards Nexus (caller's: not closed by the agent); unset: built from the settings' URLs and TLS. */
    public AgentContext nexusClient(final NexusClient nexusClient)
    {
        checkOpen();
        this.nexusClient = nexusClient;
        return this;
    }

    /** The given Nexus client, or null (the agent makes and closes one). */
    public NexusClient nexusClient()
    {
        return nexusClient;
    }

    /**
     * Checks the context and fills the defaults that hold nothing (clock, VMM launcher, metrics). Idempotent; after
     * it the context can no longer be changed.
     *
     * @throws NullPointerException if no settings were given
     */
    public AgentContext conclude()
    {
        if (concluded)
        {
            return this;
        }
        Objects.requireNonNull(config, "config");
        if (clock == null)
        {
            clock = Clock.systemUTC();
        }
        if (vmmCommand == null)
        {
            // The configured VMM (propolis-sim unless the config says otherwise); its sockets in the state dir.
            if (config.vmm().kind() == VmmChoice.Kind.QEMU)
            {
                classArchive = ClassArchive.in(config.stateDir().resolve(CLASS_ARCHIVE_DIR));
            }
            final ClassArchive archive = classArchive;
            vmmCommand = config.vmm().command(config.stateDir().resolve(VMM_RUN_DIR),
                () -> archive == null ? null : archive.current());
            vmmDescription = config.vmm().describe();
        }
        else if (vmmDescription == null)
        {
            vmmDescription = "custom (a VMM command given by the caller)";
        }
        if (metrics == null)
        {
            metrics = new Metrics();
        }
        concluded = true;
        return this;
    }

    private void checkOpen()
    {
        if (concluded)
        {
            throw new IllegalStateException("the context is concluded (an agent was launched from it)");
        }
    }
}
