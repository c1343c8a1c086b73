package sledagent.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.time.Instant;
import java.util.UUID;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;
import sledagent.api.propolis.InstanceEnsureRequest;
import sledagent.api.propolis.InstanceInitializationMethod;
import sledagent.api.propolis.InstanceStateMonitorResponse;
import sledagent.api.propolis.PropolisInstanceState;
import sledagent.api.propolis.PropolisStateRequested;

/** {@link Json#mapper()}: lossless pass-through of opaque trees, the tagged union, and strict scalar types. */
class JsonMapperTest
{
    private static final String TS = "\"time_updated\":\"2025-04-01T23:06:55Z\"";

    private static <T> T read(final String json, final Class<T> type) throws JsonProcessingException
    {
        return Json.mapper().readValue(json, type);
    }

    private static JsonNode tree(final Object value)
    {
        return Json.mapper().valueToTree(value);
    }

    // ---- InstanceEnsureBody: the parts the agent does not interpret pass through unchanged ----

    /** The realistic register body plus fields no schema knows, at every depth, and awkward scalars. */
    private static ObjectNode registerWithExtras()
    {
        final ObjectNode body = (ObjectNode) tree(Examples.instanceEnsureBody());
        final ObjectNode spec = (ObjectNode) body.get("vmm_spec");
        spec.put("future_top_level", "x");
        ((ObjectNode) spec.get("board")).putObject("numa").put("nodes", 2).putArray("cpus").add(0).add(1);
        ((ObjectNode) spec.at("/components/com1")).put("future_flag", true);
        spec.put("max_u64", new java.math.BigInteger("18446744073709551615"));
        spec.put("negative", -7).put("fraction", 0.25).putNull("nothing");
        spec.put("unicode", "caf\u00e9 \u2603 \ud83d\ude80 \"quoted\" \\ back");
        final ObjectNode local = (ObjectNode) body.get("local_config");
        local.putArray("future_list").addObject().put("k", "v");
        ((ObjectNode) local.at("/nics/0")).put("transit_ips_v2", "later");
        ((ObjectNode) body.get("metadata")).put("future_id", UUID.randomUUID().toString());
        body.put("future_body_field", 1);
        return body;
    }

    @Test
    void registerBodyOpaqueTreesSurviveARoundTrip() throws JsonProcessingException
    {
        // As it arrives on the wire (valueToTree would hold a long as LongNode, the parser makes IntNode).
        final ObjectNode input = (ObjectNode) Json.mapper().readTree(registerWithExtras().toString());
        final InstanceEnsureBody decoded = read(input.toString(), InstanceEnsureBody.class);
        final JsonNode output = Json.mapper().readTree(Json.mapper().writeValueAsString(decoded));

        for (final String opaque : new String[] {"vmm_spec", "local_config", "metadata"})
        {
            assertThat(output.get(opaque)).as(opaque).isEqualTo(input.get(opaque));
        }
        assertThat(output.get("vmm_spec").get("max_u64").bigIntegerValue())
            .isEqualTo(new java.math.BigInteger("18446744073709551615"));
        assertThat(output.get("vmm_spec").get("unicode").asText()).contains("\ud83d\ude80");
        // An unknown field of the body itself is ignored (serde's default), not kept.
        final ObjectNode expected = input.deepCopy();
        expected.remove("future_body_field");
        assertThat(output).isEqualTo(expected);
        assertThat(decoded.projectId()).isEqualTo(Examples.PROJECT_ID);
        assertThat(decoded.siloId()).isEqualTo(Examples.SILO_ID);
    }

    @Test
    void registerBodyRoundTripIsStable() throws JsonProcessingException
    {
        for (final InstanceEnsureBody body : new InstanceEnsureBody[] {Examples.instanceEnsureBody(),
            Examples.instanceEnsureBodyMigrationTarget(), Examples.minimalInstanceEnsureBody()})
        {
            final String once = Json.mapper().writeValueAsString(body);
            final InstanceEnsureBody again = read(once, InstanceEnsureBody.class);
            assertThat(again).isEqualTo(body);
            assertThat(Json.mapper().writeValueAsString(again)).isEqualTo(once);
        }
    }

