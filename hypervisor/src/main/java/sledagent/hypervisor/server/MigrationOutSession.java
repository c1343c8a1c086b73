package sledagent.hypervisor.server;

import java.io.InputStream;
import java.io.OutputStream;

/**
 * The source's side of one migration out, run on the upgraded connection of
 * {@code GET /instance/migrate/{migration_id}/start} once the 101 has been sent. It runs on the HTTP thread that
 * accepted the upgrade and returns when the migration is over on this side (finished, failed or cancelled); the
 * connection is closed after it returns.
 */
@FunctionalInterface
public interface MigrationOutSession
{
    /**
     * The {@code upgrade} token of our migration connection: a plain upgraded HTTP/1.1 connection carrying
     * newline-delimited JSON, not Propolis's WebSocket (see hypervisor/README.md).
     */
    String UPGRADE = "propolis-qemu-migration/1";

    /**
     * @param in    the target's bytes (past the request head)
     * @param out   to the target
     * @param close closes the connection (unblocks a read in {@code in})
     */
    void run(InputStream in, OutputStream out, Runnable close);
}
