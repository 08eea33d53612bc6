using System.Diagnostics;
using System.Runtime.InteropServices;

namespace SipIps.TrafficGen;

/// <summary>
/// Measures how long a thread that never sleeps loses its core: it spins reading the clock and records every gap
/// between two reads above a threshold, and whether the kernel switched it out meanwhile (its context-switch counts
/// moved). A gap with no switch is time the guest kernel spent in interrupts on that core, or time the hypervisor
/// gave the virtual CPU to something else: neither shows in the guest's scheduler. This is the wait that a
/// busy-polling bridge worker pinned to the same core sees, with its frames queued in its ring meanwhile.
/// Prints one line of counts by gap size; with a log path, also each gap (start and end in CLOCK_MONOTONIC
/// nanoseconds, and whether a switch was seen), so that the gaps can be laid over a scheduler trace.
/// </summary>
public static partial class StallProbe
{
    private static readonly long[] Bounds = [200, 500, 1_000, 2_000, 5_000]; // microseconds

    private const int MaxLogged = 100_000;

    public static int Run(double seconds, int thresholdUs, string? logPath = null)
    {
        // Stopwatch reads CLOCK_MONOTONIC on Linux; the gaps are kept in arrays allocated up front and written at
        // the end, so that logging adds nothing to the spin.
        var log = logPath is null ? null : new (long Start, long End, bool Switched)[MaxLogged];
        int logged = 0;
        long frequency = Stopwatch.Frequency;
        long threshold = frequency * thresholdUs / 1_000_000;
        long end = Stopwatch.GetTimestamp() + (long)(seconds * frequency);
        var counts = new long[Bounds.Length + 1];
        long gaps = 0, withoutSwitch = 0, worst = 0;
        long switches = Switches();
        long previous = Stopwatch.GetTimestamp();
        while (true)
        {
            long now = Stopwatch.GetTimestamp();
            long gap = now - previous;
            if (gap > threshold)
            {
                gaps++;
                long s = Switches();
                if (s == switches) withoutSwitch++;
                if (log is not null && logged < log.Length) log[logged++] = (previous, now, s != switches);
                switches = s;
                long us = gap * 1_000_000 / frequency;
                int b = 0;
                while (b < Bounds.Length && us >= Bounds[b]) b++;
                counts[b]++;
                worst = Math.Max(worst, us);
                // The read above took time of its own: start the next interval after it.
                now = Stopwatch.GetTimestamp();
            }
            previous = now;
            if (now > end) break;
        }
        Console.WriteLine($"gaps over {thresholdUs} us in {seconds:0} s: {gaps} ({withoutSwitch} without a context switch); " +
                          $"under 200 us {counts[0]}, 200-500 us {counts[1]}, 0.5-1 ms {counts[2]}, 1-2 ms {counts[3]}, 2-5 ms {counts[4]}, " +
                          $"over 5 ms {counts[5]}; longest {worst:N0} us");
        if (log is not null)
        {
            using var writer = new StreamWriter(logPath!);
            double nsPerTick = 1e9 / frequency;
            foreach (var (start, stop, switched) in log.AsSpan(0, logged))
                writer.WriteLine(FormattableString.Invariant($"{(long)(start * nsPerTick)} {(long)(stop * nsPerTick)} {(switched ? 1 : 0)}"));
        }
        return 0;
    }

    /// <summary>The calling thread's voluntary and involuntary context switches so far (getrusage, no allocation).</summary>
    private static unsafe long Switches()
    {
        // struct rusage on x86-64: two timevals (32 bytes), then 14 longs; ru_nvcsw and ru_nivcsw are the last two.
        long* usage = stackalloc long[18];
        if (getrusage(RusageThread, usage) != 0) return -1;
        return usage[16] + usage[17];
    }

    private const int RusageThread = 1;

    [LibraryImport("libc")]
    private static unsafe partial int getrusage(int who, long* usage);
}
