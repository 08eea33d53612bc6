using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using System.Text;
using SipIps.Engine.Common;

namespace SipIps.Engine.Sip;

public static partial class SipParser
{
    private static readonly byte[] s_magicCookie = "z9hG4bK"u8.ToArray();

    // ---------------------------------------------------------------- Via
    private static void ParseVia(ReadOnlySpan<byte> b, int start, int end, SipMessage m)
    {
        int p = start;
        while (true)
        {
            p = SipChars.SkipLws(b, p, end);
            int vstart = p;
            // Parsed in place; past the cap into a scratch entry that is only counted.
            bool stored = m.ViaCount < m.Vias.Length;
            ref SipVia via = ref stored ? ref m.Vias[m.ViaCount] : ref m.ScratchVia;
            via.Port = -1;
            via.RPort = -2;
            via.Branch = via.Received = via.Maddr = via.Params = SipSlice.None;
            m.ViaTotal++;
            int r = ParseViaValue(b, p, end, ref via);
            if (r < 0)
            {
                m.Fail(SipParseStatus.BadVia, ~r, SipHeaderId.Via);
                return;
            }
            p = r;
            via.Text = Slice(vstart, p);
            if (!via.Branch.IsPresent) m.Anomalies |= SipAnomaly.MissingBranch;
            else if (!b.Slice(via.Branch.Start, via.Branch.Length).StartsWith("z9hG4bK"u8)) m.Anomalies |= SipAnomaly.BranchWithoutMagicCookie;
            if (via.HostKind == HostKind.IPv4 && via.Host.Length == 15 && b.Slice(via.Host.Start, 15).SequenceEqual("255.255.255.255"u8))
                m.Anomalies |= SipAnomaly.BroadcastVia;

            if (stored) m.ViaCount++;
            else m.Anomalies |= SipAnomaly.ViaCapReached;

            if (!NextListElement(b, ref p, end, m, SipParseStatus.BadVia, SipHeaderId.Via)) return;
        }
    }

    /// <summary>
    /// After one element of a comma-separated header value: true when a comma introduces another element (and
    /// <paramref name="p"/> is past it), false at the end of the value or on anything else (then recorded as bad).
    /// </summary>
    private static bool NextListElement(ReadOnlySpan<byte> b, ref int p, int end, SipMessage m, SipParseStatus bad, SipHeaderId id)
    {
        p = SipChars.SkipLws(b, p, end);
        if (p == end) return false;
        if (b[p] != ',')
        {
            m.Fail(bad, p, id);
            return false;
        }
        p++;
        return true;
    }

    /// <returns>The position after the Via value, or the bitwise complement of where it went wrong (negative).</returns>
    private static int ParseViaValue(ReadOnlySpan<byte> b, int p, int end, ref SipVia via)
    {
        // sent-protocol = protocol-name SLASH protocol-version SLASH transport, with LWS allowed around each SLASH.
        int ps = p;
        if (end - p >= 12 && FastSentProtocol(b.Slice(p, 12), out SipTransport fast))
        {
            // "SIP/2.0/UDP " and its kin: what the grammar below finds for these bytes, in two integer compares.
            via.TransportText = Slice(p + 8, p + 11);
            via.Transport = fast;
            via.Protocol = Slice(ps, p + 11);
            p = SipChars.SkipLws(b, p + 12, end);
            return ParseViaSentBy(b, p, end, ref via);
        }
        int e = SipChars.SkipToken(b, p, end);
        if (e == p) return ~p;
        p = SipChars.SkipLws(b, e, end);
        if (p >= end || b[p] != '/') return ~p;
        p = SipChars.SkipLws(b, p + 1, end);
        e = SipChars.SkipToken(b, p, end);
        if (e == p) return ~p;
        p = SipChars.SkipLws(b, e, end);
        if (p >= end || b[p] != '/') return ~p;
        p = SipChars.SkipLws(b, p + 1, end);
        int ts = p;
        e = SipChars.SkipToken(b, p, end);
        if (e == ts) return ~p;
        via.TransportText = Slice(ts, e);
        via.Transport = ParseTransport(b.Slice(ts, e - ts));
        via.Protocol = Slice(ps, e);
        p = e;
        if (p >= end || !SipChars.IsLws(b[p])) return ~p;
        p = SipChars.SkipLws(b, p, end);
        return ParseViaSentBy(b, p, end, ref via);
    }

