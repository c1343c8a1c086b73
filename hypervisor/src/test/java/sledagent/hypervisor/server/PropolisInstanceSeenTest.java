package sledagent.hypervisor.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import sledagent.api.Json;
import sledagent.api.propolis.InstanceEnsureRequest;
import sledagent.api.propolis.PropolisInstanceState;

/**
 * {@link MachineContext#onceSeen}, the rule a migration source's {@code go} waits on: a generation counts as seen
 * when someone asks for the next one while it is published, or when a look at generation 0 is answered with it; a
 * request still waiting for that very generation, or one far ahead, does not count. In process, no clock.
 */
class PropolisInstanceSeenTest
{
    @Test
    void aGenerationIsSeenByTheNextAskOrByALookAtZeroNotByItsOwnWaiter() throws Exception
    {
        final AtomicReference<MachineContext> context = new AtomicReference<>();
        final PropolisInstance instance = new PropolisInstance((request, ctx) ->
        {
            context.set(ctx);
            return new Machine()
            {
                @Override
                public void start()
                {
                    ctx.publish(PropolisInstanceState.Running);
                }

                @Override
                public void stop(final PropolisInstanceState from)
                {
                    ctx.publish(PropolisInstanceState.Destroyed);
                }

                @Override
                public void reboot()
                {
                }
            };
        }, "seen-test");
        instance.ensure(Json.mapper().readValue("""
            {"properties":{"id":"%s","name":"vm","description":"",
              "metadata":{"project_id":"%s","silo_id":"%s","sled_id":"%s","sled_model":"m","sled_revision":1,
                          "sled_serial":"s"}},
             "init":{"method":"Spec","value":{"spec":{"board":{"cpus":1,"memory_mb":64,
               "chipset":{"type":"i440_fx","value":{"enable_pcie":false}}},"components":{}}}}}
            """.formatted(UUID.randomUUID(), UUID.randomUUID(), UUID.randomUUID(), UUID.randomUUID()),
            InstanceEnsureRequest.class));
        final MachineContext ctx = context.get();

        // A watcher asking for gen 2 (before or after it is published) has not seen it.
        final CompletableFuture<Long> waiting = CompletableFuture.supplyAsync(() -> awaitGen(instance, 2));
        final AtomicInteger ran = new AtomicInteger();
        ctx.lock();
        try
        {
            ctx.publish(PropolisInstanceState.Running);
            ctx.onceSeen(ctx.latest().gen(), ran::incrementAndGet);
        }
        finally
        {
            ctx.unlock();
        }
        assertThat(waiting.get()).isEqualTo(2);
        assertThat(ran).hasValue(0);
        assertThat(awaitGen(instance, 1)).as("an ask for gen 1 says gen 0 was seen").isEqualTo(2);
        assertThat(ran).hasValue(0);

        // The watcher asks for the next one (gen 3): it has taken gen 2 in. The action runs before the wait ends.
        final CompletableFuture<Long> next = CompletableFuture.supplyAsync(() -> awaitGen(instance, 3));
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> assertThat(ran).hasValue(1));
        assertThat(next).isNotDone();
        instance.request(sledagent.api.propolis.PropolisStateRequested.Stop);
        assertThat(next.get()).isEqualTo(3);
        assertThat(ran).as("once").hasValue(1);

        // A look at generation 0 sees the newest generation; an ask far ahead sees nothing.
        final AtomicInteger byLook = new AtomicInteger();
        final AtomicInteger byFarAsk = new AtomicInteger();
        ctx.lock();
        try
        {
            ctx.onceSeen(ctx.latest().gen(), byLook::incrementAndGet);
            ctx.onceSeen(ctx.latest().gen() + 5, byFarAsk::incrementAndGet);
        }
        finally
        {
            ctx.unlock();
        }
        assertThat(byLook).hasValue(0);
        assertThat(awaitGen(instance, 0)).isEqualTo(3);
        assertThat(byLook).hasValue(1);
        assertThat(byFarAsk).hasValue(0);
    }

    private static long awaitGen(final PropolisInstance instance, final long gen)
    {
        try
        {
            return instance.awaitGeneration(gen).gen();
        }
        catch (final PropolisRefusal | InterruptedException e)
        {
            throw new IllegalStateException(e);
        }
    }
}
