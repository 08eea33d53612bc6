using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace SipIps.Engine.Sip;

/// <summary>
/// Case-insensitive comparison of a token against a lower-case literal. Valid only when <paramref name="token"/>
/// holds RFC 3261 token characters (as header and parameter names do): OR-ing 0x20 then maps only letters, and no
/// two token characters collide under it. Inlined, with no call into the general Unicode-aware helpers.
/// </summary>
internal static class AsciiCase
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool EqualsLower(ReadOnlySpan<byte> token, ReadOnlySpan<byte> lowerLiteral)
    {
        int n = lowerLiteral.Length;
        if (token.Length != n) return false;
        ref byte a = ref MemoryMarshal.GetReference(token);
        ref byte b = ref MemoryMarshal.GetReference(lowerLiteral);
        int i = 0;
        for (; i + 8 <= n; i += 8)
        {
            ulong x = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref a, i)) | 0x2020202020202020UL;
            if (x != Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref b, i))) return false;
        }
        if (i + 4 <= n)
        {
            uint x = Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref a, i)) | 0x20202020u;
            if (x != Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref b, i))) return false;
            i += 4;
        }
        for (; i < n; i++)
            if ((Unsafe.Add(ref a, i) | 0x20) != Unsafe.Add(ref b, i)) return false;
        return true;
    }

    /// <summary>
    /// True when the four bytes at <paramref name="at"/> are three letters in any case and then a fourth byte as it
    /// is ("sip:", "SIP/"): <paramref name="literal"/> holds them lower-case, little-endian. The fourth byte is not
    /// OR-ed with 0x20, which would also map a control byte onto ':' or '/'.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool ThreeLettersThen(ReadOnlySpan<byte> b, int at, uint literal) =>
        (System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(b.Slice(at)) | 0x00202020) == literal;
}
