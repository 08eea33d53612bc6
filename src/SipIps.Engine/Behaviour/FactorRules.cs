using System.Globalization;
using System.Text;
using SipIps.Engine.Common;
using SipIps.Engine.Detection;

namespace SipIps.Engine.Behaviour;

public enum FactorComparison { Above, Below, RatioToBaseline }

/// <summary>
/// One condition of a factor rule: <c>above: 0.5</c> (a fixed threshold), <c>above: baseline + 4 sigma</c>,
/// <c>below: baseline - 3 sigma</c>, or <c>ratio_to_baseline: 3</c> (at least 3 times the learned mean). A condition on
/// the baseline falls back to <see cref="Static"/> while its slot has fewer than the minimum weeks of history, and is
/// not met when there is no static value either.
/// </summary>
public sealed record FactorCondition(Factor Factor, FactorComparison Comparison, bool OnBaseline, double Value, double? Static)
{
    public string Describe() => Comparison switch
    {
        FactorComparison.RatioToBaseline => $"{Factors.Name(Factor)} >= {Value.ToString(CultureInfo.InvariantCulture)} x baseline",
        _ when OnBaseline => $"{Factors.Name(Factor)} {(Comparison == FactorComparison.Above ? ">" : "<")} baseline {(Comparison == FactorComparison.Above ? "+" : "-")} {Value.ToString(CultureInfo.InvariantCulture)} sigma",
        _ => $"{Factors.Name(Factor)} {(Comparison == FactorComparison.Above ? ">" : "<")} {Value.ToString(CultureInfo.InvariantCulture)}",
    };
}

/// <summary>A rule on behaviour factors: every condition must hold over the window, with at least MinMessages SIP messages.</summary>
public sealed record FactorRule
{
    public required string Id { get; init; }
    public string Description { get; init; } = "";
    public Severity Severity { get; init; } = Severity.Medium;
    public RuleMode Mode { get; init; } = RuleMode.Prevent;
    public int WindowSeconds { get; init; } = 10;
    public required IReadOnlyList<FactorCondition> When { get; init; }
    public long MinMessages { get; init; } = 50;
    public double Score { get; init; } = 100;
    /// <summary>After firing, the rule stays quiet this long (one alert per episode, not one per second).</summary>
    public long CooldownNs { get; init; } = 60_000_000_000;
    /// <summary>
    /// When above zero, firing also turns on protection for this long: new INVITEs from sources that are not known
    /// (never registered, never completed a call) are dropped, in prevent mode.
    /// </summary>
    public long ProtectNs { get; init; }
    /// <summary>
    /// What the rule is computed for: <c>global</c> (all traffic), or per key (src_ip, src_prefix, dst_ip, from_uri,
    /// to_uri) over the factors <see cref="KeyedFactors.Supported"/>, firing for each key on its own.
    /// </summary>
    public KeySpec Key { get; init; } = KeySpec.Global;
    /// <summary>As in message rules: alert, rate_limit and ban, each once the key's score reaches its <c>at</c>.</summary>
    public RuleAction[] Actions { get; init; } = [new RuleAction(ActionKind.Alert, 0, 0, 0, 0)];
    public string File { get; init; } = "";
    public int Line { get; init; }
}

/// <summary>What a condition was compared with, for the alert and the status.</summary>
public readonly record struct ConditionResult(FactorCondition Condition, double Value, double Threshold, BaselineStats Baseline, bool UsedStatic, bool Met);

/// <summary>
/// Evaluates the factor rules once a second over the analyzer's windows and the baseline of the current slot, raises
/// one alert per episode (then a cooldown), and freezes baseline learning for a slot in which any rule fired.
/// Runs on the session thread (or analyze's); alerts go to the same sink as the message rules'.
/// </summary>
public sealed class FactorMonitor
{
    private readonly BehaviourAnalyzer _analyzer;
    private readonly BaselineLearner? _learner;
    private readonly IAlertSink _alerts;
    // End of the cooldown, per rule and key (0 for a rule on all traffic).
    private readonly Dictionary<(string Rule, ulong Key), long> _quietUntil = [];
    private readonly double[] _short = new double[Factors.Count];
    private readonly double[] _long = new double[Factors.Count];
    private long _lastSecond = long.MinValue;
    private readonly DetectionShared? _detection;
    private readonly double[] _keyed = new double[Factors.Count];
    // Per key: the score (decaying with a half-life, as message rules' scores do) and, per rule and key, the end of the
    // cooldown. Both are bounded: past the cap, settled entries are swept, and a key that finds no room is not scored.
    private readonly Dictionary<ulong, (double Score, long AtNs)> _scores = [];
    public const int MaxKeyStates = 65_536;

