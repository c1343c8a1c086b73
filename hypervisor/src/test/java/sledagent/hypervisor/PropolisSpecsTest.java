package sledagent.hypervisor;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import sledagent.api.Json;

class PropolisSpecsTest
{
    @Test
    void shouldDropOnlyTheNvmeWriteCacheFlagAndLeaveTheOriginalAlone() throws Exception
    {
        final ObjectNode v48 = (ObjectNode)Json.mapper().readTree("""
            {"board":{"cpus":2,"memory_mb":1024,"chipset":{"type":"i440_fx","value":{"enable_pcie":false}}},
             "components":{
               "disk0":{"type":"nvme_disk","component":{"backend_id":"disk0-be","has_write_cache":false,
                 "pci_path":{"bus":0,"device":16,"function":0},
                 "serial_number":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20]}},
               "com1":{"type":"serial_port","component":{"num":"com1"}}}}
            """);
        final ObjectNode v5 = PropolisSpecs.toV5(v48);
        assertThat(v5.at("/components/disk0/component").has("has_write_cache")).isFalse();
        assertThat(v5.at("/components/disk0/component/backend_id").asText()).isEqualTo("disk0-be");
        assertThat(v5.at("/components/com1")).isEqualTo(v48.at("/components/com1"));
        assertThat(v5.get("board")).isEqualTo(v48.get("board"));
        assertThat(v48.at("/components/disk0/component").has("has_write_cache")).as("original untouched").isTrue();
    }
}