    // "sip/2.0/" and the three-letter transports followed by SP, as little-endian integers; the letters are compared
    // with 0x20 OR-ed in (exact for letters: only 'X' and 'x' become 'x'), the other bytes as they are.
    private const ulong SipVersion8 = 0x2F302E322F706973;
    private const ulong SipVersionLetters = 0x0000000000202020;
    private const uint Udp4 = 0x20706475, Tcp4 = 0x20706374, Tls4 = 0x20736C74;

    /// <summary>True when <paramref name="s"/> (12 bytes) is "SIP/2.0/" (any case) and UDP, TCP or TLS and a space.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool FastSentProtocol(ReadOnlySpan<byte> s, out SipTransport transport)
    {
        transport = SipTransport.Unknown;
        if ((BinaryPrimitives.ReadUInt64LittleEndian(s) | SipVersionLetters) != SipVersion8) return false;
        uint t = BinaryPrimitives.ReadUInt32LittleEndian(s.Slice(8)) | 0x00202020;
        transport = t switch { Udp4 => SipTransport.Udp, Tcp4 => SipTransport.Tcp, Tls4 => SipTransport.Tls, _ => SipTransport.Unknown };
        return transport != SipTransport.Unknown;
    }

    /// <summary>sent-by and via-params, after the sent-protocol and its LWS.</summary>
    private static int ParseViaSentBy(ReadOnlySpan<byte> b, int p, int end, ref SipVia via)
    {
        int hp = ParseHostPort(b, p, end, out via.Host, out via.HostKind, out via.Port);
        if (hp < 0) return ~p;
        p = hp;

        int paramStart = -1;
        while (true)
        {
            int q = SipChars.SkipLws(b, p, end);
            if (q >= end || b[q] != ';') break;
            if (paramStart < 0) paramStart = q;
            int r = NextParam(b, q + 1, end, out SipSlice name, out SipSlice value);
            if (r < 0) return r;
            p = r;
            var n = b.Slice(name.Start, name.Length);
            if (AsciiCase.EqualsLower(n, "branch"u8)) via.Branch = value.IsPresent ? value : new SipSlice(name.End, 0);
            else if (AsciiCase.EqualsLower(n, "received"u8)) via.Received = value;
            else if (AsciiCase.EqualsLower(n, "maddr"u8)) via.Maddr = value;
            else if (AsciiCase.EqualsLower(n, "rport"u8))
            {
                if (!value.IsPresent) via.RPort = -1;
                else
                {
                    int vp = SipChars.ParseDecimal(b, value.Start, value.End, 65535, out ulong rp, out bool of);
                    if (vp == value.Start || of || vp != value.End) return ~p;
                    via.RPort = (int)rp;
                }
            }
        }
        if (paramStart >= 0) via.Params = Slice(paramStart, p);
        return p;
    }

    private static SipTransport ParseTransport(ReadOnlySpan<byte> t) => t.Length switch
    {
        2 => AsciiCase.EqualsLower(t, "ws"u8) ? SipTransport.Ws : SipTransport.Unknown,
        3 => (t[0] | 0x20) switch
        {
            'u' when AsciiCase.EqualsLower(t, "udp"u8) => SipTransport.Udp,
            't' when AsciiCase.EqualsLower(t, "tcp"u8) => SipTransport.Tcp,
            't' when AsciiCase.EqualsLower(t, "tls"u8) => SipTransport.Tls,
            'w' when AsciiCase.EqualsLower(t, "wss"u8) => SipTransport.Wss,
            _ => SipTransport.Unknown,
        },
        4 => AsciiCase.EqualsLower(t, "sctp"u8) ? SipTransport.Sctp : SipTransport.Unknown,
        8 => AsciiCase.EqualsLower(t, "tls-sctp"u8) ? SipTransport.TlsSctp : SipTransport.Unknown,
        _ => SipTransport.Unknown,
    };