    @Test
    void registerBodyWritesMigrationIdNull()
    {
        assertThat(tree(Examples.instanceEnsureBody()).has("migration_id")).isTrue();
        assertThat(tree(Examples.instanceEnsureBody()).get("migration_id").isNull()).isTrue();
        assertThat(tree(Examples.instanceEnsureBodyMigrationTarget()).get("migration_id").asText())
            .isEqualTo(Examples.MIGRATION_ID.toString());
    }

    @Test
    void omicronExampleRegisterDecodes() throws JsonProcessingException
    {
        final String omicron = """
            {"instance_id":"62877b4e-2f0a-4f55-9e10-3f3c1c6b8a90","propolis_addr":"[fd00:1122:3344:101::1:0]:12400",
             "vmm_runtime":{"state":"starting","gen":2,"time_updated":"2025-04-01T23:06:55Z"},
             "migration_id":null,"metadata":{"project_id":"a4c1e6f0-7d33-4c0e-8a55-0c7f3a1d2b11",
             "silo_id":"001de000-5110-4000-8000-000000000000"},
             "vmm_spec":{"board":{"cpus":2,"memory_mb":2048,"chipset":{"type":"i440_fx","value":{"enable_pcie":false}}},
                         "components":{}},
             "local_config":{"hostname":"vm1","nics":[],"external_ips":{},"firewall_rules":[],
               "dhcp_config":{"dns_servers":[],"search_domains":[]},"delegated_zvols":[],"multicast_groups":[],
               "attached_subnets":[]}}
            """;
        final InstanceEnsureBody body = read(omicron, InstanceEnsureBody.class);
        assertThat(body).isEqualTo(new InstanceEnsureBody(Examples.INSTANCE_ID, "[fd00:1122:3344:101::1:0]:12400",
            new VmmRuntimeState(VmmState.STARTING, 2, Instant.parse("2025-04-01T23:06:55Z")),
            Examples.minimalVmmSpec(), Examples.minimalLocalConfig(), Examples.metadata(), null));
        assertThat(Json.mapper().readTree(Json.mapper().writeValueAsString(body)))
            .isEqualTo(Json.mapper().readTree(omicron));
    }

    @Test
    void propolisSpecInitCarriesTheTreeUnchanged() throws JsonProcessingException
    {
        final ObjectNode spec = (ObjectNode) registerWithExtras().get("vmm_spec");
        final String json = Json.mapper().writeValueAsString(
            new InstanceEnsureRequest(Examples.propolisProperties(), InstanceInitializationMethod.Spec.of(spec)));
        assertThat(Json.mapper().readTree(json).at("/init/value/spec")).isEqualTo(spec);
        assertThat(read(json, InstanceEnsureRequest.class)).isEqualTo(
            new InstanceEnsureRequest(Examples.propolisProperties(), InstanceInitializationMethod.Spec.of(spec)));
    }

    @Test
    void propolisMigrationTargetRoundTrips() throws JsonProcessingException
    {
        final InstanceEnsureRequest request = Examples.propolisEnsureMigrationTarget();
        final String json = Json.mapper().writeValueAsString(request);
        assertThat(Json.mapper().readTree(json).at("/init/method").asText()).isEqualTo("MigrationTarget");
        assertThat(read(json, InstanceEnsureRequest.class)).isEqualTo(request);
        final InstanceInitializationMethod.MigrationTargetValue noReplacements =
            new InstanceInitializationMethod.MigrationTargetValue(Examples.MIGRATION_ID, null, "[::1]:12400");
        assertThat(tree(noReplacements).get("replace_components").isObject()).isTrue();
        assertThat(tree(noReplacements).get("replace_components").size()).isZero();
    }

