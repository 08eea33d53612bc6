using SipIps.Engine.Detection;
using SipIps.Engine.Enforcement;
using SipIps.Rules;
using SipIps.Rules.Yaml;

namespace SipIps.Host.Detection;

/// <summary>
/// The detection shared by all workers of one process: the rule set (swapped whole on reload), the ban and
/// rate-limit table, and the alert sink; plus each worker's engine, for figures.
/// </summary>
internal sealed class DetectionRuntime
{
    private readonly List<DetectionEngine> _engines = [];
    private readonly List<LockedHook> _hooks = [];
    private readonly Lock _lock = new();
    private DetectionEngine? _shared;

    public DetectionRuntime(RuleSet rules, DetectionOptions options, IAlertSink alerts, int enforcementCapacity = 65536)
    {
        Options = options;
        Rules = new RuleSetHolder(rules);
        Enforcement = new EnforcementTable(enforcementCapacity);
        Shared = new DetectionShared(Rules, Enforcement, alerts, options);
    }

    public DetectionOptions Options { get; }
    public RuleSetHolder Rules { get; }
    public EnforcementTable Enforcement { get; }
    public DetectionShared Shared { get; }

    /// <summary>A new engine of its own (for a single-threaded caller such as <c>analyze</c>).</summary>
    public IVerdictHook CreateHook()
    {
        var e = new DetectionEngine(Shared);
        lock (_engines) _engines.Add(e);
        return e;
    }

    /// <summary>
    /// The hook for a bridge worker. All workers share one engine behind a lock: a request and its response
    /// travel in opposite directions, so on different workers, and dialogs, challenges and scans can only be
    /// followed with one view of all of them. Decoding and parsing stay parallel, and so does the ban check:
    /// each worker drops a banned key's messages before it takes the lock.
    /// </summary>
    public IVerdictHook WorkerHook()
    {
        lock (_engines)
        {
            if (_shared is null)
            {
                var e = new DetectionEngine(Shared);
                _engines.Add(e);
                _shared = e;
            }
            var hook = new LockedHook(_shared, _lock, new BanCheck(Shared));
            _hooks.Add(hook);
            return hook;
        }
    }

    private sealed class LockedHook(DetectionEngine engine, Lock gate, BanCheck bans) : IVerdictHook
    {
        public BanCheck Bans { get; } = bans;

        public Verdict OnSipMessage(in Engine.Packets.PacketInfo packet, Engine.Sip.SipMessage message)
        {
            if (Bans.IsBanned(packet, message)) return Verdict.Drop(DropReason.Ban);
            lock (gate) return engine.OnSipMessage(packet, message);
        }
    }

    public IReadOnlyList<DetectionEngine> Engines
    {
        get
        {
            lock (_engines) return [.. _engines];
        }
    }

    /// <summary>Per-rule figures summed over the workers, in rule order (rules no longer loaded come last).</summary>
    public List<(string Id, RuleCounters Counters)> RuleTotals()
    {
        var sum = new Dictionary<string, RuleCounters>(StringComparer.Ordinal);
        foreach (var e in Engines)
        {
            // A worker adds entries only when it first sees a new rule set; copy, and retry if that raced.
            KeyValuePair<string, RuleCounters>[] entries = [];
            for (int attempt = 0; attempt < 5; attempt++)
            {
                try
                {
                    entries = [.. e.Counters.Rules];
                    break;
                }
                catch (InvalidOperationException)
                {
                    Thread.Sleep(1);
                }
            }
            foreach (var (id, c) in entries)
            {
                if (!sum.TryGetValue(id, out var t)) sum[id] = t = new RuleCounters();
                t.Matched += c.Matched;
                t.Fired += c.Fired;
                t.Alerts += c.Alerts;
                t.Dropped += c.Dropped;
                t.RateLimited += c.RateLimited;
                t.Bans += c.Bans;
                t.RateLimits += c.RateLimits;
                t.KeyMissing += c.KeyMissing;
                t.Untracked += c.Untracked;
            }
        }
        var order = Rules.Current.Rules.Select(r => r.Id).ToList();
        foreach (var id in order)
            if (!sum.ContainsKey(id)) sum[id] = new RuleCounters();
        return [.. sum.OrderBy(kv => order.IndexOf(kv.Key) is var i && i < 0 ? int.MaxValue : i).Select(kv => (kv.Key, kv.Value))];
    }

    public DetectionCounters Totals()
    {
        var t = new DetectionCounters();
        foreach (var e in Engines)
        {
            var c = e.Counters;
            t.Messages += c.Messages;
            t.Allowlisted += c.Allowlisted;
            t.BanDrops += c.BanDrops;
            t.RateLimitDrops += c.RateLimitDrops;
            t.RuleDrops += c.RuleDrops;
            t.ProtectDrops += c.ProtectDrops;
            t.AlertsLost += c.AlertsLost;
            t.DialogsUntracked += c.DialogsUntracked;
        }
        lock (_engines)
            foreach (var h in _hooks) t.BanDrops += Volatile.Read(ref h.Bans.Drops);
        return t;
    }

    /// <summary>Loads rule files, or throws with every error on its own line ("file:line:col: message").</summary>
    public static RuleSet LoadRules(IReadOnlyList<string> paths)
    {
        var result = RuleLoader.Load(paths);
        if (!result.Ok) throw new RuleLoadException(result.Errors);
        return result.RuleSet!;
    }
}

/// <summary>Rule files with errors; <see cref="Exception.Message"/> lists them one per line.</summary>
internal sealed class RuleLoadException(IReadOnlyList<ConfigException> errors)
    : Exception(string.Join(Environment.NewLine, errors.Select(e => e.ToString())))
{
    public IReadOnlyList<ConfigException> Errors { get; } = errors;
}
