using System.Runtime.CompilerServices;

namespace SipIps.Engine.Sip;

/// <summary>How the parser treats the end of the input.</summary>
public enum SipParseMode : byte
{
    /// <summary>The input is one datagram (UDP, SCTP chunk): bytes past Content-Length are trailing data.</summary>
    Datagram,
    /// <summary>The input is exactly one framed message from a stream (TCP); Content-Length is required.</summary>
    Stream,
}

/// <summary>
/// The SIP message parser: one pass over the bytes, no allocation, no exceptions. Grammar from RFC 3261 section 25,
/// validity decisions from RFC 4475. Work is linear in the message size; stored items are capped (and counted).
/// </summary>
public static partial class SipParser
{
    /// <summary>Parses <paramref name="data"/> into <paramref name="message"/> and returns its status.</summary>
    public static SipParseStatus Parse(ReadOnlySpan<byte> data, SipMessage message, SipParseMode mode = SipParseMode.Datagram)
    {
        message.Reset();
        if (data.IsEmpty)
        {
            message.Fail(SipParseStatus.Empty, 0);
            return message.Status;
        }
        if (data.Length > message.Limits.MaxMessageSize)
        {
            message.Fail(SipParseStatus.TooLarge, message.Limits.MaxMessageSize);
            return message.Status;
        }
        data.CopyTo(message.Buffer);
        message.Length = data.Length;
        ParseCore(message, mode);
        return message.Status;
    }

    private static void ParseCore(SipMessage m, SipParseMode mode)
    {
        Span<byte> b = m.Buffer.AsSpan(0, m.Length);
        int len = b.Length;
        int pos = 0;

        // RFC 3261 section 7.5: CRLFs before the start line are ignored.
        while (pos < len && (b[pos] == '\r' || b[pos] == '\n')) pos++;
        if (pos == len)
        {
            m.Fail(SipParseStatus.Empty, 0);
            return;
        }

        int lf = b.Slice(pos).IndexOf((byte)'\n');
        if (lf >= 0) lf += pos;
        EndOfLine(b, pos, lf, m, out int lineEnd, out int next);
        m.StartLine = SipSlice.FromBounds(pos, lineEnd);
        if (!ParseStartLine(b, pos, lineEnd, m))
        {
            // Without a start line there is nothing to anchor the rest to.
            m.MessageLength = len;
            return;
        }

        int headerStart = next;
        int headerEnd = ParseHeaders(b, next, m, out bool sawControl);
        if (headerEnd > headerStart && sawControl)
        {
            int ctl = b.Slice(headerStart, headerEnd - headerStart).IndexOfAny(SipChars.HeaderControls);
            if (ctl >= 0) m.Fail(SipParseStatus.ControlCharacter, headerStart + ctl);
        }

        FinishBody(b, m, mode);
        CheckRequired(m);
        if (m.Body.Length > 0) ParseBody(m);
    }

    /// <summary>Splits header lines, unfolds continuation lines in place, and dispatches each header.</summary>
    /// <returns>The offset just past the last header line (before the empty line).</returns>
    /// <param name="sawControl">False when no header byte is a control that a header may not carry (see <see cref="LineFeedScanner.SawControl"/>).</param>
    private static int ParseHeaders(Span<byte> b, int pos, SipMessage m, out bool sawControl)
    {
        int len = b.Length;
        // The scanner is this method's own local, so that its state stays in registers.
        var lines = new LineFeedScanner(m.Buffer, pos, len);
        int lf = lines.Next();
        while (pos < len)
        {
            int lineStart = pos;
            int lineEnd, next;
            if (lf < 0)
            {
                lineEnd = len;
                next = len;
                m.Anomalies |= SipAnomaly.NoHeaderTerminator;
            }
            else
            {
                // Line folding (RFC 3261 section 7.3.1): a line break followed by SP or HT continues the header.
                // Replacing CR and LF by SP keeps every offset valid and turns the fold into plain LWS.
                while (lf + 1 < len && (b[lf + 1] == ' ' || b[lf + 1] == '\t') && HasContent(b, lineStart, lf))
                {
                    m.Anomalies |= SipAnomaly.LineFolding;
                    b[lf] = (byte)' ';
                    if (b[lf - 1] == '\r') b[lf - 1] = (byte)' ';
                    lf = lines.Next();
                    if (lf < 0) break;
                }
                EndOfLine(b, lineStart, lf, m, out lineEnd, out next);
            }

            if (lineEnd == lineStart)
            {
                m.BodyStart = next;
                sawControl = lines.SawControl;
                return lineStart;
            }
            ParseHeaderLine(b, lineStart, lineEnd, m);
            pos = next;
            if (lf >= 0) lf = lines.Next();
        }
        m.BodyStart = len;
        sawControl = lines.SawControl;
        return len;
    }

