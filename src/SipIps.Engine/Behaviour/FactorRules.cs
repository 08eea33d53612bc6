using System.Globalization;
using System.Text;
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
    private readonly Dictionary<string, long> _quietUntil = new(StringComparer.Ordinal);
    private readonly double[] _short = new double[Factors.Count];
    private readonly double[] _long = new double[Factors.Count];
    private long _lastSecond = long.MinValue;
    private readonly Action<long, string>? _protect;

    public FactorMonitor(BehaviourAnalyzer analyzer, BaselineLearner? learner, IAlertSink alerts, Func<IReadOnlyList<FactorRule>> rules,
        Action<long, string>? protect = null)
    {
        _protect = protect;
        _analyzer = analyzer;
        _learner = learner;
        _alerts = alerts;
        Rules = rules;
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
    /// <summary>Every firing, for reports (time, rule, results); bounded.</summary>
    public List<(long TimestampNs, string RuleId, ConditionResult[] Results)> History { get; } = new();
    public IReadOnlyList<double> ShortWindow => _short;
    public IReadOnlyList<double> LongWindow => _long;
    /// <summary>Whether the last evaluation used the learned baseline (false: static fallback or no baseline).</summary>
    public bool BaselineReady { get; private set; }
    /// <summary>The last second evaluated (the windows end there).</summary>
    public long LastEvaluatedSecond => _lastSecond;
    public int BaselineWeeks { get; private set; }

    /// <summary>Evaluates every complete second up to the one before <paramref name="nowNs"/>.</summary>
    public void Tick(long nowNs)
    {
        long last = nowNs / 1_000_000_000 - 1;
        if (last <= _lastSecond) return;
        // After a gap, evaluate only the latest second: the windows cover what was missed.
        _lastSecond = last;
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
            var values = rule.WindowSeconds <= BehaviourAnalyzer.WindowShort ? _short : _long;
            long sip = rule.WindowSeconds <= BehaviourAnalyzer.WindowShort ? sipShort : sipLong;
            if (sip < rule.MinMessages) continue;
            if (_quietUntil.TryGetValue(rule.Id, out long quiet) && at < quiet) continue;
            var results = new ConditionResult[rule.When.Count];
            bool all = true;
            for (int i = 0; i < rule.When.Count && all; i++)
            {
                results[i] = Check(rule.When[i], values[(int)rule.When[i].Factor], baseline, slot, week);
                all = results[i].Met;
            }
            if (!all) continue;
            _quietUntil[rule.Id] = at + rule.CooldownNs;
            Fired++;
            if (History.Count < 10_000) History.Add((at, rule.Id, results));
            _learner?.Alarm();
            Raise(rule, at, sip, results);
        }
        if (_learner is not null) _learner.Sample(at, _long);
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

    private void Raise(FactorRule rule, long at, long sip, ConditionResult[] results)
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
            Score = rule.Score,
            Count = sip,
            PerCount = -1,
            Threshold = rule.MinMessages,
            WindowNs = rule.WindowSeconds * 1_000_000_000L,
            Action = rule.ProtectNs > 0 ? ActionKind.Drop : ActionKind.Alert,
            Enforced = rule.ProtectNs > 0 && Mode == RuleMode.Prevent && rule.Mode == RuleMode.Prevent,
            TtlNs = rule.ProtectNs,
            Factors = json.ToString(),
        };
        if (alert.Enforced) _protect?.Invoke(at + rule.ProtectNs, rule.Id);
        alert.ClearText();
        alert.SetText(AlertTextField.Key, "global"u8);
        _alerts.Publish(alert);
    }

    private static string Num(double v) => double.IsNaN(v) || double.IsInfinity(v) ? "null" : Math.Round(v, 6).ToString("R", CultureInfo.InvariantCulture);
}
