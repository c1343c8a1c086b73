package sledagent.agent.runtime;

import io.netty.util.Timeout;
import io.netty.util.Timer;
import java.net.http.HttpTimeoutException;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import sledagent.agent.retry.Backoff;
import sledagent.agent.vmm.Cancellable;
import sledagent.agent.vmm.Event;
import sledagent.hypervisor.PropolisClient;
import sledagent.hypervisor.PropolisHttpException;

/**
 * One state-monitor long poll ({@code gen} and up), retried until it yields one observation. A poll that runs
 * out is re-issued at once; a transport error is retried with {@link Backoff#LOCAL} (a dead process is seen
 * from its pidfd, not from here); {@code NoInstance} means Propolis lost the VM. Never gives up on its own:
 * the actor cancels it.
 */
final class PropolisWatch implements Cancellable
{
    static final String NO_INSTANCE = "NoInstance";

    private final PropolisClient client;
    private final Timer timer;
    private final String addr;
    private final long gen;
    private final Duration pollTimeout;
    private final Consumer<Event> post;
    private final CompletableFuture<Void> finished = new CompletableFuture<>();
    private volatile boolean cancelled;
    private volatile CompletableFuture<?> call;
    private volatile Timeout retry;
    private int failures;

    PropolisWatch(final PropolisClient client, final Timer timer, final String addr, final long gen,
        final long pollTimeoutMs, final Consumer<Event> post)
    {
        this.client = client;
        this.timer = timer;
        this.addr = addr;
        this.gen = gen;
        this.pollTimeout = Duration.ofMillis(pollTimeoutMs);
        this.post = post;
    }

    PropolisWatch start()
    {
        poll();
        return this;
    }

    private void poll()
    {
        if (cancelled)
        {
            finished.complete(null);
            return;
        }
        final CompletableFuture<?> next = client.monitor(addr, gen, pollTimeout).whenComplete((observation, error) ->
        {
            if (cancelled)
            {
                finished.complete(null);
                return;
            }
            if (error == null)
            {
                finished.complete(null);
                post.accept(new Event.PropolisObserved(observation));
                return;
            }
            final Throwable cause = error instanceof CompletionException && error.getCause() != null
                ? error.getCause() : error;
            if (cause instanceof PropolisHttpException http && NO_INSTANCE.equals(http.errorCode()))
            {
                finished.complete(null);
                post.accept(new Event.PropolisLost("state-monitor: " + http.getMessage()));
            }
            else if (cause instanceof HttpTimeoutException)
            {
                failures = 0;
                poll();
            }
            else
            {
                final long delayMs = Backoff.LOCAL.delayMs(failures++);
                retry = timer.newTimeout(timeout -> poll(), delayMs, TimeUnit.MILLISECONDS);
            }
        });
        call = next;
    }

    @Override
    public void cancel()
    {
        cancelled = true;
        final CompletableFuture<?> inFlight = call;
        if (inFlight != null)
        {
            inFlight.cancel(true);
        }
        final Timeout pending = retry;
        if (pending != null && pending.cancel())
        {
            finished.complete(null);
        }
        if (inFlight == null || inFlight.isDone())
        {
            finished.complete(null);
        }
    }

    @Override
    public CompletableFuture<Void> finished()
    {
        return finished;
    }
}
