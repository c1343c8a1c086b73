package sledagent.api.propolis;

/** Propolis v5 {@code InstanceState}. Constant names are the wire spellings. */
public enum PropolisInstanceState
{
    Creating, Starting, Running, Stopping, Stopped, Rebooting, Migrating, Repairing, Failed, Destroyed;

    /** Destroyed or Failed: the VM will not run again in this Propolis. */
    public boolean isHalted()
    {
        return this == Destroyed || this == Failed;
    }
}
