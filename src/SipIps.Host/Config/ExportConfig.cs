using System.Net;
using SipIps.Engine.Sessions;
using SipIps.Export.Live;
using SipIps.Rules.Yaml;

namespace SipIps.Host.Config;

/// <summary>The <c>baseline:</c> section: where and how the behaviour baseline is learned.</summary>
public sealed record BaselineConfig
{
    /// <summary>Behaviour analysis (factors, baseline, rules on factors) on the session thread.</summary>
    public bool Enabled { get; init; } = true;
    public string? File { get; init; } = "/var/lib/sipips/baseline.bin";
    public int SlotMinutes { get; init; } = 5;
    public int Weeks { get; init; } = 13;
    public int MinWeeks { get; init; } = 3;
    public string TimeZone { get; init; } = "UTC";
}

/// <summary>The <c>metrics:</c>, <c>netflow:</c>, <c>clf:</c>, <c>sessions:</c> and <c>baseline:</c> sections.</summary>
public sealed record ExportConfig
{
    public const string DefaultMetrics = "127.0.0.1:9464";

    /// <summary>Where /metrics is served; null when off.</summary>
    public IPEndPoint? Metrics { get; init; } = IPEndPoint.Parse(DefaultMetrics);
    public NetFlowOptions? NetFlow { get; init; }
    public ClfLogOptions? Clf { get; init; }
    public SessionTrackerOptions Sessions { get; init; } = new();
    /// <summary>Session events queued per worker.</summary>
    public int SessionQueue { get; init; } = 8192;
    public BaselineConfig Baseline { get; init; } = new();

    /// <summary>Whether anything needs session tracking (flow records, or the calls and delay metrics).</summary>
    public bool TrackSessions => NetFlow is not null || Metrics is not null;

    internal static IPEndPoint Endpoint(YNode node, string what)
    {
        string text = YamlTree.String(node, what);
        if (!IPEndPoint.TryParse(text, out var ep) || ep.Port == 0)
            throw node.Error($"{what}: '{text}' is not an address and port like 127.0.0.1:9464 or [::1]:9464");
        return ep;
    }

    public static IPEndPoint? ParseMetrics(YNode node)
    {
        if (node is YScalar { Value: "off" or "false" }) return null;
        var map = YamlTree.Mapping(node, "metrics");
        IPEndPoint? listen = IPEndPoint.Parse(DefaultMetrics);
        bool enabled = true;
        YamlTree.Each(map, "metrics", new Dictionary<string, Action<YNode>>
        {
            ["listen"] = n => listen = Endpoint(n, "metrics.listen"),
            ["enabled"] = n => enabled = YamlTree.Bool(n, "metrics.enabled"),
        });
        return enabled ? listen : null;
    }

    public static NetFlowOptions? ParseNetFlow(YNode node)
    {
        var map = YamlTree.Mapping(node, "netflow");
        IPEndPoint? collector = null;
        uint source = 1;
        int refreshPackets = 20, maxPacket = 1400;
        long refresh = 60_000_000_000;
        YamlTree.Each(map, "netflow", new Dictionary<string, Action<YNode>>
        {
            ["collector"] = n => collector = Endpoint(n, "netflow.collector"),
            ["source_id"] = n => source = (uint)YamlTree.Int(n, "netflow.source_id", 0, int.MaxValue),
            ["template_refresh_packets"] = n => refreshPackets = YamlTree.Int(n, "netflow.template_refresh_packets", 1, 100_000),
            ["template_refresh"] = n => refresh = YamlTree.Duration(n, "netflow.template_refresh", 1_000_000_000, 86_400_000_000_000),
            ["max_packet_bytes"] = n => maxPacket = YamlTree.Int(n, "netflow.max_packet_bytes", 1024, 65_000),
        });
        if (collector is null) throw map.Error("netflow.collector is missing: the collector's address and port, like 192.0.2.50:2055");
        return new NetFlowOptions { Collector = collector, SourceId = source, TemplateRefreshPackets = refreshPackets, TemplateRefreshNs = refresh, MaxPacketBytes = maxPacket };
    }

