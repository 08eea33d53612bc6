using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace SipIps.Engine.Sip;

/// <summary>
/// Yields the positions of LF bytes in increasing order from one vectorised pass: each 64-byte block becomes a bit
/// mask once, and lines are read off the mask. A header section of 30 short lines costs about as much as one
/// scan of its bytes, instead of 30 separate searches. The same pass notes whether any block held a control byte
/// that a header section may not carry, so that a clean message needs no second pass to prove it.
/// </summary>
internal ref struct LineFeedScanner
{
    private const int Width = 64;
    private readonly ReadOnlySpan<byte> _data;
    private int _base;
    private ulong _mask;
    private ulong _controls;
    private readonly int _end;

    public LineFeedScanner(ReadOnlySpan<byte> data, int start) : this(data, start, data.Length)
    {
    }

    /// <summary>
    /// Scans <paramref name="data"/> from <paramref name="start"/> up to <paramref name="end"/>. Bytes of
    /// <paramref name="data"/> past <paramref name="end"/> (padding, stale bytes of an earlier message) may be loaded
    /// with a block but are never reported, so a block near the end needs no byte-at-a-time tail.
    /// </summary>
    public LineFeedScanner(ReadOnlySpan<byte> data, int start, int end)
    {
        _data = data;
        _end = end;
        _base = start;
        (_mask, _controls) = start < end ? LoadMask(data, start, end) : (0, 0);
    }

    /// <summary>
    /// True when a block scanned so far held a control byte other than HT, CR and LF, or DEL (see
    /// <see cref="SipChars.HeaderControls"/>). Blocks may reach past the header section, so true calls for an exact
    /// search; false proves that the scanned bytes have none.
    /// </summary>
    public readonly bool SawControl => _controls != 0;

    /// <summary>The next LF position, or -1 when there is none.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Next()
    {
        while (_mask == 0)
        {
            _base += Width;
            if (_base >= _end) return -1;
            (_mask, ulong controls) = LoadMask(_data, _base, _end);
            _controls |= controls;
        }
        int bit = BitOperations.TrailingZeroCount(_mask);
        _mask &= _mask - 1;
        return _base + bit;
    }

    /// <summary>
    /// The LF bits of the block at <paramref name="at"/> below <paramref name="end"/>, and the bits of its control
    /// bytes: whole blocks with vectors, inline; a block that would read past the span apart. (A pair returned, not a
    /// field updated by reference, keeps the scanner in registers.)
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (ulong LineFeeds, ulong Controls) LoadMask(ReadOnlySpan<byte> data, int at, int end)
    {
        if (at + Width > data.Length) return LoadTail(data, at, end);
        var (lineFeeds, controls) = LoadBlock(data, at);
        if (end - at < Width)
        {
            ulong keep = (1UL << (end - at)) - 1;
            return (lineFeeds & keep, controls & keep);
        }
        return (lineFeeds, controls);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (ulong LineFeeds, ulong Controls) LoadBlock(ReadOnlySpan<byte> data, int at)
    {
        if (Vector512.IsHardwareAccelerated) return LoadBlock512(data, at);
        if (Vector256.IsHardwareAccelerated) return LoadBlock256(data, at);
        return LoadBlock128(data, at);
    }

    // One loader per vector width, each callable on its own so that tests check every width whatever the machine or
    // the runtime's preferred width. Bit i of both masks is byte at + i; a caller cuts a block that passes the end.

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static (ulong LineFeeds, ulong Controls) LoadBlock512(ReadOnlySpan<byte> data, int at)
    {
        var v = Vector512.LoadUnsafe(ref MemoryMarshal.GetReference(data), (nuint)at);
        var lf = Vector512.Equals(v, Vector512.Create((byte)'\n'));
        return (lf.ExtractMostSignificantBits(), Controls(v, lf).ExtractMostSignificantBits());
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static (ulong LineFeeds, ulong Controls) LoadBlock256(ReadOnlySpan<byte> data, int at)
    {
        ref byte start = ref MemoryMarshal.GetReference(data);
        var v0 = Vector256.LoadUnsafe(ref start, (nuint)at);
        var v1 = Vector256.LoadUnsafe(ref start, (nuint)(at + 32));
        var lf0 = Vector256.Equals(v0, Vector256.Create((byte)'\n'));
        var lf1 = Vector256.Equals(v1, Vector256.Create((byte)'\n'));
        return (lf0.ExtractMostSignificantBits() | ((ulong)lf1.ExtractMostSignificantBits() << 32),
            Controls(v0, lf0).ExtractMostSignificantBits() | ((ulong)Controls(v1, lf1).ExtractMostSignificantBits() << 32));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static (ulong LineFeeds, ulong Controls) LoadBlock128(ReadOnlySpan<byte> data, int at)
    {
        ref byte start = ref MemoryMarshal.GetReference(data);
        ulong mask = 0, controls = 0;
        for (int i = 0; i < Width; i += 16)
        {
            var v = Vector128.LoadUnsafe(ref start, (nuint)(at + i));
            var lf = Vector128.Equals(v, Vector128.Create((byte)'\n'));
            controls |= (ulong)Controls(v, lf).ExtractMostSignificantBits() << i;
            mask |= (ulong)lf.ExtractMostSignificantBits() << i;
        }
        return (mask, controls);
    }

    // Bytes below 0x20 other than HT, CR and LF, and DEL: all-ones lanes where they are. One overload per vector width
    // (the widths share no interface to be generic over); the 512-bit pass is worth about 5% of a parse here.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<byte> Controls(Vector512<byte> v, Vector512<byte> lf) =>
        Vector512.AndNot(Vector512.LessThan(v, Vector512.Create((byte)0x20)),
            lf | Vector512.Equals(v, Vector512.Create((byte)'\t')) | Vector512.Equals(v, Vector512.Create((byte)'\r')))
        | Vector512.Equals(v, Vector512.Create((byte)0x7F));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> Controls(Vector256<byte> v, Vector256<byte> lf) =>
        Vector256.AndNot(Vector256.LessThan(v, Vector256.Create((byte)0x20)),
            lf | Vector256.Equals(v, Vector256.Create((byte)'\t')) | Vector256.Equals(v, Vector256.Create((byte)'\r')))
        | Vector256.Equals(v, Vector256.Create((byte)0x7F));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<byte> Controls(Vector128<byte> v, Vector128<byte> lf) =>
        Vector128.AndNot(Vector128.LessThan(v, Vector128.Create((byte)0x20)),
            lf | Vector128.Equals(v, Vector128.Create((byte)'\t')) | Vector128.Equals(v, Vector128.Create((byte)'\r')))
        | Vector128.Equals(v, Vector128.Create((byte)0x7F));

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static (ulong LineFeeds, ulong Controls) LoadTail(ReadOnlySpan<byte> data, int at, int end)
    {
        var rest = data.Slice(at, end - at);
        ulong mask = 0;
        for (int i = 0; i < rest.Length; i++)
            if (rest[i] == '\n') mask |= 1UL << i;
        return (mask, rest.IndexOfAny(SipChars.HeaderControls) >= 0 ? 1UL : 0);
    }
}
