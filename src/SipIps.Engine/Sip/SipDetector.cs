using System.Text;

namespace SipIps.Engine.Sip;

public enum PayloadClass : byte
{
    /// <summary>Parse it as SIP (it may still turn out invalid).</summary>
    Sip,
    /// <summary>CR/LF keep-alives or a STUN keep-alive on a SIP port.</summary>
    KeepAlive,
    /// <summary>Something else: HTTP or SSDP on a SIP port, media, or any traffic off the SIP ports.</summary>
    NotSip,
}

/// <summary>Decides which payloads are SIP: configured ports plus content.</summary>
public static class SipDetector
{
    /// <summary>How far into a payload the start line is looked for when the port does not say SIP.</summary>
    public const int MaxStartLineScan = 4096;

    public static PayloadClass Classify(ReadOnlySpan<byte> payload, bool onSipPort)
    {
        int p = 0;
        while (p < payload.Length && (payload[p] == '\r' || payload[p] == '\n')) p++;
        if (p == payload.Length) return payload.Length > 0 && onSipPort ? PayloadClass.KeepAlive : PayloadClass.NotSip;
        var rest = payload.Slice(p);

        int scan = Math.Min(rest.Length, MaxStartLineScan);
        int lf = rest.Slice(0, scan).IndexOf((byte)'\n');
        var line = lf < 0 ? rest.Slice(0, scan) : rest.Slice(0, lf);
        if (line.Length > 0 && line[^1] == '\r') line = line.Slice(0, line.Length - 1);
        if (LooksLikeStartLine(line)) return PayloadClass.Sip;
        if (!onSipPort) return PayloadClass.NotSip;

        // Keep-alives seen in the wild: CR/LF (RFC 5626), spaces, four NULs, STUN.
        if (payload.IndexOfAnyExcept(s_keepAliveBytes) < 0 || IsStun(payload)) return PayloadClass.KeepAlive;
        if (LooksLikeHttp(line)) return PayloadClass.NotSip;
        // A broken start line that still opens with a SIP method or version is malformed SIP, reported as such;
        // anything else on a SIP port is not SIP at all.
        int t = 0;
        while (t < line.Length && SipChars.IsToken(line[t])) t++;
        if (t > 0 && (t == line.Length || line[t] == ' ') && SipMethods.Parse(line.Slice(0, t)) != SipMethod.Unknown)
            return PayloadClass.Sip;
        if (line.Length >= 4 && Ascii.EqualsIgnoreCase(line.Slice(0, 4), "SIP/"u8)) return PayloadClass.Sip;
        return PayloadClass.NotSip;
    }

    private static readonly System.Buffers.SearchValues<byte> s_keepAliveBytes = System.Buffers.SearchValues.Create("\r\n \t\0"u8);

    /// <summary>A status line "SIP/x.y NNN ..." or a request line "TOKEN SP ... SP SIP/x.y".</summary>
    public static bool LooksLikeStartLine(ReadOnlySpan<byte> line)
    {
        if (line.Length >= 11 && Ascii.EqualsIgnoreCase(line.Slice(0, 4), "SIP/"u8))
        {
            int sp = line.IndexOf((byte)' ');
            return sp > 4 && sp + 3 < line.Length && SipChars.IsDigit(line[sp + 1]);
        }
        int m = 0;
        while (m < line.Length && SipChars.IsToken(line[m])) m++;
        if (m == 0 || m >= line.Length || line[m] != ' ') return false;
        // The version is the last word; allow trailing spaces so that malformed lines are still recognised.
        int end = line.Length;
        while (end > m && line[end - 1] == ' ') end--;
        int lastSp = line.Slice(0, end).LastIndexOf((byte)' ');
        if (lastSp <= m) return false;
        var version = line.Slice(lastSp + 1, end - lastSp - 1);
        return version.Length >= 5 && Ascii.EqualsIgnoreCase(version.Slice(0, 4), "SIP/"u8);
    }

    private static bool LooksLikeHttp(ReadOnlySpan<byte> line)
    {
        if (line.Length >= 5 && Ascii.EqualsIgnoreCase(line.Slice(0, 5), "HTTP/"u8)) return true;
        int end = line.Length;
        while (end > 0 && line[end - 1] == ' ') end--;
        int sp = line.Slice(0, end).LastIndexOf((byte)' ');
        return sp > 0 && end - sp - 1 >= 5 && Ascii.EqualsIgnoreCase(line.Slice(sp + 1, 5), "HTTP/"u8);
    }

    /// <summary>STUN (RFC 5389): first two bits zero and the magic cookie at offset 4.</summary>
    private static bool IsStun(ReadOnlySpan<byte> p) =>
        p.Length >= 20 && (p[0] & 0xC0) == 0 && p[4] == 0x21 && p[5] == 0x12 && p[6] == 0xA4 && p[7] == 0x42;
}
