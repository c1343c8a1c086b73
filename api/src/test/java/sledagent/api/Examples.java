package sledagent.api;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.time.Instant;
import java.util.Map;
import java.util.UUID;
import sledagent.api.propolis.InstanceEnsureRequest;
import sledagent.api.propolis.InstanceInitializationMethod;
import sledagent.api.propolis.InstanceMetadata;
import sledagent.api.propolis.InstanceProperties;

/** Realistic wire values, shaped like what Nexus, sled-agent and Propolis really exchange. */
final class Examples
{
    static final UUID PROPOLIS_ID = UUID.fromString("6dd4a3c1-5c0b-4f38-a1a1-2b4e21a0d1f7");
    static final UUID INSTANCE_ID = UUID.fromString("62877b4e-2f0a-4f55-9e10-3f3c1c6b8a90");
    static final UUID PROJECT_ID = UUID.fromString("a4c1e6f0-7d33-4c0e-8a55-0c7f3a1d2b11");
    static final UUID SILO_ID = UUID.fromString("001de000-5110-4000-8000-000000000000");
    static final UUID SLED_ID = UUID.fromString("b886b58a-1e3f-4be1-b9f2-0c2e66c6bc88");
    static final UUID MIGRATION_ID = UUID.fromString("0f8b1d5e-3c3a-4e79-9a0a-6a2b3a5e7d21");
    static final UUID NIC_ID = UUID.fromString("3c0c5e4a-91a1-4ad0-9d0b-7c9c1c1b2f00");
    static final UUID DISK_ID = UUID.fromString("5f0ab7c2-0d8e-4b26-8f7a-4f3e8d1e6c55");
    static final Instant T0 = Instant.parse("2025-04-01T23:06:55.123456Z");
    static final Instant T1 = Instant.parse("2025-04-01T23:07:12Z");

    static final String VMM_PATH = "/vmms/" + PROPOLIS_ID;
    static final String VMM_STATE_PATH = VMM_PATH + "/state";

    private Examples()
    {
    }

    static JsonNode tree(final String json)
    {
        try
        {
            return Json.mapper().readTree(json);
        }
        catch (final JsonProcessingException e)
        {
            throw new AssertionError(json, e);
        }
    }

    static ObjectNode object(final String json)
    {
        return (ObjectNode) tree(json);
    }

    static VmmRuntimeState vmmRuntime(final VmmState state, final long gen)
    {
        return new VmmRuntimeState(state, gen, T0);
    }

    static MigrationRuntimeState migration(final MigrationState state, final long gen)
    {
        return new MigrationRuntimeState(MIGRATION_ID, state, gen, T1);
    }

    static SledVmmState sledVmmState()
    {
        return new SledVmmState(vmmRuntime(VmmState.RUNNING, 4), null, null);
    }

    /** A migration target mid-flight: migrating in, nothing out. */
    static SledVmmState sledVmmStateMigratingIn()
    {
        return new SledVmmState(vmmRuntime(VmmState.MIGRATING, 7), migration(MigrationState.IN_PROGRESS, 3), null);
    }

    /** Both sides at once (a VMM that migrated in and is now the source of the next migration). */
    static SledVmmState sledVmmStateBothMigrations()
    {
        return new SledVmmState(vmmRuntime(VmmState.MIGRATING, 12),
            new MigrationRuntimeState(UUID.fromString("9d1b7a9c-1f0e-4a8b-b0a1-33d2c0f4e5a6"),
                MigrationState.COMPLETED, 5, T0),
            migration(MigrationState.PENDING, 1));
    }