    /// <summary>host [ COLON port ] as in Via sent-by (SWS allowed around the colon).</summary>
    /// <returns>The position after host and port, or -1 when they are not valid.</returns>
    private static int ParseHostPort(ReadOnlySpan<byte> b, int p, int end, out SipSlice host, out HostKind kind, out int port)
    {
        port = -1;
        p = ParseHost(b, p, end, out host, out kind);
        if (p < 0) return -1;
        int q = SipChars.SkipLws(b, p, end);
        if (q < end && b[q] == ':')
        {
            q = SipChars.SkipLws(b, q + 1, end);
            int e = SipChars.ParseDecimal(b, q, end, 65535, out ulong v, out bool overflow);
            if (e == q || overflow) return -1;
            port = (int)v;
            p = e;
        }
        return p;
    }

    /// <summary>
    /// Parses one generic-param after its ';' (RFC 3261: token [ EQUAL gen-value ], gen-value = token / host /
    /// quoted-string), with SWS around '='. Leaves <paramref name="p"/> just past the value.
    /// </summary>
    /// <returns>The position after the parameter, or the bitwise complement of where it failed (negative).</returns>
    /// <remarks>
    /// The usual forms, "name=value" and a name alone, without LWS or quotes, are read from 32 bytes loaded once: the
    /// token run, then the value's run, from two bit masks. The rest takes <see cref="NextParamGeneral"/>.
    /// </remarks>
    internal static int NextParam(ReadOnlySpan<byte> b, int p, int end, out SipSlice name, out SipSlice value)
    {
        value = SipSlice.None;
        p = SipChars.SkipLws(b, p, end);
        if (Ssse3.IsSupported && p >= 0 && p < end && p <= b.Length - 32)
        {
            ref byte at = ref Unsafe.Add(ref MemoryMarshal.GetReference(b), p);
            var lo = Vector128.LoadUnsafe(ref at);
            var hi = Vector128.LoadUnsafe(ref at, 16);
            int n = BitOperations.TrailingZeroCount(SipChars.TokenChars.NonMembers(lo) | (ulong)SipChars.TokenChars.NonMembers(hi) << 16 | 1UL << 32);
            int eq = p + n;
            if (n > 0 && n < 32 && (eq >= end || (b[eq] != '=' && !SipChars.IsLws(b[eq]))))
            {
                // A name alone ("lr", "rport"), up to the end or the next separator.
                name = Slice(p, Math.Min(eq, end));
                return Math.Min(eq, end);
            }
            if (n > 0 && n < 31 && eq < end && b[eq] == '=')
            {
                uint outside = (SipChars.HeaderParamChars.NonMembers(lo) | SipChars.HeaderParamChars.NonMembers(hi) << 16) >> (n + 1);
                if (outside != 0)
                {
                    int ve = Math.Min(eq + 1 + BitOperations.TrailingZeroCount(outside), end);
                    if (ve > eq + 1)
                    {
                        name = Slice(p, eq);
                        value = Slice(eq + 1, ve);
                        return ve;
                    }
                }
            }
        }
        return NextParamGeneral(b, p, end, out name, out value);
    }

    /// <summary><see cref="NextParam"/> for any input, from just after the LWS that follows the ';'.</summary>
    internal static int NextParamGeneral(ReadOnlySpan<byte> b, int p, int end, out SipSlice name, out SipSlice value)
    {
        value = SipSlice.None;
        int ns = p;
        p = SipChars.SkipToken(b, p, end);
        name = Slice(ns, p);
        if (p == ns) return ~p;
        int q = SipChars.SkipLws(b, p, end);
        if (q < end && b[q] == '=')
        {
            q = SipChars.SkipLws(b, q + 1, end);
            if (q < end && b[q] == '"')
            {
                int close = SipChars.SkipQuoted(b, q, end);
                if (close < 0) return ~p;
                value = Slice(q + 1, close - 1);
                return close;
            }
            int vs = q;
            q = SipChars.SkipHeaderParam(b, q, end);
            if (q == vs) return ~p;
            value = Slice(vs, q);
            p = q;
        }
        return p;
    }

    // ---------------------------------------------------------------- From, To, Contact, Route
    private static void ParseFromTo(ReadOnlySpan<byte> b, int start, int end, SipMessage m, ref SipNameAddr na, SipHeaderId id)
    {
        SipParseStatus bad = id == SipHeaderId.From ? SipParseStatus.BadFrom : SipParseStatus.BadTo;
        int p = start;
        if (start == end)
        {
            m.Fail(bad, start, id);
            return;
        }
        SipParseStatus err = ParseNameAddr(b, ref p, end, ref na, bad, allowBare: true);
        if (err == SipParseStatus.Ok && p != end) err = bad;
        if (err != SipParseStatus.Ok) m.Fail(err, p, id);
    }

