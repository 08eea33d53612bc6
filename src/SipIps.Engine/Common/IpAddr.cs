using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace SipIps.Engine.Common;

/// <summary>
/// An IPv4 or IPv6 address held in 16 bytes plus a family, with allocation-free parsing and formatting.
/// IPv4 addresses keep their 4 bytes in the low 32 bits of <see cref="Lo"/>; they are never stored as IPv4-mapped IPv6.
/// </summary>
public readonly struct IpAddr : IEquatable<IpAddr>
{
    /// <summary>Upper 64 bits of an IPv6 address in network order; zero for IPv4.</summary>
    public readonly ulong Hi;
    /// <summary>Lower 64 bits of an IPv6 address in network order, or the IPv4 address in its low 32 bits.</summary>
    public readonly ulong Lo;
    /// <summary>0 when absent, 4 or 6.</summary>
    public readonly byte Family;

    /// <summary>The longest text form: a full IPv6 address with an embedded IPv4 tail.</summary>
    public const int MaxTextLength = 45;

    private IpAddr(ulong hi, ulong lo, byte family)
    {
        Hi = hi;
        Lo = lo;
        Family = family;
    }

    public bool IsPresent => Family != 0;
    public bool IsV4 => Family == 4;
    public bool IsV6 => Family == 6;

    public static IpAddr FromV4(ReadOnlySpan<byte> bytes) => new(0, BinaryPrimitives.ReadUInt32BigEndian(bytes), 4);

    public static IpAddr FromV4(uint hostOrder) => new(0, hostOrder, 4);

    public static IpAddr FromV6(ReadOnlySpan<byte> bytes) =>
        new(BinaryPrimitives.ReadUInt64BigEndian(bytes), BinaryPrimitives.ReadUInt64BigEndian(bytes.Slice(8)), 6);

    public static IpAddr FromV6(ulong hi, ulong lo) => new(hi, lo, 6);

    /// <summary>The IPv4 address in host order; meaningful only when <see cref="IsV4"/>.</summary>
    public uint V4 => (uint)Lo;

    /// <summary>Writes the 4 or 16 address bytes; returns how many were written.</summary>
    public int WriteBytes(Span<byte> destination)
    {
        if (Family == 4)
        {
            BinaryPrimitives.WriteUInt32BigEndian(destination, (uint)Lo);
            return 4;
        }
        if (Family == 6)
        {
            BinaryPrimitives.WriteUInt64BigEndian(destination, Hi);
            BinaryPrimitives.WriteUInt64BigEndian(destination.Slice(8), Lo);
            return 16;
        }
        return 0;
    }

    /// <summary>The same address with every bit after <paramref name="bits"/> cleared (a /24 or /64 aggregate).</summary>
    public IpAddr Prefix(int bits)
    {
        if (Family == 4)
        {
            uint mask = bits <= 0 ? 0u : bits >= 32 ? uint.MaxValue : uint.MaxValue << (32 - bits);
            return new IpAddr(0, (uint)Lo & mask, 4);
        }
        if (Family == 6)
        {
            ulong hiMask = bits <= 0 ? 0 : bits >= 64 ? ulong.MaxValue : ulong.MaxValue << (64 - bits);
            ulong loMask = bits <= 64 ? 0 : bits >= 128 ? ulong.MaxValue : ulong.MaxValue << (128 - bits);
            return new IpAddr(Hi & hiMask, Lo & loMask, 6);
        }
        return this;
    }

    public bool Equals(IpAddr other) => Hi == other.Hi && Lo == other.Lo && Family == other.Family;
    public override bool Equals(object? obj) => obj is IpAddr other && Equals(other);
    public override int GetHashCode() => HashCode.Combine(Hi, Lo, Family);
    public static bool operator ==(IpAddr a, IpAddr b) => a.Equals(b);
    public static bool operator !=(IpAddr a, IpAddr b) => !a.Equals(b);

    public override string ToString()
    {
        Span<byte> buffer = stackalloc byte[MaxTextLength];
        return TryFormat(buffer, out int n) ? System.Text.Encoding.ASCII.GetString(buffer.Slice(0, n)) : "-";
    }

    /// <summary>Formats as dotted quad or RFC 5952 IPv6 text (lower case, longest zero run compressed).</summary>
    public bool TryFormat(Span<byte> destination, out int written)
    {
        written = 0;
        return Family switch
        {
            4 => TryFormatV4((uint)Lo, destination, ref written),
            6 => TryFormatV6(destination, ref written),
            _ => false,
        };
    }

    // Apart from TryFormat, so that the IPv4 case does not pay for this one's stack frame.
    private bool TryFormatV6(Span<byte> destination, ref int written)
    {
        Span<ushort> groups = stackalloc ushort[8];
        for (int i = 0; i < 4; i++)
        {
            groups[i] = (ushort)(Hi >> (48 - 16 * i));
            groups[i + 4] = (ushort)(Lo >> (48 - 16 * i));
        }

        // IPv4-mapped (::ffff:a.b.c.d) keeps the dotted tail, as RFC 5952 section 5 recommends.
        if (Hi == 0 && (Lo >> 32) == 0xFFFF)
        {
            if (!Append(destination, ref written, "::ffff:"u8))
                return false;
            return TryFormatV4((uint)Lo, destination, ref written);
        }

        int bestStart = -1, bestLen = 0;
        for (int i = 0; i < 8;)
        {
            if (groups[i] != 0) { i++; continue; }
            int j = i;
            while (j < 8 && groups[j] == 0) j++;
            if (j - i > bestLen) { bestStart = i; bestLen = j - i; }
            i = j;
        }
        if (bestLen < 2) bestStart = -1;

        for (int i = 0; i < 8; i++)
        {
            if (i == bestStart)
            {
                if (!Append(destination, ref written, "::"u8)) return false;
                i += bestLen - 1;
                continue;
            }
            if (i > 0 && i != bestStart + bestLen)
            {
                if (!Append(destination, ref written, ":"u8)) return false;
            }
            if (!AppendHex(destination, ref written, groups[i])) return false;
        }
        return true;
    }

    private static bool TryFormatV4(uint v, Span<byte> destination, ref int written)
    {
        var d = destination.Slice(written);
        if (d.Length < 15)
        {
            // Short buffer: the exact length decides whether it fits.
            for (int i = 0; i < 4; i++)
            {
                if (i > 0 && !Append(destination, ref written, "."u8)) return false;
                uint octet = (v >> (24 - 8 * i)) & 0xFF;
                if (!octet.TryFormat(destination.Slice(written), out int n)) return false;
                written += n;
            }
            return true;
        }
        int w = 0;
        for (int i = 0; i < 4; i++)
        {
            if (i > 0) d[w++] = (byte)'.';
            uint octet = (v >> (24 - 8 * i)) & 0xFF;
            if (octet >= 100)
            {
                uint hundreds = octet / 100;
                d[w++] = (byte)('0' + hundreds);
                octet -= hundreds * 100;
                d[w++] = (byte)('0' + octet / 10);
            }
            else if (octet >= 10)
            {
                d[w++] = (byte)('0' + octet / 10);
            }
            d[w++] = (byte)('0' + octet % 10);
        }
        written += w;
        return true;
    }

    private static bool AppendHex(Span<byte> destination, ref int written, ushort value)
    {
        if (!value.TryFormat(destination.Slice(written), out int n, "x")) return false;
        written += n;
        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool Append(Span<byte> destination, ref int written, ReadOnlySpan<byte> text)
    {
        if (!text.TryCopyTo(destination.Slice(written))) return false;
        written += text.Length;
        return true;
    }

    /// <summary>Parses a dotted-quad IPv4 address (exactly four decimal octets).</summary>
    public static bool TryParseV4(ReadOnlySpan<byte> text, out IpAddr address)
    {
        address = default;
        if (!TryParseV4Value(text, out uint v)) return false;
        address = new IpAddr(0, v, 4);
        return true;
    }

    private static bool TryParseV4Value(ReadOnlySpan<byte> text, out uint value)
    {
        // Unrolled per octet (one to three digits): the loop exits of a digit-counting loop are what a branch
        // predictor guesses worst, and an address is parsed for every Via, Contact and SDP connection line.
        value = 0;
        int len = text.Length;
        if ((uint)(len - 7) > 8) return false; // "0.0.0.0" to "255.255.255.255"
        uint v = 0;
        int i = 0;
        for (int k = 0; k < 4; k++)
        {
            if (k > 0)
            {
                if (i >= len || text[i] != '.') return false;
                i++;
            }
            if (i >= len) return false;
            uint octet = (uint)(text[i] - '0');
            if (octet > 9) return false;
            i++;
            uint d;
            if (i < len && (d = (uint)(text[i] - '0')) <= 9)
            {
                octet = octet * 10 + d;
                i++;
                if (i < len && (d = (uint)(text[i] - '0')) <= 9)
                {
                    octet = octet * 10 + d;
                    i++;
                    if (octet > 255) return false;
                }
            }
            v = (v << 8) | octet;
        }
        value = v;
        return i == len;
    }

    /// <summary>Parses IPv6 text (with "::" and an optional dotted IPv4 tail), with or without brackets.</summary>
    public static bool TryParseV6(ReadOnlySpan<byte> text, out IpAddr address)
    {
        address = default;
        if (text.Length >= 2 && text[0] == '[' && text[^1] == ']')
            text = text.Slice(1, text.Length - 2);
        int zone = text.IndexOf((byte)'%');
        if (zone >= 0) text = text.Slice(0, zone);
        if (text.Length < 2 || text.Length > MaxTextLength) return false;

        Span<ushort> groups = stackalloc ushort[8];
        int count = 0, gap = -1, i = 0;
        if (text[0] == ':')
        {
            if (text[1] != ':') return false;
            gap = 0;
            i = 2;
            if (i == text.Length) { address = new IpAddr(0, 0, 6); return true; }
        }
        while (i < text.Length)
        {
            if (count == 8) return false;
            int start = i;
            uint value = 0;
            while (i < text.Length && i - start < 5 && HexValue(text[i]) is int h and >= 0)
            {
                value = (value << 4) | (uint)h;
                i++;
            }
            if (i < text.Length && text[i] == '.')
            {
                // Embedded IPv4: consumes the rest and fills two groups.
                if (count > 6 || !TryParseV4Value(text.Slice(start), out uint v4)) return false;
                groups[count++] = (ushort)(v4 >> 16);
                groups[count++] = (ushort)v4;
                i = text.Length;
                break;
            }
            int len = i - start;
            if (len == 0 || len > 4) return false;
            groups[count++] = (ushort)value;
            if (i == text.Length) break;
            if (text[i] != ':') return false;
            i++;
            if (i < text.Length && text[i] == ':')
            {
                if (gap >= 0) return false;
                gap = count;
                i++;
                if (i == text.Length) break;
            }
            else if (i == text.Length)
            {
                return false; // trailing single colon
            }
        }

        if (gap < 0 && count != 8) return false;
        if (gap >= 0 && count > 7) return false;
        Span<ushort> full = stackalloc ushort[8];
        if (gap < 0)
        {
            groups.CopyTo(full);
        }
        else
        {
            full.Clear();
            for (int k = 0; k < gap; k++) full[k] = groups[k];
            int tail = count - gap;
            for (int k = 0; k < tail; k++) full[8 - tail + k] = groups[gap + k];
        }
        ulong hi = 0, lo = 0;
        for (int k = 0; k < 4; k++)
        {
            hi = (hi << 16) | full[k];
            lo = (lo << 16) | full[k + 4];
        }
        address = new IpAddr(hi, lo, 6);
        return true;
    }

    /// <summary>Parses either family.</summary>
    public static bool TryParse(ReadOnlySpan<byte> text, out IpAddr address) =>
        TryParseV4(text, out address) || TryParseV6(text, out address);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int HexValue(byte c)
    {
        uint d = (uint)(c - '0');
        if (d <= 9) return (int)d;
        uint l = (uint)((c | 0x20) - 'a');
        return l <= 5 ? (int)l + 10 : -1;
    }
}
