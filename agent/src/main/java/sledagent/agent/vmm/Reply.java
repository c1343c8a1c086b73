package sledagent.agent.vmm;

/** What a request gets back from the lifecycle. */
public sealed interface Reply
{
    /** 200 with this body (a wire record). */
    record Ok(Object body) implements Reply
    {
    }

    /** A 4xx or 5xx. */
    record Failed(ApiError error) implements Reply
    {
    }

    /** Answered later, with the final state, once the zone is gone ({@link Effect.AnswerDeferred}). */
    record Deferred() implements Reply
    {
    }

    Deferred DEFERRED = new Deferred();
}
