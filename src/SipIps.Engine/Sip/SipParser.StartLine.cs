using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Text;

namespace SipIps.Engine.Sip;

public static partial class SipParser
{
    /// <returns>False when the start line is too broken to go on with the headers.</returns>
    private static bool ParseStartLine(ReadOnlySpan<byte> b, int start, int end, SipMessage m)
    {
        if (end - start >= 4 && IsSipSlash(b, start))
            return ParseStatusLine(b, start, end, m);
        return ParseRequestLine(b, start, end, m);
    }

    private const uint SipSlash = 's' | 'i' << 8 | 'p' << 16 | '/' << 24;
    private const uint TwoDotZero = '2' | '.' << 8 | '0' << 16;

    /// <summary>"SIP/" in any case at <paramref name="at"/> (4 bytes readable).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool IsSipSlash(ReadOnlySpan<byte> b, int at) => AsciiCase.ThreeLettersThen(b, at, SipSlash);

    private static bool ParseRequestLine(ReadOnlySpan<byte> b, int start, int end, SipMessage m)
    {
        int p = SipChars.SkipToken(b, start, end);
        if (p == start)
        {
            if (SipChars.IsLws(b[start])) m.Anomalies |= SipAnomaly.LeadingWhitespace;
            m.Fail(SipParseStatus.BadStartLine, start);
            return false;
        }
        if (p >= end)
        {
            m.Fail(SipParseStatus.BadStartLine, p);
            return false;
        }
        if (b[p] != ' ')
        {
            m.Fail(SipParseStatus.BadMethod, p);
            return false;
        }
        m.IsRequest = true;
        m.MethodText = Slice(start, p);
        m.Method = SipMethods.Parse(b.Slice(start, p - start));
        if (m.Method == SipMethod.Unknown) m.Anomalies |= SipAnomaly.UnknownMethod;

        // Request-Line = Method SP Request-URI SP SIP-Version: exactly one SP between elements (RFC 4475 3.1.2.9,
        // 3.1.2.10), and no LWS inside the URI (RFC 4475 3.1.2.8).
        p++;
        int uriStart = p;
        if (p < end && b[p] == ' ')
        {
            m.Fail(SipParseStatus.ExtraWhitespaceInStartLine, p);
            uriStart = p = SipChars.SkipLws(b, p, end);
        }
        int lastSp = b.Slice(uriStart, end - uriStart).LastIndexOf((byte)' ');
        if (lastSp < 0)
        {
            // No version at all: keep the URI for the record and reject.
            m.RequestUri.Text = Slice(uriStart, end);
            m.Fail(SipParseStatus.BadVersion, end);
            return true;
        }
        lastSp += uriStart;
        int versionStart = lastSp + 1;
        int uriEnd = lastSp;
        if (versionStart == end)
        {
            // Trailing SP: find the real version before it.
            m.Fail(SipParseStatus.ExtraWhitespaceInStartLine, lastSp);
            int trimmed = SipChars.TrimEnd(b, uriStart, end);
            int sp = b.Slice(uriStart, trimmed - uriStart).LastIndexOf((byte)' ');
            if (sp < 0)
            {
                m.RequestUri.Text = Slice(uriStart, trimmed);
                m.Fail(SipParseStatus.BadVersion, trimmed);
                return true;
            }
            versionStart = uriStart + sp + 1;
            uriEnd = uriStart + sp;
            end = trimmed;
        }
        while (uriEnd > uriStart && b[uriEnd - 1] == ' ')
        {
            m.Fail(SipParseStatus.ExtraWhitespaceInStartLine, uriEnd - 1);
            uriEnd--;
        }
        if (b.Slice(uriStart, uriEnd - uriStart).IndexOfAny((byte)' ', (byte)'\t') >= 0)
            m.Fail(SipParseStatus.BadRequestUri, uriStart);

        ParseVersion(b, versionStart, end, m);
        ParseRequestUri(b, uriStart, uriEnd, m);
        return true;
    }

