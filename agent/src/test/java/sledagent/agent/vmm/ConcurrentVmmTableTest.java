package sledagent.agent.vmm;

/** The {@link VmmTableContract} on the table the agent uses. */
class ConcurrentVmmTableTest extends VmmTableContract
{
    @Override
    VmmTable newTable()
    {
        return new ConcurrentVmmTable();
    }
}
