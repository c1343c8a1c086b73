package sledagent.hypervisor.qemu;

/**
 * A part of a Propolis instance spec that propolis-qemu cannot honour: a component type QEMU has no counterpart
 * for here (Crucible, OPTE/DLPI NICs, ...), or a value it cannot express (a PCI path off bus 0, a CPUID table).
 * The server answers 400 with the message, which names the component: nothing is ever silently dropped.
 */
public final class UnsupportedComponentException extends IllegalArgumentException
{
    private static final long serialVersionUID = 1L;
    private final String componentKey;
    private final String componentType;

    /**
     * @param componentKey  the key in the spec's {@code components} map, or {@code "board"} / {@code "smbios"}
     * @param componentType the component's {@code type} (e.g. {@code "crucible_storage_backend"}), or for the board
     *                      the field (e.g. {@code "cpuid"})
     * @param reason        why, e.g. {@code "Crucible storage is not supported by propolis-qemu"}
     */
    public UnsupportedComponentException(final String componentKey, final String componentType, final String reason)
    {
        super("component '" + componentKey + "' (" + componentType + "): " + reason);
        this.componentKey = componentKey;
        this.componentType = componentType;
    }

    /** The component's key in the spec, or {@code "board"} / {@code "smbios"}. */
    public String componentKey()
    {
        return componentKey;
    }

    /** The component's type, or the board field. */
    public String componentType()
    {
        return componentType;
    }
}
