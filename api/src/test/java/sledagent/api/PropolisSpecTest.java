package sledagent.api;

import static org.assertj.core.api.Assertions.assertThat;
import static sledagent.api.Specs.assertValid;

import com.atlassian.oai.validator.model.Request.Method;
import java.util.UUID;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;
import sledagent.api.propolis.InstanceEnsureRequest;
import sledagent.api.propolis.InstanceEnsureResponse;
import sledagent.api.propolis.InstanceGetResponse;
import sledagent.api.propolis.InstanceMigrateStatusResponse;
import sledagent.api.propolis.InstanceMigrationStatus;
import sledagent.api.propolis.InstanceStateMonitorRequest;
import sledagent.api.propolis.InstanceStateMonitorResponse;
import sledagent.api.propolis.PropolisInstanceState;
import sledagent.api.propolis.PropolisMigrationState;
import sledagent.api.propolis.PropolisStateRequested;

/** Our Propolis v5 types, as the requests the agent sends to propolis-server and the replies it parses. */
class PropolisSpecTest
{
    private static final Specs.Api API = Specs.propolis();
    private static final UUID OUT_ID = UUID.fromString("c0a6e5b4-1d2e-4f3a-8b9c-0d1e2f3a4b5c");

    static Stream<InstanceEnsureRequest> ensureRequests()
    {
        return Stream.of(Examples.propolisEnsureSpec(), Examples.propolisEnsureMigrationTarget(),
            new InstanceEnsureRequest(Examples.propolisProperties(),
                sledagent.api.propolis.InstanceInitializationMethod.Spec.of(Examples.minimalVmmSpec())),
            new InstanceEnsureRequest(Examples.propolisProperties(),
                new sledagent.api.propolis.InstanceInitializationMethod.MigrationTarget(
                    new sledagent.api.propolis.InstanceInitializationMethod.MigrationTargetValue(
                        Examples.MIGRATION_ID, null, "[fd00:1122:3344:101::1:0]:12400"))));
    }

    static Stream<InstanceMigrateStatusResponse> migrationStatuses()
    {
        return Stream.of(InstanceMigrateStatusResponse.NONE,
            new InstanceMigrateStatusResponse(
                new InstanceMigrationStatus(Examples.MIGRATION_ID, PropolisMigrationState.RamPull), null),
            new InstanceMigrateStatusResponse(null,
                new InstanceMigrationStatus(OUT_ID, PropolisMigrationState.Sync)),
            new InstanceMigrateStatusResponse(
                new InstanceMigrationStatus(Examples.MIGRATION_ID, PropolisMigrationState.Finish),
                new InstanceMigrationStatus(OUT_ID, PropolisMigrationState.Error)));
    }

    @ParameterizedTest
    @MethodSource("ensureRequests")
    void ensureRequest(final InstanceEnsureRequest request)
    {
        assertValid(API.request(Method.PUT, "/instance", request));
    }

    @Test
    void minimalRegisteredSpecForwardsUnchanged()
    {
        final InstanceEnsureBody registered = Examples.minimalInstanceEnsureBody();
        final InstanceEnsureRequest request = new InstanceEnsureRequest(Examples.propolisProperties(),
            sledagent.api.propolis.InstanceInitializationMethod.Spec.of(registered.vmmSpec()));
        assertThat(Json.mapper().valueToTree(request).at("/init/value/spec"))
            .isEqualTo(Json.mapper().valueToTree(registered).get("vmm_spec"));
        assertValid(API.request(Method.PUT, "/instance", request));
    }

    /**
     * Spec drift, pinned: sled-agent v48's {@code NvmeDisk} requires {@code has_write_cache}; Propolis v5's denies
     * it as an unknown field. If this starts passing validation, one of the specs changed.
     */
    @Test
    void v48NvmeDiskIsNotAcceptedVerbatimByPropolisV5()
    {
        final InstanceEnsureRequest verbatim = new InstanceEnsureRequest(Examples.propolisProperties(),
            sledagent.api.propolis.InstanceInitializationMethod.Spec.of(Examples.vmmSpec()));
        Specs.assertRejected(API.request(Method.PUT, "/instance", verbatim),
            "validation.request.body.schema.additionalProperties");
        assertValid(API.request(Method.PUT, "/instance", Examples.propolisEnsureSpec()));
    }

    @Test
    void ensureResponse()
    {
        assertValid(API.response(Method.PUT, "/instance", 201, new InstanceEnsureResponse(null)));
        assertValid(API.response(Method.PUT, "/instance", 201,
            new InstanceEnsureResponse(new InstanceEnsureResponse.MigrateInitiate(Examples.MIGRATION_ID))));
    }

    @ParameterizedTest
    @EnumSource(PropolisInstanceState.class)
    void getResponse(final PropolisInstanceState state)
    {
        assertValid(API.request(Method.GET, "/instance", null));
        assertValid(API.response(Method.GET, "/instance", 200,
            new InstanceGetResponse(new InstanceGetResponse.Instance(Examples.propolisProperties(), state))));
    }

    @ParameterizedTest
    @EnumSource(PropolisStateRequested.class)
    void putStateRequestIsABareString(final PropolisStateRequested requested)
    {
        assertThat(Specs.json(requested)).isEqualTo("\"" + requested.name() + "\"");
        assertValid(API.request(Method.PUT, "/instance/state", requested));
        assertValid(API.response(Method.PUT, "/instance/state", 204, null));
    }

    @Test
    void stateMonitorRequest()
    {
        assertValid(API.request(Method.GET, "/instance/state-monitor", new InstanceStateMonitorRequest(0)));
        assertValid(API.request(Method.GET, "/instance/state-monitor", new InstanceStateMonitorRequest(17)));
    }

    @ParameterizedTest
    @MethodSource("migrationStatuses")
    void stateMonitorResponse(final InstanceMigrateStatusResponse migration)
    {
        assertValid(API.response(Method.GET, "/instance/state-monitor", 200,
            new InstanceStateMonitorResponse(18, PropolisInstanceState.Migrating, migration)));
    }

    @ParameterizedTest
    @EnumSource(PropolisInstanceState.class)
    void stateMonitorResponseEveryState(final PropolisInstanceState state)
    {
        assertValid(API.response(Method.GET, "/instance/state-monitor", 200,
            new InstanceStateMonitorResponse(3, state, InstanceMigrateStatusResponse.NONE)));
    }

    @ParameterizedTest
    @EnumSource(PropolisMigrationState.class)
    void everyMigrationStateIsInTheSpec(final PropolisMigrationState state)
    {
        assertValid(API.response(Method.GET, "/instance/state-monitor", 200,
            new InstanceStateMonitorResponse(5, PropolisInstanceState.Migrating, new InstanceMigrateStatusResponse(
                new InstanceMigrationStatus(Examples.MIGRATION_ID, state), null))));
    }

    @Test
    void errorResponses()
    {
        assertValid(API.response(Method.GET, "/instance", 404, new ErrorBody("p1", "Not Found", "NoInstance")));
        assertValid(API.response(Method.PUT, "/instance", 409,
            new ErrorBody("p2", "Conflict", "AlreadyInitialized")));
        assertValid(API.response(Method.PUT, "/instance/state", 503,
            new ErrorBody("p3", "Service Unavailable", null)));
        assertValid(API.response(Method.GET, "/instance/state-monitor", 500, new ErrorBody("p4", "boom", null)));
    }
}
