package sledagent.api;

import static org.assertj.core.api.Assertions.assertThat;
import static sledagent.api.Examples.VMM_PATH;
import static sledagent.api.Examples.VMM_STATE_PATH;
import static sledagent.api.Specs.assertRejected;
import static sledagent.api.Specs.assertValid;

import com.atlassian.oai.validator.model.Request.Method;
import com.atlassian.oai.validator.report.SimpleValidationReportFormat;
import com.atlassian.oai.validator.report.ValidationReport;
import com.fasterxml.jackson.core.JsonPointer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.TextNode;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import sledagent.api.propolis.InstanceEnsureResponse;
import sledagent.api.propolis.InstanceGetResponse;
import sledagent.api.propolis.InstanceMigrateStatusResponse;
import sledagent.api.propolis.InstanceMigrationStatus;
import sledagent.api.propolis.InstanceStateMonitorRequest;
import sledagent.api.propolis.InstanceStateMonitorResponse;
import sledagent.api.propolis.PropolisInstanceState;
import sledagent.api.propolis.PropolisMigrationState;

/**
 * Proof that the validation suite can fail: each case takes a body that validates, breaks one thing (an enum
 * spelling, a required field, a type, ...) and expects the validator to name that kind of error. The unbroken body is
 * validated first, so a case cannot pass because the base was already invalid.
 */
class SpecNegativeTest
{
    private static final String REQ = "validation.request.body.schema.";
    private static final String RESP = "validation.response.body.schema.";

    /** One change to a valid body: replace the value at {@code pointer}, or remove that field. */
    record Break(String pointer, boolean remove, Object value)
    {
        void apply(final ObjectNode root)
        {
            final JsonPointer at = JsonPointer.compile(pointer);
            final ObjectNode parent = (ObjectNode) root.at(at.head());
            final String field = at.last().getMatchingProperty();
            if (remove)
            {
                if (parent.remove(field) == null)
                {
                    throw new AssertionError("nothing at " + pointer + " in " + root);
                }
            }
            else
            {
                parent.set(field, Json.mapper().valueToTree(value));
            }
        }

    }

    static Break set(final String pointer, final Object value)
    {
        return new Break(pointer, false, value);
    }

    static Break remove(final String pointer)
    {
        return new Break(pointer, true, null);
    }

    /**
     * One broken interaction. {@code status < 0} means the body is a request body. {@code keyword} is the JSON
     * schema keyword that must fail (it may be nested under the oneOf/allOf that wraps it).
     */
    record Case(String name, Specs.Api api, Method method, String path, int status, Object base, Break breakIt,
        String keyword)
    {
        @Override
        public String toString()
        {
            return api.file().substring(0, api.file().indexOf('.') - 2) + ": " + name;
        }

        ValidationReport validate(final String body)
        {
            return status < 0 ? api.requestRaw(method, path, body) : api.responseRaw(method, path, status, body);
        }

        /** Where the validator reports it: a missing or extra field at its parent, anything else at the field. */
        String reportedAt()
        {
            return breakIt.remove() || keyword.equals("additionalProperties")
                ? JsonPointer.compile(breakIt.pointer()).head().toString()
                : breakIt.pointer();
        }

        String expectedKey()
        {
            return (status < 0 ? REQ : RESP) + keyword;
        }
    }

    private static Case request(final String name, final Specs.Api api, final Method method, final String path,
        final Object base, final Break breakIt, final String keyword)
    {
        return new Case(name, api, method, path, -1, base, breakIt, keyword);
    }

    private static Case response(final String name, final Specs.Api api, final Method method, final String path,
        final int status, final Object base, final Break breakIt, final String keyword)
    {
        return new Case(name, api, method, path, status, base, breakIt, keyword);
    }

