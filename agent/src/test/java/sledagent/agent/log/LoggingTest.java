package sledagent.agent.log;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.UUID;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import org.junit.jupiter.api.Test;
import sledagent.api.Json;

class LoggingTest
{
    @Test
    void shouldWriteOneBunyanObjectPerLineWithTheVmmWhereGiven() throws Exception
    {
        final UUID id = UUID.randomUUID();
        final LogRecord record = new LogRecord(Level.WARNING, "vmm gone \"quoted\"\nsecond line");
        record.setLoggerName("sledagent.agent.vmm.VmmActor");
        record.setParameters(new Object[] {new LogContext(id, 7)});
        record.setThrown(new IllegalStateException("boom"));
        final String line = new Logging.BunyanFormatter().format(record);
        assertThat(line).endsWith("\n");
        assertThat(line.trim()).doesNotContain("\n");
        final JsonNode json = Json.mapper().readTree(line);
        assertThat(json.get("v").asInt()).isZero();
        assertThat(json.get("level").asInt()).isEqualTo(40);
        assertThat(json.get("name").asText()).isEqualTo("sled-agent");
        assertThat(json.get("hostname").asText()).isNotBlank();
        assertThat(json.get("pid").asLong()).isEqualTo(ProcessHandle.current().pid());
        assertThat(json.get("time").asText()).contains("T");
        assertThat(json.get("msg").asText()).isEqualTo("vmm gone \"quoted\"\nsecond line");
        assertThat(json.get("component").asText()).isEqualTo("VmmActor");
        assertThat(json.get("propolis_id").asText()).isEqualTo(id.toString());
        assertThat(json.get("gen").asLong()).isEqualTo(7);
        assertThat(json.at("/err/message").asText()).isEqualTo("boom");
    }

    @Test
    void shouldMapLevelsToBunyans()
    {
        assertThat(Logging.bunyanLevel(Level.SEVERE)).isEqualTo(50);
        assertThat(Logging.bunyanLevel(Level.WARNING)).isEqualTo(40);
        assertThat(Logging.bunyanLevel(Level.INFO)).isEqualTo(30);
        assertThat(Logging.bunyanLevel(Level.FINE)).isEqualTo(20);
        assertThat(Logging.bunyanLevel(Level.FINEST)).isEqualTo(10);
    }
}