    public FactorMonitor(BehaviourAnalyzer analyzer, BaselineLearner? learner, IAlertSink alerts, Func<IReadOnlyList<FactorRule>> rules,
        DetectionShared? detection = null)
    {
        _detection = detection;
        _analyzer = analyzer;
        _learner = learner;
        _alerts = alerts;
        Rules = rules;
        EnsureTables();
    }

    /// <summary>Starts counting per key for every keyed rule (at construction, and after a reload brings new keys).</summary>
    private void EnsureTables()
    {
        foreach (var rule in Rules())
            if (!rule.Key.IsGlobal) _analyzer.Keyed(rule.Key);
    }

    public Func<IReadOnlyList<FactorRule>> Rules { get; }
    /// <summary>Minimum weeks of history before a slot's baseline is used.</summary>
    public int MinWeeks { get; init; } = 3;
    public RuleMode Mode { get; set; } = RuleMode.Prevent;
    /// <summary>
    /// The smallest standard deviation a baseline is taken to have, as a share of its mean: a factor that never varied
    /// in the weeks learned (sigma 0) would otherwise alarm on its first rounding difference.
    /// </summary>
    public double MinSigmaFraction { get; init; } = 0.05;
    public long Fired { get; private set; }
    /// <summary>Score half-life, as for message rules.</summary>
    public double ScoreHalfLifeNs { get; init; } = 300e9;
    /// <summary>Every firing, for reports (time, rule, results); bounded.</summary>
    public List<(long TimestampNs, string RuleId, ConditionResult[] Results)> History { get; } = new();
    public IReadOnlyList<double> ShortWindow => _short;
    public IReadOnlyList<double> LongWindow => _long;
    /// <summary>Whether the last evaluation used the learned baseline (false: static fallback or no baseline).</summary>
    public bool BaselineReady { get; private set; }
    /// <summary>The last second evaluated (the windows end there).</summary>
    public long LastEvaluatedSecond => _lastSecond;
    public int BaselineWeeks { get; private set; }

    /// <summary>
    /// When set (replaying a capture without a per-second report), a second in which no rule on all traffic has enough
    /// messages to be judged and no baseline learns is not computed in full: a sparse capture spread over weeks
    /// ticks once per packet. <see cref="ShortWindow"/> and <see cref="LongWindow"/> are then current only after a
    /// forced tick.
    /// </summary>
    public bool Lazy { get; set; }

    /// <summary>Evaluates every complete second up to the one before <paramref name="nowNs"/>.</summary>
    public void Tick(long nowNs) => Tick(nowNs, force: false);

    /// <summary>As <see cref="Tick(long)"/>; <paramref name="force"/> computes every factor even when <see cref="Lazy"/>.</summary>
    public void Tick(long nowNs, bool force)
    {
        long last = nowNs / 1_000_000_000 - 1;
        if (last <= _lastSecond) return;
        EnsureTables();
        // After a gap, evaluate only the latest second: the windows cover what was missed.
        _lastSecond = last;
        if (Lazy && !force && _learner is null && !Judged(last))
        {
            foreach (var rule in Rules())
                if (!rule.Key.IsGlobal) TickKeyed(rule, last, (last + 1) * 1_000_000_000, null, 0, 0);
            return;
        }
        long sipShort = _analyzer.Evaluate(last, BehaviourAnalyzer.WindowShort, _short);
        long sipLong = _analyzer.Evaluate(last, BehaviourAnalyzer.WindowLong, _long);
        long at = (last + 1) * 1_000_000_000;
        var baseline = _learner?.Baseline;
        (int slot, int week) = baseline?.SlotOf(at) ?? (0, 0);
        if (baseline is not null)
        {
            var s = baseline.Stats(slot, Factor.SipMessagesPerSecond, week);
            BaselineWeeks = s.Weeks;
            BaselineReady = s.Ready(MinWeeks);
        }
        foreach (var rule in Rules())
        {
            if (!rule.Key.IsGlobal)
            {
                TickKeyed(rule, last, at, baseline, slot, week);
                continue;
            }
            var values = rule.WindowSeconds <= BehaviourAnalyzer.WindowShort ? _short : _long;
            long sip = rule.WindowSeconds <= BehaviourAnalyzer.WindowShort ? sipShort : sipLong;
            if (sip < rule.MinMessages) continue;
            if (_quietUntil.TryGetValue((rule.Id, 0), out long quiet) && at < quiet) continue;
            var results = new ConditionResult[rule.When.Count];
            bool all = true;
            for (int i = 0; i < rule.When.Count && all; i++)
            {
                results[i] = Check(rule.When[i], values[(int)rule.When[i].Factor], baseline, slot, week);
                all = results[i].Met;
            }
            if (!all) continue;
            _quietUntil[(rule.Id, 0)] = at + rule.CooldownNs;
            Fired++;
            if (History.Count < 10_000) History.Add((at, rule.Id, results));
            _learner?.Alarm();
            Raise(rule, "global", KeySpec.Global.Tag, at, sip, results);
        }
        if (_learner is not null) _learner.Sample(at, _long);
    }

