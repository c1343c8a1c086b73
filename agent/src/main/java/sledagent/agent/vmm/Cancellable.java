package sledagent.agent.vmm;

import java.util.concurrent.CompletableFuture;

/** A piece of work in flight that can be called off; {@link #finished()} completes once it has stopped. */
public interface Cancellable
{
    Cancellable NONE = new Cancellable()
    {
        @Override
        public void cancel()
        {
        }

        @Override
        public CompletableFuture<Void> finished()
        {
            return CompletableFuture.completedFuture(null);
        }
    };

    /** Asks the work to stop; idempotent, never blocks. Its result, if any, is not delivered afterwards. */
    void cancel();

    /** Completes when the work has stopped running, cancelled or not. */
    CompletableFuture<Void> finished();
}
