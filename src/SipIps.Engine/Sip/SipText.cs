using System.Text;

namespace SipIps.Engine.Sip;

/// <summary>Helpers for SIP text: %-unescaping (RFC 3261 section 19.1.2) and quoted-string contents.</summary>
public static class SipText
{
    /// <summary>
    /// Unescapes %HH sequences into <paramref name="destination"/>. A '%' not followed by two hex digits is kept
    /// literally (RFC 4475 3.1.1.5). Returns the bytes written, or -1 when the destination is too small.
    /// </summary>
    public static int Unescape(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        int w = 0;
        for (int i = 0; i < source.Length; i++)
        {
            if (w >= destination.Length) return -1;
            byte c = source[i];
            if (c == '%' && i + 2 < source.Length && Hex(source[i + 1]) is int h1 and >= 0 && Hex(source[i + 2]) is int h2 and >= 0)
            {
                destination[w++] = (byte)((h1 << 4) | h2);
                i += 2;
            }
            else
            {
                destination[w++] = c;
            }
        }
        return w;
    }

    /// <summary>Unescapes into a string (allocates: for reports, JSON and tests).</summary>
    public static string Unescape(ReadOnlySpan<byte> source)
    {
        byte[] buffer = new byte[source.Length];
        int n = Unescape(source, buffer);
        return Encoding.UTF8.GetString(buffer, 0, n);
    }

    /// <summary>The contents of a quoted-string without the quotes and with backslash escapes resolved.</summary>
    public static string Unquote(ReadOnlySpan<byte> quoted)
    {
        if (quoted.Length < 2 || quoted[0] != '"' || quoted[^1] != '"') return Encoding.UTF8.GetString(quoted);
        var inner = quoted.Slice(1, quoted.Length - 2);
        var sb = new List<byte>(inner.Length);
        for (int i = 0; i < inner.Length; i++)
        {
            if (inner[i] == '\\' && i + 1 < inner.Length) i++;
            sb.Add(inner[i]);
        }
        return Encoding.UTF8.GetString(sb.ToArray());
    }

    private static int Hex(byte c)
    {
        uint d = (uint)(c - '0');
        if (d <= 9) return (int)d;
        uint l = (uint)((c | 0x20) - 'a');
        return l <= 5 ? (int)l + 10 : -1;
    }
}
