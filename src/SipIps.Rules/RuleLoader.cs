using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using SipIps.Engine.Behaviour;
using SipIps.Engine.Common;
using SipIps.Engine.Detection;
using SipIps.Engine.Sip;
using SipIps.Rules.Yaml;

namespace SipIps.Rules;

/// <summary>The outcome of loading rule files: the compiled set, or every error found (each with file:line:column).</summary>
public sealed class RuleLoadResult
{
    public RuleSet? RuleSet { get; init; }
    public IReadOnlyList<ConfigException> Errors { get; init; } = [];
    public IReadOnlyList<string> Files { get; init; } = [];
    public bool Ok => Errors.Count == 0 && RuleSet is not null;
}

/// <summary>
/// Reads rule files (YAML; the schema is in rules/README.md) and compiles them. Every mistake is an error with
/// its place: unknown fields, bad values, bad regexes, thresholds that can never be reached, duplicate ids. The
/// loader reports all the errors it finds, not only the first, and never returns a partial set.
/// </summary>
public static partial class RuleLoader
{
    public const long MinWindowNs = 1_000_000;
    public const long MaxWindowNs = 86_400_000_000_000;
    public const long MaxTtlNs = 30 * 86_400_000_000_000;

    [GeneratedRegex("^[a-z0-9][a-z0-9._-]{0,63}$")]
    private static partial Regex IdPattern();

    /// <summary>Loads every *.yaml and *.yml file of the given directories or files, in name order.</summary>
    public static RuleLoadResult Load(IEnumerable<string> paths)
    {
        var files = new List<string>();
        var errors = new List<ConfigException>();
        foreach (var path in paths)
        {
            if (Directory.Exists(path))
            {
                var found = Directory.EnumerateFiles(path)
                    .Where(f => f.EndsWith(".yaml", StringComparison.Ordinal) || f.EndsWith(".yml", StringComparison.Ordinal))
                    .Order(StringComparer.Ordinal).ToList();
                files.AddRange(found);
            }
            else if (File.Exists(path))
            {
                files.Add(path);
            }
            else
            {
                errors.Add(new ConfigException(path, 0, 0, "no such file or directory"));
            }
        }
        var texts = new List<(string Text, string File)>();
        foreach (var file in files)
        {
            try
            {
                texts.Add((File.ReadAllText(file), file));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                errors.Add(new ConfigException(file, 0, 0, $"cannot read: {e.Message}"));
            }
        }
        var result = Parse(texts);
        return new RuleLoadResult
        {
            RuleSet = errors.Count == 0 ? result.RuleSet : null,
            Errors = [.. errors, .. result.Errors],
            Files = files,
        };
    }

    /// <summary>Compiles rule texts (each with the name used in messages).</summary>
    public static RuleLoadResult Parse(IEnumerable<(string Text, string File)> sources)
    {
        var errors = new List<ConfigException>();
        var rules = new List<Rule>();
        var factorRules = new List<FactorRule>();
        var ids = new Dictionary<string, string>(StringComparer.Ordinal);
        var allowIps = new List<(IpAddr, int)>();
        var allowUris = new List<string>();
        var allowUsers = new List<string>();
        var files = new List<string>();
        foreach (var (text, file) in sources)
        {
            files.Add(file);
            YNode? root;
            try
            {
                root = YamlTree.Load(text, file);
            }
            catch (ConfigException e)
            {
                errors.Add(e);
                continue;
            }
            if (root is null) continue;
            if (root is not YMapping top)
            {
                errors.Add(root.Error("a rule file is a mapping with 'rules:' and, optionally, 'allowlist:'"));
                continue;
            }
            foreach (var (key, value) in top.Entries)
            {
                switch (key.Value)
                {
                    case "rules":
                        if (value is not YSequence seq)
                        {
                            errors.Add(value.Error("'rules' must be a list of rules (each starting with '- id: ...')"));
                            break;
                        }
                        foreach (var item in seq.Items)
                        {
                            try
                            {
                                if (item is YMapping m && m.Entries.Any(e => e.Key.Value == "when"))
                                {
                                    var factorRule = ParseFactorRule(item);
                                    if (ids.TryGetValue(factorRule.Id, out var seen))
                                        throw item.Error($"duplicate rule id '{factorRule.Id}' (first defined at {seen})");
                                    ids[factorRule.Id] = $"{factorRule.File}:{factorRule.Line}";
                                    factorRules.Add(factorRule);
                                    continue;
                                }
                                var rule = ParseRule(item);
                                if (ids.TryGetValue(rule.Id, out var first))
                                    throw item.Error($"duplicate rule id '{rule.Id}' (first defined at {first})");
                                ids[rule.Id] = rule.Origin;
                                rules.Add(rule);
                            }
                            catch (ConfigException e)
                            {
                                errors.Add(e);
                            }
                        }
                        break;
                    case "allowlist":
                        try
                        {
                            ParseAllowlist(value, allowIps, allowUris, allowUsers);
                        }
                        catch (ConfigException e)
                        {
                            errors.Add(e);
                        }
                        break;
                    default:
                        errors.Add(key.Error($"unknown key '{key.Value}' at the top of a rule file (known: rules, allowlist)"));
                        break;
                }
            }
        }
        if (errors.Count > 0) return new RuleLoadResult { Errors = errors, Files = files };
        var allowlist = new Allowlist { Addresses = new IpSet(allowIps), Uris = allowUris, Users = allowUsers };
        return new RuleLoadResult { RuleSet = new RuleSet(rules, allowlist) { FactorRules = factorRules }, Files = files };
    }

