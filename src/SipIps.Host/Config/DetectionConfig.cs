using SipIps.Engine.Detection;
using SipIps.Rules.Yaml;

namespace SipIps.Host.Config;

/// <summary>The detection: section of sipips.yaml (documented in packaging/sipips.yaml).</summary>
public sealed record DetectionConfig
{
    public const string DefaultRules = "/etc/sipips/rules.d";

    public IReadOnlyList<string> Rules { get; init; } = [DefaultRules];
    /// <summary>False when the rules are the default path, which may be absent (the bridge then runs without rules).</summary>
    public bool RulesGiven { get; init; }
    public RuleMode Mode { get; init; } = RuleMode.Prevent;
    public string? AlertLog { get; init; } = "/var/log/sipips/alerts.json";
    public string? EvidencePath { get; init; } = "/var/log/sipips/evidence.pcap";
    public long EvidenceFileBytes { get; init; } = 64L << 20;
    public int EvidenceFiles { get; init; } = 4;
    public int EvidenceSnapBytes { get; init; } = 2048;
    public string? StateFile { get; init; } = "/var/lib/sipips/bans.json";
    public string? Blocklist { get; init; }
    public int MaxBans { get; init; } = 65_536;
    public DetectionOptions Options { get; init; } = new();

    internal static DetectionConfig Parse(YNode node, string file)
    {
        var c = new DetectionConfig();
        var options = new DetectionOptions();
        YamlTree.Each(YamlTree.Mapping(node, "detection"), "detection", new Dictionary<string, Action<YNode>>
        {
            ["rules"] = n => c = c with { Rules = YamlTree.Strings(n, "detection.rules").Select(x => Relative(x.Value, file)).ToList(), RulesGiven = true },
            ["mode"] = n => c = c with { Mode = YamlTree.OneOf(n, "detection.mode", "prevent", "detect") == "detect" ? RuleMode.Detect : RuleMode.Prevent },
            ["alert_log"] = n => c = c with { AlertLog = PathOrOff(n, "detection.alert_log", file) },
            ["state_file"] = n => c = c with { StateFile = PathOrOff(n, "detection.state_file", file) },
            ["blocklist"] = n => c = c with { Blocklist = PathOrOff(n, "detection.blocklist", file) },
            ["score_half_life"] = n => options = options with { ScoreHalfLifeNs = YamlTree.Duration(n, "detection.score_half_life", 1_000_000_000, 86_400_000_000_000) },
            ["known_source_ttl"] = n => options = options with { KnownSourceTtlNs = YamlTree.Duration(n, "detection.known_source_ttl", 1_000_000_000, 30 * 86_400_000_000_000) },
            ["evidence"] = n =>
            {
                if (n is YScalar { Value: "off" or "false" })
                {
                    c = c with { EvidencePath = null };
                    return;
                }
                YamlTree.Each(YamlTree.Mapping(n, "detection.evidence"), "detection.evidence", new Dictionary<string, Action<YNode>>
                {
                    ["path"] = v => c = c with { EvidencePath = PathOrOff(v, "detection.evidence.path", file) },
                    ["max_file_mb"] = v => c = c with { EvidenceFileBytes = (long)YamlTree.Int(v, "detection.evidence.max_file_mb", 1, 65536) << 20 },
                    ["files"] = v => c = c with { EvidenceFiles = YamlTree.Int(v, "detection.evidence.files", 1, 1000) },
                    ["snap_bytes"] = v => c = c with { EvidenceSnapBytes = YamlTree.Int(v, "detection.evidence.snap_bytes", 64, 65535) },
                });
            },
            ["tables"] = n => YamlTree.Each(YamlTree.Mapping(n, "detection.tables"), "detection.tables", new Dictionary<string, Action<YNode>>
            {
                ["counters"] = v => options = options with { Counters = YamlTree.Int(v, "detection.tables.counters", 64, 1 << 26) },
                ["distinct_counters"] = v => options = options with { DistinctCounters = YamlTree.Int(v, "detection.tables.distinct_counters", 64, 1 << 24) },
                ["dialogs"] = v => options = options with { Dialogs = YamlTree.Int(v, "detection.tables.dialogs", 64, 1 << 26) },
                ["scores"] = v => options = options with { Scores = YamlTree.Int(v, "detection.tables.scores", 64, 1 << 24) },
                ["known_sources"] = v => options = options with { KnownSources = YamlTree.Int(v, "detection.tables.known_sources", 64, 1 << 24) },
                ["bans"] = v => c = c with { MaxBans = YamlTree.Int(v, "detection.tables.bans", 64, 1 << 22) },
            }),
        });
        return c with { Options = options with { Mode = c.Mode } };
    }

    private static string? PathOrOff(YNode n, string what, string file)
    {
        string v = YamlTree.String(n, what);
        return v is "off" or "false" ? null : Relative(v, file);
    }

    /// <summary>Relative paths are relative to the configuration file's directory.</summary>
    private static string Relative(string path, string file)
    {
        if (Path.IsPathRooted(path)) return path;
        string dir = Path.GetDirectoryName(Path.GetFullPath(file)) ?? "/";
        return Path.GetFullPath(Path.Combine(dir, path));
    }
}
