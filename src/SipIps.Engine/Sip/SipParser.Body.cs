using System.Numerics;
using System.Runtime.CompilerServices;
using System.Text;
using SipIps.Engine.Common;

namespace SipIps.Engine.Sip;

public static partial class SipParser
{
    private static void ParseBody(SipMessage m)
    {
        ReadOnlySpan<byte> b = m.Buffer.AsSpan(0, m.Length);
        int start = m.Body.Start, end = m.Body.End;
        if (!m.ContentType.IsPresent)
        {
            if (b.Slice(start, end - start).StartsWith("v=0"u8)) ParseSdp(b, start, end, m);
            return;
        }
        var ct = m[m.ContentType];
        if (IsApplicationSdp(ct))
        {
            ParseSdp(b, start, end, m);
            return;
        }
        int semi = ct.IndexOf((byte)';');
        var mediaType = TrimLws(semi < 0 ? ct : ct.Slice(0, semi));
        if (Ascii.EqualsIgnoreCase(mediaType, "application/sdp"u8))
        {
            ParseSdp(b, start, end, m);
        }
        else if (mediaType.Length > 10 && Ascii.EqualsIgnoreCase(mediaType.Slice(0, 10), "multipart/"u8) && semi >= 0)
        {
            int ctStart = m.ContentType.Start;
            var boundary = FindBoundary(b, ctStart + semi, m.ContentType.End);
            if (boundary.IsEmpty) m.Anomalies |= SipAnomaly.MultipartMalformed;
            else ParseMultipart(b, start, end, boundary, m);
        }
    }

    /// <summary>
    /// True for exactly "application/sdp" in any case: what nearly every call sends, compared in place (the '/'
    /// checked as it is: OR-ing 0x20 would also map 0x0F to it). Such a value is also a valid media type.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool IsApplicationSdp(ReadOnlySpan<byte> ct) =>
        ct.Length == 15 && ct[11] == '/' && AsciiCase.EqualsLower(ct, "application/sdp"u8);

    private static ReadOnlySpan<byte> TrimLws(ReadOnlySpan<byte> s)
    {
        int a = 0, e = s.Length;
        while (a < e && SipChars.IsLws(s[a])) a++;
        while (e > a && SipChars.IsLws(s[e - 1])) e--;
        return s.Slice(a, e - a);
    }

    private static ReadOnlySpan<byte> FindBoundary(ReadOnlySpan<byte> b, int p, int end)
    {
        while (p < end && b[p] == ';')
        {
            p = NextParam(b, p + 1, end, out SipSlice name, out SipSlice value);
            if (p < 0) return default;
            if (value.IsPresent && Ascii.EqualsIgnoreCase(b.Slice(name.Start, name.Length), "boundary"u8))
                return b.Slice(value.Start, value.Length);
            p = SipChars.SkipLws(b, p, end);
        }
        return default;
    }

