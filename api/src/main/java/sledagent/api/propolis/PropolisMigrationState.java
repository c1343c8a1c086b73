package sledagent.api.propolis;

/** Propolis v5 {@code MigrationState}: the phases of a live migration. */
public enum PropolisMigrationState
{
    Sync, RamPush, Pause, RamPushDirty, Device, Resume, RamPull, Server, Finish, Error;

    /** Finish or Error: the migration will not change again. */
    public boolean isTerminal()
    {
        return this == Finish || this == Error;
    }
}
