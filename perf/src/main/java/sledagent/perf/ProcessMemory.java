package sledagent.perf;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * One process's memory as the kernel counts it, in KiB: {@code VmRSS} (every resident page it maps, shared or not),
 * its anonymous and file-backed parts, {@code Pss} (each shared page divided by the number of processes mapping it:
 * what the process costs once others share its libraries and archives) and its private pages (what killing it
 * frees). From {@code /proc/PID/status} and {@code /proc/PID/smaps_rollup}.
 *
 * @param rssKb     VmRSS
 * @param anonKb    RssAnon
 * @param fileKb    RssFile
 * @param pssKb     Pss
 * @param privateKb Private_Clean + Private_Dirty
 */
record ProcessMemory(long rssKb, long anonKb, long fileKb, long pssKb, long privateKb)
{
    /** Reads a live process's figures. */
    static ProcessMemory of(final long pid) throws IOException
    {
        final Path proc = Path.of("/proc", Long.toString(pid));
        long rss = -1;
        long anon = -1;
        long file = -1;
        for (final String line : Files.readAllLines(proc.resolve("status")))
        {
            if (line.startsWith("VmRSS:"))
            {
                rss = kb(line);
            }
            else if (line.startsWith("RssAnon:"))
            {
                anon = kb(line);
            }
            else if (line.startsWith("RssFile:"))
            {
                file = kb(line);
            }
        }
        long pss = -1;
        long privateKb = 0;
        for (final String line : Files.readAllLines(proc.resolve("smaps_rollup")))
        {
            if (line.startsWith("Pss:"))
            {
                pss = kb(line);
            }
            else if (line.startsWith("Private_Clean:") || line.startsWith("Private_Dirty:"))
            {
                privateKb += kb(line);
            }
        }
        return new ProcessMemory(rss, anon, file, pss, privateKb);
    }

    private static long kb(final String line)
    {
        return Long.parseLong(line.replaceAll("[^0-9]", ""));
    }
}
