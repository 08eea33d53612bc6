using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace SipIps.Export.Clf;

/// <summary>
/// Writes one RFC 6873 record into a caller's buffer: <see cref="WriteMandatory"/>, any number of
/// <see cref="AddOptional"/>, then <see cref="Finish"/>, which fills in the record length and the last pointer.
/// Allocation-free. When the buffer is too small every call becomes a no-op and <see cref="Finish"/> returns -1.
/// </summary>
public ref struct ClfRecordWriter
{
    private readonly Span<byte> _dest;
    private int _pos;
    private bool _failed;
    private int _optionalStart;

    public ClfRecordWriter(Span<byte> destination)
    {
        _dest = destination;
        _pos = 0;
        _failed = false;
        _optionalStart = -1;
    }

    public void WriteMandatory(scoped in ClfRecord r)
    {
        if (_dest.Length < ClfFormat.FieldsOffset)
        {
            _failed = true;
            return;
        }
        _dest[0] = ClfFormat.Version;
        // Length and the pointers are filled in as they become known.
        _dest.Slice(1, 6).Fill((byte)'0');
        _dest[7] = (byte)',';
        _dest[60] = (byte)'\n';
        if (r.TimestampText.Length == 14) r.TimestampText.CopyTo(_dest.Slice(ClfFormat.TimestampOffset, 14));
        else WriteTimestamp(r.TimestampNs, _dest.Slice(ClfFormat.TimestampOffset, 14));
        _dest[75] = (byte)'\t';
        _dest[76] = r.IsRequest ? (byte)'R' : (byte)'r';
        _dest[77] = r.Retransmission == 0 ? (byte)'O' : r.Retransmission;
        _dest[78] = r.Direction == 0 ? (byte)'R' : r.Direction;
        _dest[79] = r.Transport == 0 ? (byte)'U' : r.Transport;
        _dest[80] = r.Encrypted ? (byte)'E' : (byte)'U';
        _dest[81] = (byte)'\t';
        _pos = ClfFormat.FieldsOffset;

        // Field by field in record order, each byte checked. The records of SIP messages come from SipClfFormatter's
        // direct path unless a value needs escaping.
        for (int i = 0; i < MandatoryFields; i++) Field(i, Value(r, i));
        if (_pos > ClfFormat.MaxPointer) _failed = true;
    }

    /// <summary>The mandatory fields after the flags, in record order (RFC 6873 section 4.2).</summary>
    private const int MandatoryFields = 12;

    private static ReadOnlySpan<byte> Value(scoped in ClfRecord r, int index) => index switch
    {
        0 => r.CSeq,
        1 => r.Status,
        2 => r.RequestUri,
        3 => r.Destination,
        4 => r.Source,
        5 => r.ToUri,
        6 => r.ToTag,
        7 => r.FromUri,
        8 => r.FromTag,
        9 => r.CallId,
        10 => r.ServerTransaction,
        _ => r.ClientTransaction,
    };

    /// <summary>Appends an optional field: TAB Tag '@' Vendor ',' Length ',' BEB ',' Value.</summary>
    public void AddOptional(scoped ReadOnlySpan<byte> tag, scoped ReadOnlySpan<byte> value, scoped ReadOnlySpan<byte> vendor = default, bool binary = false)
    {
        if (_failed) return;
        if (tag.Length != 2 || (!vendor.IsEmpty && vendor.Length != 8))
        {
            _failed = true;
            return;
        }
        if (_optionalStart < 0) _optionalStart = _pos;
        if (!Room(1 + 2 + 1 + 8 + 1 + 4 + 1 + 2 + 1))
            return;
        _dest[_pos++] = (byte)'\t';
        tag.CopyTo(_dest.Slice(_pos));
        _pos += 2;
        _dest[_pos++] = (byte)'@';
        (vendor.IsEmpty ? ClfFormat.IetfVendor : vendor).CopyTo(_dest.Slice(_pos));
        _pos += 8;
        _dest[_pos++] = (byte)',';
        int lengthAt = _pos;
        _pos += 4;
        _dest[_pos++] = (byte)',';
        _dest[_pos++] = (byte)'0';
        _dest[_pos++] = binary ? (byte)'1' : (byte)'0';
        _dest[_pos++] = (byte)',';
        int valueStart = _pos;
        WriteEscaped(value, emptyAsDash: false);
        if (_failed) return;
        int length = _pos - valueStart;
        if (length > 0xFFFF)
        {
            _failed = true;
            return;
        }
        WriteHex(length, _dest.Slice(lengthAt, 4));
    }

    /// <summary>Ends the record; returns its length, or -1 when it did not fit.</summary>
    public int Finish()
    {
        if (_failed || !Room(1)) return -1;
        int optionalPointer = _optionalStart >= 0 ? _optionalStart : _pos;
        if (optionalPointer + ClfFormat.PointerBase > ClfFormat.MaxPointer) return -1;
        WriteHex(optionalPointer + ClfFormat.PointerBase, _dest.Slice(ClfFormat.PointersOffset + 12 * 4, 4));
        _dest[_pos++] = (byte)'\n';
        if (_pos > ClfFormat.MaxRecordBytes) return -1;
        WriteHex(_pos, _dest.Slice(1, 6));
        return _pos;
    }

    /// <summary>Four hex digits of <paramref name="value"/> (below 0x10000), two table lookups.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void WritePointer(ref byte dest, int value)
    {
        ref byte pairs = ref MemoryMarshal.GetReference(HexPairs);
        Unsafe.WriteUnaligned(ref dest, Unsafe.ReadUnaligned<ushort>(ref Unsafe.Add(ref pairs, ((value >> 8) & 0xFF) * 2)));
        Unsafe.WriteUnaligned(ref Unsafe.Add(ref dest, 2), Unsafe.ReadUnaligned<ushort>(ref Unsafe.Add(ref pairs, (value & 0xFF) * 2)));
    }

    /// <summary>"00" to "FF", two bytes per value.</summary>
    private static ReadOnlySpan<byte> HexPairs =>
        "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F202122232425262728292A2B2C2D2E2F303132333435363738393A3B3C3D3E3F404142434445464748494A4B4C4D4E4F505152535455565758595A5B5C5D5E5F606162636465666768696A6B6C6D6E6F707172737475767778797A7B7C7D7E7F808182838485868788898A8B8C8D8E8F909192939495969798999A9B9C9D9E9FA0A1A2A3A4A5A6A7A8A9AAABACADAEAFB0B1B2B3B4B5B6B7B8B9BABBBCBDBEBFC0C1C2C3C4C5C6C7C8C9CACBCCCDCECFD0D1D2D3D4D5D6D7D8D9DADBDCDDDEDFE0E1E2E3E4E5E6E7E8E9EAEBECEDEEEFF0F1F2F3F4F5F6F7F8F9FAFBFCFDFEFF"u8;

    private void Field(int index, scoped ReadOnlySpan<byte> value)
    {
        if (_failed) return;
        if (index > 0)
        {
            if (!Room(1)) return;
            _dest[_pos++] = (byte)'\t';
        }
        WriteHex(_pos + ClfFormat.PointerBase, _dest.Slice(ClfFormat.PointersOffset + index * 4, 4));
        WriteEscaped(value, emptyAsDash: true);
    }

    private void WriteEscaped(scoped ReadOnlySpan<byte> value, bool emptyAsDash)
    {
        if (value.IsEmpty)
        {
            if (!emptyAsDash) return;
            if (Room(1)) _dest[_pos++] = (byte)'-';
            return;
        }
        // A value that is literally "-" or "?" would read as "empty" or "unparseable".
        if (value.Length == 1 && (value[0] == '-' || value[0] == '?'))
        {
            var escaped = value[0] == '-' ? "%2D"u8 : "%3F"u8;
            if (!Room(3)) return;
            escaped.CopyTo(_dest.Slice(_pos));
            _pos += 3;
            return;
        }
        if (value.Length > ClfFormat.MaxFieldBytes) value = value.Slice(0, ClfFormat.MaxFieldBytes);
        if (!Room(value.Length)) return;
        // Most values need no escaping: copy them as they are and look for TAB, CR and LF on the way.
        if (CopyPlain(value, _dest.Slice(_pos)))
        {
            _pos += value.Length;
            return;
        }
        foreach (byte c in value)
        {
            switch (c)
            {
                case (byte)'\t':
                    if (!Room(1)) return;
                    _dest[_pos++] = (byte)' ';
                    break;
                case (byte)'\r':
                case (byte)'\n':
                    if (!Room(3)) return;
                    _dest[_pos++] = (byte)'%';
                    _dest[_pos++] = (byte)'0';
                    _dest[_pos++] = c == '\r' ? (byte)'D' : (byte)'A';
                    break;
                default:
                    if (!Room(1)) return;
                    _dest[_pos++] = c;
                    break;
            }
        }
    }

    private bool Room(int n)
    {
        if (_failed || _dest.Length - _pos < n)
        {
            _failed = true;
            return false;
        }
        return true;
    }

    /// <summary>
    /// Copies <paramref name="value"/> to <paramref name="dest"/> (which has room for it) and returns false when the
    /// value holds a byte that needs escaping (TAB, CR or LF); the caller then writes it again, escaped.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool CopyPlain(ReadOnlySpan<byte> value, Span<byte> dest)
    {
        int n = value.Length;
        ref byte s = ref MemoryMarshal.GetReference(value);
        ref byte d = ref MemoryMarshal.GetReference(dest);
        if (n >= Vector128<byte>.Count)
        {
            var special = Vector128<byte>.Zero;
            int i = 0;
            for (; i <= n - Vector128<byte>.Count; i += Vector128<byte>.Count)
            {
                var v = Vector128.LoadUnsafe(ref s, (nuint)i);
                special |= Special(v);
                v.StoreUnsafe(ref d, (nuint)i);
            }
            if (i < n)
            {
                // The tail: the last 16 bytes again, overlapping what was copied.
                var v = Vector128.LoadUnsafe(ref s, (nuint)(n - Vector128<byte>.Count));
                special |= Special(v);
                v.StoreUnsafe(ref d, (nuint)(n - Vector128<byte>.Count));
            }
            return special == Vector128<byte>.Zero;
        }
        if (n >= sizeof(ulong))
        {
            // Two overlapping words.
            ulong head = Unsafe.ReadUnaligned<ulong>(ref s);
            ulong tail = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref s, n - sizeof(ulong)));
            Unsafe.WriteUnaligned(ref d, head);
            Unsafe.WriteUnaligned(ref Unsafe.Add(ref d, n - sizeof(ulong)), tail);
            return (Special(head) | Special(tail)) == 0;
        }
        if (n >= sizeof(uint))
        {
            uint head = Unsafe.ReadUnaligned<uint>(ref s);
            uint tail = Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref s, n - sizeof(uint)));
            Unsafe.WriteUnaligned(ref d, head);
            Unsafe.WriteUnaligned(ref Unsafe.Add(ref d, n - sizeof(uint)), tail);
            return (Special(head | ((ulong)tail << 32))) == 0;
        }
        for (int i = 0; i < n; i++)
        {
            byte c = Unsafe.Add(ref s, i);
            // TAB (9), LF (10) and CR (13): bits of 0x2600.
            if (c < 14 && ((0x2600 >> c) & 1) != 0) return false;
            Unsafe.Add(ref d, i) = c;
        }
        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<byte> Special(Vector128<byte> v) =>
        Vector128.Equals(v, Vector128.Create((byte)'\t')) | Vector128.Equals(v, Vector128.Create((byte)'\n')) | Vector128.Equals(v, Vector128.Create((byte)'\r'));

    /// <summary>Nonzero when a byte of <paramref name="w"/> is TAB, LF or CR (exact: no false positives).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Special(ulong w) => HasZeroByte(w ^ 0x0909090909090909UL) | HasZeroByte(w ^ 0x0A0A0A0A0A0A0A0AUL) | HasZeroByte(w ^ 0x0D0D0D0D0D0D0D0DUL);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong HasZeroByte(ulong v) => (v - 0x0101010101010101UL) & ~v & 0x8080808080808080UL;

    private static ReadOnlySpan<byte> HexDigits => "0123456789ABCDEF"u8;

    internal static void WriteHex(int value, Span<byte> dest)
    {
        ReadOnlySpan<byte> hex = HexDigits;
        for (int i = dest.Length - 1; i >= 0; i--)
        {
            dest[i] = hex[value & 0xF];
            value >>= 4;
        }
    }

    /// <summary>"00" to "99", two bytes per value.</summary>
    private static ReadOnlySpan<byte> DigitPairs =>
        "00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899"u8;

    internal static void WriteTimestamp(long ns, Span<byte> dest)
    {
        // "SSSSSSSSSS.mmm": ten digits of epoch seconds, three of milliseconds.
        long seconds = Math.Clamp(ns / 1_000_000_000, 0, 9_999_999_999);
        long millis = Math.Max(0, ns % 1_000_000_000) / 1_000_000;
        ReadOnlySpan<byte> pairs = DigitPairs;
        for (int i = 8; i >= 0; i -= 2)
        {
            int pair = (int)(seconds % 100) * 2;
            dest[i] = pairs[pair];
            dest[i + 1] = pairs[pair + 1];
            seconds /= 100;
        }
        dest[10] = (byte)'.';
        dest[11] = (byte)('0' + millis / 100);
        dest[12] = (byte)('0' + millis / 10 % 10);
        dest[13] = (byte)('0' + millis % 10);
    }
}
