package sledagent.perf;

import java.nio.file.Files;
import java.nio.file.Path;
import sledagent.agent.demo.TinyGuest;

/**
 * {@code StopLatency peer --vmms N}: our agent beside libvirt and bare QEMU, on the same tiny guest, interleaved so
 * that both see the same machine: each round is ours (register -> marker, force-terminate -> destroyed at Nexus;
 * register -> marker, SIGKILL of QEMU -> failed at Nexus), then libvirt's (virsh start -> marker, virsh destroy ->
 * shut off; virsh start -> marker, SIGKILL of its QEMU -> lifecycle event), then bare QEMU (exec -> marker). N rounds
 * with libvirtd a plain child of this JVM (a QEMU it kills is reaped by the sandbox's PID 1), then N with libvirtd
 * under a {@link Subreaper} (reaped at once).
 */
final class PeerScenario
{
    private PeerScenario()
    {
    }

    static void run(final StopLatency.Options options, final Cleanup cleanup) throws Exception
    {
        final String missing = LibvirtPeer.missing();
        if (missing != null)
        {
            throw new IllegalStateException("peer needs " + missing);
        }
        options.vmm = "qemu";
        final TinyGuest guest = GuestScenario.guest();
        final GuestScenario ours = GuestScenario.start(options, cleanup);
        String versions = "";
        for (final boolean subreaper : new boolean[] {false, true})
        {
            final String mode = subreaper ? "libvirtd under a subreaper" : "libvirtd under PID 1";
            final Path work = Files.createTempDirectory("sledperf-libvirt");
            cleanup.push("libvirt work dir " + work, () -> PerfZones.deleteTree(work));
            try (LibvirtPeer libvirt = LibvirtPeer.start(work, guest, GuestScenario.GUEST_MB, subreaper))
            {
                versions = libvirt.describe();
                for (int i = 0; i < options.vmms; i++)
                {
                    ours.forceOne();
                    ours.crashOne();
                    ours.record("libvirt: virsh start -> guest marker in its serial log (ms)", libvirt.startToMarker());
                    ours.record("libvirt (" + mode + "): virsh destroy -> shut off (ms)", libvirt.destroy());
                    ours.record("libvirt: virsh start -> guest marker in its serial log (ms)", libvirt.startToMarker());
                    ours.record("libvirt (" + mode + "): SIGKILL QEMU -> lifecycle event (ms)", libvirt.crash());
                    ours.record("bare QEMU: exec -> guest marker on stdout (ms)",
                        BareQemu.execToMarker(guest, GuestScenario.GUEST_MB));
                    System.out.printf("  %s: %d/%d rounds%n", mode, i + 1, options.vmms);
                }
            }
        }
        ours.print(options, "peer.txt", String.format("peer: ours (propolis-qemu) beside libvirt (%s) and bare QEMU,"
            + " %d rounds per libvirtd mode, interleaved%n", versions, options.vmms));
        final double forced = ours.median("force-terminate -> destroyed published (ms)");
        System.out.printf("virsh destroy / our force-terminate (medians): %.0fx under PID 1, %.0fx under a subreaper%n",
            ours.median("libvirt (libvirtd under PID 1): virsh destroy -> shut off (ms)") / forced,
            ours.median("libvirt (libvirtd under a subreaper): virsh destroy -> shut off (ms)") / forced);
        System.out.printf("register -> marker minus bare exec -> marker (medians): %.0f ms%n",
            ours.median("register -> guest marker on serial (ms)")
                - ours.median("bare QEMU: exec -> guest marker on stdout (ms)"));
    }
}
