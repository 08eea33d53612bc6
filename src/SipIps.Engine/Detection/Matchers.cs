using System.Text;
using System.Text.RegularExpressions;
using SipIps.Engine.Common;
using SipIps.Engine.Sip;

namespace SipIps.Engine.Detection;

public enum StringMatchKind : byte { Exact, Prefix, Suffix, Contains, Regex }

/// <summary>
/// One string test on a field or header value. Exact, prefix, suffix and contains compare ASCII letters without
/// regard to case; a regex runs as written, with the non-backtracking engine (linear time whatever the input,
/// since an attacker writes the input). Values longer than <see cref="MaxRegexInput"/> are tested on their head.
/// </summary>
public sealed class StringMatcher
{
    public const int MaxRegexInput = 2048;

    private readonly byte[][] _literals;
    private readonly Regex? _regex;

    private StringMatcher(StringMatchKind kind, byte[][] literals, Regex? regex, string text)
    {
        Kind = kind;
        _literals = literals;
        _regex = regex;
        Text = text;
    }

    public StringMatchKind Kind { get; }
    public string Text { get; }

    public static StringMatcher Literal(StringMatchKind kind, IEnumerable<string> values)
    {
        if (kind == StringMatchKind.Regex) throw new ArgumentException("use Regex()");
        var list = values.ToArray();
        return new StringMatcher(kind, list.Select(v => Encoding.UTF8.GetBytes(v)).ToArray(), null, string.Join(", ", list));
    }

    /// <summary>Builds a regex matcher; throws <see cref="ArgumentException"/> with the reason when the pattern is bad.</summary>
    public static StringMatcher Regex(string pattern)
    {
        var regex = new Regex(pattern, RegexOptions.NonBacktracking | RegexOptions.CultureInvariant);
        return new StringMatcher(StringMatchKind.Regex, [], regex, pattern);
    }

    public bool Matches(ReadOnlySpan<byte> value)
    {
        switch (Kind)
        {
            case StringMatchKind.Regex:
            {
                int n = Math.Min(value.Length, MaxRegexInput);
                Span<char> chars = stackalloc char[n];
                for (int i = 0; i < n; i++) chars[i] = (char)value[i];
                return _regex!.IsMatch(chars);
            }
            case StringMatchKind.Exact:
                foreach (var lit in _literals)
                    if (value.Length == lit.Length && EqualsIgnoreCase(value, lit)) return true;
                return false;
            case StringMatchKind.Prefix:
                foreach (var lit in _literals)
                    if (value.Length >= lit.Length && EqualsIgnoreCase(value[..lit.Length], lit)) return true;
                return false;
            case StringMatchKind.Suffix:
                foreach (var lit in _literals)
                    if (value.Length >= lit.Length && EqualsIgnoreCase(value[^lit.Length..], lit)) return true;
                return false;
            default:
                foreach (var lit in _literals)
                    if (ContainsIgnoreCase(value, lit)) return true;
                return false;
        }
    }

    private static bool EqualsIgnoreCase(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b) => Ascii.EqualsIgnoreCase(a, b);

    private static bool ContainsIgnoreCase(ReadOnlySpan<byte> value, ReadOnlySpan<byte> lit)
    {
        if (lit.Length == 0) return true;
        for (int i = 0; i + lit.Length <= value.Length; i++)
            if (Ascii.EqualsIgnoreCase(value.Slice(i, lit.Length), lit)) return true;
        return false;
    }
}

/// <summary>A set of addresses and prefixes, looked up with one hash probe per distinct prefix length.</summary>
public sealed class IpSet
{
    private readonly HashSet<IpAddr>[] _byLength4;
    private readonly HashSet<IpAddr>[] _byLength6;
    private readonly int[] _lengths4;
    private readonly int[] _lengths6;