    // ---- VmmStateRequested: adjacently tagged ----

    static Stream<Arguments> requestedStates()
    {
        return Stream.of(
            Arguments.of("{\"type\":\"running\"}", new VmmStateRequested.Running()),
            Arguments.of("{\"type\":\"stopped\"}", new VmmStateRequested.Stopped()),
            Arguments.of("{\"type\":\"reboot\"}", new VmmStateRequested.Reboot()),
            Arguments.of("{\"type\":\"migration_target\",\"value\":{\"src_propolis_addr\":\"[fd00::5]:12400\"}}",
                new VmmStateRequested.MigrationTarget(
                    new VmmStateRequested.InstanceMigrationTargetParams("[fd00::5]:12400"))));
    }

    @ParameterizedTest
    @MethodSource("requestedStates")
    void vmmStateRequestedDecodesAndEncodesEachVariant(final String json, final VmmStateRequested expected)
        throws JsonProcessingException
    {
        assertThat(read(json, VmmStateRequested.class)).isEqualTo(expected);
        assertThat(read("{\"state\":" + json + "}", VmmPutStateBody.class)).isEqualTo(new VmmPutStateBody(expected));
        assertThat(Json.mapper().writeValueAsString(expected)).isEqualTo(json);
        assertThat(Json.mapper().writeValueAsString(new VmmPutStateBody(expected)))
            .isEqualTo("{\"state\":" + json + "}");
    }

    @Test
    void vmmStateRequestedAcceptsValueBeforeTypeAsSerdeDoes() throws JsonProcessingException
    {
        assertThat(read("{\"value\":{\"src_propolis_addr\":\"[fd00::5]:12400\"},\"type\":\"migration_target\"}",
            VmmStateRequested.class)).isEqualTo(new VmmStateRequested.MigrationTarget(
                new VmmStateRequested.InstanceMigrationTargetParams("[fd00::5]:12400")));
    }

    @ParameterizedTest
    @ValueSource(strings = {
        "{\"type\":\"stop\"}",                                  // unknown tag
        "{\"type\":\"Running\"}",                               // tags are case-sensitive
        "{}",                                                   // missing tag
        "{\"value\":{\"src_propolis_addr\":\"[::1]:1\"}}",      // missing tag, value present
        "{\"type\":null}",
        "{\"type\":5}",
        "\"running\"",                                          // externally tagged / bare string
        "{\"type\":\"migration_target\"}",                      // migration_target without value
        "{\"type\":\"migration_target\",\"value\":null}",
        "{\"type\":\"migration_target\",\"value\":{}}",         // value without src_propolis_addr
        "{\"type\":\"migration_target\",\"value\":{\"src_propolis_addr\":12400}}",
    })
    void vmmStateRequestedRejects(final String json)
    {
        assertThatThrownBy(() -> read(json, VmmStateRequested.class)).isInstanceOf(JsonProcessingException.class);
        assertThatThrownBy(() -> read("{\"state\":" + json + "}", VmmPutStateBody.class))
            .isInstanceOf(JsonProcessingException.class);
    }

    // ---- strict scalars ----

