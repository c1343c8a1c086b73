package sledagent.hypervisor.server;

import sledagent.api.propolis.InstanceEnsureRequest;

/** Makes the machine for the first accepted {@code PUT /instance}, or refuses the spec. */
@FunctionalInterface
public interface MachineFactory
{
    /**
     * Called with the instance lock held, before generation 1 is published; must not block for long.
     *
     * @param request the ensure request
     * @param context how the machine reports back
     * @return the machine
     * @throws PropolisRefusal 400 naming what the machine cannot honour; 500 if it cannot be made
     */
    Machine create(InstanceEnsureRequest request, MachineContext context) throws PropolisRefusal;
}