    private static void ParseRequestUri(ReadOnlySpan<byte> b, int start, int end, SipMessage m)
    {
        m.RequestUri.Text = Slice(start, end);
        if (start == end)
        {
            m.Fail(SipParseStatus.BadRequestUri, start);
            return;
        }
        if (b[start] == '<')
        {
            // RFC 4475 3.1.2.7: the Request-URI is never enclosed in angle brackets.
            m.Fail(SipParseStatus.RequestUriInAngleBrackets, start);
            int close = b.Slice(start, end - start).IndexOf((byte)'>');
            if (close > 0) ParseUri(b, start + 1, start + close, ref m.RequestUri, UriContext.Enclosed);
            m.RequestUri.Text = Slice(start, end);
            return;
        }
        if (!ParseUri(b, start, end, ref m.RequestUri, UriContext.Enclosed))
        {
            m.Fail(SipParseStatus.BadRequestUri, start);
            return;
        }
        if (m.RequestUri.Scheme is UriScheme.Sip or UriScheme.Sips && m.RequestUri.Headers.IsPresent)
        {
            // RFC 3261 19.1.5 / RFC 4475 3.1.2.11: headers are not allowed in a Request-URI.
            m.Fail(SipParseStatus.RequestUriWithHeaders, m.RequestUri.Headers.Start);
        }
        if (m.RequestUri.Scheme == UriScheme.Other) m.Anomalies |= SipAnomaly.UnknownRequestUriScheme;
    }

    private static void ParseVersion(ReadOnlySpan<byte> b, int start, int end, SipMessage m)
    {
        m.Version = Slice(start, end);
        int p = start;
        // What every message carries: "SIP/2.0", in two compares.
        if (end - start == 7 && IsSipSlash(b, start)
            && (BinaryPrimitives.ReadUInt32LittleEndian(b.Slice(start + 3)) & 0xFFFFFF00) == TwoDotZero << 8) return;
        if (end - start < 7 || !IsSipSlash(b, start))
        {
            m.Fail(SipParseStatus.BadVersion, start);
            return;
        }
        p = SipChars.ParseDecimal(b, start + 4, end, 1000, out ulong major, out bool o1);
        if (p == start + 4 || p >= end || b[p] != '.')
        {
            m.Fail(SipParseStatus.BadVersion, start);
            return;
        }
        int minorStart = p + 1;
        p = SipChars.ParseDecimal(b, minorStart, end, 1000, out ulong minor, out bool o2);
        if (p == minorStart || p != end)
        {
            m.Fail(SipParseStatus.BadVersion, start);
            return;
        }
        if (o1 || o2 || major != 2 || minor != 0)
            m.Fail(SipParseStatus.UnsupportedVersion, start);
    }

    private static bool ParseStatusLine(ReadOnlySpan<byte> b, int start, int end, SipMessage m)
    {
        int sp = ShortSearch.IndexOf(b, start, end, (byte)' ');
        if (sp >= 0) sp -= start;
        if (sp < 0)
        {
            m.Fail(SipParseStatus.BadStartLine, start);
            return false;
        }
        sp += start;
        ParseVersion(b, start, sp, m);
        int p = sp + 1;
        if (p < end && b[p] == ' ')
        {
            m.Fail(SipParseStatus.ExtraWhitespaceInStartLine, p);
            p = SipChars.SkipLws(b, p, end);
        }
        int codeStart = p;
        p = SipChars.ParseDecimal(b, p, end, 999, out ulong code, out bool overflow);
        int digits = p - codeStart;
        if (digits == 0)
        {
            m.Fail(SipParseStatus.BadStatusCode, codeStart);
            return false;
        }
        // Status-Code is exactly three digits (RFC 4475 3.1.2.19 sends 4294967301).
        if (digits != 3 || overflow || code < 100 || code > 699)
        {
            m.Fail(SipParseStatus.BadStatusCode, codeStart);
            m.StatusCode = overflow || digits > 3 ? 999 : (int)code;
            if (m.StatusCode < 100) m.StatusCode = 999;
        }
        else
        {
            m.StatusCode = (int)code;
        }
        if (p == end)
        {
            m.Anomalies |= SipAnomaly.MissingReasonSeparator;
            m.Reason = Slice(end, end);
            return true;
        }
        if (b[p] != ' ')
        {
            m.Fail(SipParseStatus.BadStatusCode, p);
            return true;
        }
        m.Reason = Slice(p + 1, end);
        return true;
    }
}
