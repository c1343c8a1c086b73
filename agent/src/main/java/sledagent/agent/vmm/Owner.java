package sledagent.agent.vmm;

/** Who drives the VMM's published state (omicron's {@code VmmStateOwner}). */
public enum Owner
{
    /** The agent: it publishes every change, the terminal state included. */
    AGENT,
    /** Nexus took the VMM back with an unregister: nothing is published for it any more. */
    NEXUS
}