    private static void ParseContact(ReadOnlySpan<byte> b, int start, int end, SipMessage m)
    {
        int p = start;
        if (end - start == 1 && b[start] == '*')
        {
            m.ContactStar = true;
            m.ContactTotal++;
            return;
        }
        while (true)
        {
            p = SipChars.SkipLws(b, p, end);
            bool stored = m.ContactCount < m.Contacts.Length;
            ref SipNameAddr na = ref stored ? ref m.Contacts[m.ContactCount] : ref m.ScratchNameAddr;
            na.Clear();
            SipParseStatus err = ParseNameAddr(b, ref p, end, ref na, SipParseStatus.BadContact, allowBare: true);
            m.ContactTotal++;
            if (err != SipParseStatus.Ok)
            {
                m.Fail(err, p, SipHeaderId.Contact);
                return;
            }
            if (na.Expires == -2)
            {
                m.Anomalies |= SipAnomaly.ContactExpiresOutOfRange;
                na.Expires = -1;
            }
            if (stored) m.ContactCount++;
            else m.Anomalies |= SipAnomaly.ContactCapReached;
            if (!NextListElement(b, ref p, end, m, SipParseStatus.BadContact, SipHeaderId.Contact)) return;
        }
    }

    private static void ParseRouteList(ReadOnlySpan<byte> b, int start, int end, SipMessage m, SipNameAddr[] list,
        ref int count, ref int total, SipHeaderId id)
    {
        int p = start;
        while (true)
        {
            p = SipChars.SkipLws(b, p, end);
            bool stored = count < list.Length;
            ref SipNameAddr na = ref stored ? ref list[count] : ref m.ScratchNameAddr;
            na.Clear();
            // route-param = name-addr: the brackets are mandatory.
            SipParseStatus err = ParseNameAddr(b, ref p, end, ref na, SipParseStatus.BadRoute, allowBare: false);
            total++;
            if (err != SipParseStatus.Ok)
            {
                m.Fail(err, p, id);
                return;
            }
            if (stored) count++;
            else m.Anomalies |= SipAnomaly.RouteCapReached;
            if (!NextListElement(b, ref p, end, m, SipParseStatus.BadRoute, id)) return;
        }
    }