    public IpSet(IEnumerable<(IpAddr Address, int Bits)> entries)
    {
        var v4 = new SortedDictionary<int, HashSet<IpAddr>>();
        var v6 = new SortedDictionary<int, HashSet<IpAddr>>();
        var list = new List<string>();
        foreach (var (a, bits) in entries)
        {
            var table = a.IsV4 ? v4 : v6;
            if (!table.TryGetValue(bits, out var set)) table[bits] = set = [];
            set.Add(a.Prefix(bits));
            list.Add(bits == (a.IsV4 ? 32 : 128) ? a.ToString() : $"{a.Prefix(bits)}/{bits}");
        }
        _lengths4 = v4.Keys.ToArray();
        _byLength4 = v4.Values.ToArray();
        _lengths6 = v6.Keys.ToArray();
        _byLength6 = v6.Values.ToArray();
        Entries = list;
    }

    public static IpSet Empty { get; } = new([]);

    public IReadOnlyList<string> Entries { get; }

    public bool IsEmpty => _lengths4.Length == 0 && _lengths6.Length == 0;

    public bool Contains(in IpAddr address)
    {
        if (address.IsV4)
        {
            for (int i = 0; i < _lengths4.Length; i++)
                if (_byLength4[i].Contains(address.Prefix(_lengths4[i]))) return true;
        }
        else if (address.IsV6)
        {
            for (int i = 0; i < _lengths6.Length; i++)
                if (_byLength6[i].Contains(address.Prefix(_lengths6[i]))) return true;
        }
        return false;
    }

    /// <summary>Parses "203.0.113.7", "203.0.113.0/24" or "2001:db8::/32".</summary>
    public static bool TryParseEntry(string text, out IpAddr address, out int bits, out string error)
    {
        bits = 0;
        error = "";
        int slash = text.IndexOf('/');
        string addr = slash < 0 ? text : text[..slash];
        if (!IpAddr.TryParse(Encoding.ASCII.GetBytes(addr), out address))
        {
            error = $"'{text}' is not an IP address or prefix";
            return false;
        }
        int max = address.IsV4 ? 32 : 128;
        if (slash < 0)
        {
            bits = max;
            return true;
        }
        if (!int.TryParse(text[(slash + 1)..], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out bits) || bits > max)
        {
            error = $"'{text}': the prefix length must be 0 to {max}";
            return false;
        }
        if (address.Prefix(bits) != address)
        {
            error = $"'{text}' has bits set past /{bits}: did you mean {address.Prefix(bits)}/{bits}?";
            return false;
        }
        return true;
    }
}

public enum MessageKind : byte { Any, Request, Response }

public enum Tristate : byte { Any, Yes, No }

/// <summary>A test on one field: the field must be present and one of the matchers must match it (or, when
/// <see cref="Absent"/> is set, the field must be missing).</summary>
public sealed record FieldCondition(SipField Field, string? Header, StringMatcher? Matcher, bool Absent, bool Negate)
{
    internal readonly SipHeaderId HeaderId = Header is null ? SipHeaderId.Other : SipHeaders.Lookup(Encoding.ASCII.GetBytes(Header));
    internal readonly byte[] HeaderName = Header is null ? [] : Encoding.ASCII.GetBytes(Header);
}

/// <summary>
/// The conditions a message must meet to count for a rule. Every condition given must hold; a condition not given
/// does not constrain. Built by the rule loader; evaluated on the packet path without allocating.
/// </summary>
public sealed class MessageMatch
{
    public MessageKind Kind { get; init; }
    /// <summary>Bit i set: <see cref="SipMethod"/> i matches (for a response, its CSeq method). 0: any method.</summary>
    public uint Methods { get; init; }
    /// <summary>Extension methods by name (matched on the method text).</summary>
    public byte[][] ExtensionMethods { get; init; } = [];
    /// <summary>Status codes 100..699 that match; null: any (a status condition implies a response).</summary>
    public bool[]? Statuses { get; init; }
    public FieldCondition[] Fields { get; init; } = [];
    public Tristate Sdp { get; init; }
    public Tristate Authenticated { get; init; }
    public Tristate Malformed { get; init; }
    /// <summary>When set, only these parse statuses count as malformed.</summary>
    public bool[]? MalformedStatuses { get; init; }
    /// <summary>When set (non-zero), these anomalies also count as malformed.</summary>
    public SipAnomaly MalformedAnomalies { get; init; }
    public Tristate DialogKnown { get; init; }
    public Tristate DialogConfirmed { get; init; }
    public Tristate FromHop { get; init; }
    public Tristate SourceKnown { get; init; }
    public IpSet? Source { get; init; }
    public IpSet? Destination { get; init; }
    public bool NegateSource { get; init; }
    public bool NegateDestination { get; init; }
    public byte Transport { get; init; }

