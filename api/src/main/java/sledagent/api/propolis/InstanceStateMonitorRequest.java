package sledagent.api.propolis;

/** Propolis v5 {@code InstanceStateMonitorRequest}: the body of the state-monitor GET. */
public record InstanceStateMonitorRequest(long gen)
{
}