    /// <summary>Finds the first application/sdp part of a multipart body (RFC 2046) and parses it.</summary>
    private static void ParseMultipart(ReadOnlySpan<byte> b, int start, int end, ReadOnlySpan<byte> boundary, SipMessage m)
    {
        Span<byte> delimiterBuffer = stackalloc byte[72];
        if (boundary.Length > 70)
        {
            m.Anomalies |= SipAnomaly.MultipartMalformed;
            return;
        }
        delimiterBuffer[0] = (byte)'-';
        delimiterBuffer[1] = (byte)'-';
        boundary.CopyTo(delimiterBuffer.Slice(2));
        ReadOnlySpan<byte> delimiter = delimiterBuffer.Slice(0, boundary.Length + 2);

        int p = start;
        int first = b.Slice(p, end - p).IndexOf(delimiter);
        if (first < 0)
        {
            m.Anomalies |= SipAnomaly.MultipartMalformed;
            return;
        }
        p += first + delimiter.Length;
        while (p < end)
        {
            if (end - p >= 2 && b[p] == '-' && b[p + 1] == '-') return; // close delimiter
            int lf = b.Slice(p, end - p).IndexOf((byte)'\n');
            if (lf < 0) break;
            int partStart = p + lf + 1;
            int nextDelim = b.Slice(partStart, end - partStart).IndexOf(delimiter);
            int partEnd = nextDelim < 0 ? end : partStart + nextDelim;
            int contentEnd = partEnd;
            // The CRLF before a delimiter belongs to the delimiter.
            if (contentEnd > partStart && b[contentEnd - 1] == '\n') contentEnd--;
            if (contentEnd > partStart && b[contentEnd - 1] == '\r') contentEnd--;

            // Part headers end at the first empty line.
            int hp = partStart;
            bool isSdp = false;
            int bodyStart = -1;
            while (hp < contentEnd)
            {
                int hl = b.Slice(hp, contentEnd - hp).IndexOf((byte)'\n');
                int le = hl < 0 ? contentEnd : hp + hl;
                int lineEnd = le > hp && b[le - 1] == '\r' ? le - 1 : le;
                if (lineEnd == hp)
                {
                    bodyStart = hl < 0 ? contentEnd : le + 1;
                    break;
                }
                var line = b.Slice(hp, lineEnd - hp);
                int colon = line.IndexOf((byte)':');
                if (colon > 0 && Ascii.EqualsIgnoreCase(TrimLws(line.Slice(0, colon)), "Content-Type"u8))
                {
                    var v = TrimLws(line.Slice(colon + 1));
                    int sc = v.IndexOf((byte)';');
                    if (Ascii.EqualsIgnoreCase(TrimLws(sc < 0 ? v : v.Slice(0, sc)), "application/sdp"u8)) isSdp = true;
                }
                hp = hl < 0 ? contentEnd : le + 1;
            }
            if (isSdp && bodyStart >= 0)
            {
                ParseSdp(b, bodyStart, contentEnd, m);
                return;
            }
            if (nextDelim < 0) break;
            p = partEnd + delimiter.Length;
        }
    }

    /// <summary>
    /// SDP (RFC 8866): keeps o=, s=, c= (session and media level) and every m= line with its payload types, so that
    /// RTP can be tied to the call. Malformed lines are counted, never fatal.
    /// </summary>
    private static void ParseSdp(ReadOnlySpan<byte> b, int start, int end, SipMessage m)
    {
        ref SdpSession sdp = ref m.Sdp;
        sdp.Text = Slice(start, end);
        int current = -1;
        int p = start;
        var lines = new LineFeedScanner(m.Buffer, start, end);
        while (p < end)
        {
            int lf = lines.Next();
            int le = lf < 0 ? end : lf;
            int next = lf < 0 ? end : le + 1;
            if (le > p && b[le - 1] == '\r') le--;
            if (le == p)
            {
                p = next;
                continue;
            }
            if (le - p < 2 || b[p + 1] != '=')
            {
                m.Anomalies |= SipAnomaly.SdpMalformed;
                p = next;
                continue;
            }
            int vs = p + 2;
            switch (b[p])
            {
                case (byte)'v':
                    sdp.Version = Slice(vs, le);
                    sdp.Present = true;
                    break;
                case (byte)'o':
                    sdp.Origin = Slice(vs, le);
                    ParseOrigin(b, vs, le, ref sdp, m);
                    break;
                case (byte)'s':
                    sdp.SessionName = Slice(vs, le);
                    break;
                case (byte)'c':
                    if (current < 0)
                    {
                        sdp.Connection = Slice(vs, le);
                        sdp.ConnectionAddress = ParseConnectionAddress(b, vs, le, m);
                    }
                    else if (current < m.MediaCount)
                    {
                        ref SdpMedia media = ref m.Media[current];
                        media.Connection = Slice(vs, le);
                        media.ConnectionAddress = ParseConnectionAddress(b, vs, le, m);
                    }
                    break;
                case (byte)'m':
                    current++;
                    if (m.MediaCount < m.Media.Length)
                    {
                        ParseMediaLine(b, vs, le, ref m.Media[m.MediaCount], m);
                        m.MediaCount++;
                    }
                    else
                    {
                        m.Anomalies |= SipAnomaly.SdpCapReached;
                    }
                    break;
            }
            p = next;
        }
        if (!sdp.Present) m.Anomalies |= SipAnomaly.SdpMalformed;
        sdp.Present = true;
    }