    public static ClfLogOptions ParseClf(YNode node)
    {
        var map = YamlTree.Mapping(node, "clf");
        string? path = null;
        long maxBytes = 100L << 20, interval = 0;
        int files = 10, queueKb = 4096;
        YamlTree.Each(map, "clf", new Dictionary<string, Action<YNode>>
        {
            ["path"] = n => path = YamlTree.String(n, "clf.path"),
            ["max_file_mb"] = n => maxBytes = (long)YamlTree.Int(n, "clf.max_file_mb", 1, 1 << 20) << 20,
            ["rotate_interval"] = n => interval = YamlTree.Duration(n, "clf.rotate_interval", 0, 366L * 86_400_000_000_000),
            ["files"] = n => files = YamlTree.Int(n, "clf.files", 1, 1000),
            ["queue_kb"] = n => queueKb = YamlTree.Int(n, "clf.queue_kb", 64, 1 << 20),
        });
        if (path is null) throw map.Error("clf.path is missing: the log file, like /var/log/sipips/sip.clf");
        return new ClfLogOptions { Path = path, MaxFileBytes = maxBytes, RotateIntervalNs = interval, Files = files, QueueBytes = queueKb << 10 };
    }

    public static BaselineConfig ParseBaseline(YNode node)
    {
        var map = YamlTree.Mapping(node, "baseline");
        var b = new BaselineConfig();
        YamlTree.Each(map, "baseline", new Dictionary<string, Action<YNode>>
        {
            ["enabled"] = n => b = b with { Enabled = YamlTree.Bool(n, "baseline.enabled") },
            ["file"] = n => b = b with { File = YamlTree.String(n, "baseline.file") is "off" ? null : YamlTree.String(n, "baseline.file") },
            ["slot"] = n =>
            {
                long ns = YamlTree.Duration(n, "baseline.slot", 60_000_000_000, 86_400_000_000_000);
                long minutes = ns / 60_000_000_000;
                if (ns % 60_000_000_000 != 0 || 10080 % minutes != 0) throw n.Error("baseline.slot must be whole minutes that divide a week (1m, 5m, 10m, 15m, 30m, 1h, ...)");
                b = b with { SlotMinutes = (int)minutes };
            },
            ["weeks"] = n => b = b with { Weeks = YamlTree.Int(n, "baseline.weeks", 1, 104) },
            ["min_weeks"] = n => b = b with { MinWeeks = YamlTree.Int(n, "baseline.min_weeks", 1, 104) },
            ["timezone"] = n =>
            {
                string id = YamlTree.String(n, "baseline.timezone");
                try
                {
                    TimeZoneInfo.FindSystemTimeZoneById(id);
                }
                catch (Exception e) when (e is TimeZoneNotFoundException or InvalidTimeZoneException)
                {
                    throw n.Error($"baseline.timezone: unknown time zone '{id}' (an IANA name like Europe/Berlin, or UTC)");
                }
                b = b with { TimeZone = id };
            },
        });
        if (b.MinWeeks > b.Weeks) throw map.Error($"baseline.min_weeks ({b.MinWeeks}) is more than the weeks kept ({b.Weeks}): the baseline would never be used");
        return b;
    }

    public static (SessionTrackerOptions Options, int Queue) ParseSessions(YNode node)
    {
        var map = YamlTree.Mapping(node, "sessions");
        var o = new SessionTrackerOptions();
        int queue = 8192;
        YamlTree.Each(map, "sessions", new Dictionary<string, Action<YNode>>
        {
            ["capacity"] = n => o = o with { Capacity = YamlTree.Int(n, "sessions.capacity", 1024, 4 << 20) },
            ["idle_timeout"] = n => o = o with { IdleTimeoutNs = YamlTree.Duration(n, "sessions.idle_timeout", 1_000_000_000, 86_400_000_000_000) },
            ["call_idle_timeout"] = n => o = o with { CallIdleTimeoutNs = YamlTree.Duration(n, "sessions.call_idle_timeout", 1_000_000_000, 7 * 86_400_000_000_000) },
            ["active_timeout"] = n => o = o with { ActiveTimeoutNs = YamlTree.Duration(n, "sessions.active_timeout", 1_000_000_000, 7 * 86_400_000_000_000) },
            ["linger"] = n => o = o with { LingerNs = YamlTree.Duration(n, "sessions.linger", 0, 60_000_000_000) },
            ["registrations"] = n => o = o with { Registrations = YamlTree.Int(n, "sessions.registrations", 16, 16 << 20) },
            ["queue"] = n => queue = YamlTree.Int(n, "sessions.queue", 256, 1 << 20),
        });
        return (o, queue);
    }
}