    public static RuleLoadResult Parse(string text, string file = "rules.yaml") => Parse([(text, file)]);

    private static void ParseAllowlist(YNode node, List<(IpAddr, int)> ips, List<string> uris, List<string> users)
    {
        YamlTree.Each(YamlTree.Mapping(node, "allowlist"), "allowlist", new Dictionary<string, Action<YNode>>
        {
            ["ips"] = n =>
            {
                foreach (var (v, at) in YamlTree.Strings(n, "allowlist.ips"))
                {
                    if (!IpSet.TryParseEntry(v, out var ip, out int bits, out string error)) throw at.Error(error);
                    ips.Add((ip, bits));
                }
            },
            ["uris"] = n =>
            {
                foreach (var (v, at) in YamlTree.Strings(n, "allowlist.uris"))
                {
                    if (v.EndsWith("@*", StringComparison.Ordinal) && v.StartsWith("sip:", StringComparison.OrdinalIgnoreCase))
                    {
                        users.Add(v[4..^2]);
                        continue;
                    }
                    if (!TryCanonicalUri(v, out string canonical))
                        throw at.Error($"'{v}' is not a SIP URI like sip:112@example.net (or sip:112@* for any host)");
                    uris.Add(canonical);
                }
            },
        });
    }

    /// <summary>The canonical form the engine gives a URI: scheme:user@host[:port], host in lower case, no parameters.</summary>
    internal static bool TryCanonicalUri(string text, out string canonical)
    {
        canonical = "";
        var m = new SipMessage();
        var bytes = Encoding.UTF8.GetBytes($"OPTIONS {text} SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: 1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n");
        if (SipParser.Parse(bytes, m) != SipParseStatus.Ok) return false;
        var f = new MessageFields();
        var info = default(Engine.Packets.PacketInfo);
        f.Begin(info, m);
        if (!f.TryCanonical(SipField.RequestUri, out var c)) return false;
        canonical = Encoding.ASCII.GetString(c);
        return true;
    }

    // ------------------------------------------------------------------ what every kind of rule has

    private static string RuleId(YNode n)
    {
        string id = YamlTree.String(n, "id");
        if (!IdPattern().IsMatch(id)) throw n.Error($"rule id '{id}' must be lower-case letters, digits, '.', '_' or '-' (at most 64)");
        return id;
    }

    private static Severity ParseSeverity(YNode n) => YamlTree.OneOf(n, "severity", "info", "low", "medium", "high", "critical") switch
    {
        "info" => Severity.Info,
        "low" => Severity.Low,
        "medium" => Severity.Medium,
        "high" => Severity.High,
        _ => Severity.Critical,
    };

    private static RuleMode ParseMode(YNode n) =>
        YamlTree.OneOf(n, "mode", "prevent", "detect") == "detect" ? RuleMode.Detect : RuleMode.Prevent;

    // ------------------------------------------------------------------ a rule on behaviour factors

