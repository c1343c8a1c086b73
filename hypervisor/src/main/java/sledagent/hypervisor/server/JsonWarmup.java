package sledagent.hypervisor.server;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import sledagent.api.Json;
import sledagent.api.propolis.InstanceEnsureRequest;
import sledagent.api.propolis.InstanceStateMonitorResponse;

/**
 * Loads and links the JSON code of a Propolis server's first requests on a background thread while the server
 * starts. The agent ensures the instance the moment the server answers, and the first ensure otherwise pays for some
 * 1,400 classes of Jackson's (about 250 ms on these machines, measured with {@code -Xlog:class+load}): time added to
 * every guest's start. On a second core that work overlaps the JVM's own start and the bind.
 */
public final class JsonWarmup
{
    /** An ensure of the shape the agent sends: properties with metadata, a Spec with board, chipset and com1. */
    public static final String ENSURE = """
        {"properties":{"id":"00000000-0000-0000-0000-000000000001","name":"warmup","description":"",
        "metadata":{"project_id":"00000000-0000-0000-0000-000000000002",
        "silo_id":"00000000-0000-0000-0000-000000000003",
        "sled_id":"00000000-0000-0000-0000-000000000004","sled_model":"warmup","sled_revision":0,"sled_serial":"x"}},
        "init":{"method":"Spec","value":{"spec":{"board":{"cpus":1,"memory_mb":64,
        "chipset":{"type":"i440_fx","value":{"enable_pcie":false}}},
        "components":{"com1":{"type":"serial_port","component":{"num":"com1"}}}}}}}
        """;
    private static final String MONITOR = """
        {"gen":1,"state":"Running","migration":{"migration_in":null,"migration_out":null}}
        """;

    private JsonWarmup()
    {
    }

    /** Starts the warm-up on a daemon thread; it never fails the server (a failure only loses the head start). */
    public static void startInBackground()
    {
        final Thread thread = new Thread(JsonWarmup::run, "json-warmup");
        thread.setDaemon(true);
        thread.setPriority(Thread.MIN_PRIORITY);
        thread.start();
    }

    static void run()
    {
        try
        {
            final InstanceEnsureRequest ensure = Json.mapper().readValue(ENSURE, InstanceEnsureRequest.class);
            final JsonNode tree = Json.mapper().valueToTree(ensure);
            Json.mapper().writeValueAsBytes(tree);
            Json.mapper().writeValueAsBytes(Json.mapper().readValue(MONITOR, InstanceStateMonitorResponse.class));
        }
        catch (final IOException | RuntimeException ex)
        {
            System.err.println("propolis: JSON warm-up failed (only start time is lost): " + ex);
        }
    }
}
