using System.Numerics;

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

    public static void Merge(Span<byte> into, ReadOnlySpan<byte> from)
    {
        for (int i = 0; i < into.Length; i++)
            if (from[i] > into[i]) into[i] = from[i];
    }

    public static double Estimate(ReadOnlySpan<byte> registers)
    {
        const double m = Registers;
        double sum = 0;
        int zeros = 0;
        foreach (byte r in registers)
        {
            sum += Math.ScaleB(1.0, -r);
            if (r == 0) zeros++;
        }
        double alpha = 0.7213 / (1 + 1.079 / m);
        double e = alpha * m * m / sum;
        if (e <= 2.5 * m && zeros > 0) e = m * Math.Log(m / zeros);
        return e;
    }
}
