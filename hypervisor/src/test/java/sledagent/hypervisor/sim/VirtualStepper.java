package sledagent.hypervisor.sim;

import java.util.Comparator;
import java.util.PriorityQueue;

/**
 * A {@link SimVm.Stepper} on a virtual clock, cranked by hand: {@link #advance} runs every task that falls due, in
 * time order (ties in the order they were scheduled), on the caller's thread. No threads, no real time.
 */
final class VirtualStepper implements SimVm.Stepper
{
    private final PriorityQueue<Task> tasks =
        new PriorityQueue<>(Comparator.comparingLong(Task::due).thenComparingLong(Task::seq));
    private long now;
    private long seq;

    @Override
    public void after(final long delayMs, final Runnable task)
    {
        tasks.add(new Task(now + delayMs, seq++, task));
    }

    /** Moves the clock on by {@code ms}, running each task as its time comes. */
    void advance(final long ms)
    {
        final long until = now + ms;
        while (!tasks.isEmpty() && tasks.peek().due() <= until)
        {
            final Task task = tasks.poll();
            now = task.due();
            task.task().run();
        }
        now = until;
    }

    /** Runs what is due now (tasks scheduled with no delay). */
    void runDue()
    {
        advance(0);
    }

    long now()
    {
        return now;
    }

    private record Task(long due, long seq, Runnable task)
    {
    }
}