    private static void ParseHeaderLine(ReadOnlySpan<byte> b, int start, int end, SipMessage m)
    {
        m.HeaderTotal++;
        int p = ColonAfterName(m.Buffer, start, end, out SipHeaderId id);
        int nameEnd = p;
        if (p < 0)
        {
            p = SipChars.SkipToken(b, start, end);
            nameEnd = p;
            p = SipChars.SkipLws(b, p, end);
            if (nameEnd == start || p >= end || b[p] != ':')
            {
                m.Fail(SipParseStatus.BadHeaderLine, start);
                return;
            }
            id = SipHeaders.Lookup(b.Slice(start, nameEnd - start));
        }
        int vs = SipChars.SkipLws(b, p + 1, end);
        int ve = SipChars.TrimEnd(b, vs, end);

        if (m.HeaderCount < m.Headers.Length)
        {
            ref SipHeader h = ref m.Headers[m.HeaderCount++];
            h.Id = id;
            h.Name = SipSlice.FromBounds(start, nameEnd);
            h.Value = SipSlice.FromBounds(vs, ve);
        }
        else
        {
            m.Anomalies |= SipAnomaly.HeaderCapReached;
        }

        if (id == SipHeaderId.Other) return;
        ulong bit = 1UL << (int)id;
        bool repeated = (m.SeenHeaders & bit) != 0;
        m.SeenHeaders |= bit;
        if (repeated && SipHeaders.IsSingleValue(id))
        {
            m.Fail(SipParseStatus.DuplicateHeader, start, id);
            return;
        }

        switch (id)
        {
            case SipHeaderId.Via: ParseVia(b, vs, ve, m); break;
            case SipHeaderId.From: ParseFromTo(b, vs, ve, m, ref m.From, SipHeaderId.From); break;
            case SipHeaderId.To: ParseFromTo(b, vs, ve, m, ref m.To, SipHeaderId.To); break;
            case SipHeaderId.CallId: ParseCallId(b, vs, ve, m); break;
            case SipHeaderId.CSeq: ParseCSeq(b, vs, ve, m); break;
            case SipHeaderId.Contact: ParseContact(b, vs, ve, m); break;
            case SipHeaderId.MaxForwards: ParseMaxForwards(b, vs, ve, m); break;
            case SipHeaderId.Expires:
                if (!repeated) ParseExpires(b, vs, ve, m);
                break;
            case SipHeaderId.ContentLength:
                if (repeated) m.Fail(SipParseStatus.DuplicateContentLength, start, id);
                else ParseContentLength(b, vs, ve, m);
                break;
            case SipHeaderId.ContentType:
                if (!repeated)
                {
                    m.ContentType = SipSlice.FromBounds(vs, ve);
                    if (!IsApplicationSdp(b.Slice(vs, ve - vs)) && !ValidContentType(b, vs, ve)) m.Fail(SipParseStatus.BadContentType, vs, id);
                }
                break;
            case SipHeaderId.UserAgent: if (!repeated) m.UserAgent = SipSlice.FromBounds(vs, ve); break;
            case SipHeaderId.Server: if (!repeated) m.Server = SipSlice.FromBounds(vs, ve); break;
            case SipHeaderId.Subject: if (!repeated) m.Subject = SipSlice.FromBounds(vs, ve); break;
            case SipHeaderId.Date:
                if (!repeated)
                {
                    m.Date = SipSlice.FromBounds(vs, ve);
                    if (!ValidRfc1123Date(b.Slice(vs, ve - vs))) m.Fail(SipParseStatus.BadDate, vs, id);
                }
                break;
            case SipHeaderId.Authorization:
                if (!repeated) ParseCredentials(b, vs, ve, m, ref m.Authorization, id);
                break;
            case SipHeaderId.ProxyAuthorization:
                if (!repeated) ParseCredentials(b, vs, ve, m, ref m.ProxyAuthorization, id);
                break;
            case SipHeaderId.WwwAuthenticate:
                if (!repeated) ParseChallenge(b, vs, ve, m, ref m.WwwAuthenticate, id);
                break;
            case SipHeaderId.ProxyAuthenticate:
                if (!repeated) ParseChallenge(b, vs, ve, m, ref m.ProxyAuthenticate, id);
                break;
            case SipHeaderId.Route:
                ParseRouteList(b, vs, ve, m, m.Routes, ref m.RouteCount, ref m.RouteTotal, id);
                break;
            case SipHeaderId.RecordRoute:
                ParseRouteList(b, vs, ve, m, m.RecordRoutes, ref m.RecordRouteCount, ref m.RecordRouteTotal, id);
                break;
        }
    }

