package sledagent.zones.linux;

/**
 * The contract again, with the kill fallback for kernels without {@code cgroup.kill} (freeze, SIGKILL each
 * task through a pidfd, thaw) forced on.
 */
class CgroupFreezeKillContractTest extends CgroupZoneBackendContractTest
{
    @Override
    protected boolean useCgroupKill()
    {
        return false;
    }
}
