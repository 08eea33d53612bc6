using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace SipIps.Engine.Sip;

/// <summary>
/// Yields the positions of LF bytes in increasing order from one vectorised pass: each 32-byte block becomes a bit
/// mask once, and lines are read off the mask. A header section of 30 short lines costs about as much as one
/// scan of its bytes, instead of 30 separate searches.
/// </summary>
internal ref struct LineFeedScanner
{
    private const int Width = 32;
    private readonly ReadOnlySpan<byte> _data;
    private int _base;
    private uint _mask;

    public LineFeedScanner(ReadOnlySpan<byte> data, int start)
    {
        _data = data;
        _base = start;
        _mask = start < data.Length ? LoadMask(data, start) : 0;
    }

    /// <summary>The next LF position, or -1 when there is none.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Next()
    {
        while (_mask == 0)
        {
            _base += Width;
            if (_base >= _data.Length) return -1;
            _mask = LoadMask(_data, _base);
        }
        int bit = BitOperations.TrailingZeroCount(_mask);
        _mask &= _mask - 1;
        return _base + bit;
    }

    private static uint LoadMask(ReadOnlySpan<byte> data, int at)
    {
        ref byte start = ref MemoryMarshal.GetReference(data);
        if (at + Width <= data.Length)
        {
            if (Vector256.IsHardwareAccelerated)
                return Vector256.Equals(Vector256.LoadUnsafe(ref start, (nuint)at), Vector256.Create((byte)'\n')).ExtractMostSignificantBits();
            uint lo = Vector128.Equals(Vector128.LoadUnsafe(ref start, (nuint)at), Vector128.Create((byte)'\n')).ExtractMostSignificantBits();
            uint hi = Vector128.Equals(Vector128.LoadUnsafe(ref start, (nuint)(at + 16)), Vector128.Create((byte)'\n')).ExtractMostSignificantBits();
            return lo | (hi << 16);
        }
        uint mask = 0;
        int n = data.Length - at;
        for (int i = 0; i < n; i++)
            if (Unsafe.Add(ref start, at + i) == (byte)'\n') mask |= 1u << i;
        return mask;
    }
}