    private static FactorRule ParseFactorRule(YNode node)
    {
        var map = YamlTree.Mapping(node, "a rule");
        string? id = null, description = null;
        var severity = Severity.Medium;
        var mode = RuleMode.Prevent;
        int window = 10;
        long minMessages = 50, cooldown = 60_000_000_000;
        double score = 100;
        var when = new List<FactorCondition>();
        bool protect = false;
        long protectNs = 60_000_000_000;
        var key = KeySpec.Global;
        YNode? keyNode = null, actionsNode = null;
        var actions = new List<(RuleAction Action, YNode Node)>();
        YamlTree.Each(map, "a factor rule", new Dictionary<string, Action<YNode>>
        {
            ["id"] = n => id = RuleId(n),
            ["description"] = n => description = YamlTree.String(n, "description"),
            ["severity"] = n => severity = ParseSeverity(n),
            ["mode"] = n => mode = ParseMode(n),
            ["window"] = n =>
            {
                long ns = YamlTree.Duration(n, "window", 1_000_000_000, 3_600_000_000_000);
                if (ns != 10_000_000_000 && ns != 60_000_000_000) throw n.Error("a factor rule's window is 10s or 60s (the windows the factors are computed over)");
                window = (int)(ns / 1_000_000_000);
            },
            ["min_messages"] = n => minMessages = YamlTree.Int(n, "min_messages", 0, int.MaxValue),
            ["score"] = n => score = YamlTree.Double(n, "score", 0, 1e6),
            ["cooldown"] = n => cooldown = YamlTree.Duration(n, "cooldown", 0, 86_400_000_000_000),
            ["key"] = n =>
            {
                keyNode = n;
                key = ParseKey(n);
            },
            ["actions"] = n =>
            {
                actionsNode = n;
                foreach (var item in YamlTree.Sequence(n, "actions").Items)
                {
                    if (item is YScalar { Value: "protect" }) protect = true;
                    else actions.Add((ParseAction(item), item));
                }
            },
            ["protect_for"] = n => protectNs = YamlTree.Duration(n, "protect_for", 1_000_000_000, 86_400_000_000_000),
            ["when"] = n =>
            {
                foreach (var item in YamlTree.Sequence(n, "when").Items) when.Add(ParseCondition(item));
                if (when.Count == 0) throw n.Error("'when' lists at least one condition");
            },
        });
        if (id is null) throw map.Error("a rule needs an id");
        if (when.Count == 0) throw map.Error($"rule {id}: 'when' is missing");
        if (!key.IsGlobal)
        {
            if (!KeyedFactors.Supports(key))
                throw keyNode!.Error($"rule {id}: factors are kept per {string.Join(", ", KeyedFactors.SupportedFields.Select(SipFields.Name))} or globally, not per {key.Name}");
            foreach (var c in when)
            {
                if (!KeyedFactors.Supports(c.Factor))
                    throw keyNode!.Error($"rule {id}: {Factors.Name(c.Factor)} is computed globally only; per key there are {string.Join(", ", KeyedFactors.Supported.Select(Factors.Name))}");
                if ((c.OnBaseline || c.Comparison == FactorComparison.RatioToBaseline) && c.Factor is Factor.SipMessagesPerSecond)
                    throw keyNode!.Error($"rule {id}: baselines are learned for all traffic; a key's {Factors.Name(c.Factor)} is compared with a fixed value");
            }
            if (protect) throw actionsNode!.Error($"rule {id}: protect guards all traffic; it belongs to a rule with key: global");
        }
        foreach (var (a, at) in actions)
        {
            if (a.Kind == ActionKind.Drop)
                throw at.Error($"rule {id}: a factor rule fires on a window, not on one message: use rate_limit or ban (on its key), or protect");
            if (a.Kind == ActionKind.Ban && key.IsGlobal)
                throw at.Error($"rule {id}: a ban on the global key would block every SIP message; give the rule a key, or use protect");
        }
        if (actions.Count(a => a.Action.Kind == ActionKind.RateLimit) > 1)
            throw actionsNode!.Error($"rule {id}: at most one rate_limit action per rule");
        if (actions.Count == 0 && !protect) actions.Add((new RuleAction(ActionKind.Alert, 0, 0, 0, 0), map));
        return new FactorRule
        {
            Key = key,
            Actions = [.. actions.Select(a => a.Action)],
            Id = id, Description = description ?? "", Severity = severity, Mode = mode, WindowSeconds = window, When = when,
            MinMessages = minMessages, Score = score, CooldownNs = cooldown, File = node.File, Line = node.Line,
            ProtectNs = protect ? protectNs : 0,
        };
    }

