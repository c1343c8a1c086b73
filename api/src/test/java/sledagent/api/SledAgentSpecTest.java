package sledagent.api;

import static sledagent.api.Examples.VMM_PATH;
import static sledagent.api.Examples.VMM_STATE_PATH;
import static sledagent.api.Specs.assertValid;

import com.atlassian.oai.validator.model.Request.Method;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

/** Our serialized types, as the requests and responses of the sled-agent v48 VMM endpoints. */
class SledAgentSpecTest
{
    private static final Specs.Api API = Specs.sledAgent();

    static Stream<InstanceEnsureBody> ensureBodies()
    {
        return Stream.of(Examples.instanceEnsureBody(), Examples.instanceEnsureBodyMigrationTarget(),
            Examples.minimalInstanceEnsureBody());
    }

    static Stream<SledVmmState> sledVmmStates()
    {
        return Stream.of(Examples.sledVmmState(), Examples.sledVmmStateMigratingIn(),
            Examples.sledVmmStateBothMigrations());
    }

    static Stream<VmmStateRequested> requestedStates()
    {
        return Stream.of(new VmmStateRequested.Running(), new VmmStateRequested.Stopped(),
            new VmmStateRequested.Reboot(), new VmmStateRequested.MigrationTarget(
                new VmmStateRequested.InstanceMigrationTargetParams("[fd00:1122:3344:101::1:0]:12400")));
    }

    @ParameterizedTest
    @MethodSource("ensureBodies")
    void registerRequest(final InstanceEnsureBody body)
    {
        assertValid(API.request(Method.PUT, VMM_PATH, body));
    }

    @ParameterizedTest
    @MethodSource("sledVmmStates")
    void registerResponse(final SledVmmState state)
    {
        assertValid(API.response(Method.PUT, VMM_PATH, 200, state));
    }

    @ParameterizedTest
    @EnumSource(VmmState.class)
    void everyVmmStateIsInTheSpec(final VmmState state)
    {
        assertValid(API.response(Method.GET, VMM_STATE_PATH, 200,
            new SledVmmState(Examples.vmmRuntime(state, 9), null, null)));
    }

    @ParameterizedTest
    @EnumSource(MigrationState.class)
    void everyMigrationStateIsInTheSpec(final MigrationState state)
    {
        assertValid(API.response(Method.GET, VMM_STATE_PATH, 200,
            new SledVmmState(Examples.vmmRuntime(VmmState.MIGRATING, 9), Examples.migration(state, 2),
                Examples.migration(state, 3))));
    }

    @ParameterizedTest
    @MethodSource("requestedStates")
    void putStateRequest(final VmmStateRequested requested)
    {
        assertValid(API.request(Method.PUT, VMM_STATE_PATH, new VmmPutStateBody(requested)));
    }

    @Test
    void putStateResponseUnchanged()
    {
        assertValid(API.response(Method.PUT, VMM_STATE_PATH, 200, new VmmPutStateResponse(null)));
    }

    @ParameterizedTest
    @MethodSource("sledVmmStates")
    void putStateResponseUpdated(final SledVmmState state)
    {
        assertValid(API.response(Method.PUT, VMM_STATE_PATH, 200, new VmmPutStateResponse(state)));
    }

    @Test
    void unregisterResponseUnknownVmm()
    {
        assertValid(API.request(Method.DELETE, VMM_PATH, null));
        assertValid(API.response(Method.DELETE, VMM_PATH, 200, new VmmUnregisterResponse(null)));
    }

    @ParameterizedTest
    @MethodSource("sledVmmStates")
    void unregisterResponseUpdated(final SledVmmState state)
    {
        assertValid(API.response(Method.DELETE, VMM_PATH, 200, new VmmUnregisterResponse(state)));
    }

    @ParameterizedTest
    @MethodSource("sledVmmStates")
    void getStateResponse(final SledVmmState state)
    {
        assertValid(API.request(Method.GET, VMM_STATE_PATH, null));
        assertValid(API.response(Method.GET, VMM_STATE_PATH, 200, state));
    }

    @Test
    void errorResponses()
    {
        final ErrorBody notFound = new ErrorBody("a1b2c3", "Not Found", "NO_SUCH_INSTANCE");
        assertValid(API.response(Method.GET, VMM_STATE_PATH, 404, notFound));
        assertValid(API.response(Method.PUT, VMM_STATE_PATH, 410, notFound));
        assertValid(API.response(Method.PUT, VMM_STATE_PATH, 503,
            new ErrorBody("d4e5", "Service Unavailable", "INSTANCE_CHANNEL_FULL")));
        assertValid(API.response(Method.PUT, VMM_PATH, 500, new ErrorBody("f6", "Internal Server Error", null)));
        assertValid(API.response(Method.DELETE, VMM_PATH, 500, new ErrorBody("f7", "Internal Server Error", null)));
    }
}
