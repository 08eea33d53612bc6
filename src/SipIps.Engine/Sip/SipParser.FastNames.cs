using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace SipIps.Engine.Sip;

public static partial class SipParser
{
    // Header names as lower-case little-endian integers, for a dispatch on the first bytes of a line.
    private const uint Via4 = 'v' | 'i' << 8 | 'a' << 16 | ':' << 24;
    private const uint From4 = 'f' | 'r' << 8 | 'o' << 16 | 'm' << 24;
    private const uint CSeq4 = 'c' | 's' << 8 | 'e' << 16 | 'q' << 24;
    private const uint Date4 = 'd' | 'a' << 8 | 't' << 16 | 'e' << 24;
    private const uint To3 = 't' | 'o' << 8 | ':' << 16;
    private const ulong CallId8 = 0x3A64692D6C6C6163; // "call-id:"
    private const ulong Contact8 = 0x3A746361746E6F63; // "contact:"
    private const ulong Expires8 = 0x3A73657269707865; // "expires:"
    private const ulong Content8 = 0x2D746E65746E6F63; // "content-"
    private const ulong MaxForw8 = 0x77726F662D78616D; // "max-forw"
    private const ulong UserAge8 = 0x6567612D72657375; // "user-age"

    /// <summary>
    /// Recognises the common header names when the colon follows the name directly, with integer compares on the
    /// first bytes (case-insensitively; a match is also a valid token). Returns the colon position, or -1 to take
    /// the general path (other names, LWS before the colon, odd bytes).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int FastHeaderName(ReadOnlySpan<byte> b, int start, int end, out SipHeaderId id)
    {
        id = SipHeaderId.Other;
        int len = end - start;
        if (len < 2) return -1;
        if (b[start + 1] == ':')
        {
            byte c = b[start];
            if (!SipChars.IsAlpha(c)) return -1;
            id = SipHeaders.Compact((byte)(c | 0x20));
            return start + 1;
        }
        if (len < 8) return -1;
        var s = b.Slice(start);
        uint w4 = BinaryPrimitives.ReadUInt32LittleEndian(s) | 0x20202020;
        // OR-ing 0x20 maps only letters exactly; ':' and '-' could also come from control bytes, so those
        // positions are checked as they are.
        if ((w4 & 0x00FFFFFF) == To3 && s[2] == ':') { id = SipHeaderId.To; return start + 2; }
        switch (w4)
        {
            case Via4 when s[3] == ':': id = SipHeaderId.Via; return start + 3;
            case From4 when s[4] == ':': id = SipHeaderId.From; return start + 4;
            case CSeq4 when s[4] == ':': id = SipHeaderId.CSeq; return start + 4;
            case Date4 when s[4] == ':': id = SipHeaderId.Date; return start + 4;
        }
        ulong w8 = BinaryPrimitives.ReadUInt64LittleEndian(s) | 0x2020202020202020UL;
        switch (w8)
        {
            case CallId8 when s[4] == '-' && s[7] == ':': id = SipHeaderId.CallId; return start + 7;
            case Contact8 when s[7] == ':': id = SipHeaderId.Contact; return start + 7;
            case Expires8 when s[7] == ':': id = SipHeaderId.Expires; return start + 7;
            case Content8 when s[7] == '-':
                if (len >= 13 && AsciiCase.EqualsLower(s.Slice(8, 4), "type"u8) && s[12] == ':') { id = SipHeaderId.ContentType; return start + 12; }
                if (len >= 15 && AsciiCase.EqualsLower(s.Slice(8, 6), "length"u8) && s[14] == ':') { id = SipHeaderId.ContentLength; return start + 14; }
                return -1;
            case MaxForw8 when s[3] == '-':
                if (len >= 13 && AsciiCase.EqualsLower(s.Slice(8, 4), "ards"u8) && s[12] == ':') { id = SipHeaderId.MaxForwards; return start + 12; }
                return -1;
            case UserAge8 when s[4] == '-':
                if (len >= 11 && (s[8] | 0x20) == 'n' && (s[9] | 0x20) == 't' && s[10] == ':') { id = SipHeaderId.UserAgent; return start + 10; }
                return -1;
        }
        return -1;
    }
}