    /**
     * A Propolis v5 {@code InstanceSpec} like the one Nexus builds: 2 vCPUs, 2 GiB, an NVMe boot disk on Crucible
     * (its backend keyed by the disk's uuid, the other components by name), one OPTE NIC, two UARTs, pvpanic,
     * boot order, SMBIOS.
     */
    static ObjectNode vmmSpec()
    {
        return object("""
            {
              "board": {
                "cpus": 2,
                "memory_mb": 2048,
                "chipset": {"type": "i440_fx", "value": {"enable_pcie": false}},
                "guest_hv_interface": {"type": "bhyve"},
                "cpuid": {
                  "vendor": "amd",
                  "entries": [
                    {"leaf": 0, "subleaf": null, "eax": 13, "ebx": 1752462657, "ecx": 1145913699, "edx": 1769238117},
                    {"leaf": 7, "subleaf": 0, "eax": 0, "ebx": 563909545, "ecx": 4195076, "edx": 16}
                  ]
                }
              },
              "components": {
                "boot-disk": {
                  "type": "nvme_disk",
                  "component": {
                    "backend_id": "5f0ab7c2-0d8e-4b26-8f7a-4f3e8d1e6c55",
                    "pci_path": {"bus": 0, "device": 16, "function": 0},
                    "serial_number": [98,111,111,116,45,100,105,115,107,0,0,0,0,0,0,0,0,0,0,0],
                    "has_write_cache": true
                  }
                },
                "5f0ab7c2-0d8e-4b26-8f7a-4f3e8d1e6c55": {
                  "type": "crucible_storage_backend",
                  "component": {
                    "readonly": false,
                    "request_json": "{\\"type\\":\\"volume\\",\\"block_size\\":512,\\"sub_volumes\\":[]}"
                  }
                },
                "net0": {
                  "type": "virtio_nic",
                  "component": {
                    "backend_id": "net0-backend",
                    "interface_id": "3c0c5e4a-91a1-4ad0-9d0b-7c9c1c1b2f00",
                    "pci_path": {"bus": 0, "device": 8, "function": 0}
                  }
                },
                "net0-backend": {"type": "virtio_network_backend", "component": {"vnic_name": "vopte0"}},
                "com1": {"type": "serial_port", "component": {"num": "com1"}},
                "com2": {"type": "serial_port", "component": {"num": "com2"}},
                "pvpanic": {"type": "qemu_pvpanic", "component": {"enable_isa": true}},
                "boot-settings": {"type": "boot_settings", "component": {"order": [{"id": "boot-disk"}]}}
              },
              "smbios": {
                "manufacturer": "Oxide",
                "product_name": "OxVM",
                "serial_number": "62877b4e-2f0a-4f55-9e10-3f3c1c6b8a90",
                "version": 0
              }
            }
            """);
    }

    /**
     * {@link #vmmSpec()} in the shape Propolis v5 accepts. The two specs disagree on one field: sled-agent v48's
     * {@code NvmeDisk} requires {@code has_write_cache}, Propolis v5's {@code NvmeDisk} does not know it and denies
     * unknown fields. So a v48 {@code vmm_spec} with an NVMe disk cannot be forwarded verbatim to a v5 Propolis.
     */
    static ObjectNode propolisV5Spec()
    {
        final ObjectNode spec = vmmSpec();
        spec.get("components").forEach(component ->
        {
            if (component.path("type").asText().equals("nvme_disk"))
            {
                ((ObjectNode) component.get("component")).remove("has_write_cache");
            }
        });
        return spec;
    }

    /** The minimal spec of omicron.md (A) "Examples". */
    static ObjectNode minimalVmmSpec()
    {
        return object("""
            {"board":{"cpus":2,"memory_mb":2048,"chipset":{"type":"i440_fx","value":{"enable_pcie":false}}},
             "components":{}}
            """);
    }