    /// <summary>Whether any rule on all traffic has enough messages in its window at second <paramref name="last"/>.</summary>
    private bool Judged(long last)
    {
        foreach (var rule in Rules())
        {
            if (!rule.Key.IsGlobal) continue;
            int window = rule.WindowSeconds <= BehaviourAnalyzer.WindowShort ? BehaviourAnalyzer.WindowShort : BehaviourAnalyzer.WindowLong;
            if (_analyzer.Messages(last, window) >= rule.MinMessages) return true;
        }
        return false;
    }

    /// <summary>A rule per key: every key seen in the window is checked on its own factors.</summary>
    private void TickKeyed(FactorRule rule, long last, long at, Baseline? baseline, int slot, int week)
    {
        var table = _analyzer.Keyed(rule.Key);
        int window = rule.WindowSeconds <= BehaviourAnalyzer.WindowShort ? BehaviourAnalyzer.WindowShort : BehaviourAnalyzer.WindowLong;
        if (table.Messages(last, window) < Math.Max(1, rule.MinMessages)) return;
        ConditionResult[]? results = null;
        for (int k = 0; k < table.Capacity; k++)
        {
            if (!table.IsActive(k, last - window)) continue;
            long sip = table.Evaluate(k, last, window, _keyed);
            if (sip < rule.MinMessages) continue;
            results ??= new ConditionResult[rule.When.Count];
            bool all = true;
            for (int i = 0; i < rule.When.Count && all; i++)
            {
                results[i] = Check(rule.When[i], _keyed[(int)rule.When[i].Factor], baseline, slot, week);
                all = results[i].Met;
            }
            if (!all) continue;
            // Keys in their cooldown are skipped before anything is allocated for them.
            var quietKey = (rule.Id, table.Id(k));
            if (_quietUntil.TryGetValue(quietKey, out long quiet) && at < quiet) continue;
            if (_quietUntil.Count >= MaxKeyStates) Sweep(_quietUntil, v => v <= at);
            if (_quietUntil.Count < MaxKeyStates) _quietUntil[quietKey] = at + rule.CooldownNs;
            Fired++;
            if (History.Count < 10_000) History.Add((at, rule.Id, [.. results]));
            Raise(rule, table.KeyString(k), Hash64.Combine(rule.Key.Tag, table.Id(k)), at, sip, results);
            results = null;
        }
    }

    private static void Sweep<TKey, T>(Dictionary<TKey, T> map, Func<T, bool> settled) where TKey : notnull
    {
        foreach (var (k, v) in map)
            if (settled(v)) map.Remove(k);
    }

    /// <summary>Adds the rule's score to the key's (decayed) score and returns it.</summary>
    private double AddScore(ulong key, double score, long at)
    {
        if (_scores.TryGetValue(key, out var s)) score += s.Score * Math.Pow(0.5, (at - s.AtNs) / ScoreHalfLifeNs);
        if (_scores.Count >= MaxKeyStates && !_scores.ContainsKey(key))
            Sweep(_scores, v => v.Score * Math.Pow(0.5, (at - v.AtNs) / ScoreHalfLifeNs) < 1);
        if (_scores.Count < MaxKeyStates || _scores.ContainsKey(key)) _scores[key] = (score, at);
        return score;
    }

