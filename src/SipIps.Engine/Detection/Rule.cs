using SipIps.Engine.Common;
using SipIps.Engine.Sip;

namespace SipIps.Engine.Detection;

public enum Severity : byte { Info, Low, Medium, High, Critical }

public enum RuleMode : byte
{
    /// <summary>Alert and count what the actions would do; never drop.</summary>
    Detect,
    /// <summary>Apply the actions.</summary>
    Prevent,
}

/// <summary>What a rule does when the key's score reaches <see cref="RuleAction.At"/>; ordered by strength.</summary>
public enum ActionKind : byte
{
    Alert,
    /// <summary>Drop the messages that match the rule while its threshold is exceeded.</summary>
    Drop,
    /// <summary>Let the key's matching messages through at <see cref="RuleAction.Rate"/> per second (token bucket) for the TTL.</summary>
    RateLimit,
    /// <summary>Drop every SIP message of the key for the TTL.</summary>
    Ban,
}

public static class ActionKinds
{
    public static string Name(ActionKind k) => k switch
    {
        ActionKind.Alert => "alert",
        ActionKind.Drop => "drop",
        ActionKind.RateLimit => "rate_limit",
        ActionKind.Ban => "ban",
        _ => "unknown",
    };
}

public readonly record struct RuleAction(ActionKind Kind, double At, long TtlNs, double Rate, double Burst);

/// <summary>
/// A compiled rule. It counts the messages that meet <see cref="Match"/> per <see cref="Key"/> over a sliding
/// <see cref="WindowNs"/> (or the distinct values of <see cref="Distinct"/>, or the ratio of those to the messages
/// that meet <see cref="Per"/>). When the count reaches <see cref="Threshold"/> the rule fires: it adds
/// <see cref="Score"/> to the key and takes each action whose level the key's score has reached. A rule fires at
/// most once per window for one key.
/// </summary>
public sealed class Rule
{
    public required string Id { get; init; }
    public string Description { get; init; } = "";
    public Severity Severity { get; init; } = Severity.Medium;
    public RuleMode Mode { get; init; } = RuleMode.Prevent;
    public required MessageMatch Match { get; init; }
    public required KeySpec Key { get; init; }
    public long WindowNs { get; init; } = 1_000_000_000;
    public double Threshold { get; init; } = 1;
    /// <summary>Count distinct values of these fields instead of messages.</summary>
    public SipField[] Distinct { get; init; } = [];
    /// <summary>When set, the threshold is a ratio: counted messages (or distinct values) per message that meets this.</summary>
    public MessageMatch? Per { get; init; }
    /// <summary>For a ratio: the least count before the ratio is considered.</summary>
    public int MinCount { get; init; } = 1;
    public double Score { get; init; } = 1;
    public RuleAction[] Actions { get; init; } = [new RuleAction(ActionKind.Alert, 0, 0, 0, 0)];
    /// <summary>Where the rule was written ("file:line"), for messages.</summary>
    public string Origin { get; init; } = "";

    /// <summary>The rule's position in its <see cref="RuleSet"/>; per-worker statistics are indexed by it.</summary>
    public int Index { get; internal set; }

    private ulong? _idHash;

    /// <summary>A stable hash of the id: counters are keyed by it, so they survive a reload that keeps the id.</summary>
    public ulong IdHash => _idHash ??= Hash64.Compute(System.Text.Encoding.UTF8.GetBytes(Id), 0x52_554C_4549_44UL) | 1;

    public bool IsRatio => Per is not null;
    public bool IsDistinct => Distinct.Length > 0;

    public bool HasAction(ActionKind kind)
    {
        foreach (var a in Actions)
            if (a.Kind == kind) return true;
        return false;
    }

    /// <summary>The action that the rule's own first firing can reach at the least (used to sort and describe).</summary>
    public ActionKind StrongestAction => Actions.Length == 0 ? ActionKind.Alert : Actions.Max(a => a.Kind);
}

/// <summary>Addresses and URIs that are never dropped, rate-limited or banned (they still raise alerts).</summary>
public sealed class Allowlist
{
    public IpSet Addresses { get; init; } = IpSet.Empty;
    /// <summary>Canonical Request-URIs or To URIs ("sip:112@example.net") that are always let through.</summary>
    public IReadOnlyCollection<string> Uris { get; init; } = [];
    /// <summary>Users (for "sip:112@*" entries) whose Request-URI or To user is always let through.</summary>
    public IReadOnlyCollection<string> Users { get; init; } = [];

    public static Allowlist Empty { get; } = new();

    public bool IsEmpty => Addresses.IsEmpty && Uris.Count == 0 && Users.Count == 0;
}

/// <summary>
/// An immutable set of compiled rules. The engine reads the current set through a <see cref="RuleSetHolder"/>; a
/// reload builds a whole new set and swaps it in one write.
/// </summary>
public sealed class RuleSet
{
    private readonly Rule[][] _byMethodRequest;
    private readonly Rule[][] _byMethodResponse;
    private readonly HashSet<ulong> _uriHashes;
    private readonly HashSet<ulong> _userHashes;

