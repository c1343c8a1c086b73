package sledagent.api;

import com.atlassian.oai.validator.model.Request.Method;
import com.atlassian.oai.validator.report.SimpleValidationReportFormat;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;

class ScratchTest
{
    void show(String label, com.atlassian.oai.validator.report.ValidationReport r)
    {
        System.out.println("=== " + label + "\n" + SimpleValidationReportFormat.getInstance().apply(r));
    }

    @Test
    void scratch()
    {
        var api = Specs.sledAgent();
        ObjectNode body = (ObjectNode) Json.mapper().valueToTree(Examples.instanceEnsureBody());
        ObjectNode b1 = body.deepCopy();
        ((ObjectNode) b1.with("vmm_spec").with("components").get("boot-disk")).put("type", "nvme_diskk");
        show("bad component type", api.requestRaw(Method.PUT, Examples.VMM_PATH, b1.toString()));
        ObjectNode b2 = body.deepCopy();
        ((ObjectNode) b2.with("vmm_spec").with("components").get("boot-disk").get("component")).put("backend_id", Examples.DISK_ID.toString());
        show("uuid spec key", api.requestRaw(Method.PUT, Examples.VMM_PATH, b2.toString()));
        ObjectNode b3 = body.deepCopy();
        b3.put("instance_id", "not-a-uuid");
        show("bad uuid", api.requestRaw(Method.PUT, Examples.VMM_PATH, b3.toString()));
        ObjectNode b4 = body.deepCopy();
        b4.put("extra", 1);
        show("extra top", api.requestRaw(Method.PUT, Examples.VMM_PATH, b4.toString()));
        ObjectNode b5 = body.deepCopy();
        b5.with("vmm_runtime").put("time_updated", "yesterday");
        show("bad date", api.requestRaw(Method.PUT, Examples.VMM_PATH, b5.toString()));
        ObjectNode b6 = body.deepCopy();
        b6.with("local_config").put("hostname", "bad-");
        show("bad hostname", api.requestRaw(Method.PUT, Examples.VMM_PATH, b6.toString()));
        show("bad path", api.requestRaw(Method.PUT, "/vmms/xyz", body.toString()));
        show("no api-version", Specs.sledAgent().validator().validateRequest(
            com.atlassian.oai.validator.model.SimpleRequest.Builder.put(Examples.VMM_PATH).withContentType("application/json").withBody(body.toString()).build()));
        ObjectNode b7 = body.deepCopy();
        b7.with("local_config").with("external_ips").put("v6", 5);
        show("bad v6", api.requestRaw(Method.PUT, Examples.VMM_PATH, b7.toString()));
        show("extra in vmm_state", api.responseRaw(Method.GET, Examples.VMM_STATE_PATH, 200, "{\"vmm_state\":{\"state\":\"running\",\"gen\":1,\"time_updated\":\"2025-01-01T00:00:00Z\",\"x\":1}}"));
        show("gen -1", api.responseRaw(Method.GET, Examples.VMM_STATE_PATH, 200, "{\"vmm_state\":{\"state\":\"running\",\"gen\":-1,\"time_updated\":\"2025-01-01T00:00:00Z\"}}"));
        show("migration_in bad", api.responseRaw(Method.GET, Examples.VMM_STATE_PATH, 200, "{\"vmm_state\":{\"state\":\"running\",\"gen\":1,\"time_updated\":\"2025-01-01T00:00:00Z\"},\"migration_in\":{\"migration_id\":\"x\"}}"));
        show("state put bad", api.requestRaw(Method.PUT, Examples.VMM_STATE_PATH, "{\"state\":{\"type\":\"migration_target\"}}"));
        show("state put bad2", api.requestRaw(Method.PUT, Examples.VMM_STATE_PATH, "{\"state\":{\"type\":\"stop\"}}"));
        show("418", api.responseRaw(Method.GET, Examples.VMM_STATE_PATH, 302, "{}"));
        var p = Specs.propolis();
        show("get with body", p.requestRaw(Method.GET, "/instance/state-monitor", "{\"gen\":\"1\"}"));
        show("bare string", p.requestRaw(Method.PUT, "/instance/state", "\"Run\""));
        show("bare string bad", p.requestRaw(Method.PUT, "/instance/state", "\"run\""));
    }
}
