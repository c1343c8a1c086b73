package sledagent.api;

import static sledagent.api.Examples.VMM_PATH;
import static sledagent.api.Specs.assertValid;

import com.atlassian.oai.validator.model.Request.Method;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

/** {@link SledVmmState} as the body of the state report to Nexus: nexus-internal 1.0.0 {@code PUT /vmms/{id}}. */
class NexusInternalSpecTest
{
    private static final Specs.Api API = Specs.nexusInternal();

    static Stream<SledVmmState> sledVmmStates()
    {
        return SledAgentSpecTest.sledVmmStates();
    }

    @ParameterizedTest
    @MethodSource("sledVmmStates")
    void reportRequest(final SledVmmState state)
    {
        assertValid(API.request(Method.PUT, VMM_PATH, state));
    }

    @ParameterizedTest
    @EnumSource(VmmState.class)
    void everyVmmStateIsAccepted(final VmmState state)
    {
        assertValid(API.request(Method.PUT, VMM_PATH,
            new SledVmmState(Examples.vmmRuntime(state, Long.MAX_VALUE), null, null)));
    }

    @ParameterizedTest
    @EnumSource(MigrationState.class)
    void everyMigrationStateIsAccepted(final MigrationState state)
    {
        assertValid(API.request(Method.PUT, VMM_PATH, new SledVmmState(Examples.vmmRuntime(VmmState.MIGRATING, 3),
            Examples.migration(state, 0), Examples.migration(state, 1))));
    }

    @Test
    void replies()
    {
        assertValid(API.response(Method.PUT, VMM_PATH, 204, null));
        assertValid(API.response(Method.PUT, VMM_PATH, 404, new ErrorBody("r1", "Not Found", "ObjectNotFound")));
        assertValid(API.response(Method.PUT, VMM_PATH, 410, new ErrorBody("r2", "Gone", null)));
        assertValid(API.response(Method.PUT, VMM_PATH, 503, new ErrorBody("r3", "Service Unavailable", null)));
    }
}