    /// <summary>
    /// ( name-addr / addr-spec ) *( SEMI param ). Stops before a ',' or at the end; the caller decides whether a
    /// list may follow. Returns Ok or the reason.
    /// </summary>
    private static SipParseStatus ParseNameAddr(ReadOnlySpan<byte> b, ref int pos, int end, ref SipNameAddr na,
        SipParseStatus bad, bool allowBare)
    {
        // A copy of the position: a by-reference one would live in memory through every loop below.
        int p = SipChars.SkipLws(b, pos, end);
        int start = p;
        if (p >= end) { pos = p; return bad; }
        bool bracketed;
        if (b[p] == '"')
        {
            int close = SipChars.SkipQuoted(b, p, end);
            if (close < 0) { pos = p; return SipParseStatus.UnterminatedQuote; }
            na.DisplayName = Slice(p, close);
            p = SipChars.SkipLws(b, close, end);
            if (p >= end || b[p] != '<') { pos = p; return bad; }
            bracketed = true;
        }
        else
        {
            int s = p;
            while (p < end && (SipChars.IsToken(b[p]) || SipChars.IsLws(b[p]))) p++;
            if (p < end && b[p] == '<')
            {
                int de = SipChars.TrimEnd(b, s, p);
                if (de > s) na.DisplayName = Slice(s, de);
                bracketed = true;
            }
            else
            {
                // Not a display name: either an addr-spec, or a display name with characters a token may not hold
                // (RFC 4475 3.1.2.15), which shows as a '<' further on.
                int lt = b.Slice(p, end - p).IndexOf((byte)'<');
                int colonInRun = b.Slice(s, p - s).IndexOf((byte)':');
                if (lt >= 0 && colonInRun < 0 && (p >= end || b[p] != ':')) { pos = p; return SipParseStatus.BadDisplayName; }
                p = s;
                bracketed = false;
            }
        }

        if (bracketed)
        {
            int close = ShortSearch.IndexOf(b, p, end, (byte)'>');
            if (close < 0) { pos = p; return bad; }
            int us = p + 1;
            // RFC 4475 3.1.2.14: no whitespace inside the angle brackets.
            if (us >= close || SipChars.IsLws(b[us]) || SipChars.IsLws(b[close - 1])) { pos = p; return bad; }
            if (!ParseUri(b, us, close, ref na.Uri, UriContext.Enclosed)) { pos = p; return bad; }
            p = close + 1;
        }
        else
        {
            if (!allowBare) { pos = p; return bad; }
            int ue = p;
            while (ue < end && b[ue] != ';' && b[ue] != ',' && !SipChars.IsLws(b[ue])) ue++;
            if (!ParseUri(b, p, ue, ref na.Uri, UriContext.Bare)) { pos = p; return bad; }
            p = ue;
        }

        int textEnd = p;
        int paramStart = -1;
        while (true)
        {
            int q = SipChars.SkipLws(b, p, end);
            if (q >= end || b[q] != ';') break;
            if (paramStart < 0) paramStart = q;
            int r = NextParam(b, q + 1, end, out SipSlice name, out SipSlice value);
            if (r < 0)
            {
                pos = ~r;
                return bad;
            }
            p = textEnd = r;
            var n = b.Slice(name.Start, name.Length);
            if (AsciiCase.EqualsLower(n, "tag"u8)) na.Tag = value.IsPresent ? value : new SipSlice(name.End, 0);
            else if (value.IsPresent && AsciiCase.EqualsLower(n, "expires"u8))
            {
                int vp = SipChars.ParseDecimal(b, value.Start, value.End, uint.MaxValue, out ulong ex, out bool of);
                if (vp > value.Start && vp == value.End)
                    na.Expires = of ? -2 : (long)ex;
            }
            else if (n.Length == 1 && (n[0] | 0x20) == 'q') na.Q = value;
        }
        if (paramStart >= 0) na.Params = Slice(paramStart, textEnd);
        na.Text = Slice(start, textEnd);
        pos = textEnd;
        return SipParseStatus.Ok;
    }

    // ---------------------------------------------------------------- Call-ID, CSeq, scalars
    private static void ParseCallId(ReadOnlySpan<byte> b, int start, int end, SipMessage m)
    {
        // callid = word [ "@" word ]
        m.CallId = Slice(start, end);
        var value = b.Slice(start, end - start);
        int bad = SipChars.CallIdChars.Skip(b, start, end) - start;
        if (bad == value.Length) bad = -1;
        int at = ShortSearch.IndexOf(b, start, end, (byte)'@');
        if (at >= 0) at -= start;
        if (value.IsEmpty) bad = 0;
        else if (bad < 0 && at >= 0 && (at == 0 || at == value.Length - 1 || value.Slice(at + 1).IndexOf((byte)'@') >= 0))
            bad = at;
        if (bad >= 0) m.Fail(SipParseStatus.BadCallId, start + bad, SipHeaderId.CallId);
    }

    private static void ParseCSeq(ReadOnlySpan<byte> b, int start, int end, SipMessage m)
    {
        int p = SipChars.ParseDecimal(b, start, end, uint.MaxValue, out ulong number, out bool overflow);
        if (p == start)
        {
            m.Fail(SipParseStatus.BadCSeq, start, SipHeaderId.CSeq);
            return;
        }
        if (overflow)
        {
            // RFC 4475 3.1.2.4: a sequence number past 2^32-1 is a 400.
            m.Fail(SipParseStatus.CSeqOutOfRange, start, SipHeaderId.CSeq);
            m.CSeqNumber = uint.MaxValue;
        }
        else
        {
            m.CSeqNumber = (long)number;
        }
        if (p >= end || !SipChars.IsLws(b[p]))
        {
            m.Fail(SipParseStatus.BadCSeq, p, SipHeaderId.CSeq);
            return;
        }
        p = SipChars.SkipLws(b, p, end);
        int ms = p;
        p = SipChars.SkipToken(b, p, end);
        if (p == ms || p != end)
        {
            m.Fail(SipParseStatus.BadCSeq, p, SipHeaderId.CSeq);
            if (p == ms) return;
        }
        m.CSeqMethodText = Slice(ms, p);
        m.CSeqMethod = SipMethods.Parse(b.Slice(ms, p - ms));
    }