    private static void FinishBody(ReadOnlySpan<byte> b, SipMessage m, SipParseMode mode)
    {
        int len = b.Length;
        int bodyStart = m.BodyStart < 0 ? len : m.BodyStart;
        int available = len - bodyStart;
        if (m.ContentLength >= 0)
        {
            if (m.ContentLength > available)
            {
                m.Fail(SipParseStatus.ContentLengthExceedsData, bodyStart, SipHeaderId.ContentLength);
                m.Body = new SipSlice(bodyStart, available);
            }
            else
            {
                m.Body = new SipSlice(bodyStart, m.ContentLength);
                if (m.ContentLength < available)
                {
                    // RFC 4475 3.1.1.8: octets past Content-Length in a datagram are discarded.
                    m.Anomalies |= SipAnomaly.TrailingData;
                }
            }
        }
        else
        {
            if (mode == SipParseMode.Stream) m.Anomalies |= SipAnomaly.ContentLengthInStreamMissing;
            else if (available > 0) m.Anomalies |= SipAnomaly.MissingContentLength;
            m.Body = new SipSlice(bodyStart, mode == SipParseMode.Stream ? 0 : available);
        }
        m.MessageLength = m.Body.End;
        if (m.Body.Length > 0 && !m.ContentType.IsPresent) m.Anomalies |= SipAnomaly.BodyWithoutContentType;
    }

    private static void CheckRequired(SipMessage m)
    {
        // RFC 3261 section 8.1.1: To, From, CSeq, Call-ID and Via are mandatory. Max-Forwards is only counted,
        // because RFC 2543 senders (RFC 4475 3.4.1) omit it and must still be accepted.
        if (m.ViaTotal == 0 || !m.From.IsPresent || !m.To.IsPresent || !m.CallId.IsPresent || m.CSeqNumber < 0)
        {
            if (m.Status == SipParseStatus.Ok) m.Fail(SipParseStatus.MissingRequiredHeader, m.BodyStart < 0 ? 0 : m.BodyStart);
        }
        if (m.IsRequest)
        {
            if ((m.SeenHeaders & (1UL << (int)SipHeaderId.MaxForwards)) == 0) m.Anomalies |= SipAnomaly.MissingMaxForwards;
            if (m.CSeqMethodText.IsPresent && !m[m.CSeqMethodText].SequenceEqual(m[m.MethodText]))
                m.Fail(SipParseStatus.CSeqMethodMismatch, m.CSeqMethodText.Start, SipHeaderId.CSeq);
        }
    }

    /// <summary>The end of a line's content (before CR LF or a bare LF) and the start of the next line.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void EndOfLine(ReadOnlySpan<byte> b, int lineStart, int lf, SipMessage m, out int lineEnd, out int next)
    {
        if (lf < 0)
        {
            lineEnd = next = b.Length;
            m.Anomalies |= SipAnomaly.NoHeaderTerminator;
            return;
        }
        next = lf + 1;
        lineEnd = lf;
        if (lineEnd > lineStart && b[lineEnd - 1] == '\r') lineEnd--;
        else m.Anomalies |= SipAnomaly.BareLineFeed;
    }

    /// <summary>True when the line ending at the LF <paramref name="lf"/> has bytes other than a final CR.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool HasContent(ReadOnlySpan<byte> b, int lineStart, int lf) =>
        lf > lineStart && !(lf == lineStart + 1 && b[lineStart] == '\r');

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static SipSlice Slice(int start, int end) => SipSlice.FromBounds(start, end);
}
