package sledagent.hypervisor.sim;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ConnectException;
import java.util.Arrays;
import java.util.Objects;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.zip.CRC32C;
import sledagent.api.Json;
import sledagent.api.propolis.InstanceProperties;
import sledagent.api.propolis.PropolisMigrationState;

/**
 * The sims' own live-migration protocol (not Propolis's WebSocket one): the target pulls the VM from the source with
 * three kinds of short, unversioned calls on the source, {@code POST /mock/migrate/{id}/start|poll|finish}. Each
 * answer is a {@link Report}: the source's migration-out phase, and once it reaches {@code Device} the guest state to
 * transfer ({@link Payload}). Every call is bounded: the source answers a poll within {@link #POLL_WINDOW_MS}, and
 * gives up on a target that has not called for {@link #contactTimeoutMs}.
 */
final class SimMigration
{
    /** The longest the source holds a poll before it answers with an unchanged phase. */
    static final long POLL_WINDOW_MS = 1_000;
    /** Added to twice the target's step: how long the source waits for any call before it fails the migration. */
    static final long CONTACT_GRACE_MS = 5_000;

    /** A link on which every call fails as a refused connection would (a VM that never pulls from anywhere). */
    static final Link UNREACHABLE = new Link()
    {
        @Override
        public CompletableFuture<Report> start(final String srcAddr, final UUID id, final long targetStepMs)
        {
            return refused(srcAddr);
        }

        @Override
        public CompletableFuture<Report> poll(final String srcAddr, final UUID id, final PropolisMigrationState after)
        {
            return refused(srcAddr);
        }

        @Override
        public CompletableFuture<Report> finish(final String srcAddr, final UUID id)
        {
            return refused(srcAddr);
        }

        private CompletableFuture<Report> refused(final String srcAddr)
        {
            return CompletableFuture.failedFuture(new ConnectException("no migration link to " + srcAddr));
        }
    };

    private SimMigration()
    {
    }

    /**
     * @param targetStepMs the target's {@code --migrate-step-ms}, sent in its start call
     * @return how long the source waits for the target's next call before it fails the migration
     */
    static long contactTimeoutMs(final long targetStepMs)
    {
        return 2 * targetStepMs + CONTACT_GRACE_MS;
    }

    /**
     * The target's side of the wire: the three calls on the source at {@code srcAddr}. No method throws; a refusal,
     * an unreachable source or a timeout completes the future exceptionally.
     */
    interface Link
    {
        /** {@code POST /mock/migrate/{id}/start}: become the source of migration {@code id}. */
        CompletableFuture<Report> start(String srcAddr, UUID id, long targetStepMs);

        /** {@code POST /mock/migrate/{id}/poll}: the source's phase once it is no longer {@code after}. */
        CompletableFuture<Report> poll(String srcAddr, UUID id, PropolisMigrationState after);

        /** {@code POST /mock/migrate/{id}/finish}: the target has the VM; the source may run down. */
        CompletableFuture<Report> finish(String srcAddr, UUID id);
    }

    /** Body of {@code start}. */
    record StartRequest(long targetStepMs)
    {
    }

    /** Body of {@code poll}. */
    record PollRequest(PropolisMigrationState after)
    {
        PollRequest
        {
            Objects.requireNonNull(after, "after");
        }
    }

    /**
     * Every answer of the source: its migration-out phase, and from {@code Device} on the guest state.
     *
     * @param migrationId the migration this answers for (the target checks it)
     * @param phase       the source's {@code migration_out} phase
     * @param state       the guest state, once {@code phase} is {@code Device} or {@code Finish}; else null
     */
    record Report(UUID migrationId, PropolisMigrationState phase, Payload state)
    {
        Report
        {
            Objects.requireNonNull(migrationId, "migration_id");
            Objects.requireNonNull(phase, "phase");
        }
    }

    /**
     * The "guest" that moves: the source's instance properties and spec, how often it has migrated before, and a
     * checksum over the three that the target recomputes.
     */
    record Payload(InstanceProperties properties, ObjectNode spec, long migrations, String checksum)
    {
        static Payload of(final InstanceProperties properties, final ObjectNode spec, final long migrations)
        {
            return new Payload(properties, spec, migrations, checksum(properties, spec, migrations));
        }

        /** True if every part is there and the checksum matches them. */
        boolean intact()
        {
            return properties != null && spec != null && migrations >= 0
                && checksum(properties, spec, migrations).equals(checksum);
        }

        private static String checksum(final InstanceProperties properties, final ObjectNode spec,
            final long migrations)
        {
            final CRC32C crc = new CRC32C();
            try
            {
                crc.update(Json.mapper().writeValueAsBytes(Arrays.asList(properties, spec, migrations)));
            }
            catch (final JsonProcessingException e)
            {
                throw new UncheckedIOException(e);
            }
            return String.format("%08x", crc.getValue());
        }
    }

    /** The source said no (a non-200 answer). */
    static final class Refused extends IOException
    {
        private static final long serialVersionUID = 1L;

        Refused(final String message)
        {
            super(message);
        }
    }
}
