package sledagent.agent.vmm;

import java.util.List;

/** The result of one lifecycle step: the next record, the effects in order, and the request's reply. */
public record Transition(VmmRecord next, List<Effect> effects, Reply reply)
{
    public Transition
    {
        effects = List.copyOf(effects);
    }
}
