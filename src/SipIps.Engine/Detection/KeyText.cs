using System.Text;
using SipIps.Engine.Common;
using SipIps.Engine.Sip;

namespace SipIps.Engine.Detection;

/// <summary>
/// Canonical text of field values and keys. The same bytes are hashed on the packet path and parsed back from
/// the command line, so a key typed by an operator finds the state the engine keeps for it.
/// </summary>
public static class KeyText
{
    /// <summary>Canonical values longer than this are cut and end in "~" and a hash of the whole value.</summary>
    public const int MaxValueLength = 200;

    /// <summary>Room a caller must give <see cref="Escape"/> for any input.</summary>
    public const int MaxCanonicalLength = MaxValueLength * 3 + 17;

    /// <summary>
    /// Writes <paramref name="raw"/> with '/', '%', spaces, controls and non-ASCII bytes as %XX (so a key's text
    /// splits unambiguously on '/' and prints safely), lower-casing ASCII letters when asked. Returns the length.
    /// </summary>
    public static int Escape(ReadOnlySpan<byte> raw, Span<byte> destination, bool lowerCase)
    {
        int n = 0;
        int limit = MaxValueLength;
        for (int i = 0; i < raw.Length; i++)
        {
            byte c = raw[i];
            if (n >= limit)
            {
                // Too long to show whole: keep the head and make the tail unique with a fixed-seed hash.
                destination[n++] = (byte)'~';
                ulong h = Hash64.Compute(raw, 0x4B45_5954_4558_5400UL);
                for (int s = 60; s >= 0; s -= 4) destination[n++] = Hex((int)(h >> s) & 0xF);
                return n;
            }
            if (c <= 0x20 || c >= 0x7F || c == '/' || c == '%')
            {
                destination[n++] = (byte)'%';
                destination[n++] = Hex(c >> 4);
                destination[n++] = Hex(c & 0xF);
                continue;
            }
            if (lowerCase && c >= 'A' && c <= 'Z') c = (byte)(c | 0x20);
            destination[n++] = c;
        }
        return n;
    }

    private static byte Hex(int v) => (byte)(v < 10 ? '0' + v : 'A' + v - 10);

    /// <summary>The hash of one canonical component under this process's seed.</summary>
    public static ulong ComponentHash(SipField field, ReadOnlySpan<byte> canonical) =>
        Hash64.Compute(canonical, Hash64.Seed ^ ((ulong)field * 0x9E37_79B9_7F4A_7C15UL));

    /// <summary>Folds component hashes into a key hash.</summary>
    public static ulong Fold(ulong acc, ulong component) => Hash64.Combine(acc, component);

    /// <summary>A key hash is never 0 or 1: tables use those for a free slot and a removed one.</summary>
    public static ulong Finish(ulong acc) => acc <= 1 ? acc + 2 : acc;

    /// <summary>
    /// Parses a key as written in alerts and status ("src_ip+from_user=203.0.113.7/alice") into its spec, its
    /// canonical text and its hash. Addresses and prefixes are normalised; other values are taken as written
    /// (with %XX escapes, as the engine prints them).
    /// </summary>
    public static bool TryParse(string text, out KeySpec spec, out string canonical, out ulong hash, out string error)
    {
        spec = KeySpec.Global;
        canonical = "";
        hash = 0;
        text = text.Trim();
        int eq = text.IndexOf('=');
        string specText = eq < 0 ? text : text[..eq];
        if (!KeySpec.TryParse(specText, out spec, out error)) return false;
        if (spec.IsGlobal)
        {
            if (eq >= 0 && text[(eq + 1)..] is not ("" or "*"))
            {
                error = "the global key has no value: write 'global'";
                return false;
            }
            canonical = "global=*";
            hash = Finish(Fold(spec.Tag, ComponentHash(SipField.Global, "*"u8)));
            error = "";
            return true;
        }
        if (eq < 0)
        {
            error = $"a key is written {spec.Name}=VALUE" + (spec.Fields.Length > 1 ? " with the values joined by '/'" : "");
            return false;
        }
        string rest = text[(eq + 1)..];
        var parts = new List<string>();
        for (int i = 0; i < spec.Fields.Length; i++)
        {
            var f = spec.Fields[i];
            bool last = i == spec.Fields.Length - 1;
            // A prefix is "address/bits": it spans two '/' pieces.
            int cut = -1;
            if (!last)
            {
                cut = rest.IndexOf('/');
                if (f == SipField.SrcPrefix && cut >= 0) cut = rest.IndexOf('/', cut + 1);
                if (cut < 0)
                {
                    error = $"key {spec.Name} needs {spec.Fields.Length} values joined by '/'";
                    return false;
                }
            }
            string value = last ? rest : rest[..cut];
            rest = last ? "" : rest[(cut + 1)..];
            if (!TryCanonical(f, value, out string c, out error)) return false;
            parts.Add(c);
        }
        canonical = spec.Name + "=" + string.Join('/', parts);
        ulong acc = spec.Tag;
        for (int i = 0; i < parts.Count; i++) acc = Fold(acc, ComponentHash(spec.Fields[i], Encoding.ASCII.GetBytes(parts[i])));
        hash = Finish(acc);
        error = "";
        return true;
    }

