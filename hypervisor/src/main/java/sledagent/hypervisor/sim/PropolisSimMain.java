package sledagent.hypervisor.sim;

import com.sun.net.httpserver.HttpServer;
import java.io.File;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import sledagent.hypervisor.server.ListenAddress;
import sledagent.hypervisor.server.PropolisHttpHandler;
import sledagent.hypervisor.server.PropolisHttpServer;
import sledagent.hypervisor.server.ServerThreads;

/**
 * propolis-sim: a standalone process that speaks the Propolis server API v5.0.0 for one simulated VM, with fault
 * injection through {@code PUT /mock/fault} and live migration between sims over a protocol of their own
 * ({@link SimMigration}). Like the real server it has no signal handling of its own and does not
 * exit when its VM is destroyed; whoever started it tears it down.
 *
 * <p>At start it forks one helper child ({@code sleep}), a stand-in for the processes a real VMM leaves in its zone,
 * so a test can prove that a zone kill takes the whole tree. Once listening it prints one line to stdout:
 * {@code propolis-sim listening on ADDR pid N}.
 */
public final class PropolisSimMain
{
    // Long polls hold a thread each; this bound is far above what one VM's callers need, and idle threads die.
    private static final int MAX_HTTP_THREADS = 256;
    private static final long HTTP_THREAD_KEEPALIVE_S = 30;
    private static final int BACKLOG = 64;

    private PropolisSimMain()
    {
    }

    /**
     * @param args {@code --listen HOST:PORT}, optionally {@code --step-ms N}, {@code --migrate-step-ms N},
     *             {@code --rundown-ms N} and {@code --fault NAME} (see {@link SimOptions}); a bad command line exits
     *             with status 2
     */
    public static void main(final String[] args)
    {
        final SimOptions options;
        try
        {
            options = SimOptions.parse(args);
        }
        catch (final IllegalArgumentException e)
        {
            System.err.println("propolis-sim: " + e.getMessage());
            System.err.println(SimOptions.USAGE);
            System.exit(2);
            return;
        }
        if (options.fault() == SimFault.EXIT_NOW)
        {
            // A Propolis that dies as it starts: no listener, no helper, status 1.
            System.err.println("propolis-sim: --fault exit_now: exiting at once");
            Runtime.getRuntime().halt(1);
        }
        try
        {
            final InetSocketAddress bound = serve(options);
            startHelper();
            System.out.println("propolis-sim listening on " + ListenAddress.format(bound)
                + " pid " + ProcessHandle.current().pid());
            System.out.flush();
        }
        catch (final IOException e)
        {
            System.err.println("propolis-sim: cannot start: " + e);
            System.exit(1);
        }
        // main returns; the server's dispatcher thread keeps the process alive until it is killed.
    }

    private static InetSocketAddress serve(final SimOptions options) throws IOException
    {
        final ScheduledThreadPoolExecutor stepper =
            new ScheduledThreadPoolExecutor(1, ServerThreads.daemons("propolis-sim-step"));
        final SimVm vm = new SimVm((delayMs, task) -> stepper.schedule(task, delayMs, TimeUnit.MILLISECONDS),
            options.stepMs(), options.migrateStepMs(), options.rundownMs(), new SimMigrationClient());
        final SimRoutes routes = new SimRoutes(vm, () -> Runtime.getRuntime().halt(1));
        final PropolisHttpHandler handler = new PropolisHttpHandler(vm.core(), "propolis-sim", routes);
        routes.attach(handler);
        routes.fault(options.fault());
        final HttpServer server = PropolisHttpServer.bind(options.listen(), BACKLOG);
        server.createContext("/", handler);
        server.setExecutor(ServerThreads.growingPool("propolis-sim-http", MAX_HTTP_THREADS, HTTP_THREAD_KEEPALIVE_S));
        server.start();
        return server.getAddress();
    }

    /** The stand-in for a VMM's helper process; it lives until something kills it. */
    private static void startHelper() throws IOException
    {
        new ProcessBuilder("sleep", "2147483647")
            .redirectInput(new File("/dev/null"))
            .redirectOutput(ProcessBuilder.Redirect.DISCARD)
            .redirectError(ProcessBuilder.Redirect.DISCARD)
            .start();
    }
}