    @ParameterizedTest
    @ValueSource(strings = {
        "{\"state\":\"running\",\"gen\":\"5\"," + TS + "}",     // string for a number
        "{\"state\":\"running\",\"gen\":5.0," + TS + "}",       // float for an integer
        "{\"state\":\"running\",\"gen\":5.5," + TS + "}",
        "{\"state\":\"running\",\"gen\":true," + TS + "}",
        "{\"state\":\"running\",\"gen\":null," + TS + "}",
        "{\"state\":\"running\"," + TS + "}",                   // required gen missing
        "{\"state\":\"running\",\"gen\":18446744073709551615," + TS + "}", // beyond long
        "{\"state\":\"runnning\",\"gen\":5," + TS + "}",        // unknown enum value
        "{\"state\":\"Running\",\"gen\":5," + TS + "}",         // Propolis spelling
        "{\"state\":1,\"gen\":5," + TS + "}",                   // enum by index
        "{\"state\":\"\",\"gen\":5," + TS + "}",
        "{\"gen\":5," + TS + "}",                               // required state missing
        "{\"state\":\"running\",\"gen\":5,\"time_updated\":1712000000}",   // epoch number
        "{\"state\":\"running\",\"gen\":5,\"time_updated\":\"1712000000\"}",
        "{\"state\":\"running\",\"gen\":5,\"time_updated\":\"2025-04-01\"}",
        "{\"state\":\"running\",\"gen\":5,\"time_updated\":\"2025-04-01T23:06:55\"}", // no offset
        "{\"state\":\"running\",\"gen\":5}",                    // required time_updated missing
        "{\"state\":\"running\",\"gen\":-1," + TS + "}",        // Generation is unsigned
        "{\"state\":\"running\",\"gen\":5," + TS + "}}",        // trailing garbage
        "{\"state\":\"running\",\"gen\":5," + TS + "} {}",
        "{\"state\":\"running\",\"gen\":5," + TS + "} x",
        "[{\"state\":\"running\",\"gen\":5," + TS + "}]",
    })
    void vmmRuntimeStateRejects(final String json)
    {
        assertThatThrownBy(() -> read(json, VmmRuntimeState.class)).isInstanceOf(JsonProcessingException.class);
    }

    @ParameterizedTest
    @ValueSource(strings = {
        "{\"migration_id\":5,\"state\":\"pending\",\"gen\":1," + TS + "}",      // number for a uuid
        "{\"migration_id\":\"m-1\",\"state\":\"pending\",\"gen\":1," + TS + "}",
        "{\"migration_id\":\"\",\"state\":\"pending\",\"gen\":1," + TS + "}",
        "{\"migration_id\":\"0f8b1d5e-3c3a-4e79-9a0a-6a2b3a5e7d21\",\"state\":\"inprogress\",\"gen\":1," + TS + "}",
        "{\"migration_id\":\"0f8b1d5e-3c3a-4e79-9a0a-6a2b3a5e7d21\",\"state\":\"Sync\",\"gen\":1," + TS + "}",
        "{\"state\":\"pending\",\"gen\":1," + TS + "}",
    })
    void migrationRuntimeStateRejects(final String json)
    {
        assertThatThrownBy(() -> read(json, MigrationRuntimeState.class))
            .isInstanceOf(JsonProcessingException.class);
    }

    @Test
    void stringsAreNotCoercedFromOtherTypes()
    {
        final String good = Specs.json(Examples.minimalInstanceEnsureBody());
        assertThatThrownBy(() -> read(good.replace("\"[fd00:1122:3344:101::1:0]:12400\"", "12400"),
            InstanceEnsureBody.class)).isInstanceOf(JsonProcessingException.class);
        assertThatThrownBy(() -> read(good.replace("\"[fd00:1122:3344:101::1:0]:12400\"", "true"),
            InstanceEnsureBody.class)).isInstanceOf(JsonProcessingException.class);
        assertThatThrownBy(() -> read(good.replace("\"" + Examples.INSTANCE_ID + "\"", "62877"),
            InstanceEnsureBody.class)).isInstanceOf(JsonProcessingException.class);
        assertThatThrownBy(() -> read("{\"request_id\":\"a\",\"message\":\"m\",\"error_code\":404}", ErrorBody.class))
            .isInstanceOf(JsonProcessingException.class);
        assertThatThrownBy(() -> read(good.replace("\"vmm_spec\":{", "\"vmm_spec\":[{").replace(
            "\"components\":{}}", "\"components\":{}}]"), InstanceEnsureBody.class))
            .isInstanceOf(JsonProcessingException.class);
    }