    /// <summary>
    /// A header value that is one decimal number no larger than <paramref name="max"/>. Returns it, or -1 when the
    /// syntax is bad (recorded as <paramref name="bad"/>), or -2 when it is out of range (for the caller to judge).
    /// </summary>
    private static long ParseScalar(ReadOnlySpan<byte> b, int start, int end, ulong max, SipMessage m, SipParseStatus bad, SipHeaderId id)
    {
        int p = SipChars.ParseDecimal(b, start, end, max, out ulong v, out bool overflow);
        if (p == start || p != end)
        {
            m.Fail(bad, p, id);
            return -1;
        }
        return overflow ? -2 : (long)v;
    }

    private static void ParseMaxForwards(ReadOnlySpan<byte> b, int start, int end, SipMessage m)
    {
        long v = ParseScalar(b, start, end, 255, m, SipParseStatus.BadMaxForwards, SipHeaderId.MaxForwards);
        // RFC 4475 3.1.2.4: out of range alone may be treated as absent.
        if (v == -2) m.Anomalies |= SipAnomaly.MaxForwardsOutOfRange;
        if (v < 0) return;
        m.MaxForwards = (int)v;
        if (v == 0) m.Anomalies |= SipAnomaly.MaxForwardsZero;
    }

    private static void ParseExpires(ReadOnlySpan<byte> b, int start, int end, SipMessage m)
    {
        long v = ParseScalar(b, start, end, uint.MaxValue, m, SipParseStatus.BadExpires, SipHeaderId.Expires);
        if (v == -2) m.Anomalies |= SipAnomaly.ExpiresOutOfRange;
        else if (v >= 0) m.Expires = v;
    }

    private static void ParseContentLength(ReadOnlySpan<byte> b, int start, int end, SipMessage m)
    {
        long v = ParseScalar(b, start, end, int.MaxValue, m, SipParseStatus.BadContentLength, SipHeaderId.ContentLength);
        if (v == -2) m.Fail(SipParseStatus.ContentLengthOutOfRange, start, SipHeaderId.ContentLength);
        else if (v >= 0) m.ContentLength = (int)v;
    }

    private static bool ValidContentType(ReadOnlySpan<byte> b, int start, int end)
    {
        // media-type = m-type SLASH m-subtype *( SEMI m-parameter )
        int p = SipChars.SkipToken(b, start, end);
        if (p == start) return false;
        p = SipChars.SkipLws(b, p, end);
        if (p >= end || b[p] != '/') return false;
        p = SipChars.SkipLws(b, p + 1, end);
        int s = p;
        p = SipChars.SkipToken(b, p, end);
        if (p == s) return false;
        while (true)
        {
            int q = SipChars.SkipLws(b, p, end);
            if (q >= end) return true;
            if (b[q] != ';') return false;
            p = NextParam(b, q + 1, end, out _, out _);
            if (p < 0) return false;
        }
    }

    // ---------------------------------------------------------------- Date (rfc1123-date)
    private static ReadOnlySpan<byte> WeekDays => "MonTueWedThuFriSatSun"u8;
    private static ReadOnlySpan<byte> Months => "JanFebMarAprMayJunJulAugSepOctNovDec"u8;

    private static bool ValidRfc1123Date(ReadOnlySpan<byte> d)
    {
        // "Thu, 21 Feb 2002 13:02:03 GMT": RFC 3261 restricts the zone to GMT (RFC 4475 3.1.2.12).
        if (d.Length != 29) return false;
        if (!InTable(WeekDays, d.Slice(0, 3)) || d[3] != ',' || d[4] != ' ') return false;
        if (!Digits(d.Slice(5, 2)) || d[7] != ' ' || !InTable(Months, d.Slice(8, 3)) || d[11] != ' ') return false;
        if (!Digits(d.Slice(12, 4)) || d[16] != ' ') return false;
        if (!Digits(d.Slice(17, 2)) || d[19] != ':' || !Digits(d.Slice(20, 2)) || d[22] != ':' || !Digits(d.Slice(23, 2)))
            return false;
        return d.Slice(25).SequenceEqual(" GMT"u8);

        static bool Digits(ReadOnlySpan<byte> s)
        {
            foreach (byte c in s)
                if (!SipChars.IsDigit(c)) return false;
            return true;
        }

        static bool InTable(ReadOnlySpan<byte> table, ReadOnlySpan<byte> name)
        {
            for (int i = 0; i + 3 <= table.Length; i += 3)
                if (table.Slice(i, 3).SequenceEqual(name)) return true;
            return false;
        }
    }