    /// <summary>Rules on behaviour factors, evaluated once a second by the session thread.</summary>
    public IReadOnlyList<Behaviour.FactorRule> FactorRules { get; init; } = [];

    public RuleSet(IReadOnlyList<Rule> rules, Allowlist? allowlist = null)
    {
        Rules = rules;
        Allowlist = allowlist ?? Allowlist.Empty;
        var ids = new HashSet<string>();
        foreach (var r in rules)
            if (!ids.Add(r.Id)) throw new ArgumentException($"duplicate rule id '{r.Id}'");
        for (int i = 0; i < rules.Count; i++) rules[i].Index = i;
        _byMethodRequest = new Rule[SipMethods.Count][];
        _byMethodResponse = new Rule[SipMethods.Count][];
        for (int m = 0; m < SipMethods.Count; m++)
        {
            _byMethodRequest[m] = rules.Where(r => Applies(r, (SipMethod)m, request: true)).ToArray();
            _byMethodResponse[m] = rules.Where(r => Applies(r, (SipMethod)m, request: false)).ToArray();
        }
        _uriHashes = [.. Allowlist.Uris.Select(u => KeyText.ComponentHash(SipField.RequestUri, System.Text.Encoding.UTF8.GetBytes(u)))];
        _userHashes = [.. Allowlist.Users.Select(u => KeyText.ComponentHash(SipField.RuriUser, System.Text.Encoding.UTF8.GetBytes(u)))];
        NeedsSessionState = rules.Any(r => r.Match.NeedsSessionState || (r.Per?.NeedsSessionState ?? false));
        KeySpecs = rules.Select(r => r.Key).Distinct().ToArray();
    }

    public static RuleSet Empty { get; } = new([]);

    public IReadOnlyList<Rule> Rules { get; }
    public Allowlist Allowlist { get; }
    public bool NeedsSessionState { get; }
    public KeySpec[] KeySpecs { get; }

    /// <summary>The rules that can count this message (by request method, or by CSeq method for a response).</summary>
    public Rule[] For(SipMessage m)
    {
        var method = m.IsRequest ? m.Method : m.CSeqMethod;
        return m.IsRequest ? _byMethodRequest[(int)method] : _byMethodResponse[(int)method];
    }

    private static bool Applies(Rule r, SipMethod method, bool request) =>
        Applies(r.Match, method, request) || (r.Per is not null && Applies(r.Per, method, request));

    private static bool Applies(MessageMatch match, SipMethod method, bool request)
    {
        if (match.Kind == MessageKind.Request && !request) return false;
        if ((match.Kind == MessageKind.Response || match.Statuses is not null) && request) return false;
        if (match.Methods == 0 && match.ExtensionMethods.Length == 0) return true;
        if (method == SipMethod.Unknown) return match.ExtensionMethods.Length > 0;
        return (match.Methods & (1u << (int)method)) != 0;
    }

    /// <summary>True when the message's addresses or destination URI are on the allowlist.</summary>
    /// <summary>Whether a key written as text ("src_ip=192.0.2.7") names an allowlisted address or prefix.</summary>
    public bool IsAllowlistedKey(string canonical)
    {
        int eq = canonical.IndexOf('=');
        if (eq < 0) return false;
        string spec = canonical[..eq], values = canonical[(eq + 1)..];
        if (spec is "src_ip" or "dst_ip" && IpAddr.TryParse(System.Text.Encoding.ASCII.GetBytes(values), out var ip))
            return Allowlist.Addresses.Contains(ip);
        if (spec == "src_prefix")
        {
            int slash = values.IndexOf('/');
            if (slash > 0 && IpAddr.TryParse(System.Text.Encoding.ASCII.GetBytes(values[..slash]), out var p)) return Allowlist.Addresses.Contains(p);
        }
        return false;
    }

    public bool IsAllowlisted(MessageFields f)
    {
        var a = Allowlist;
        if (a.IsEmpty) return false;
        if (a.Addresses.Contains(f.Client) || a.Addresses.Contains(f.Server)) return true;
        if (_uriHashes.Count > 0)
        {
            if (f.TryHash(SipField.RequestUri, out _) && f.TryCanonical(SipField.RequestUri, out var ruri)
                && _uriHashes.Contains(KeyText.ComponentHash(SipField.RequestUri, ruri))) return true;
            if (f.TryCanonical(SipField.ToUri, out var to) && _uriHashes.Contains(KeyText.ComponentHash(SipField.RequestUri, to))) return true;
        }
        if (_userHashes.Count > 0)
        {
            if (f.TryCanonical(SipField.RuriUser, out var u) && _userHashes.Contains(KeyText.ComponentHash(SipField.RuriUser, u))) return true;
            if (f.TryCanonical(SipField.ToUser, out var t) && _userHashes.Contains(KeyText.ComponentHash(SipField.RuriUser, t))) return true;
        }
        return false;
    }
}

/// <summary>Holds the current rule set; workers read it once per message, a reload replaces it in one write.</summary>
public sealed class RuleSetHolder(RuleSet initial)
{
    private volatile RuleSet _current = initial;

    public RuleSet Current => _current;

    public void Swap(RuleSet next) => _current = next;
}