    private ConditionResult Check(FactorCondition c, double value, Baseline? baseline, int slot, int week)
    {
        var stats = baseline?.Stats(slot, c.Factor, week) ?? new BaselineStats(0, double.NaN, double.NaN);
        double threshold;
        bool usedStatic = false;
        if (!c.OnBaseline && c.Comparison != FactorComparison.RatioToBaseline)
        {
            threshold = c.Value;
        }
        else if (stats.Ready(MinWeeks))
        {
            double sigma = Math.Max(stats.Sigma, MinSigmaFraction * Math.Abs(stats.Mean));
            threshold = c.Comparison switch
            {
                FactorComparison.RatioToBaseline => c.Value * stats.Mean,
                FactorComparison.Above => stats.Mean + c.Value * sigma,
                _ => stats.Mean - c.Value * sigma,
            };
        }
        else if (c.Static is double s)
        {
            threshold = s;
            usedStatic = true;
        }
        else
        {
            return new ConditionResult(c, value, double.NaN, stats, false, false);
        }
        bool met = !double.IsNaN(value) && c.Comparison switch
        {
            FactorComparison.Below => value < threshold,
            FactorComparison.RatioToBaseline => value > 0 && value >= threshold,
            _ => value > threshold,
        };
        return new ConditionResult(c, value, threshold, stats, usedStatic, met);
    }

    private void Raise(FactorRule rule, string key, ulong scoreKey, long at, long sip, ConditionResult[] results)
    {
        var json = new StringBuilder("{");
        for (int i = 0; i < results.Length; i++)
        {
            var r = results[i];
            if (i > 0) json.Append(',');
            json.Append('"').Append(Factors.Name(r.Condition.Factor)).Append("\":{\"value\":").Append(Num(r.Value))
                .Append(",\"threshold\":").Append(Num(r.Threshold))
                .Append(",\"condition\":\"").Append(r.Condition.Describe()).Append('"')
                .Append(",\"baseline_weeks\":").Append(r.Baseline.Weeks)
                .Append(",\"baseline_mean\":").Append(Num(r.Baseline.Mean))
                .Append(",\"baseline_sigma\":").Append(Num(r.Baseline.Sigma))
                .Append(",\"static_fallback\":").Append(r.UsedStatic ? "true" : "false").Append('}');
        }
        json.Append('}');
        var alert = new AlertEvent
        {
            TimestampNs = at,
            RuleId = rule.Id,
            Description = rule.Description,
            Severity = rule.Severity,
            Count = sip,
            PerCount = -1,
            Threshold = rule.MinMessages,
            WindowNs = rule.WindowSeconds * 1_000_000_000L,
            Factors = json.ToString(),
        };
        bool enforce = Mode == RuleMode.Prevent && rule.Mode == RuleMode.Prevent && _detection is not null;
        double score = AddScore(scoreKey, rule.Score, at);
        bool reached = false;
        var taken = new RuleAction(ActionKind.Alert, 0, 0, 0, 0);
        foreach (var a in rule.Actions)
        {
            if (score < a.At) continue;
            if (!reached || a.Kind > taken.Kind) taken = a;
            reached = true;
            if (!enforce) continue;
            if (a.Kind == ActionKind.Ban) _detection!.BanKey(key, at, at + a.TtlNs, rule.Id);
            else if (a.Kind == ActionKind.RateLimit) _detection!.RateLimitKey(key, at, at + a.TtlNs, rule.Id, a.Rate, a.Burst);
        }
        if (rule.ProtectNs > 0)
        {
            if (enforce) _detection!.Protect(at + rule.ProtectNs, rule.Id);
            if (!reached || taken.Kind < ActionKind.Drop) taken = new RuleAction(ActionKind.Drop, 0, rule.ProtectNs, 0, 0);
            reached = true;
        }
        if (!reached) return;
        alert.Score = score;
        alert.Action = taken.Kind;
        alert.TtlNs = taken.TtlNs;
        alert.Enforced = enforce && taken.Kind != ActionKind.Alert;
        alert.ClearText();
        alert.SetText(AlertTextField.Key, Encoding.UTF8.GetBytes(key));
        _alerts.Publish(alert);
    }

    private static string Num(double v) => double.IsNaN(v) || double.IsInfinity(v) ? "null" : Math.Round(v, 6).ToString("R", CultureInfo.InvariantCulture);
}
