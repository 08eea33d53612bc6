using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace SipIps.Engine.Common;

/// <summary>
/// Copies of the short strings that the workers hand to the exporters (Call-IDs, URIs, tags, branches: mostly 2 to 40
/// bytes), inline and without a call per string: overlapping 16-byte (or narrower) loads and stores, up to 64 bytes.
/// </summary>
public static class SmallCopy
{
    /// <summary>Copies <paramref name="source"/> to the start of <paramref name="destination"/>, which must be as long.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void To(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        int n = source.Length;
        if ((uint)n > (uint)destination.Length) TooShort();
        ref byte s = ref MemoryMarshal.GetReference(source);
        ref byte d = ref MemoryMarshal.GetReference(destination);
        if (n >= 16)
        {
            if (n > 32)
            {
                if (n > 64)
                {
                    source.CopyTo(destination);
                    return;
                }
                // Two pairs of 16-byte moves rather than the general copy: a 34-byte Call-ID sent there cost about
                // 150 ns in the CLF hand-off where 16-byte moves take a few (see VectorWidth).
                var a = Vector128.LoadUnsafe(ref s);
                var b = Vector128.LoadUnsafe(ref s, 16);
                var c = Vector128.LoadUnsafe(ref s, (nuint)(n - 32));
                var e = Vector128.LoadUnsafe(ref s, (nuint)(n - 16));
                a.StoreUnsafe(ref d);
                b.StoreUnsafe(ref d, 16);
                c.StoreUnsafe(ref d, (nuint)(n - 32));
                e.StoreUnsafe(ref d, (nuint)(n - 16));
                return;
            }
            var head = Vector128.LoadUnsafe(ref s);
            var tail = Vector128.LoadUnsafe(ref s, (nuint)(n - 16));
            head.StoreUnsafe(ref d);
            tail.StoreUnsafe(ref d, (nuint)(n - 16));
        }
        else if (n >= 8)
        {
            ulong head = Unsafe.ReadUnaligned<ulong>(ref s);
            ulong tail = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref s, n - 8));
            Unsafe.WriteUnaligned(ref d, head);
            Unsafe.WriteUnaligned(ref Unsafe.Add(ref d, n - 8), tail);
        }
        else if (n >= 4)
        {
            uint head = Unsafe.ReadUnaligned<uint>(ref s);
            uint tail = Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref s, n - 4));
            Unsafe.WriteUnaligned(ref d, head);
            Unsafe.WriteUnaligned(ref Unsafe.Add(ref d, n - 4), tail);
        }
        else
        {
            for (int i = 0; i < n; i++) Unsafe.Add(ref d, i) = Unsafe.Add(ref s, i);
        }
    }

    // Kept out of line, so that the inlined copies stay small.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void TooShort() => throw new ArgumentException("destination too short", "destination");
}
