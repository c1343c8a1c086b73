package sledagent.agent.vmm;

/** The {@link VmmTableContract} on the benchmarked alternative ({@code perf/.../TableBenchmark}). */
class NonBlockingVmmTableTest extends VmmTableContract
{
    @Override
    VmmTable newTable()
    {
        return new NonBlockingVmmTable();
    }
}