    private static void ParseOrigin(ReadOnlySpan<byte> b, int start, int end, ref SdpSession sdp, SipMessage m)
    {
        // o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>
        int e0, e1, e2, e3, e4;
        if (end - start <= 64)
        {
            // The spaces of a line that fits one block, from one compare over the padded buffer; a missing space
            // reads as the end of the line, as the search below gives.
            ulong spaces = ShortSearch.Mask(m.Buffer, start, end, (byte)' ');
            e0 = NextBit(ref spaces, start, end);
            e1 = NextBit(ref spaces, start, end);
            e2 = NextBit(ref spaces, start, end);
            e3 = NextBit(ref spaces, start, end);
            e4 = NextBit(ref spaces, start, end);
        }
        else
        {
            e0 = NextSpace(b, start, end);
            e1 = NextSpace(b, e0 + 1, end);
            e2 = NextSpace(b, e1 + 1, end);
            e3 = NextSpace(b, e2 + 1, end);
            e4 = NextSpace(b, e3 + 1, end);
        }
        sdp.OriginUsername = Slice(start, e0);
        if (e4 >= end || e0 == start)
        {
            m.Anomalies |= SipAnomaly.SdpMalformed;
            if (e1 < end) sdp.OriginSessionId = Slice(e0 + 1, e1);
            return;
        }
        sdp.OriginSessionId = Slice(e0 + 1, e1);
        sdp.OriginVersion = Slice(e1 + 1, e2);
        sdp.OriginAddress = Slice(e4 + 1, end);
    }

    /// <summary>The position of the lowest set bit (then cleared), or <paramref name="end"/> when none is left.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int NextBit(ref ulong bits, int start, int end)
    {
        if (bits == 0) return end;
        int p = start + BitOperations.TrailingZeroCount(bits);
        bits &= bits - 1;
        return p;
    }

    /// <summary>The index of the next space at or after <paramref name="p"/>, or <paramref name="end"/>.</summary>
    private static int NextSpace(ReadOnlySpan<byte> b, int p, int end)
    {
        if (p >= end) return end;
        while (p < end && b[p] != ' ') p++;
        return p;
    }

    private static IpAddr ParseConnectionAddress(ReadOnlySpan<byte> b, int start, int end, SipMessage m)
    {
        // c=<nettype> <addrtype> <connection-address>[/ttl][/count]; "IN IP4 " and "IN IP6 " are what is sent.
        int addrStart;
        bool v6;
        if (end - start > 7 && b[start] == 'I' && b[start + 1] == 'N' && b[start + 2] == ' ' && b[start + 3] == 'I'
            && b[start + 4] == 'P' && b[start + 6] == ' ' && (b[start + 5] == '4' || b[start + 5] == '6'))
        {
            addrStart = start + 7;
            v6 = b[start + 5] == '6';
        }
        else
        {
            int e0 = NextSpace(b, start, end);
            int e1 = NextSpace(b, e0 + 1, end);
            if (e1 >= end || NextSpace(b, e1 + 1, end) != end)
            {
                m.Anomalies |= SipAnomaly.SdpMalformed;
                return default;
            }
            v6 = e1 - e0 - 1 == 3 && Ascii.EqualsIgnoreCase(b.Slice(e0 + 1, 3), "IP6"u8);
            addrStart = e1 + 1;
        }
        int addrEnd = addrStart;
        while (addrEnd < end && b[addrEnd] != '/' && b[addrEnd] != ' ') addrEnd++;
        var addr = b.Slice(addrStart, addrEnd - addrStart);
        IpAddr ip;
        bool ok = v6 ? IpAddr.TryParseV6(addr, out ip) : IpAddr.TryParseV4(addr, out ip);
        // A host name is legal in c= but cannot be tied to packets without DNS; it stays in the text only.
        return ok ? ip : default;
    }

