package sledagent.hypervisor.qemu;

import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import sledagent.hypervisor.server.JsonWarmup;
import sledagent.hypervisor.server.ListenAddress;
import sledagent.hypervisor.server.PropolisHttpHandler;
import sledagent.hypervisor.server.PropolisHttpServer;
import sledagent.hypervisor.server.PropolisInstance;
import sledagent.hypervisor.server.ServerThreads;

/**
 * propolis-qemu: a standalone process that serves the Propolis server API v5.0.0 for one VM run by QEMU, its direct
 * child ({@link QemuMachine}), with the same Propolis core as propolis-sim. Like the real server it has no signal
 * handlers and stays up after its VM is Destroyed; whoever started it tears it down. Once listening it prints one
 * line to stdout: {@code propolis-qemu listening on ADDR pid N}.
 */
public final class PropolisQemuMain
{
    private static final int MAX_HTTP_THREADS = 256;
    private static final long HTTP_THREAD_KEEPALIVE_S = 30;
    private static final int BACKLOG = 64;

    private PropolisQemuMain()
    {
    }

    /**
     * @param args see {@link QemuOptions}; a bad command line exits with status 2
     */
    public static void main(final String[] args)
    {
        // A server stopped with SIGTERM or SIGINT takes its QEMU with it. In a zone the agent kills the whole zone
        // anyway; outside one (run by hand, or by a test) an orphaned QEMU would run on with nobody to stop it.
        Runtime.getRuntime().addShutdownHook(new Thread(
            () -> ProcessHandle.current().descendants().forEach(ProcessHandle::destroyForcibly), "kill-qemu"));
        JsonWarmup.startInBackground();
        final QemuOptions options;
        try
        {
            options = QemuOptions.parse(args);
        }
        catch (final IllegalArgumentException e)
        {
            System.err.println("propolis-qemu: " + e.getMessage());
            System.err.println(QemuOptions.USAGE);
            System.exit(2);
            return;
        }
        try
        {
            Files.createDirectories(options.runDir());
            final InetSocketAddress bound = serve(options);
            System.err.println("propolis-qemu: qemu " + options.qemuBinary() + ", accelerator "
                + options.accel().accel() + " (" + options.accel().reason() + "), boot " + options.boot()
                + ", run dir " + options.runDir());
            System.out.println("propolis-qemu listening on " + ListenAddress.format(bound)
                + " pid " + ProcessHandle.current().pid());
            System.out.flush();
        }
        catch (final IOException e)
        {
            System.err.println("propolis-qemu: cannot start: " + e);
            System.exit(1);
        }
    }

    private static InetSocketAddress serve(final QemuOptions options) throws IOException
    {
        final ScheduledThreadPoolExecutor timer =
            new ScheduledThreadPoolExecutor(1, ServerThreads.daemons("propolis-qemu-timer"));
        // Bound first: a migration target tells its source (for the serial clients) where it serves.
        final HttpServer server = PropolisHttpServer.bind(options.listen(), BACKLOG);
        final int port = server.getAddress().getPort();
        final PropolisInstance instance = new PropolisInstance(
            (request, context) -> QemuMachine.create(request, context, options, port, timer), "propolis-qemu");
        final PropolisHttpHandler handler =
            new PropolisHttpHandler(instance, "propolis-qemu", PropolisHttpHandler.Extension.NONE);
        handler.delayMonitorAnswers(options.monitorDelayMs());
        server.createContext("/", handler);
        server.setExecutor(ServerThreads.growingPool("propolis-qemu-http", MAX_HTTP_THREADS,
            HTTP_THREAD_KEEPALIVE_S));
        server.start();
        return server.getAddress();
    }
}