    private static bool TryCanonical(SipField f, string value, out string canonical, out string error)
    {
        canonical = value;
        error = "";
        if (SipFields.IsAddress(f))
        {
            if (!IpAddr.TryParse(Encoding.ASCII.GetBytes(value), out var ip))
            {
                error = $"'{value}' is not an IP address ({SipFields.Name(f)})";
                return false;
            }
            canonical = ip.ToString();
            return true;
        }
        if (f == SipField.SrcPrefix)
        {
            int slash = value.IndexOf('/');
            if (slash < 0 || !IpAddr.TryParse(Encoding.ASCII.GetBytes(value[..slash]), out var ip))
            {
                error = $"'{value}' is not an address prefix like 203.0.113.0/24 or 2001:db8::/64 (src_prefix)";
                return false;
            }
            int bits = ip.IsV4 ? IPv4PrefixBits : IPv6PrefixBits;
            if (value[(slash + 1)..] != bits.ToString(System.Globalization.CultureInfo.InvariantCulture))
            {
                error = $"src_prefix keys are /{bits} for IPv{(ip.IsV4 ? 4 : 6)}, not /{value[(slash + 1)..]}";
                return false;
            }
            canonical = FormatPrefix(ip);
            return true;
        }
        if (value.Length == 0 && f is SipField.CallId or SipField.UserAgent)
        {
            error = $"{SipFields.Name(f)} cannot be empty";
            return false;
        }
        foreach (char ch in value)
        {
            if (ch <= ' ' || ch >= 0x7F)
            {
                error = $"'{value}': write spaces and non-ASCII bytes as %XX, as the engine prints them";
                return false;
            }
        }
        if (SipFields.IsCaseInsensitive(f)) canonical = value.ToLowerInvariant();
        return true;
    }

    public const int IPv4PrefixBits = 24;
    public const int IPv6PrefixBits = 64;

    public static string FormatPrefix(IpAddr ip)
    {
        Span<byte> b = stackalloc byte[IpAddr.MaxTextLength + 4];
        int n = WritePrefix(ip, b);
        return Encoding.ASCII.GetString(b[..n]);
    }

    /// <summary>Writes the /24 (IPv4) or /64 (IPv6) prefix that contains <paramref name="ip"/>.</summary>
    public static int WritePrefix(IpAddr ip, Span<byte> destination)
    {
        int bits = ip.IsV4 ? IPv4PrefixBits : IPv6PrefixBits;
        ip.Prefix(bits).TryFormat(destination, out int n);
        destination[n++] = (byte)'/';
        if (bits >= 10) destination[n++] = (byte)('0' + bits / 10);
        destination[n++] = (byte)('0' + bits % 10);
        return n;
    }

    /// <summary>
    /// A URI as scheme:user@host[:port], without parameters or headers; other schemes, and a SIP URI whose host did
    /// not parse (an invalid message's), as written up to ';'. Each part is escaped and cut on its own, so the whole
    /// fits <see cref="KeyText.MaxCanonicalLength"/>.
    /// </summary>
    public static int WriteUri(ReadOnlySpan<byte> buffer, in SipUri uri, Span<byte> dest)
    {
        if (!uri.Text.IsPresent) return -1;
        if (uri.Scheme is UriScheme.Sip or UriScheme.Sips && uri.Host.IsPresent)
        {
            int n = 0;
            var scheme = uri.Scheme == UriScheme.Sip ? "sip:"u8 : "sips:"u8;
            scheme.CopyTo(dest);
            n += scheme.Length;
            if (uri.User.IsPresent)
            {
                n += KeyText.Escape(buffer.Slice(uri.User.Start, uri.User.Length), dest[n..], lowerCase: false);
                dest[n++] = (byte)'@';
            }
            n += KeyText.Escape(buffer.Slice(uri.Host.Start, uri.Host.Length), dest[n..], lowerCase: true);
            if (uri.Port >= 0)
            {
                dest[n++] = (byte)':';
                uri.Port.TryFormat(dest[n..], out int w, default, System.Globalization.CultureInfo.InvariantCulture);
                n += w;
            }
            return n;
        }
        var text = buffer.Slice(uri.Text.Start, uri.Text.Length);
        int semi = text.IndexOf((byte)';');
        if (semi >= 0) text = text[..semi];
        return KeyText.Escape(text, dest, lowerCase: false);
    }
}
