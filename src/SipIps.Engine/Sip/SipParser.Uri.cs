using System.Text;
using SipIps.Engine.Common;

namespace SipIps.Engine.Sip;

internal enum UriContext : byte
{
    /// <summary>Inside angle brackets or in the Request-Line: URI parameters and headers belong to the URI.</summary>
    Enclosed,
    /// <summary>An addr-spec without brackets: it may carry neither URI parameters nor headers (RFC 3261 20.10).</summary>
    Bare,
}

public static partial class SipParser
{
    /// <summary>Parses a URI on its own (as inside angle brackets); the slices of <paramref name="uri"/> index <paramref name="text"/>.</summary>
    public static bool TryParseUri(ReadOnlySpan<byte> text, ref SipUri uri) => ParseUri(text, 0, text.Length, ref uri, UriContext.Enclosed);

    private static bool ParseUri(ReadOnlySpan<byte> b, int start, int end, ref SipUri u, UriContext context)
    {
        u.Clear();
        u.Text = Slice(start, end);
        int p = start;
        // Nearly every URI is "sip:": one compare.
        if (end - p > 4 && AsciiCase.ThreeLettersThen(b, p, SipColon))
        {
            u.Scheme = UriScheme.Sip;
            return ParseSipUriBody(b, p + 4, end, ref u, context);
        }
        if (p >= end || !SipChars.IsAlpha(b[p])) return false;
        while (p < end && SipChars.IsScheme(b[p])) p++;
        if (p >= end || b[p] != ':') return false;
        var scheme = b.Slice(start, p - start);
        p++;
        // Scheme characters are letters, digits and "+-.": the case trick of AsciiCase applies.
        if (AsciiCase.EqualsLower(scheme, "sip"u8)) u.Scheme = UriScheme.Sip;
        else if (AsciiCase.EqualsLower(scheme, "sips"u8)) u.Scheme = UriScheme.Sips;
        else if (AsciiCase.EqualsLower(scheme, "tel"u8)) u.Scheme = UriScheme.Tel;
        else u.Scheme = UriScheme.Other;

        if (u.Scheme is UriScheme.Sip or UriScheme.Sips)
            return ParseSipUriBody(b, p, end, ref u, context);

        // absoluteURI / tel: opaque, but never whitespace, controls or the characters that delimit it.
        if (p == end) return false;
        for (int i = p; i < end; i++)
        {
            byte c = b[i];
            if (c <= 0x20 || c == 0x7F || c == '<' || c == '>' || c == '"') return false;
            if (context == UriContext.Bare && (c == ',' || c == ';' || c == '?') && u.Scheme != UriScheme.Tel) return false;
        }
        if (u.Scheme == UriScheme.Tel)
        {
            int semi = b.Slice(p, end - p).IndexOf((byte)';');
            int userEnd = semi < 0 ? end : p + semi;
            u.User = Slice(p, userEnd);
            if (semi >= 0) u.Params = Slice(userEnd, end);
        }
        return true;
    }

    private const uint SipColon = 's' | 'i' << 8 | 'p' << 16 | ':' << 24;

    private static bool ParseSipUriBody(ReadOnlySpan<byte> b, int p, int end, ref SipUri u, UriContext context)
    {
        // userinfo: an unescaped '@' only ever ends the userinfo (it is in none of the other productions).
        int at = ShortSearch.IndexOf(b, p, end, (byte)'@');
        if (at >= 0)
        {
            // The user ends at the first byte outside its set: '@', or a colon that starts the password.
            int userEnd = SipChars.UserChars.Skip(b, p, at);
            int colon = -1;
            if (userEnd < at)
            {
                if (b[userEnd] != ':' || SipChars.PasswordChars.Skip(b, userEnd + 1, at) != at) return false;
                colon = userEnd;
            }
            if (userEnd == p) return false;
            u.User = Slice(p, userEnd);
            if (colon >= 0) u.Password = Slice(colon + 1, at);
            p = at + 1;
        }

        p = ParseHost(b, p, end, out u.Host, out u.HostKind);
        if (p < 0) return false;

        if (p < end && b[p] == ':')
        {
            int e = SipChars.ParseDecimal(b, p + 1, end, 65535, out ulong port, out bool overflow);
            if (e == p + 1 || overflow) return false;
            p = e;
            u.Port = (int)port;
        }

        if (p < end && b[p] == ';')
        {
            if (context == UriContext.Bare) return false;
            int ps = p;
            while (p < end && b[p] == ';')
            {
                p++;
                int nameStart = p;
                while (p < end && SipChars.IsUriParam(b[p])) p++;
                if (p == nameStart) return false;
            }
            u.Params = Slice(ps, p);
        }
        if (p < end && b[p] == '?')
        {
            if (context == UriContext.Bare) return false;
            int hs = p + 1;
            p = hs;
            while (p < end && SipChars.IsUriHeader(b[p])) p++;
            u.Headers = Slice(hs, p);
        }
        return p == end;
    }