    private static FactorCondition ParseCondition(YNode node)
    {
        var map = YamlTree.Mapping(node, "a condition");
        Factor? factor = null;
        FactorComparison? comparison = null;
        bool onBaseline = false;
        double value = 0;
        double? fallback = null;
        void Compare(YNode n, FactorComparison kind)
        {
            if (comparison is not null) throw n.Error("a condition has one of above, below or ratio_to_baseline");
            comparison = kind;
            string text = YamlTree.String(n, kind == FactorComparison.Above ? "above" : "below").Trim();
            var m = BaselinePattern().Match(text);
            if (m.Success)
            {
                bool plus = m.Groups[1].Value == "+";
                if (plus != (kind == FactorComparison.Above))
                    throw n.Error($"'{text}': above takes baseline + K sigma, below takes baseline - K sigma");
                onBaseline = true;
                value = double.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture);
            }
            else if (!double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out value))
            {
                throw n.Error($"'{text}' is neither a number nor 'baseline {(kind == FactorComparison.Above ? "+" : "-")} K sigma'");
            }
        }
        YamlTree.Each(map, "a condition", new Dictionary<string, Action<YNode>>
        {
            ["factor"] = n =>
            {
                string name = YamlTree.String(n, "factor");
                if (!Factors.TryParse(name, out var f)) throw n.Error($"unknown factor '{name}' (known: {string.Join(", ", Factors.Names)})");
                factor = f;
            },
            ["above"] = n => Compare(n, FactorComparison.Above),
            ["below"] = n => Compare(n, FactorComparison.Below),
            ["ratio_to_baseline"] = n =>
            {
                if (comparison is not null) throw n.Error("a condition has one of above, below or ratio_to_baseline");
                comparison = FactorComparison.RatioToBaseline;
                onBaseline = true;
                value = YamlTree.Double(n, "ratio_to_baseline", 1e-6, 1e6);
            },
            ["static"] = n => fallback = YamlTree.Double(n, "static", -1e12, 1e12),
        });
        if (factor is null) throw map.Error("a condition needs a factor");
        if (comparison is null) throw map.Error($"the condition on {Factors.Name(factor.Value)} needs above, below or ratio_to_baseline");
        if (!onBaseline && fallback is not null) throw map.Error("'static' is the fallback of a condition on the baseline; this one has a fixed threshold already");
        return new FactorCondition(factor.Value, comparison.Value, onBaseline, value, fallback);
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"^baseline\s*([+-])\s*([0-9]+(?:\.[0-9]+)?)\s*sigma$")]
    private static partial System.Text.RegularExpressions.Regex BaselinePattern();

    // ------------------------------------------------------------------ one rule

    private static Rule ParseRule(YNode node)
    {
        var map = YamlTree.Mapping(node, "a rule");
        string? id = null, description = null;
        var severity = Severity.Medium;
        var mode = RuleMode.Prevent;
        MessageMatch? match = null, per = null;
        KeySpec? key = null;
        YNode? keyNode = null, thresholdNode = null, distinctNode = null, minNode = null, windowNode = null;
        long window = 0;
        double threshold = 0, score = 1;
        int minCount = 1;
        SipField[] distinct = [];
        var actions = new List<RuleAction>();
        YNode? actionsNode = null;

        YamlTree.Each(map, "a rule", new Dictionary<string, Action<YNode>>
        {
            ["id"] = n => id = RuleId(n),
            ["description"] = n => description = YamlTree.String(n, "description"),
            ["severity"] = n => severity = ParseSeverity(n),
            ["mode"] = n => mode = ParseMode(n),
            ["match"] = n => match = ParseMatch(n, "match"),
            ["per"] = n => per = ParseMatch(n, "per"),
            ["key"] = n =>
            {
                keyNode = n;
                key = ParseKey(n);
            },
            ["window"] = n =>
            {
                windowNode = n;
                window = YamlTree.Duration(n, "window", MinWindowNs, MaxWindowNs);
            },
            ["threshold"] = n =>
            {
                thresholdNode = n;
                threshold = YamlTree.Double(n, "threshold", 0, 1e9);
            },
            ["distinct"] = n =>
            {
                distinctNode = n;
                distinct = ParseFields(n, "distinct");
            },
            ["min_count"] = n =>
            {
                minNode = n;
                minCount = YamlTree.Int(n, "min_count", 1, 1_000_000);
            },
            ["score"] = n => score = YamlTree.Double(n, "score", 0, 1e6),
            ["actions"] = n =>
            {
                actionsNode = n;
                foreach (var item in YamlTree.Sequence(n, "actions").Items) actions.Add(ParseAction(item));
            },
        });

        if (id is null) throw map.Error("a rule needs an id");
        string origin = $"{map.File}:{map.Line}";
        if (match is null) throw map.Error($"rule {id}: 'match' is missing (say which messages the rule counts)");
        if (key is null) throw map.Error($"rule {id}: 'key' is missing (say what to count by, like src_ip)");
        if (thresholdNode is null) throw map.Error($"rule {id}: 'threshold' is missing");
        if (windowNode is null) throw map.Error($"rule {id}: 'window' is missing (like 1s or 10m)");

        // Thresholds that can never be reached are mistakes, not rules.
        if (per is null)
        {
            if (threshold < 1) throw thresholdNode.Error($"rule {id}: a count threshold must be at least 1, not {threshold.ToString(CultureInfo.InvariantCulture)}");
            if (minNode is not null) throw minNode.Error($"rule {id}: min_count applies only to a ratio (a rule with 'per')");
        }
        else if (threshold <= 0)
        {
            throw thresholdNode.Error($"rule {id}: a ratio threshold must be above 0");
        }
        if (distinct.Length > 0)
        {
            double reach = per is null ? threshold : minCount;
            if (reach > Bits256.MaxUsefulEstimate)
                throw (per is null ? thresholdNode : minNode!).Error($"rule {id}: distinct values are counted up to {Bits256.MaxUsefulEstimate}; a threshold of {reach} is never reached reliably");
            var same = distinct.Where(key.Fields.Contains).ToArray();
            if (same.Length == distinct.Length)
                throw distinctNode!.Error($"rule {id}: counting distinct {string.Join("+", distinct.Select(SipFields.Name))} per key {key.Name} is always 1");
            if (distinct.Contains(SipField.Global)) throw distinctNode!.Error($"rule {id}: 'global' is not a value to count");
        }
        if (actions.Count == 0) actions.Add(new RuleAction(ActionKind.Alert, 0, 0, 0, 0));
        foreach (var a in actions)
        {
            if (a.Kind == ActionKind.Ban && key.IsGlobal)
                throw (actionsNode ?? map).Error($"rule {id}: a ban on the global key would block every SIP message; use rate_limit, or a narrower key");
        }
        if (actions.Count(a => a.Kind == ActionKind.RateLimit) > 1)
            throw (actionsNode ?? map).Error($"rule {id}: at most one rate_limit action per rule");

        return new Rule
        {
            Id = id,
            Description = description ?? "",
            Severity = severity,
            Mode = mode,
            Match = match,
            Per = per,
            Key = key,
            WindowNs = window,
            Threshold = threshold,
            Distinct = distinct,
            MinCount = minCount,
            Score = score,
            Actions = [.. actions],
            Origin = origin,
        };
    }

    private static KeySpec ParseKey(YNode n)
    {
        var fields = n is YScalar s && s.Value.Contains('+')
            ? s.Value.Split('+').Select(p => (p.Trim(), (YNode)s)).ToList()
            : YamlTree.Strings(n, "key");
        var text = string.Join('+', fields.Select(f => f.Item1));
        if (!KeySpec.TryParse(text, out var spec, out string error)) throw n.Error(error);
        return spec;
    }

    private static SipField[] ParseFields(YNode n, string what)
    {
        var list = new List<SipField>();
        foreach (var (v, at) in YamlTree.Strings(n, what))
        {
            if (!SipFields.TryParse(v, out var f)) throw at.Error($"unknown field '{v}' in {what} (known: {string.Join(", ", SipFields.Names)})");
            list.Add(f);
        }
        return [.. list.Distinct()];
    }

    private static RuleAction ParseAction(YNode item)
    {
        if (item is YScalar s)
        {
            return s.Value switch
            {
                "alert" => new RuleAction(ActionKind.Alert, 0, 0, 0, 0),
                "drop" => new RuleAction(ActionKind.Drop, 0, 0, 0, 0),
                "ban" or "rate_limit" => throw item.Error($"'{s.Value}' needs settings: {{ action: {s.Value}, ttl: 10m{(s.Value == "rate_limit" ? ", rate: 5" : "")} }}"),
                _ => throw item.Error($"unknown action '{s.Value}' (known: alert, drop, rate_limit, ban)"),
            };
        }
        var map = YamlTree.Mapping(item, "an action");
        string? kind = null;
        double at = 0, rate = 0, burst = 0;
        long ttl = 0;
        YNode? rateNode = null, burstNode = null, ttlNode = null;
        YamlTree.Each(map, "an action", new Dictionary<string, Action<YNode>>
        {
            ["action"] = n => kind = YamlTree.OneOf(n, "action", "alert", "drop", "rate_limit", "ban"),
            ["at"] = n => at = YamlTree.Double(n, "at", 0, 1e9),
            ["ttl"] = n =>
            {
                ttlNode = n;
                ttl = YamlTree.Duration(n, "ttl", 1_000_000_000, MaxTtlNs);
            },
            ["rate"] = n =>
            {
                rateNode = n;
                rate = YamlTree.Double(n, "rate", 0.001, 1e7);
            },
            ["burst"] = n =>
            {
                burstNode = n;
                burst = YamlTree.Double(n, "burst", 1, 1e7);
            },
        });
        if (kind is null) throw map.Error("an action needs 'action:' (alert, drop, rate_limit or ban)");
        var k = kind switch
        {
            "alert" => ActionKind.Alert,
            "drop" => ActionKind.Drop,
            "rate_limit" => ActionKind.RateLimit,
            _ => ActionKind.Ban,
        };
        if (k is ActionKind.Ban or ActionKind.RateLimit && ttlNode is null) throw map.Error($"{kind} needs a ttl (how long it lasts, like 10m)");
        if (k is ActionKind.Alert or ActionKind.Drop && ttlNode is not null) throw ttlNode.Error($"{kind} has no ttl");
        if (k == ActionKind.RateLimit && rateNode is null) throw map.Error("rate_limit needs a rate (messages per second)");
        if (k != ActionKind.RateLimit && (rateNode ?? burstNode) is { } extra) throw extra.Error($"rate and burst apply only to rate_limit");
        if (k == ActionKind.RateLimit && burstNode is null) burst = Math.Max(1, rate);
        return new RuleAction(k, at, ttl, rate, burst);
    }

    // ------------------------------------------------------------------ match

    private static readonly Dictionary<string, SipField> s_stringFields = new(StringComparer.Ordinal)
    {
        ["ruri_user"] = SipField.RuriUser,
        ["ruri_host"] = SipField.RuriHost,
        ["request_uri"] = SipField.RequestUri,
        ["from_user"] = SipField.FromUser,
        ["from_host"] = SipField.FromHost,
        ["from_uri"] = SipField.FromUri,
        ["from_tag"] = SipField.FromTag,
        ["to_user"] = SipField.ToUser,
        ["to_host"] = SipField.ToHost,
        ["to_uri"] = SipField.ToUri,
        ["call_id"] = SipField.CallId,
        ["user_agent"] = SipField.UserAgent,
        ["auth_user"] = SipField.AuthUser,
    };

    private static MessageMatch ParseMatch(YNode node, string what)
    {
        var map = YamlTree.Mapping(node, what);
        var kind = MessageKind.Any;
        uint methods = 0;
        var extensions = new List<byte[]>();
        bool[]? statuses = null;
        var fields = new List<FieldCondition>();
        Tristate sdp = Tristate.Any, auth = Tristate.Any, malformed = Tristate.Any, dialog = Tristate.Any, confirmed = Tristate.Any,
            hop = Tristate.Any, known = Tristate.Any;
        bool[]? malformedStatuses = null;
        SipAnomaly anomalies = 0;
        IpSet? src = null, dst = null;
        bool srcNot = false, dstNot = false;
        byte transport = 0;
        YNode? statusNode = null;

        var handlers = new Dictionary<string, Action<YNode>>
        {
            ["type"] = n =>
            {
                kind = YamlTree.OneOf(n, $"{what}.type", "request", "response", "any") switch
                {
                    "request" => MessageKind.Request,
                    "response" => MessageKind.Response,
                    _ => MessageKind.Any,
                };
            },
            ["method"] = n =>
            {
                foreach (var (v, at) in YamlTree.Strings(n, $"{what}.method"))
                {
                    var m = SipMethods.Parse(Encoding.ASCII.GetBytes(v));
                    if (m != SipMethod.Unknown)
                    {
                        methods |= 1u << (int)m;
                        continue;
                    }
                    if (v.Length == 0 || v.Any(c => c <= ' ' || c >= 0x7F) || v != v.ToUpperInvariant())
                        throw at.Error($"'{v}' is not a SIP method (methods are upper case, like INVITE)");
                    extensions.Add(Encoding.ASCII.GetBytes(v));
                }
            },
            ["status"] = n =>
            {
                statusNode = n;
                statuses = new bool[700];
                foreach (var (v, at) in YamlTree.Strings(n, $"{what}.status")) AddStatus(statuses, v, at);
            },
            ["transport"] = n => transport = YamlTree.OneOf(n, $"{what}.transport", "udp", "tcp", "sctp") switch
            {
                "udp" => 17,
                "tcp" => 6,
                _ => 132,
            },
            ["src"] = n => src = ParseIpSet(n, $"{what}.src"),
            ["src_not"] = n =>
            {
                src = ParseIpSet(n, $"{what}.src_not");
                srcNot = true;
            },
            ["dst"] = n => dst = ParseIpSet(n, $"{what}.dst"),
            ["dst_not"] = n =>
            {
                dst = ParseIpSet(n, $"{what}.dst_not");
                dstNot = true;
            },
            ["sdp"] = n => sdp = Tri(n, $"{what}.sdp"),
            ["authenticated"] = n => auth = Tri(n, $"{what}.authenticated"),
            ["malformed"] = n =>
            {
                if (n is YScalar { Value: "true" or "false" or "yes" or "no" })
                {
                    malformed = Tri(n, $"{what}.malformed");
                    return;
                }
                malformed = Tristate.Yes;
                malformedStatuses = new bool[SipParseStatusNames.Count];
                bool anyStatus = false;
                foreach (var (v, at) in YamlTree.Strings(n, $"{what}.malformed"))
                {
                    int i = Enumerable.Range(1, SipParseStatusNames.Count - 1).FirstOrDefault(s => SipParseStatusNames.Name((SipParseStatus)s) == v);
                    if (i > 0)
                    {
                        malformedStatuses[i] = true;
                        anyStatus = true;
                        continue;
                    }
                    var anomaly = SipParseStatusNames.Each((SipAnomaly)ulong.MaxValue).FirstOrDefault(a => SipParseStatusNames.Name(a) == v);
                    if (anomaly != 0 && SipParseStatusNames.Name(anomaly) != "unknown")
                    {
                        anomalies |= anomaly;
                        continue;
                    }
                    throw at.Error($"'{v}' is not a malformed-message reason (see 'sipips analyze' output for the names, like bad_via or max_forwards_zero)");
                }
                // Only anomalies listed: a message with a parse error does not count unless a status is listed too.
                if (!anyStatus) malformedStatuses = new bool[SipParseStatusNames.Count];
            },
            ["dialog"] = n =>
            {
                switch (YamlTree.OneOf(n, $"{what}.dialog", "new", "unknown", "known", "confirmed"))
                {
                    case "new" or "unknown": dialog = Tristate.No; break;
                    case "known": dialog = Tristate.Yes; break;
                    default: confirmed = Tristate.Yes; break;
                }
            },
            ["from_hop"] = n => hop = Tri(n, $"{what}.from_hop"),
            ["source_known"] = n => known = Tri(n, $"{what}.source_known"),
            ["headers"] = n =>
            {
                foreach (var (name, value) in YamlTree.Mapping(n, $"{what}.headers").Entries)
                {
                    if (name.Value.Length == 0 || name.Value.Any(c => c <= ' ' || c >= 0x7F || c == ':'))
                        throw name.Error($"'{name.Value}' is not a header name");
                    fields.Add(ParseCondition(SipField.None, name.Value, value, $"{what}.headers.{name.Value}"));
                }
            },
        };
        foreach (var (name, field) in s_stringFields)
        {
            var f = field;
            handlers[name] = n => fields.Add(ParseCondition(f, null, n, $"{what}.{name}"));
        }
        YamlTree.Each(map, what, handlers);

        if (statuses is not null && kind == MessageKind.Request)
            throw statusNode!.Error($"{what}: a status code matches responses, but type is request");

        return new MessageMatch
        {
            Kind = statuses is not null && kind == MessageKind.Any ? MessageKind.Response : kind,
            Methods = methods,
            ExtensionMethods = [.. extensions],
            Statuses = statuses,
            Fields = [.. fields],
            Sdp = sdp,
            Authenticated = auth,
            Malformed = malformed,
            MalformedStatuses = malformedStatuses,
            MalformedAnomalies = anomalies,
            DialogKnown = dialog,
            DialogConfirmed = confirmed,
            FromHop = hop,
            SourceKnown = known,
            Source = src,
            Destination = dst,
            NegateSource = srcNot,
            NegateDestination = dstNot,
            Transport = transport,
        };
    }

    private static Tristate Tri(YNode n, string what) => YamlTree.Bool(n, what) ? Tristate.Yes : Tristate.No;

    private static IpSet ParseIpSet(YNode n, string what)
    {
        var list = new List<(IpAddr, int)>();
        foreach (var (v, at) in YamlTree.Strings(n, what))
        {
            if (!IpSet.TryParseEntry(v, out var ip, out int bits, out string error)) throw at.Error(error);
            list.Add((ip, bits));
        }
        return new IpSet(list);
    }

    private static void AddStatus(bool[] set, string v, YNode at)
    {
        // 401, 4xx, 400-499
        if (v.Length == 3 && v[1] == 'x' && v[2] == 'x' && v[0] >= '1' && v[0] <= '6')
        {
            int c = (v[0] - '0') * 100;
            for (int i = c; i < c + 100; i++) set[i] = true;
            return;
        }
        int dash = v.IndexOf('-');
        if (dash > 0 && int.TryParse(v[..dash], NumberStyles.None, CultureInfo.InvariantCulture, out int lo)
            && int.TryParse(v[(dash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out int hi) && lo >= 100 && hi <= 699 && lo <= hi)
        {
            for (int i = lo; i <= hi; i++) set[i] = true;
            return;
        }
        if (int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out int code) && code >= 100 && code <= 699)
        {
            set[code] = true;
            return;
        }
        throw at.Error($"'{v}' is not a status: write a code (401), a class (4xx) or a range (400-499), all within 100-699");
    }

    private static FieldCondition ParseCondition(SipField field, string? header, YNode n, string what)
    {
        // "value" and [a, b] are exact matches; a mapping names the kind: exact, prefix, suffix, contains, regex;
        // with not: true to invert, or absent: true to require the field to be missing.
        if (n is YScalar or YSequence)
            return new FieldCondition(field, header, StringMatcher.Literal(StringMatchKind.Exact, YamlTree.Strings(n, what).Select(x => x.Value)), false, false);
        var map = YamlTree.Mapping(n, what);
        StringMatcher? matcher = null;
        bool negate = false, absent = false;
        YNode? kindAt = null;
        void Set(YNode at, StringMatcher m)
        {
            if (matcher is not null) throw at.Error($"{what}: give one of exact, prefix, suffix, contains or regex (write two conditions as two rules)");
            matcher = m;
            kindAt = at;
        }
        YamlTree.Each(map, what, new Dictionary<string, Action<YNode>>
        {
            ["exact"] = v => Set(v, StringMatcher.Literal(StringMatchKind.Exact, YamlTree.Strings(v, $"{what}.exact").Select(x => x.Value))),
            ["prefix"] = v => Set(v, StringMatcher.Literal(StringMatchKind.Prefix, YamlTree.Strings(v, $"{what}.prefix").Select(x => x.Value))),
            ["suffix"] = v => Set(v, StringMatcher.Literal(StringMatchKind.Suffix, YamlTree.Strings(v, $"{what}.suffix").Select(x => x.Value))),
            ["contains"] = v => Set(v, StringMatcher.Literal(StringMatchKind.Contains, YamlTree.Strings(v, $"{what}.contains").Select(x => x.Value))),
            ["regex"] = v =>
            {
                string pattern = YamlTree.String(v, $"{what}.regex");
                try
                {
                    Set(v, StringMatcher.Regex(pattern));
                }
                catch (ArgumentException e)
                {
                    throw v.Error($"{what}: bad regex '{pattern}': {e.Message}");
                }
                catch (NotSupportedException e)
                {
                    throw v.Error($"{what}: regex '{pattern}' uses a construct the linear-time engine does not support (backreferences, lookarounds, atomic groups): {e.Message}");
                }
            },
            ["not"] = v => negate = YamlTree.Bool(v, $"{what}.not"),
            ["absent"] = v => absent = YamlTree.Bool(v, $"{what}.absent"),
        });
        if (absent && matcher is not null) throw kindAt!.Error($"{what}: absent: true cannot be combined with a value test");
        if (!absent && matcher is null) throw map.Error($"{what}: give one of exact, prefix, suffix, contains, regex or absent");
        return new FieldCondition(field, header, matcher, absent, negate);
    }
}