    /// <summary>True when the match looks at dialog or source state (the engine then looks it up first).</summary>
    public bool NeedsSessionState => DialogKnown != Tristate.Any || DialogConfirmed != Tristate.Any || FromHop != Tristate.Any || SourceKnown != Tristate.Any;

    public bool Matches(MessageFields f)
    {
        var m = f.Message;
        if (Kind == MessageKind.Request && !m.IsRequest) return false;
        if (Kind == MessageKind.Response && !m.IsResponse) return false;
        if (Methods != 0 || ExtensionMethods.Length > 0)
        {
            var method = m.IsRequest ? m.Method : m.CSeqMethod;
            bool ok = method != SipMethod.Unknown ? (Methods & (1u << (int)method)) != 0 : MatchesExtension(f.Raw(SipField.Method, out _));
            if (!ok) return false;
        }
        if (Statuses is not null)
        {
            int code = m.StatusCode;
            if (!m.IsResponse || code < 100 || code > 699 || !Statuses[code]) return false;
        }
        if (Transport != 0 && (byte)f.Packet.Protocol != Transport) return false;
        if (Source is not null && Source.Contains(f.Client) == NegateSource) return false;
        if (Destination is not null && Destination.Contains(f.Server) == NegateDestination) return false;
        if (Sdp != Tristate.Any && (m.Sdp.Present == (Sdp == Tristate.No))) return false;
        if (Authenticated != Tristate.Any)
        {
            bool auth = m.Authorization.IsPresent || m.ProxyAuthorization.IsPresent;
            if (auth == (Authenticated == Tristate.No)) return false;
        }
        if (Malformed != Tristate.Any && IsMalformed(m) == (Malformed == Tristate.No)) return false;
        if (DialogKnown != Tristate.Any && f.DialogKnown == (DialogKnown == Tristate.No)) return false;
        if (DialogConfirmed != Tristate.Any && f.DialogConfirmed == (DialogConfirmed == Tristate.No)) return false;
        if (FromHop != Tristate.Any && f.FromHop == (FromHop == Tristate.No)) return false;
        if (SourceKnown != Tristate.Any && f.SourceKnown == (SourceKnown == Tristate.No)) return false;
        var fields = Fields;
        for (int i = 0; i < fields.Length; i++)
            if (!Check(fields[i], f)) return false;
        return true;
    }

    private bool MatchesExtension(ReadOnlySpan<byte> text)
    {
        foreach (var e in ExtensionMethods)
            if (text.SequenceEqual(e)) return true;
        return false;
    }

    private bool IsMalformed(SipMessage m)
    {
        if (m.Status != SipParseStatus.Ok)
            return MalformedStatuses is null || ((int)m.Status < MalformedStatuses.Length && MalformedStatuses[(int)m.Status]);
        return (m.Anomalies & MalformedAnomalies) != 0;
    }

    private static bool Check(FieldCondition c, MessageFields f)
    {
        bool present;
        ReadOnlySpan<byte> value;
        if (c.Header is not null)
            value = HeaderValue(f.Message, c.HeaderId, c.HeaderName, out present);
        else
            value = f.Raw(c.Field, out present);
        if (c.Absent) return !present;
        bool hit = present && c.Matcher is not null && c.Matcher.Matches(value);
        return hit != c.Negate;
    }

    /// <summary>The first header with this name (case-insensitive); compact forms are found by their id.</summary>
    private static ReadOnlySpan<byte> HeaderValue(SipMessage m, SipHeaderId id, byte[] name, out bool present)
    {
        for (int i = 0; i < m.HeaderCount; i++)
        {
            ref readonly var h = ref m.Headers[i];
            bool same = id != SipHeaderId.Other
                ? h.Id == id
                : h.Id == SipHeaderId.Other && Ascii.EqualsIgnoreCase(m[h.Name], name);
            if (same)
            {
                present = true;
                return m[h.Value];
            }
        }
        present = false;
        return default;
    }
}