    // ---------------------------------------------------------------- Authorization, WWW-Authenticate
    private static void ParseCredentials(ReadOnlySpan<byte> b, int start, int end, SipMessage m, ref SipCredentials c, SipHeaderId id)
    {
        int p = SipChars.SkipToken(b, start, end);
        if (p == start)
        {
            m.Fail(SipParseStatus.BadAuthorization, start, id);
            return;
        }
        c.Scheme = Slice(start, p);
        bool ok = ParseAuthParams(b, p, end, "username"u8, "realm"u8, "nonce"u8, "uri"u8, out AuthFields f);
        c.Username = f.A;
        c.Realm = f.B;
        c.Nonce = f.C;
        c.Uri = f.D;
        // Unknown schemes carry opaque data (RFC 4475 3.3.7): only Digest is held to the auth-param grammar.
        if (!ok && AsciiCase.EqualsLower(b.Slice(start, p - start), "digest"u8)) m.Fail(SipParseStatus.BadAuthorization, start, id);
    }

    private static void ParseChallenge(ReadOnlySpan<byte> b, int start, int end, SipMessage m, ref SipChallenge c, SipHeaderId id)
    {
        int p = SipChars.SkipToken(b, start, end);
        if (p == start)
        {
            m.Fail(SipParseStatus.BadAuthorization, start, id);
            return;
        }
        c.Scheme = Slice(start, p);
        bool ok = ParseAuthParams(b, p, end, "realm"u8, "nonce"u8, "algorithm"u8, default, out AuthFields f);
        c.Realm = f.A;
        c.Nonce = f.B;
        c.Algorithm = f.C;
        if (!ok && AsciiCase.EqualsLower(b.Slice(start, p - start), "digest"u8)) m.Fail(SipParseStatus.BadAuthorization, start, id);
    }

    private struct AuthFields
    {
        public SipSlice A, B, C, D;
    }

    /// <summary>
    /// auth-param *( COMMA auth-param ), auth-param = name EQUAL ( token / quoted-string ). The values of the
    /// parameters named <paramref name="a"/> to <paramref name="d"/> land in the matching fields.
    /// </summary>
    private static bool ParseAuthParams(ReadOnlySpan<byte> b, int p, int end, ReadOnlySpan<byte> a, ReadOnlySpan<byte> bName,
        ReadOnlySpan<byte> c, ReadOnlySpan<byte> d, out AuthFields fields)
    {
        fields = new AuthFields { A = SipSlice.None, B = SipSlice.None, C = SipSlice.None, D = SipSlice.None };
        if (p < end && !SipChars.IsLws(b[p])) return false;
        p = SipChars.SkipLws(b, p, end);
        if (p == end) return true;
        while (true)
        {
            int ns = p;
            p = SipChars.SkipToken(b, p, end);
            if (p == ns) return false;
            var name = b.Slice(ns, p - ns);
            p = SipChars.SkipLws(b, p, end);
            if (p >= end || b[p] != '=') return false;
            p = SipChars.SkipLws(b, p + 1, end);
            SipSlice value;
            if (p < end && b[p] == '"')
            {
                int close = SipChars.SkipQuoted(b, p, end);
                if (close < 0) return false;
                value = Slice(p + 1, close - 1);
                p = close;
            }
            else
            {
                int vs = p;
                while (p < end && b[p] != ',' && !SipChars.IsLws(b[p]) && b[p] != '"') p++;
                if (p == vs) return false;
                value = Slice(vs, p);
            }
            if (AsciiCase.EqualsLower(name, a)) fields.A = value;
            else if (AsciiCase.EqualsLower(name, bName)) fields.B = value;
            else if (AsciiCase.EqualsLower(name, c)) fields.C = value;
            else if (!d.IsEmpty && AsciiCase.EqualsLower(name, d)) fields.D = value;
            p = SipChars.SkipLws(b, p, end);
            if (p == end) return true;
            if (b[p] != ',') return false;
            p = SipChars.SkipLws(b, p + 1, end);
        }
    }
}