    /** An {@code InstanceSledLocalConfig} with one primary NIC, SNAT plus ephemeral IPv4, one firewall rule. */
    static ObjectNode localConfig()
    {
        return object("""
            {
              "hostname": "vm1",
              "nics": [%s],
              "external_ips": {
                "v4": {
                  "ephemeral_ip": "203.0.113.7",
                  "floating_ips": ["203.0.113.20"],
                  "source_nat": {"ip": "203.0.113.4", "first_port": 16384, "last_port": 32767}
                },
                "v6": null
              },
              "firewall_rules": [
                {
                  "status": "enabled",
                  "direction": "inbound",
                  "targets": [%s],
                  "filter_hosts": null,
                  "filter_ports": ["22", "8000-8080"],
                  "filter_protocols": [{"type": "tcp"}, {"type": "icmp", "value": {"icmp_type": 8, "code": null}}],
                  "action": "allow",
                  "priority": 65534
                }
              ],
              "dhcp_config": {"dns_servers": ["1.1.1.1", "2606:4700:4700::1111"], "host_domain": null,
                              "search_domains": ["oxide.internal"]},
              "delegated_zvols": [],
              "multicast_groups": [],
              "attached_subnets": [],
              "primary_nic_mtu": null
            }
            """.formatted(nic(), nic()));
    }

    /** The minimal local config of omicron.md (A) "Examples". */
    static ObjectNode minimalLocalConfig()
    {
        return object("""
            {"hostname":"vm1","nics":[],"external_ips":{},"firewall_rules":[],
             "dhcp_config":{"dns_servers":[],"search_domains":[]},"delegated_zvols":[],"multicast_groups":[],
             "attached_subnets":[]}
            """);
    }

    private static String nic()
    {
        return """
            {
              "id": "%s",
              "kind": {"type": "instance", "id": "%s"},
              "name": "net0",
              "ip_config": {"type": "v4", "value": {"ip": "172.30.0.5", "subnet": "172.30.0.0/22",
                                                    "transit_ips": []}},
              "mac": "A8:40:25:F0:00:01",
              "vni": 1089,
              "primary": true,
              "slot": 0
            }""".formatted(NIC_ID, INSTANCE_ID);
    }

    static ObjectNode metadata()
    {
        return object("{\"project_id\":\"" + PROJECT_ID + "\",\"silo_id\":\"" + SILO_ID + "\"}");
    }

    static InstanceEnsureBody instanceEnsureBody()
    {
        return new InstanceEnsureBody(INSTANCE_ID, "[fd00:1122:3344:101::1:0]:12400",
            vmmRuntime(VmmState.STARTING, 2), vmmSpec(), localConfig(), metadata(), null);
    }

    /** A register for the target of a migration: {@code migration_id} set. */
    static InstanceEnsureBody instanceEnsureBodyMigrationTarget()
    {
        return new InstanceEnsureBody(INSTANCE_ID, "[fd00:1122:3344:102::1:0]:12400",
            vmmRuntime(VmmState.STARTING, 1), vmmSpec(), localConfig(), metadata(), MIGRATION_ID);
    }

    static InstanceEnsureBody minimalInstanceEnsureBody()
    {
        return new InstanceEnsureBody(INSTANCE_ID, "[fd00:1122:3344:101::1:0]:12400",
            vmmRuntime(VmmState.STARTING, 2), minimalVmmSpec(), minimalLocalConfig(), metadata(), null);
    }

    static InstanceProperties propolisProperties()
    {
        return new InstanceProperties(PROPOLIS_ID, "vm1", "Test instance",
            new InstanceMetadata(PROJECT_ID, SILO_ID, SLED_ID, "913-0000019", 13, "BRM42220036"));
    }

    static InstanceEnsureRequest propolisEnsureSpec()
    {
        return new InstanceEnsureRequest(propolisProperties(), InstanceInitializationMethod.Spec.of(propolisV5Spec()));
    }

    static InstanceEnsureRequest propolisEnsureMigrationTarget()
    {
        return new InstanceEnsureRequest(propolisProperties(), new InstanceInitializationMethod.MigrationTarget(
            new InstanceInitializationMethod.MigrationTargetValue(MIGRATION_ID, Map.of(
                DISK_ID.toString(), object("""
                    {"component": "CrucibleStorageBackend",
                     "spec": {"readonly": false, "request_json": "{\\"type\\":\\"volume\\",\\"block_size\\":512}"}}
                    """),
                "net0-backend", object("""
                    {"component": "VirtioNetworkBackend", "spec": {"vnic_name": "vopte1"}}
                    """)),
                "[fd00:1122:3344:101::1:0]:12400")));
    }
}