    /// <summary>
    /// host = hostname / IPv4address / IPv6reference. Scans with one vectorised search, then checks the labels:
    /// alphanumerics and inner hyphens, the top label starting with a letter; all-numeric text must be an IPv4
    /// address.
    /// </summary>
    /// <returns>The position after the host, or -1 when there is no valid host at <paramref name="p"/>.</returns>
    private static int ParseHost(ReadOnlySpan<byte> b, int p, int end, out SipSlice host, out HostKind kind)
    {
        host = SipSlice.None;
        kind = HostKind.None;
        if (p >= end) return -1;
        if (b[p] == '[')
        {
            int close = b.Slice(p, end - p).IndexOf((byte)']');
            if (close < 0) return -1;
            close += p;
            if (!IpAddr.TryParseV6(b.Slice(p + 1, close - p - 1), out _)) return -1;
            host = Slice(p, close + 1);
            kind = HostKind.IPv6;
            return close + 1;
        }
        int he = SipChars.HostChars.Skip(b, p, end);
        if (he == p) return -1;
        var name = b.Slice(p, he - p);
        if (SipChars.IsDigit(name[0]) && IpAddr.TryParseV4(name, out _))
        {
            kind = HostKind.IPv4;
        }
        else
        {
            // Anything else is a hostname, whose top label starts with a letter: all-numeric text that is no IPv4
            // address (a fifth number, a value past 255, a final dot) is no host at all.
            if (!ValidHostname(name)) return -1;
            kind = HostKind.Name;
        }
        host = Slice(p, he);
        return he;
    }

    /// <summary>
    /// RFC 3261 hostname, in one pass over text the caller found to hold only alphanumerics, '-' and '.': labels
    /// not empty, no hyphen at either end of a label, the top label starting with a letter, one final dot allowed.
    /// </summary>
    private static bool ValidHostname(ReadOnlySpan<byte> host)
    {
        if (host.Length > 255) return false;
        if (host.Length > 1 && host[^1] == '.') host = host.Slice(0, host.Length - 1);
        int top = 0;
        byte previous = (byte)'.';
        for (int i = 0; i < host.Length; i++)
        {
            byte c = host[i];
            if (c == '.')
            {
                if (previous is (byte)'.' or (byte)'-') return false;
                top = i + 1;
            }
            else if (c == '-' && previous == '.')
            {
                return false;
            }
            previous = c;
        }
        return previous is not ((byte)'.' or (byte)'-') && SipChars.IsAlpha(host[top]);
    }

    /// <summary>Looks up a URI parameter (e.g. transport, user, lr) in a Params slice starting with ';'.</summary>
    public static SipSlice FindUriParam(SipMessage m, in SipUri uri, ReadOnlySpan<byte> name)
    {
        if (!uri.Params.IsPresent) return SipSlice.None;
        var b = m.Buffer.AsSpan();
        int p = uri.Params.Start;
        int end = uri.Params.End;
        while (p < end)
        {
            if (b[p] == ';') p++;
            int ns = p;
            while (p < end && b[p] != ';' && b[p] != '=') p++;
            int ne = p;
            int vs = -1, ve = -1;
            if (p < end && b[p] == '=')
            {
                vs = ++p;
                while (p < end && b[p] != ';') p++;
                ve = p;
            }
            if (Ascii.EqualsIgnoreCase(b.Slice(ns, ne - ns), name))
                return vs < 0 ? new SipSlice(ne, 0) : Slice(vs, ve);
        }
        return SipSlice.None;
    }
}
