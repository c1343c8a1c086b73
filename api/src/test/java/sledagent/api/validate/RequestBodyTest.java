package sledagent.api.validate;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import sledagent.api.InstanceEnsureBody;
import sledagent.api.Json;

/**
 * {@link RequestBody#INSTANCE_ENSURE} on one edit of the full register body at a time: for each constraint of the
 * v48 schemas a value just inside (accepted) and just outside (refused, the message naming the field by its path).
 */
class RequestBodyTest
{
    /** One edit of the full body; {@code expected} null means accepted, else the message's beginning. */
    record Case(String pointer, String value, String expected)
    {
        @Override
        public String toString()
        {
            final String shown = value.length() > 40 ? value.substring(0, 40) + "..." : value;
            return (pointer.isEmpty() ? "(body)" : pointer) + " = " + shown + (expected == null ? " ok" : " refused");
        }
    }

    private static Case c(final String pointer, final String value, final String expected)
    {
        return new Case(pointer, value, expected);
    }

    static Stream<Case> cases()
    {
        return Stream.of(
            c("/instance_id", "<remove>", "instance_id: is required"),
            c("/local_config", "<remove>", "local_config: is required"),
            c("/metadata", "<remove>", "metadata: is required"),
            c("/propolis_addr", "<remove>", "propolis_addr: is required"),
            c("/vmm_runtime", "<remove>", "vmm_runtime: is required"),
            c("/vmm_spec", "<remove>", "vmm_spec: is required"),
            c("/instance_id", "null", "instance_id: must not be null"),
            c("/instance_id", "42", "instance_id: must be a string, not an integer"),
            c("/instance_id", "\"62877b4e-2f0a-4f55-9e10-3f3c1c6b8a9\"", "instance_id: \"62877b4e-2f0a-4f55-9e10-3f3c1c6b8a9\" is not a uuid"),
            c("/instance_id", "\"62877B4E-2F0A-4F55-9E10-3F3C1C6B8A90\"", null),
            c("/migration_id", "\"0f8b1d5e-3c3a-4e79-9a0a-6a2b3a5e7d21\"", null),
            c("/migration_id", "<remove>", null),
            c("/migration_id", "\"m-1\"", "migration_id: \"m-1\" is not a uuid"),
            c("/propolis_addr", "\"127.0.0.1:65535\"", null),
            c("/propolis_addr", "\"127.0.0.1:65536\"", "propolis_addr: \"127.0.0.1:65536\" is not ip:port"),
            c("/propolis_addr", "\"127.0.0.1:0\"", "propolis_addr: \"127.0.0.1:0\" is not ip:port"),
            c("/propolis_addr", "\"localhost:12400\"", "propolis_addr: \"localhost:12400\" is not ip:port"),
            c("/propolis_addr", "\"fd00::5:12400\"", "propolis_addr: \"fd00::5:12400\" is not ip:port"),
            c("/vmm_runtime/gen", "9223372036854775806", null),
            c("/vmm_runtime/gen", "0", null),
            c("/vmm_runtime/gen", "9223372036854775807", "vmm_runtime.gen: 9223372036854775807 is outside 0..9223372036854775806 (uint64; the agent holds a generation in a signed 64-bit integer"),
            c("/vmm_runtime/gen", "18446744073709551615", "vmm_runtime.gen: 18446744073709551615 is outside 0..9223372036854775806"),
            c("/vmm_runtime/gen", "18446744073709551616", "vmm_runtime.gen: 18446744073709551616 is outside 0..9223372036854775806"),
            c("/vmm_runtime/gen", "-1", "vmm_runtime.gen: -1 is outside 0..9223372036854775806"),
            c("/vmm_runtime/gen", "1.0", "vmm_runtime.gen: must be an integer, not a non-integer number"),
            c("/vmm_runtime/gen", "1e3", "vmm_runtime.gen: must be an integer"),
            c("/vmm_runtime/gen", "\"5\"", "vmm_runtime.gen: must be an integer, not a string"),
            c("/vmm_runtime/gen", "<remove>", "vmm_runtime.gen: is required"),
            c("/vmm_runtime/state", "\"destroyed\"", null),
            c("/vmm_runtime/state", "\"runnning\"", "vmm_runtime.state: \"runnning\" is not one of [starting, running, stopping, stopped, rebooting, migrating, failed, destroyed]"),
            c("/vmm_runtime/state", "\"Running\"", "vmm_runtime.state: \"Running\" is not one of"),
            c("/vmm_runtime/time_updated", "\"2025-04-01T23:06:55+01:00\"", null),
            c("/vmm_runtime/time_updated", "\"2025-04-01T23:06:55.123456789Z\"", null),
            c("/vmm_runtime/time_updated", "\"2025-04-01 23:06:55Z\"", "vmm_runtime.time_updated: \"2025-04-01 23:06:55Z\" is not an RFC 3339 date-time"),
            c("/vmm_runtime/time_updated", "\"2025-02-30T00:00:00Z\"", "vmm_runtime.time_updated: \"2025-02-30T00:00:00Z\" is not an RFC 3339"),
            c("/vmm_runtime/time_updated", "\"1743548815\"", "vmm_runtime.time_updated: \"1743548815\" is not an RFC 3339"),
            c("/metadata/silo_id", "<remove>", "metadata.silo_id: is required"),
            c("/metadata/project_id", "\"p\"", "metadata.project_id: \"p\" is not a uuid"),
            c("/vmm_spec/board", "<remove>", "vmm_spec.board: is required"),
            c("/vmm_spec/components", "<remove>", "vmm_spec.components: is required"),
            c("/vmm_spec/board/cpus", "255", null),
            c("/vmm_spec/board/cpus", "256", "vmm_spec.board.cpus: 256 is outside 0..255 (uint8)"),
            c("/vmm_spec/board/cpus", "300", "vmm_spec.board.cpus: 300 is outside 0..255 (uint8)"),
            c("/vmm_spec/board/cpus", "-1", "vmm_spec.board.cpus: -1 is outside 0..255 (uint8)"),
            c("/vmm_spec/board/cpus", "<remove>", "vmm_spec.board.cpus: is required"),
            c("/vmm_spec/board/memory_mb", "18446744073709551615", null),
            c("/vmm_spec/board/memory_mb", "18446744073709551616", "vmm_spec.board.memory_mb: 18446744073709551616 is outside 0..18446744073709551615 (uint64)"),
            c("/vmm_spec/board/memory_mb", "null", "vmm_spec.board.memory_mb: must not be null"),
            c("/vmm_spec/board/extra", "1", "vmm_spec.board.extra: is not a known field (allowed: [chipset, cpuid, cpus, guest_hv_interface, memory_mb])"),
            c("/vmm_spec/extra", "1", null),
            c("/vmm_spec/board/chipset/type", "\"i440fx\"", "vmm_spec.board.chipset.type: \"i440fx\" is not one of [i440_fx]"),
            c("/vmm_spec/board/chipset/value/enable_pcie", "<remove>", "vmm_spec.board.chipset.value.enable_pcie: is required"),
            c("/vmm_spec/board/chipset/value/enable_pcie", "\"yes\"", "vmm_spec.board.chipset.value.enable_pcie: must be a boolean, not a string"),
            c("/vmm_spec/board/guest_hv_interface", "{\"type\":\"bhyve\"}", null),
            c("/vmm_spec/board/guest_hv_interface", "<remove>", null),
            c("/vmm_spec/board/guest_hv_interface", "{\"type\":\"bhyve\",\"value\":{}}", "vmm_spec.board.guest_hv_interface.value: is not a known field"),
            c("/vmm_spec/board/guest_hv_interface/value/features", "[\"reference_tsc\",\"reference_tsc\"]", "vmm_spec.board.guest_hv_interface.value.features[1]: repeats item 0 (items must be unique)"),
            c("/vmm_spec/board/guest_hv_interface/value/features", "[\"tsc\"]", "vmm_spec.board.guest_hv_interface.value.features[0]: \"tsc\" is not one of [reference_tsc]"),
            c("/vmm_spec/board/cpuid", "null", null),
            c("/vmm_spec/board/cpuid/vendor", "\"arm\"", "vmm_spec.board.cpuid.vendor: \"arm\" is not one of [amd, intel]"),
            c("/vmm_spec/board/cpuid/entries/1/eax", "4294967295", null),
            c("/vmm_spec/board/cpuid/entries/1/eax", "4294967296", "vmm_spec.board.cpuid.entries[1].eax: 4294967296 is outside 0..4294967295 (uint32)"),
            c("/vmm_spec/board/cpuid/entries/0/subleaf", "4294967296", "vmm_spec.board.cpuid.entries[0].subleaf: 4294967296 is outside 0..4294967295 (uint32)"),
            c("/vmm_spec/board/cpuid/entries/0/leaf", "<remove>", "vmm_spec.board.cpuid.entries[0].leaf: is required"),
            c("/vmm_spec/components/com1/type", "\"floppy\"", "vmm_spec.components.com1.type: \"floppy\" is not one of [virtio_disk, nvme_disk"),
            c("/vmm_spec/components/com1/type", "<remove>", "vmm_spec.components.com1.type: is required"),
            c("/vmm_spec/components/com1", "\"com1\"", "vmm_spec.components.com1: must be an object, not a string"),
            c("/vmm_spec/components/com1/component/num", "\"com4\"", null),
            c("/vmm_spec/components/com1/component/num", "\"com5\"", "vmm_spec.components.com1.component.num: \"com5\" is not one of [com1, com2, com3, com4]"),
            c("/vmm_spec/components/com1/component/baud", "9600", "vmm_spec.components.com1.component.baud: is not a known field (allowed: [num])"),
            c("/vmm_spec/components/com1/extra", "1", "vmm_spec.components.com1.extra: is not a known field (allowed: [component, type])"),
            c("/vmm_spec/components/boot-disk/component/serial_number/19", "255", null),
            c("/vmm_spec/components/boot-disk/component/serial_number/19", "256", "vmm_spec.components[\"boot-disk\"].component.serial_number[19]: 256 is outside 0..255 (uint8)"),
            c("/vmm_spec/components/boot-disk/component/serial_number/19", "<remove>", "vmm_spec.components[\"boot-disk\"].component.serial_number: has 19 items, exactly 20 allowed"),
            c("/vmm_spec/components/boot-disk/component/serial_number/20", "0", "vmm_spec.components[\"boot-disk\"].component.serial_number: has 21 items, exactly 20 allowed"),
            c("/vmm_spec/components/boot-disk/component/pci_path/function", "256", "vmm_spec.components[\"boot-disk\"].component.pci_path.function: 256 is outside 0..255 (uint8)"),
            c("/vmm_spec/components/boot-disk/component/backend_id", "5", "vmm_spec.components[\"boot-disk\"].component.backend_id: 5 matches none of its forms (uuid: must be a string, not an integer; name: must be a string, not an integer)"),
            c("/vmm_spec/components/boot-disk/component/backend_id", "\"any name at all\"", null),
            c("/vmm_spec/components/data-file/component/workers", "1", null),
            c("/vmm_spec/components/data-file/component/workers", "null", null),
            c("/vmm_spec/components/data-file/component/workers", "0", "vmm_spec.components[\"data-file\"].component.workers: 0 is outside 1..18446744073709551615 (uint)"),
            c("/vmm_spec/components/data-file/component/block_size", "4294967296", "vmm_spec.components[\"data-file\"].component.block_size: 4294967296 is outside 0..4294967295 (uint32)"),
            c("/vmm_spec/components/vsock/component/guest_cid", "18446744073709551616", "vmm_spec.components.vsock.component.guest_cid: 18446744073709551616 is outside 0..18446744073709551615 (uint64)"),
            c("/vmm_spec/components/bridge/component/downstream_bus", "256", "vmm_spec.components.bridge.component.downstream_bus: 256 is outside 0..255 (uint8)"),
            c("/vmm_spec/components/p9/component/chunk_size", "-1", "vmm_spec.components.p9.component.chunk_size: -1 is outside 0..4294967295 (uint32)"),
            c("/vmm_spec/components/fail/component/fail_imports", "4294967296", "vmm_spec.components.fail.component.fail_imports: 4294967296 is outside 0..4294967295 (uint32)"),
            c("/vmm_spec/components/boot-settings/component/order/0/id", "<remove>", "vmm_spec.components[\"boot-settings\"].component.order[0].id: is required"),
            c("/vmm_spec/components/npu-port/component/link_name", "1", "vmm_spec.components[\"npu-port\"].component.link_name: must be a string, not an integer"),
            c("/vmm_spec/smbios", "null", null),
            c("/vmm_spec/smbios/version", "18446744073709551616", "vmm_spec.smbios.version: 18446744073709551616 is outside 0..18446744073709551615 (uint64)"),
            c("/vmm_spec/smbios/product_name", "<remove>", "vmm_spec.smbios.product_name: is required"),
            c("/local_config/attached_subnets", "<remove>", "local_config.attached_subnets: is required"),
            c("/local_config/hostname", "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"", null),
            c("/local_config/hostname", "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"", "local_config.hostname: is 254 characters long, more than the 253 allowed"),
            c("/local_config/hostname", "\"vm1-\"", "local_config.hostname: \"vm1-\" does not match the pattern"),
            c("/local_config/hostname", "\"-vm1\"", "local_config.hostname: \"-vm1\" does not match the pattern"),
            c("/local_config/hostname", "\"vm1..x\"", "local_config.hostname: \"vm1..x\" does not match the pattern"),
            c("/local_config/hostname", "\"vm1\\n\"", "local_config.hostname: \"vm1\\n\" does not match the pattern"),
            c("/local_config/hostname", "\"vm_1\"", "local_config.hostname: \"vm_1\" does not match the pattern"),
            c("/local_config/hostname", "\"v\"", null),
            c("/local_config/hostname", "\"\"", "local_config.hostname: \"\" is shorter than the 1 characters required"),
            c("/local_config/primary_nic_mtu", "null", null),
            c("/local_config/primary_nic_mtu", "<remove>", null),
            c("/local_config/primary_nic_mtu", "4294967295", null),
            c("/local_config/primary_nic_mtu", "4294967296", "local_config.primary_nic_mtu: 4294967296 is outside 0..4294967295 (uint32)"),
            c("/local_config/attached_subnets/0/kind", "\"internal\"", "local_config.attached_subnets[0].kind: \"internal\" is not one of [vpc, external]"),
            c("/local_config/attached_subnets/0/subnet", "\"172.30.0.0/32\"", null),
            c("/local_config/attached_subnets/0/subnet", "\"172.30.0.0/33\"", "local_config.attached_subnets[0].subnet: \"172.30.0.0/33\" matches none of its forms (v4: \"172.30.0.0/33\" does not match the pattern"),
            c("/local_config/attached_subnets/1/subnet", "\"fd00::/129\"", "local_config.attached_subnets[1].subnet: \"fd00::/129\" matches none of its forms"),
            c("/local_config/attached_subnets/0/subnet", "\"172.30.0.0/22\\n\"", "local_config.attached_subnets[0].subnet: \"172.30.0.0/22\\n\" matches none of its forms"),
            c("/local_config/delegated_zvols/0/type", "\"zfs\"", "local_config.delegated_zvols[0].type: \"zfs\" is not one of [local_storage_unencrypted, local_storage_encrypted]"),
            c("/local_config/delegated_zvols/1/zpool_id", "\"pool\"", "local_config.delegated_zvols[1].zpool_id: \"pool\" is not a uuid"),
            c("/local_config/dhcp_config/dns_servers/0", "\"1.1.1\"", "local_config.dhcp_config.dns_servers[0]: \"1.1.1\" is not an IP address"),
            c("/local_config/dhcp_config/dns_servers/0", "\"01.1.1.1\"", "local_config.dhcp_config.dns_servers[0]: \"01.1.1.1\" is not an IP address"),
            c("/local_config/dhcp_config/dns_servers/1", "\"fe80::1%eth0\"", "local_config.dhcp_config.dns_servers[1]: \"fe80::1%eth0\" is not an IP address"),
            c("/local_config/dhcp_config/dns_servers/1", "\"::ffff:10.0.0.1\"", null),
            c("/local_config/external_ips/v6/floating_ips/0", "\"::ffff:1.2.3.4\"", null),
            c("/local_config/external_ips/v4/floating_ips/0", "\"::ffff:1.2.3.4\"", "local_config.external_ips.v4.floating_ips[0]: \"::ffff:1.2.3.4\" is not an IPv4 address"),
            c("/local_config/dhcp_config/host_domain", "null", null),
            c("/local_config/dhcp_config/host_domain", "<remove>", null),
            c("/local_config/dhcp_config/search_domains/0", "5", "local_config.dhcp_config.search_domains[0]: must be a string, not an integer"),
            c("/local_config/dhcp_config/search_domains", "<remove>", "local_config.dhcp_config.search_domains: is required"),
            c("/local_config/external_ips", "{}", null),
            c("/local_config/external_ips/v4/floating_ips", "[\"203.0.113.8\",\"203.0.113.8\"]", "local_config.external_ips.v4.floating_ips[1]: repeats item 0 (items must be unique)"),
            c("/local_config/external_ips/v4/floating_ips/0", "\"2001:db8::1\"", "local_config.external_ips.v4.floating_ips[0]: \"2001:db8::1\" is not an IPv4 address"),
            c("/local_config/external_ips/v4/floating_ips", "<remove>", "local_config.external_ips.v4.floating_ips: is required"),
            c("/local_config/external_ips/v4/source_nat/last_port", "65535", null),
            c("/local_config/external_ips/v4/source_nat/last_port", "65536", "local_config.external_ips.v4.source_nat.last_port: 65536 is outside 0..65535 (uint16)"),
            c("/local_config/external_ips/v6/source_nat/first_port", "-1", "local_config.external_ips.v6.source_nat.first_port: -1 is outside 0..65535 (uint16)"),
            c("/local_config/external_ips/v6/source_nat/ip", "\"10.0.0.1\"", "local_config.external_ips.v6.source_nat.ip: \"10.0.0.1\" is not an IPv6 address"),
            c("/local_config/external_ips/v6/ephemeral_ip", "\"2001:db8:0:0:0:0:0:1\"", null),
            c("/local_config/external_ips/v6/ephemeral_ip", "\"2001:db8:0:0:0:0:0:1:2\"", "local_config.external_ips.v6.ephemeral_ip: \"2001:db8:0:0:0:0:0:1:2\" is not an IPv6 address"),
            c("/local_config/firewall_rules/0/priority", "65535", null),
            c("/local_config/firewall_rules/0/priority", "65536", "local_config.firewall_rules[0].priority: 65536 is outside 0..65535 (uint16)"),
            c("/local_config/firewall_rules/0/action", "\"reject\"", "local_config.firewall_rules[0].action: \"reject\" is not one of [allow, deny]"),
            c("/local_config/firewall_rules/0/direction", "\"in\"", "local_config.firewall_rules[0].direction: \"in\" is not one of [inbound, outbound]"),
            c("/local_config/firewall_rules/0/status", "\"on\"", "local_config.firewall_rules[0].status: \"on\" is not one of [disabled, enabled]"),
            c("/local_config/firewall_rules/0/filter_ports/1", "\"12345-12345\"", null),
            c("/local_config/firewall_rules/0/filter_ports/1", "\"123456\"", "local_config.firewall_rules[0].filter_ports[1]: \"123456\" does not match the pattern"),
            c("/local_config/firewall_rules/0/filter_ports/1", "\"12345-123456\"", "local_config.firewall_rules[0].filter_ports[1]: is 12 characters long, more than the 11 allowed"),
            c("/local_config/firewall_rules/0/filter_ports/1", "\"\"", "local_config.firewall_rules[0].filter_ports[1]: \"\" is shorter than the 1 characters required"),
            c("/local_config/firewall_rules/0/filter_hosts", "[{\"type\":\"vpc\",\"value\":1},{\"type\":\"vpc\",\"value\":1}]", "local_config.firewall_rules[0].filter_hosts[1]: repeats item 0"),
            c("/local_config/firewall_rules/0/filter_hosts/1/value", "\"4096\"", "local_config.firewall_rules[0].filter_hosts[1].value: must be an integer, not a string"),
            c("/local_config/firewall_rules/0/filter_hosts/1/value", "4294967296", "local_config.firewall_rules[0].filter_hosts[1].value: 4294967296 is outside 0..4294967295 (uint32)"),
            c("/local_config/firewall_rules/0/filter_hosts/0/type", "\"host\"", "local_config.firewall_rules[0].filter_hosts[0].type: \"host\" is not one of [ip, vpc]"),
            c("/local_config/firewall_rules/0/filter_protocols/2/value/icmp_type", "255", null),
            c("/local_config/firewall_rules/0/filter_protocols/2/value/icmp_type", "256", "local_config.firewall_rules[0].filter_protocols[2].value.icmp_type: 256 is outside 0..255 (uint8)"),
            c("/local_config/firewall_rules/0/filter_protocols/2/value/code", "\"255-255\"", null),
            c("/local_config/firewall_rules/0/filter_protocols/2/value/code", "\"0-2555\"", "local_config.firewall_rules[0].filter_protocols[2].value.code: \"0-2555\" does not match the pattern"),
            c("/local_config/firewall_rules/0/filter_protocols/2/value/code", "\"255-2555\"", "local_config.firewall_rules[0].filter_protocols[2].value.code: is 8 characters long, more than the 7 allowed"),
            c("/local_config/firewall_rules/0/filter_protocols/2/value", "<remove>", "local_config.firewall_rules[0].filter_protocols[2].value: is required"),
            c("/local_config/firewall_rules/0/filter_protocols/0/type", "\"sctp\"", "local_config.firewall_rules[0].filter_protocols[0].type: \"sctp\" is not one of [tcp, udp, icmp, icmp6]"),
            c("/local_config/firewall_rules/0/targets/0/slot", "256", "local_config.firewall_rules[0].targets[0].slot: 256 is outside 0..255 (uint8)"),
            c("/local_config/firewall_rules/0/targets", "<remove>", "local_config.firewall_rules[0].targets: is required"),
            c("/local_config/multicast_groups/0/group_ip", "\"224.1.2\"", "local_config.multicast_groups[0].group_ip: \"224.1.2\" is not an IP address"),
            c("/local_config/multicast_groups/0/sources/1", "\"fd00::g\"", "local_config.multicast_groups[0].sources[1]: \"fd00::g\" is not an IP address"),
            c("/local_config/nics/0/slot", "255", null),
            c("/local_config/nics/0/slot", "256", "local_config.nics[0].slot: 256 is outside 0..255 (uint8)"),
            c("/local_config/nics/0/vni", "4294967295", null),
            c("/local_config/nics/0/vni", "4294967296", "local_config.nics[0].vni: 4294967296 is outside 0..4294967295 (uint32)"),
            c("/local_config/nics/0/primary", "\"true\"", "local_config.nics[0].primary: must be a boolean, not a string"),
            c("/local_config/nics/0/name", "\"nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn\"", null),
            c("/local_config/nics/0/name", "\"nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn\"", "local_config.nics[0].name: is 64 characters long, more than the 63 allowed"),
            c("/local_config/nics/0/name", "\"Net0\"", "local_config.nics[0].name: \"Net0\" does not match the pattern"),
            c("/local_config/nics/0/name", "\"net-\"", "local_config.nics[0].name: \"net-\" does not match the pattern"),
            c("/local_config/nics/0/name", "\"deadbeef-0000-4000-8000-000000000000\"", "local_config.nics[0].name: \"deadbeef-0000-4000-8000-000000000000\" does not match the pattern"),
            c("/local_config/nics/0/mac", "\"A8:40:25:F0:00\"", "local_config.nics[0].mac: \"A8:40:25:F0:00\" does not match the pattern"),
            c("/local_config/nics/0/mac", "\"A8:40:25:F0:00:011\"", "local_config.nics[0].mac: is 18 characters long, more than the 17 allowed"),
            c("/local_config/nics/0/mac", "\":::\"", "local_config.nics[0].mac: \":::\" is shorter than the 5 characters required"),
            c("/local_config/nics/0/kind/type", "\"vm\"", "local_config.nics[0].kind.type: \"vm\" is not one of [instance, service, probe]"),
            c("/local_config/nics/0/kind/id", "\"x\"", "local_config.nics[0].kind.id: \"x\" is not a uuid"),
            c("/local_config/nics/0/ip_config/value/ip", "\"172.30.0.256\"", "local_config.nics[0].ip_config.value.ip: \"172.30.0.256\" is not an IPv4 address"),
            c("/local_config/nics/0/ip_config/value/transit_ips", "[\"10.0.0.0/8\"]", null),
            c("/local_config/nics/0/ip_config/value/transit_ips", "[\"10.0.0.0/88\"]", "local_config.nics[0].ip_config.value.transit_ips[0]: \"10.0.0.0/88\" does not match the pattern"),
            c("/local_config/nics/1/ip_config/value/transit_ips", "<remove>", "local_config.nics[1].ip_config.value.transit_ips: is required"),
            c("/local_config/nics/1/ip_config/type", "\"v5\"", "local_config.nics[1].ip_config.type: \"v5\" is not one of [v4, v6, dual_stack]"),
            c("/local_config/nics/2/ip_config/value/v6", "<remove>", "local_config.nics[2].ip_config.value.v6: is required"),
            c("/local_config/nics/2/ip_config/value/v4/subnet", "\"fd00::/64\"", "local_config.nics[2].ip_config.value.v4.subnet: \"fd00::/64\" does not match the pattern"),
            c("", "[]", "body: must be an object, not an array"),
            c("", "null", "body: must not be null"));
    }

    @Test
    void fullBodyIsValidAndBinds() throws Exception
    {
        final JsonNode body = BodyEdits.fullEnsureBody();
        RequestBody.INSTANCE_ENSURE.check(body);
        assertThat(Json.mapper().treeToValue(body, InstanceEnsureBody.class).vmmRuntime().gen()).isEqualTo(1);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void oneEdit(final Case c)
    {
        final JsonNode body = c.pointer().isEmpty() ? BodyEdits.json(c.value())
            : BodyEdits.edit(BodyEdits.fullEnsureBody(), c.pointer(), c.value());
        final InvalidBodyException refused = catchThrowableOfType(InvalidBodyException.class,
            () -> RequestBody.INSTANCE_ENSURE.check(body));
        if (c.expected() == null)
        {
            assertThat(refused).as("must be accepted").isNull();
        }
        else
        {
            assertThat(refused).as("must be refused").isNotNull();
            assertThat(refused.getMessage()).startsWith(c.expected());
            assertThat(refused.getMessage()).isEqualTo(refused.path() + ": " + refused.problem());
        }
    }

    @Test
    void aHugeHostnameIsRefusedByLengthAndNotEchoed()
    {
        final JsonNode body = BodyEdits.fullEnsureBody();
        ((com.fasterxml.jackson.databind.node.ObjectNode) body.get("local_config"))
            .put("hostname", "a".repeat(900 * 1024));
        assertThatThrownBy(() -> RequestBody.INSTANCE_ENSURE.check(body))
            .hasMessage("local_config.hostname: is 921600 characters long, more than the 253 allowed");
    }

    @Test
    void anEchoedValueIsCut()
    {
        final JsonNode body = BodyEdits.edit(BodyEdits.fullEnsureBody(), "/vmm_runtime/state",
            "\"" + "x".repeat(10_000) + "\"");
        assertThatThrownBy(() -> RequestBody.INSTANCE_ENSURE.check(body))
            .hasMessageStartingWith("vmm_runtime.state: \"" + "x".repeat(Echo.MAX_CHARS) + "\"... (10000 characters)")
            .message().hasSizeLessThan(300);
    }

    @Test
    void putStateBodies() throws Exception
    {
        RequestBody.VMM_PUT_STATE.check(BodyEdits.json("{\"state\":{\"type\":\"running\"}}"));
        RequestBody.VMM_PUT_STATE.check(BodyEdits.json("{\"state\":{\"type\":\"reboot\"},\"extra\":1}"));
        RequestBody.VMM_PUT_STATE.check(BodyEdits.json(
            "{\"state\":{\"type\":\"migration_target\",\"value\":{\"src_propolis_addr\":\"[fd00::5]:12400\"}}}"));
        assertThatThrownBy(() -> RequestBody.VMM_PUT_STATE.check(BodyEdits.json("{}")))
            .hasMessage("state: is required");
        assertThatThrownBy(() -> RequestBody.VMM_PUT_STATE.check(BodyEdits.json("{\"state\":\"running\"}")))
            .hasMessage("state: must be an object, not a string");
        assertThatThrownBy(() -> RequestBody.VMM_PUT_STATE.check(BodyEdits.json("{\"state\":{\"type\":\"run\"}}")))
            .hasMessage("state.type: \"run\" is not one of [migration_target, running, stopped, reboot]");
        assertThatThrownBy(() -> RequestBody.VMM_PUT_STATE.check(
            BodyEdits.json("{\"state\":{\"type\":\"migration_target\"}}")))
            .hasMessage("state.value: is required");
        assertThatThrownBy(() -> RequestBody.VMM_PUT_STATE.check(BodyEdits.json(
            "{\"state\":{\"type\":\"migration_target\",\"value\":{\"src_propolis_addr\":\"127.0.0.1:0\"}}}")))
            .hasMessageStartingWith("state.value.src_propolis_addr: \"127.0.0.1:0\" is not ip:port");
        assertThatThrownBy(() -> RequestBody.VMM_PUT_STATE.check(BodyEdits.json(
            "{\"state\":{\"type\":\"migration_target\",\"value\":{}}}")))
            .hasMessage("state.value.src_propolis_addr: is required");
    }

    @Test
    void everyAgentBoundNamesASchemaThatExists()
    {
        // withAgentBounds throws if a pointer no longer resolves; the bounds are really laid over.
        assertThat(RequestSchemas.withAgentBounds().get("Generation").get("x-agent-maximum").asLong())
            .isEqualTo(Long.MAX_VALUE - 1);
        assertThat(RequestSchemas.verbatim().get("Generation").has("x-agent-maximum")).isFalse();
    }

    @Test
    void aSchemaWithAKeywordTheValidatorDoesNotKnowIsRefusedAtLoad()
    {
        final java.util.Map<String, JsonNode> schemas = new java.util.HashMap<>(RequestSchemas.verbatim());
        schemas.put("Odd", BodyEdits.json("{\"type\":\"string\",\"const\":\"x\"}"));
        assertThatThrownBy(() -> new SchemaValidator(schemas)).hasMessageContaining("keyword const is not enforced");
        schemas.put("Odd", BodyEdits.json("{\"type\":\"string\",\"format\":\"hostname\"}"));
        assertThatThrownBy(() -> new SchemaValidator(schemas)).hasMessageContaining("format \"hostname\"");
    }
}