    @Test
    void timestampsAreRfc3339() throws JsonProcessingException
    {
        final Instant nanos = Instant.parse("2025-04-01T23:06:55.123456789Z");
        assertThat(tree(new VmmRuntimeState(VmmState.RUNNING, 1, nanos)).get("time_updated").asText())
            .isEqualTo("2025-04-01T23:06:55.123456789Z");
        assertThat(tree(new VmmRuntimeState(VmmState.RUNNING, 1, Examples.T1)).get("time_updated").asText())
            .isEqualTo("2025-04-01T23:07:12Z");
        assertThat(read("{\"state\":\"running\",\"gen\":1,\"time_updated\":\"2025-04-02T01:06:55.5+02:00\"}",
            VmmRuntimeState.class).timeUpdated()).isEqualTo(Instant.parse("2025-04-01T23:06:55.500Z"));
    }

    @Test
    void unknownPropertiesAreIgnored() throws JsonProcessingException
    {
        final SledVmmState state = read("{\"vmm_state\":{\"state\":\"running\",\"gen\":4,\"extra\":[1]," + TS
            + "},\"migration_in\":null,\"future\":{\"a\":1}}", SledVmmState.class);
        assertThat(state).isEqualTo(new SledVmmState(
            new VmmRuntimeState(VmmState.RUNNING, 4, Instant.parse("2025-04-01T23:06:55Z")), null, null));
        assertThat(read("{\"gen\":3,\"state\":\"Running\",\"migration\":{\"migration_in\":null},\"x\":1}",
            InstanceStateMonitorResponse.class).state()).isEqualTo(PropolisInstanceState.Running);
    }

    // ---- what is written ----

    @Test
    void nullableMigrationFieldsAreWrittenAsNull()
    {
        assertThat(Specs.json(Examples.sledVmmState())).isEqualTo(
            "{\"vmm_state\":{\"state\":\"running\",\"gen\":4,\"time_updated\":\"2025-04-01T23:06:55.123456Z\"},"
                + "\"migration_in\":null,\"migration_out\":null}");
        assertThat(Specs.json(new VmmPutStateResponse(null))).isEqualTo("{\"updated_runtime\":null}");
        assertThat(Specs.json(new VmmUnregisterResponse(null))).isEqualTo("{\"updated_runtime\":null}");
        assertThat(Specs.json(new ErrorBody("r", "m", null))).isEqualTo("{\"request_id\":\"r\",\"message\":\"m\"}");
        assertThat(Specs.json(new sledagent.api.propolis.InstanceEnsureResponse(null))).isEqualTo("{\"migrate\":null}");
        assertThat(Specs.json(sledagent.api.propolis.InstanceMigrateStatusResponse.NONE))
            .isEqualTo("{\"migration_in\":null,\"migration_out\":null}");
    }

    @Test
    void enumsUseTheirWireSpelling() throws JsonProcessingException
    {
        for (final VmmState state : VmmState.values())
        {
            assertThat(Specs.json(state)).isEqualTo("\"" + state.wireName() + "\"");
            assertThat(read(Specs.json(state), VmmState.class)).isEqualTo(state);
        }
        assertThat(Specs.json(MigrationState.IN_PROGRESS)).isEqualTo("\"in_progress\"");
        assertThat(Specs.json(PropolisStateRequested.Run)).isEqualTo("\"Run\"");
        assertThat(Specs.json(sledagent.api.propolis.PropolisMigrationState.RamPushDirty))
            .isEqualTo("\"RamPushDirty\"");
    }

    @Test
    void everySledVmmStateRoundTrips() throws JsonProcessingException
    {
        for (final SledVmmState state : SledAgentSpecTest.sledVmmStates().toList())
        {
            assertThat(read(Specs.json(state), SledVmmState.class)).isEqualTo(state);
            assertThat(read(Specs.json(new VmmPutStateResponse(state)), VmmPutStateResponse.class).updatedRuntime())
                .isEqualTo(state);
            assertThat(read(Specs.json(new VmmUnregisterResponse(state)), VmmUnregisterResponse.class)
                .updatedRuntime()).isEqualTo(state);
        }
    }
}
