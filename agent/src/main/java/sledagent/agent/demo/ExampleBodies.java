package sledagent.agent.demo;

import java.util.UUID;

/** Register bodies shaped like the ones Nexus sends (sled-agent v48 {@code InstanceEnsureBody}). */
public final class ExampleBodies
{
    private ExampleBodies()
    {
    }

    /** A register body for a VMM at {@code propolisAddr}, registered at {@code gen} in state starting. */
    public static String ensureBody(final UUID instanceId, final String propolisAddr, final long gen)
    {
        return ensureBody(instanceId, propolisAddr, gen, null);
    }

    /** As {@link #ensureBody(UUID, String, long)}, as a migration target when {@code migrationId} is set. */
    public static String ensureBody(final UUID instanceId, final String propolisAddr, final long gen,
        final UUID migrationId)
    {
        return ensureBody(instanceId, propolisAddr, gen, migrationId, 512);
    }

    /** As {@link #ensureBody(UUID, String, long, UUID)}, with a guest of {@code memoryMb} (a tiny real guest). */
    public static String ensureBody(final UUID instanceId, final String propolisAddr, final long gen,
        final UUID migrationId, final int memoryMb)
    {
        return """
            {"instance_id":"%s","propolis_addr":"%s",
             "vmm_runtime":{"state":"%s","gen":%d,"time_updated":"2026-11-24T00:00:00Z"},
             "migration_id":%s,
             "metadata":{"project_id":"%s","silo_id":"%s"},
             "vmm_spec":{"board":{"cpus":1,"memory_mb":%d,"chipset":{"type":"i440_fx","value":{"enable_pcie":false}}},
                         "components":{"com1":{"type":"serial_port","component":{"num":"com1"}}}},
             "local_config":{"hostname":"demo-vm","nics":[],"external_ips":{},"firewall_rules":[],
                "dhcp_config":{"dns_servers":[],"search_domains":[]},"delegated_zvols":[],"multicast_groups":[],
                "attached_subnets":[]}}
            """.formatted(instanceId, propolisAddr, migrationId == null ? "starting" : "migrating", gen,
            migrationId == null ? "null" : "\"" + migrationId + "\"", UUID.randomUUID(), UUID.randomUUID(),
            memoryMb);
    }
}
