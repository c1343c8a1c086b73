package sledagent.agent.cli;

import java.util.List;
import java.util.UUID;
import sledagent.api.SledVmmState;

/**
 * One row of {@code GET /vmms}: a registered VMM as the agent reports it.
 *
 * @param propolisId   the VMM's id
 * @param instanceId   the instance it runs
 * @param propolisAddr where its Propolis server listens
 * @param state        its current state
 */
public record VmmView(UUID propolisId, UUID instanceId, String propolisAddr, SledVmmState state)
{
    /**
     * The body of {@code GET /vmms}.
     *
     * @param vmms every VMM in the agent's table, in no particular order
     */
    public record Listing(List<VmmView> vmms)
    {
        /** Never null: an absent list is an empty one. */
        public Listing
        {
            vmms = vmms == null ? List.of() : List.copyOf(vmms);
        }
    }
}
