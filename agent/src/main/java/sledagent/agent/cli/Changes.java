package sledagent.agent.cli;

import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.UUID;

/** The difference between two polls of {@code GET /vmms}, as {@link WatchEvent}s ordered by propolis id. */
public final class Changes
{
    private Changes()
    {
    }

    /**
     * What changed from {@code before} to {@code now}.
     *
     * @param before the previous poll by propolis id; null for the first poll (every VMM is then
     *               {@link WatchEvent.Kind#PRESENT})
     * @param now    this poll
     * @param time   when this poll was answered
     * @return the events, sorted by propolis id; empty when nothing changed
     */
    public static List<WatchEvent> between(final Map<UUID, VmmView> before, final List<VmmView> now,
        final Instant time)
    {
        final Map<UUID, VmmView> current = index(now);
        final List<WatchEvent> events = new ArrayList<>();
        for (final VmmView vmm : current.values())
        {
            final VmmView old = before == null ? null : before.get(vmm.propolisId());
            if (old == null)
            {
                final WatchEvent.Kind kind = before == null ? WatchEvent.Kind.PRESENT : WatchEvent.Kind.APPEARED;
                events.add(new WatchEvent(time, kind, vmm.propolisId(), vmm.instanceId(), null, vmm.state()));
            }
            else if (!Objects.equals(old.state(), vmm.state()))
            {
                events.add(new WatchEvent(time, WatchEvent.Kind.CHANGED, vmm.propolisId(), vmm.instanceId(),
                    old.state(), vmm.state()));
            }
        }
        if (before != null)
        {
            for (final VmmView old : before.values())
            {
                if (!current.containsKey(old.propolisId()))
                {
                    events.add(new WatchEvent(time, WatchEvent.Kind.GONE, old.propolisId(), old.instanceId(),
                        old.state(), null));
                }
            }
        }
        events.sort(Comparator.comparing((final WatchEvent event) -> event.propolisId().toString()));
        return events;
    }

    /** The VMMs of one poll by propolis id. */
    public static Map<UUID, VmmView> index(final List<VmmView> vmms)
    {
        final Map<UUID, VmmView> byId = new LinkedHashMap<>();
        for (final VmmView vmm : vmms)
        {
            byId.put(vmm.propolisId(), vmm);
        }
        return byId;
    }
}
