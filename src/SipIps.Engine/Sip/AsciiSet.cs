using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SipIps.Engine.Sip;

/// <summary>
/// A set of ASCII bytes that the parser skips runs of (token, host, Call-ID characters), checked 16 bytes at a time
/// inline: two byte shuffles look up each byte's low nibble in a bitmap of allowed high nibbles. The runs it sees are
/// 10-40 bytes (tags, branches, Call-IDs, host names), where the call and setup of a general vectorised search cost
/// as much as the search itself. Bytes of 0x80 and above are never members.
/// </summary>
internal sealed class AsciiSet
{
    private readonly bool[] _member = new bool[256];
    private readonly Vector128<byte> _bitmap; // low nibble -> bit h set when (h << 4 | low) is a member, h < 8

    public AsciiSet(ReadOnlySpan<byte> members)
    {
        Span<byte> bitmap = stackalloc byte[16];
        bitmap.Clear();
        foreach (byte c in members)
        {
            if (c >= 0x80) throw new ArgumentException("only ASCII bytes", nameof(members));
            _member[c] = true;
            bitmap[c & 0x0F] |= (byte)(1 << (c >> 4));
        }
        _bitmap = Vector128.Create((ReadOnlySpan<byte>)bitmap);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Contains(byte c) => _member[c];

    /// <summary>The first position at or after <paramref name="pos"/> (below <paramref name="end"/>) whose byte is not a member, or <paramref name="end"/>.</summary>
    public int Skip(ReadOnlySpan<byte> b, int pos, int end)
    {
        if ((uint)end > (uint)b.Length || pos > end) return pos;
        if (Ssse3.IsSupported)
        {
            ref byte start = ref MemoryMarshal.GetReference(b);
            var bitmap = _bitmap;
            while (end - pos >= 16)
            {
                uint outside = NonMembers(Vector128.LoadUnsafe(ref start, (nuint)pos), bitmap);
                if (outside != 0) return pos + BitOperations.TrailingZeroCount(outside);
                pos += 16;
            }
            if (pos < end && end >= 16)
            {
                // The last block ends at the run's end and overlaps bytes already known to be members.
                int at = end - 16;
                uint outside = NonMembers(Vector128.LoadUnsafe(ref start, (nuint)at), bitmap) >> (pos - at);
                return outside != 0 ? pos + BitOperations.TrailingZeroCount(outside) : end;
            }
        }
        while (pos < end && _member[b[pos]]) pos++;
        return pos;
    }

    /// <summary>Bit i set when byte i of <paramref name="v"/> is not a member. Needs SSSE3.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public uint NonMembers(Vector128<byte> v) => NonMembers(v, _bitmap);

    /// <summary>Bit i set when byte i of <paramref name="v"/> is not a member.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint NonMembers(Vector128<byte> v, Vector128<byte> bitmap)
    {
        var low = v & Vector128.Create((byte)0x0F);
        var high = Vector128.ShiftRightLogical(v.AsUInt16(), 4).AsByte() & Vector128.Create((byte)0x0F);
        var row = Ssse3.Shuffle(bitmap, low);
        // 1 << high for high nibbles 0-7; 0 for 8-15, so that no byte of 0x80 or above is a member.
        var bit = Ssse3.Shuffle(Vector128.Create(1, 2, 4, 8, 16, 32, 64, 128, 0, 0, 0, 0, 0, 0, 0, 0), high);
        return Vector128.Equals(row & bit, Vector128<byte>.Zero).ExtractMostSignificantBits();
    }
}
