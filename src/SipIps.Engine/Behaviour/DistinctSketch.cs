using System.Numerics;
using System.Runtime.Intrinsics;

namespace SipIps.Engine.Behaviour;

/// <summary>
/// HyperLogLog registers (Flajolet et al. 2007) for distinct counts over sliding windows: one small sketch per second,
/// merged (register-wise maximum) over the window when read. 256 registers: a standard error of about 6.5%, with
/// the small-range (linear counting) correction, exact enough for ratios that change by multiples under attack.
/// </summary>
public static class DistinctSketch
{
    public const int Registers = 256;

    /// <summary>Adds a 64-bit hash to the registers.</summary>
    public static void Add(Span<byte> registers, ulong hash)
    {
        int index = (int)(hash >> 56);
        ulong rest = (hash << 8) | 0x80;
        byte rank = (byte)(BitOperations.LeadingZeroCount(rest) + 1);
        if (registers[index] < rank) registers[index] = rank;
    }

    /// <summary>Register-wise maximum, a vector at a time (a window's read merges up to 60 sketches of each kind).</summary>
    public static void Merge(Span<byte> into, ReadOnlySpan<byte> from)
    {
        int n = Math.Min(into.Length, from.Length), i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i + 32 <= n; i += 32)
                Vector256.Max(Vector256.Create(into.Slice(i, 32)), Vector256.Create(from.Slice(i, 32))).CopyTo(into.Slice(i, 32));
        }
        else if (Vector128.IsHardwareAccelerated)
        {
            for (; i + 16 <= n; i += 16)
                Vector128.Max(Vector128.Create(into.Slice(i, 16)), Vector128.Create(from.Slice(i, 16))).CopyTo(into.Slice(i, 16));
        }
        for (; i < n; i++)
            if (from[i] > into[i]) into[i] = from[i];
    }

    // 2^-r for every register value a 64-bit hash can give.
    private static readonly double[] s_inversePowers = Enumerable.Range(0, 66).Select(r => Math.ScaleB(1.0, -r)).ToArray();

    public static double Estimate(ReadOnlySpan<byte> registers)
    {
        const double m = Registers;
        double sum = 0;
        int zeros = 0;
        var powers = s_inversePowers;
        foreach (byte r in registers)
        {
            sum += r < powers.Length ? powers[r] : 0;
            if (r == 0) zeros++;
        }
        double alpha = 0.7213 / (1 + 1.079 / m);
        double e = alpha * m * m / sum;
        if (e <= 2.5 * m && zeros > 0) e = m * Math.Log(m / zeros);
        return e;
    }
}
