namespace SipIps.Capture.Interop;

/// <summary>
/// Device interrupts that the kernel delivers to the workers' CPUs. Their handlers (a disk's completions, another
/// NIC's receive work) run on the worker's core, in its time, and no priority or quota of ours can keep them off: a
/// busy disk's completions there cost a worker more than the CLF writer's own time. Deployments move them with
/// /proc/irq/N/smp_affinity_list, or at boot (irqaffinity=, isolcpus=managed_irq,...) for the interrupts the kernel
/// manages itself, which refuse to move at run time.
/// </summary>
public static class IrqPlacement
{
    /// <summary>An interrupt line delivered only to worker CPUs, and how many times it fired there since boot.</summary>
    public readonly record struct Irq(int Number, string Name, long Count);

    /// <summary>
    /// Interrupts whose effective affinity lies within <paramref name="workerCpus"/> and that fired there at least
    /// <paramref name="minCount"/> times, busiest first. Lines whose name holds one of <paramref name="ownPorts"/> are the
    /// bridged ports' own (a NIC's queues on its workers' cores is the layout to want) and are left out.
    /// </summary>
    /// <param name="interrupts">The text of /proc/interrupts.</param>
    /// <param name="affinity">The effective affinity list of an interrupt ("1", "0-3"), or null when unknown.</param>
    public static List<Irq> OnCpus(string interrupts, Func<int, string?> affinity, IReadOnlyCollection<int> workerCpus,
        IReadOnlyCollection<string> ownPorts, long minCount = 1000)
    {
        var found = new List<Irq>();
        var lines = interrupts.Split('\n');
        if (lines.Length == 0 || workerCpus.Count == 0) return found;
        // The header names the CPU of each count column ("CPU0 CPU1 ..."; offline CPUs have no column).
        var columns = new List<int>();
        foreach (var word in lines[0].Split(' ', StringSplitOptions.RemoveEmptyEntries))
            if (word.StartsWith("CPU", StringComparison.Ordinal) && int.TryParse(word.AsSpan(3), out int cpu)) columns.Add(cpu);
        foreach (var line in lines.Skip(1))
        {
            var words = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            // Numbered lines only: NMI, LOC and the like are per-CPU by nature.
            if (words.Length < columns.Count + 2 || !words[0].EndsWith(':') || !int.TryParse(words[0].AsSpan(0, words[0].Length - 1), out int number))
                continue;
            var cpus = ParseList(affinity(number));
            if (cpus is null || cpus.Count == 0 || !cpus.All(workerCpus.Contains)) continue;
            long count = 0;
            for (int c = 0; c < columns.Count; c++)
                if (workerCpus.Contains(columns[c]) && long.TryParse(words[1 + c], out long n)) count += n;
            if (count < minCount) continue;
            string name = words[^1];
            if (ownPorts.Any(p => name.Contains(p, StringComparison.Ordinal))) continue;
            found.Add(new Irq(number, name, count));
        }
        found.Sort((a, b) => b.Count.CompareTo(a.Count));
        return found;
    }

    /// <summary>What <see cref="OnCpus"/> finds on this machine; empty when /proc cannot be read.</summary>
    public static List<Irq> OnCpus(IReadOnlyCollection<int> workerCpus, IReadOnlyCollection<string> ownPorts)
    {
        try
        {
            return OnCpus(File.ReadAllText("/proc/interrupts"), Affinity, workerCpus, ownPorts);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }

    private static string? Affinity(int irq)
    {
        foreach (var file in new[] { "effective_affinity_list", "smp_affinity_list" })
        {
            try
            {
                return File.ReadAllText($"/proc/irq/{irq}/{file}").Trim();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }
        return null;
    }

    /// <summary>"0-2,5" as {0, 1, 2, 5}; null when it is not a CPU list.</summary>
    public static HashSet<int>? ParseList(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return null;
        var set = new HashSet<int>();
        foreach (var part in text.Split(','))
        {
            var ends = part.Split('-');
            if (!int.TryParse(ends[0], out int from) || !int.TryParse(ends[^1], out int to) || ends.Length > 2 || to < from || to - from > 4096)
                return null;
            for (int c = from; c <= to; c++) set.Add(c);
        }
        return set;
    }
}
