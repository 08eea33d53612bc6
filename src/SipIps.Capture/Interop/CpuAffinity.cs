using System.Runtime.InteropServices;

namespace SipIps.Capture.Interop;

/// <summary>
/// Thread CPU affinity (sched_setaffinity on a thread id): workers on their own cores, the rest of the process (exporters,
/// metrics, control, the runtime's threads) on the management cores, so that they never take a worker's time.
/// </summary>
public static unsafe partial class CpuAffinity
{
    private const int MaskWords = 16; // 1024 CPUs, as glibc's cpu_set_t

    [LibraryImport("libc.so.6", EntryPoint = "sched_setaffinity", SetLastError = true)]
    private static partial int SchedSetAffinity(int tid, nuint size, ulong* mask);

    [LibraryImport("libc.so.6", EntryPoint = "sched_getaffinity", SetLastError = true)]
    private static partial int SchedGetAffinity(int tid, nuint size, ulong* mask);

    [LibraryImport("libc.so.6", EntryPoint = "gettid")]
    private static partial int GetTid();

    [LibraryImport("libc.so.6", EntryPoint = "setpriority", SetLastError = true)]
    private static partial int SetPriority(int which, int who, int prio);

    private const int PrioProcess = 0; // with a thread id: that thread only (Linux)

    /// <summary>
    /// Sets the nice value of every thread of this process whose name (comm) is one of <paramref name="names"/>;
    /// returns the error text of the first failure, else null. Raising a thread's nice value needs no privilege.
    /// </summary>
    public static string? NiceThreads(IReadOnlyCollection<string> names, int nice)
    {
        foreach (var dir in Directory.GetDirectories("/proc/self/task"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out int tid)) continue;
            string comm;
            try
            {
                comm = File.ReadAllText(Path.Combine(dir, "comm")).TrimEnd('\n');
            }
            catch (IOException)
            {
                continue; // ended since the listing
            }
            if (!names.Contains(comm)) continue;
            if (SetPriority(PrioProcess, tid, nice) != 0 && Directory.Exists(dir))
                return $"setpriority: {Marshal.GetLastSystemError() switch { 13 => "not permitted", 1 => "not permitted", int e => $"errno {e}" }}";
        }
        return null;
    }

    /// <summary>The CPUs online on this machine (not only those this process may run on now, as ProcessorCount says).</summary>
    public static int OnlineCpus()
    {
        try
        {
            // "0-3" or "0,2-5": the highest number plus one.
            string text = File.ReadAllText("/sys/devices/system/cpu/online").Trim();
            int max = -1;
            foreach (var part in text.Split(','))
                if (int.TryParse(part.Split('-')[^1], out int n)) max = Math.Max(max, n);
            return max >= 0 ? max + 1 : Environment.ProcessorCount;
        }
        catch (IOException)
        {
            return Environment.ProcessorCount;
        }
    }

    /// <summary>Pins the calling thread to <paramref name="cpus"/>; the error text on failure, else null.</summary>
    public static string? PinCurrentThread(IReadOnlyCollection<int> cpus) => Pin(GetTid(), cpus);

    /// <summary>Pins every thread the process has now (new threads inherit their creator's set).</summary>
    public static string? PinProcess(IReadOnlyCollection<int> cpus)
    {
        foreach (var dir in Directory.GetDirectories("/proc/self/task"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out int tid)) continue;
            string? error = Pin(tid, cpus);
            // A thread may have ended since the listing.
            if (error is not null && Directory.Exists(dir)) return error;
        }
        return null;
    }

    /// <summary>The CPUs the calling thread may run on (a process started under taskset: its set); empty when unknown.</summary>
    public static List<int> CurrentCpus()
    {
        ulong* mask = stackalloc ulong[MaskWords];
        var cpus = new List<int>();
        if (SchedGetAffinity(0, (nuint)(MaskWords * sizeof(ulong)), mask) != 0) return cpus;
        for (int i = 0; i < MaskWords * 64; i++)
            if ((mask[i / 64] & (1UL << (i % 64))) != 0) cpus.Add(i);
        return cpus;
    }

    private static string? Pin(int tid, IReadOnlyCollection<int> cpus)
    {
        ulong* mask = stackalloc ulong[MaskWords];
        new Span<ulong>(mask, MaskWords).Clear();
        foreach (int cpu in cpus)
        {
            if (cpu is < 0 or >= MaskWords * 64) return $"CPU {cpu} is out of range";
            mask[cpu / 64] |= 1UL << (cpu % 64);
        }
        if (SchedSetAffinity(tid, (nuint)(MaskWords * sizeof(ulong)), mask) == 0) return null;
        return $"sched_setaffinity: {Marshal.GetLastSystemError() switch { 22 => "no such CPU online", 1 => "not permitted", int e => $"errno {e}" }}";
    }
}