    static Stream<Case> cases()
    {
        final Specs.Api sled = Specs.sledAgent();
        final Specs.Api nexus = Specs.nexusInternal();
        final Specs.Api propolis = Specs.propolis();
        final InstanceEnsureBody ensure = Examples.instanceEnsureBody();
        final SledVmmState migrating = Examples.sledVmmStateBothMigrations();
        final VmmPutStateBody migrationTarget = new VmmPutStateBody(new VmmStateRequested.MigrationTarget(
            new VmmStateRequested.InstanceMigrationTargetParams("[fd00::5]:12400")));
        final VmmPutStateBody stop = new VmmPutStateBody(new VmmStateRequested.Stopped());
        final ErrorBody error = new ErrorBody("r1", "Not Found", "NO_SUCH_INSTANCE");
        final InstanceStateMonitorResponse monitor = new InstanceStateMonitorResponse(4,
            PropolisInstanceState.Migrating, new InstanceMigrateStatusResponse(
                new InstanceMigrationStatus(Examples.MIGRATION_ID, PropolisMigrationState.RamPush), null));
        final InstanceGetResponse get = new InstanceGetResponse(
            new InstanceGetResponse.Instance(Examples.propolisProperties(), PropolisInstanceState.Running));

        return Stream.of(
            // sled-agent: PUT /vmms/{id} request (InstanceEnsureBody)
            request("register: vmm state misspelt", sled, Method.PUT, VMM_PATH, ensure,
                set("/vmm_runtime/state", "runnning"), "enum"),
            request("register: instance_id missing", sled, Method.PUT, VMM_PATH, ensure,
                remove("/instance_id"), "required"),
            request("register: gen as a string", sled, Method.PUT, VMM_PATH, ensure,
                set("/vmm_runtime/gen", "5"), "type"),
            request("register: instance_id as a number", sled, Method.PUT, VMM_PATH, ensure,
                set("/instance_id", 42), "type"),
            request("register: migration_id not a uuid", sled, Method.PUT, VMM_PATH, ensure,
                set("/migration_id", "m-1"), "format.uuid"),
            request("register: metadata.silo_id missing", sled, Method.PUT, VMM_PATH, ensure,
                remove("/metadata/silo_id"), "required"),
            request("register: hostname ends in '-'", sled, Method.PUT, VMM_PATH, ensure,
                set("/local_config/hostname", "vm1-"), "pattern"),
            request("register: chipset misspelt", sled, Method.PUT, VMM_PATH, ensure,
                set("/vmm_spec/board/chipset/type", "i440fx"), "enum"),
            request("register: unknown top-level field", sled, Method.PUT, VMM_PATH, ensure,
                set("/vmm_generation", 3), "additionalProperties"),
            // sled-agent: responses carrying SledVmmState
            response("register reply: migration state misspelt", sled, Method.PUT, VMM_PATH, 200, migrating,
                set("/migration_out/state", "inprogress"), "enum"),
            response("get state: time_updated missing", sled, Method.GET, VMM_STATE_PATH, 200, migrating,
                remove("/vmm_state/time_updated"), "required"),
            response("get state: vmm_state missing", sled, Method.GET, VMM_STATE_PATH, 200, migrating,
                remove("/vmm_state"), "required"),
            response("get state: negative gen", sled, Method.GET, VMM_STATE_PATH, 200, migrating,
                set("/vmm_state/gen", -1), "minimum"),
            response("get state: vmm_state null (not nullable)", sled, Method.GET, VMM_STATE_PATH, 200, migrating,
                set("/vmm_state", null), "type"),
            response("get state: migration_in a string", sled, Method.GET, VMM_STATE_PATH, 200, migrating,
                set("/migration_in", "none"), "type"),
            response("get state: time_updated not RFC 3339", sled, Method.GET, VMM_STATE_PATH, 200, migrating,
                set("/vmm_state/time_updated", "2025-04-01 23:06:55"), "format.date-time"),
            response("put state reply: updated_runtime without vmm_state", sled, Method.PUT, VMM_STATE_PATH, 200,
                new VmmPutStateResponse(migrating), remove("/updated_runtime/vmm_state"), "required"),
            response("unregister reply: updated_runtime a number", sled, Method.DELETE, VMM_PATH, 200,
                new VmmUnregisterResponse(null), set("/updated_runtime", 0), "type"),
            response("error: request_id missing", sled, Method.GET, VMM_STATE_PATH, 404, error,
                remove("/request_id"), "required"),
            response("error: error_code a number", sled, Method.GET, VMM_STATE_PATH, 404, error,
                set("/error_code", 404), "type"),
            // sled-agent: PUT /vmms/{id}/state request
            request("put state: type misspelt", sled, Method.PUT, VMM_STATE_PATH, stop,
                set("/state/type", "stop"), "enum"),
            request("put state: type missing", sled, Method.PUT, VMM_STATE_PATH, stop,
                remove("/state/type"), "required"),
            request("put state: migration_target without value", sled, Method.PUT, VMM_STATE_PATH,
                migrationTarget, remove("/state/value"), "required"),
            request("put state: src_propolis_addr a number", sled, Method.PUT, VMM_STATE_PATH, migrationTarget,
                set("/state/value/src_propolis_addr", 12400), "type"),
            request("put state: state missing", sled, Method.PUT, VMM_STATE_PATH, stop,
                remove("/state"), "required"),
            // nexus-internal: PUT /vmms/{id} request (SledVmmState)
            request("report: vmm state in Propolis spelling", nexus, Method.PUT, VMM_PATH, migrating,
                set("/vmm_state/state", "Running"), "enum"),
            request("report: migration gen missing", nexus, Method.PUT, VMM_PATH, migrating,
                remove("/migration_in/gen"), "required"),
            request("report: gen a float", nexus, Method.PUT, VMM_PATH, migrating,
                set("/vmm_state/gen", 1.5), "type"),
            request("report: migration_id not a uuid", nexus, Method.PUT, VMM_PATH, migrating,
                set("/migration_out/migration_id", "abc"), "format.uuid"),
            // propolis: PUT /instance request
            request("ensure: init method lowercase", propolis, Method.PUT, "/instance", Examples.propolisEnsureSpec(),
                set("/init/method", "spec"), "enum"),
            request("ensure: sled_id missing", propolis, Method.PUT, "/instance", Examples.propolisEnsureSpec(),
                remove("/properties/metadata/sled_id"), "required"),
            request("ensure: sled_revision a string", propolis, Method.PUT, "/instance",
                Examples.propolisEnsureSpec(), set("/properties/metadata/sled_revision", "13"), "type"),
            request("ensure: description missing", propolis, Method.PUT, "/instance", Examples.propolisEnsureSpec(),
                remove("/properties/description"), "required"),
            request("ensure: replace_components missing", propolis, Method.PUT, "/instance",
                Examples.propolisEnsureMigrationTarget(), remove("/init/value/replace_components"), "required"),
            request("ensure: replacement component misspelt", propolis, Method.PUT, "/instance",
                Examples.propolisEnsureMigrationTarget(),
                set("/init/value/replace_components/net0-backend/component", "VirtioNicBackend"), "enum"),
            // propolis: replies and the state monitor
            response("ensure reply: migration_id a number", propolis, Method.PUT, "/instance", 201,
                new InstanceEnsureResponse(new InstanceEnsureResponse.MigrateInitiate(Examples.MIGRATION_ID)),
                set("/migrate/migration_id", 7), "type"),
            response("get: state in sled-agent spelling", propolis, Method.GET, "/instance", 200, get,
                set("/instance/state", "running"), "enum"),
            response("get: properties missing", propolis, Method.GET, "/instance", 200, get,
                remove("/instance/properties"), "required"),
            request("monitor: gen a string", propolis, Method.GET, "/instance/state-monitor",
                new InstanceStateMonitorRequest(3), set("/gen", "3"), "type"),
            request("monitor: gen missing", propolis, Method.GET, "/instance/state-monitor",
                new InstanceStateMonitorRequest(3), remove("/gen"), "required"),
            response("monitor reply: migration state lowercase", propolis, Method.GET, "/instance/state-monitor",
                200, monitor, set("/migration/migration_in/state", "ram_push"), "enum"),
            response("monitor reply: migration missing", propolis, Method.GET, "/instance/state-monitor", 200,
                monitor, remove("/migration"), "required"),
            response("monitor reply: gen a string", propolis, Method.GET, "/instance/state-monitor", 200, monitor,
                set("/gen", "4"), "type"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void brokenBodyIsRejected(final Case c)
    {
        final ObjectNode tree = Json.mapper().valueToTree(c.base());
        assertValid(c.validate(tree.toString()));
        c.breakIt().apply(tree);
        final ValidationReport report = c.validate(tree.toString());
        assertRejected(report, c.expectedKey());
        if (!c.reportedAt().isEmpty())
        {
            assertThat(SimpleValidationReportFormat.getInstance().apply(report))
                .as("the error is reported where the body was broken")
                .contains("[Path '" + c.reportedAt() + "']");
        }
    }

    @Test
    void propolisStateRequestedMustBeAKnownString()
    {
        final Specs.Api propolis = Specs.propolis();
        assertValid(propolis.requestRaw(Method.PUT, "/instance/state", "\"Reboot\""));
        assertRejected(propolis.requestRaw(Method.PUT, "/instance/state", "\"run\""), REQ + "enum");
        assertRejected(propolis.requestRaw(Method.PUT, "/instance/state", "{\"state\":\"Run\"}"), REQ + "type");
        assertRejected(propolis.requestRaw(Method.PUT, "/instance/state", "1"), REQ + "type");
    }

    @Test
    void pathParameterMustBeAUuid()
    {
        assertRejected(Specs.sledAgent().request(Method.GET, "/vmms/vm1/state", null),
            "validation.request.parameter.schema.format.uuid");
        assertRejected(Specs.nexusInternal().request(Method.PUT, "/vmms/42", Examples.sledVmmState()),
            "validation.request.parameter.schema.format.uuid");
    }

    @Test
    void bodyMustBePresentAndJson()
    {
        assertRejected(Specs.sledAgent().request(Method.PUT, VMM_STATE_PATH, null),
            "validation.request.body.missing");
        assertRejected(Specs.sledAgent().requestRaw(Method.PUT, VMM_STATE_PATH, "{\"state\":{\"type\":"),
            "validation.request.body.schema.invalidJson");
        assertRejected(Specs.nexusInternal().response(Method.PUT, VMM_PATH, 200, Examples.sledVmmState()),
            "validation.response.status.unknown");
    }

    /**
     * Validator quirk, pinned: it parses a body leniently and ignores anything after the first JSON value. Trailing
     * garbage is therefore caught only by {@link Json#mapper()} ({@code JsonMapperTest}), not here.
     */
    @Test
    void validatorIgnoresTrailingGarbage()
    {
        final String body = Specs.json(new VmmPutStateBody(new VmmStateRequested.Running()));
        assertValid(Specs.sledAgent().requestRaw(Method.PUT, VMM_STATE_PATH, body + "}{"));
    }

    @Test
    void theSpecsDisagreeOnMigrationStateSpelling()
    {
        final JsonNode sledSide = Json.mapper().valueToTree(Examples.sledVmmStateMigratingIn());
        assertValid(Specs.nexusInternal().requestRaw(Method.PUT, VMM_PATH, sledSide.toString()));
        ((ObjectNode) sledSide.get("migration_in")).set("state", TextNode.valueOf("Sync"));
        assertRejected(Specs.nexusInternal().requestRaw(Method.PUT, VMM_PATH, sledSide.toString()),
            REQ + "enum");
    }
}