    private static void ParseMediaLine(ReadOnlySpan<byte> b, int start, int end, ref SdpMedia media, SipMessage m)
    {
        // m=<media> <port>[/<number of ports>] <proto> <fmt> ...
        media = default;
        media.Text = Slice(start, end);
        media.Connection = media.Formats = media.Proto = media.Media = SipSlice.None;
        media.Port = -1;
        media.PortCount = 1;
        media.PayloadStart = m.PayloadTypeCount;
        int p = start;
        int ms = p;
        while (p < end && b[p] != ' ') p++;
        media.Media = Slice(ms, p);
        media.Kind = MediaKind(b.Slice(ms, p - ms));
        p = SkipSpaces(b, p, end);
        int pe = SipChars.ParseDecimal(b, p, end, 65535, out ulong port, out bool of);
        if (pe == p || of)
        {
            m.Anomalies |= SipAnomaly.SdpMalformed;
            return;
        }
        media.Port = (int)port;
        p = pe;
        if (p < end && b[p] == '/')
        {
            int ce = SipChars.ParseDecimal(b, p + 1, end, 65535, out ulong count, out bool of2);
            if (ce > p + 1 && !of2) media.PortCount = (int)count;
            p = ce;
        }
        p = SkipSpaces(b, p, end);
        int ps = p;
        while (p < end && b[p] != ' ') p++;
        media.Proto = Slice(ps, p);
        // "RTP/AVP" and its kin start with RTP; "UDP/TLS/RTP/SAVPF" and others are searched.
        var proto = b.Slice(ps, p - ps);
        bool rtp = proto.StartsWith("RTP"u8) || proto.IndexOf("RTP"u8) >= 0;
        p = SkipSpaces(b, p, end);
        media.Formats = Slice(p, end);
        if (!rtp) return;
        while (p < end)
        {
            // A payload type is 0-127: the value saturates at 128 instead of going through the general decimal
            // reader's overflow checks, which cost more than the digits do.
            int fs = p;
            uint pt = 0;
            while (p < end)
            {
                uint d = (uint)(b[p] - '0');
                if (d > 9) break;
                pt = pt * 10 + d;
                if (pt > 127) pt = 128;
                p++;
            }
            if (p > fs && pt <= 127 && (p == end || b[p] == ' '))
            {
                if (m.PayloadTypeCount < m.PayloadTypes.Length)
                {
                    m.PayloadTypes[m.PayloadTypeCount++] = (byte)pt;
                    media.PayloadCount++;
                }
                else
                {
                    m.Anomalies |= SipAnomaly.SdpCapReached;
                }
            }
            else
            {
                m.Anomalies |= SipAnomaly.SdpMalformed;
                while (p < end && b[p] != ' ') p++;
            }
            if (p == fs) p++;
            p = SkipSpaces(b, p, end);
        }
    }

    private static SdpMediaKind MediaKind(ReadOnlySpan<byte> s)
    {
        if (s.SequenceEqual("audio"u8)) return SdpMediaKind.Audio;
        if (s.SequenceEqual("video"u8)) return SdpMediaKind.Video;
        if (s.SequenceEqual("application"u8)) return SdpMediaKind.Application;
        if (s.SequenceEqual("text"u8)) return SdpMediaKind.Text;
        if (s.SequenceEqual("message"u8)) return SdpMediaKind.Message;
        if (s.SequenceEqual("image"u8)) return SdpMediaKind.Image;
        return SdpMediaKind.Other;
    }

    private static int SkipSpaces(ReadOnlySpan<byte> b, int p, int end)
    {
        while (p < end && b[p] == ' ') p++;
        return p;
    }

}
