using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace SipIps.Engine.Sip;

/// <summary>
/// Searches for one byte in the short spans the parser looks in, inline (see <see cref="AsciiSet"/>): its first
/// position, or every position of a run of up to 64 bytes as a bit mask.
/// </summary>
internal static class ShortSearch
{
    /// <summary>The first position in [<paramref name="pos"/>, <paramref name="end"/>) holding <paramref name="value"/>, or -1.</summary>
    public static int IndexOf(ReadOnlySpan<byte> b, int pos, int end, byte value)
    {
        if ((uint)end > (uint)b.Length || pos > end) return -1;
        if (Vector128.IsHardwareAccelerated)
        {
            ref byte start = ref MemoryMarshal.GetReference(b);
            var target = Vector128.Create(value);
            while (end - pos >= 16)
            {
                uint hits = Vector128.Equals(Vector128.LoadUnsafe(ref start, (nuint)pos), target).ExtractMostSignificantBits();
                if (hits != 0) return pos + BitOperations.TrailingZeroCount(hits);
                pos += 16;
            }
            if (pos < end && end >= 16)
            {
                int at = end - 16;
                uint hits = Vector128.Equals(Vector128.LoadUnsafe(ref start, (nuint)at), target).ExtractMostSignificantBits() >> (pos - at);
                return hits != 0 ? pos + BitOperations.TrailingZeroCount(hits) : -1;
            }
        }
        for (; pos < end; pos++)
            if (b[pos] == value) return pos;
        return -1;
    }

    /// <summary>
    /// Bit i is set when <c>data[start + i] == value</c>, for <c>start + i &lt; end</c>. Needs
    /// <c>end - start &lt;= 64</c>; bytes up to <c>start + 64</c> are read when the span holds them.
    /// </summary>
    public static ulong Mask(ReadOnlySpan<byte> data, int start, int end, byte value)
    {
        int n = end - start;
        if ((uint)n > 64 || (uint)start > (uint)data.Length || (uint)end > (uint)data.Length) return 0;
        ulong bits;
        if (start + 64 <= data.Length)
        {
            ref byte at = ref Unsafe.Add(ref MemoryMarshal.GetReference(data), start);
            if (Vector512.IsHardwareAccelerated)
            {
                bits = Vector512.Equals(Vector512.LoadUnsafe(ref at), Vector512.Create(value)).ExtractMostSignificantBits();
            }
            else if (Vector256.IsHardwareAccelerated)
            {
                bits = Vector256.Equals(Vector256.LoadUnsafe(ref at), Vector256.Create(value)).ExtractMostSignificantBits()
                    | (ulong)Vector256.Equals(Vector256.LoadUnsafe(ref at, 32), Vector256.Create(value)).ExtractMostSignificantBits() << 32;
            }
            else
            {
                bits = 0;
                for (int i = 0; i < 64; i += 16)
                    bits |= (ulong)Vector128.Equals(Vector128.LoadUnsafe(ref at, (nuint)i), Vector128.Create(value)).ExtractMostSignificantBits() << i;
            }
        }
        else
        {
            bits = 0;
            for (int i = 0; i < n; i++)
                if (data[start + i] == value) bits |= 1UL << i;
        }
        return n == 64 ? bits : bits & ((1UL << n) - 1);
    }
}
