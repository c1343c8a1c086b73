package sledagent.api.propolis;

/** Propolis v5 {@code InstanceStateRequested}: the bare JSON string body of {@code PUT /instance/state}. */
public enum PropolisStateRequested
{
    Run, Stop, Reboot
}
