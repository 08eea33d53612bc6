using SipIps.Engine.Behaviour;
using SipIps.Engine.Detection;
using SipIps.Engine.Pipeline;
using SipIps.Engine.Sessions;
using SipIps.Export.Live;
using SipIps.Export.NetFlow;

namespace SipIps.Host.Commands;

/// <summary>
/// What the bridge's session thread does, on capture time: sessions by Call-ID (and, with a collector, their NetFlow
/// v9 records), the behaviour factors, the rules on them, and baseline learning. Used by <c>analyze</c> and
/// <c>baseline learn</c>.
/// </summary>
internal sealed class CaptureSessions : ISessionSink
{
    private readonly UdpSender? _sender;
    private readonly NetFlowV9Writer? _writer;
    private readonly SessionTrackerOptions _options = new();
    private long _now;

    public CaptureSessions(System.Net.IPEndPoint? collector, uint sourceId, TextWriter log, IAlertSink? alerts, IReadOnlyList<FactorRule> factorRules,
        Baseline? baseline, int minWeeks = 3, DetectionShared? detection = null)
    {
        Tracker = new SessionTracker(_options, this);
        Behaviour = new BehaviourAnalyzer();
        Tracker.PostDialDelayObserved = Behaviour.OnPostDialDelay;
        if (collector is not null)
        {
            _sender = new UdpSender(collector, m => log.WriteLine($"sipips: {m}"), paceEvery: 16);
            _writer = new NetFlowV9Writer(sourceId, 0, SessionFlows.All, _sender.Send,
                optionsData: w => SessionFlows.WriteExporter(w, _now, _options, Tracker.Exported));
        }
        Learner = baseline is null ? null : new BaselineLearner(baseline);
        Monitor = new FactorMonitor(Behaviour, Learner, alerts ?? NoAlerts.Instance, () => factorRules, detection)
        {
            MinWeeks = minWeeks,
            Mode = detection?.Mode ?? RuleMode.Detect,
        };
        Observer = new LiveObserver(null, new SessionEventFanOut(Tracker, Behaviour), Tracker.Media, null);
    }

    public SessionTracker Tracker { get; }
    public BehaviourAnalyzer Behaviour { get; }
    public FactorMonitor Monitor { get; }
    public BaselineLearner? Learner { get; }
    public ISipObserver Observer { get; }
    public long Records => _writer?.RecordsWritten ?? 0;
    public long Packets => _sender?.Packets ?? 0;
    public long Errors => _sender?.Errors ?? 0;

    public void Begin(long firstNs)
    {
        _now = firstNs;
        // Without a per-second report, seconds nobody judges need not be computed in full (sparse captures).
        Monitor.Lazy = Series is null;
        if (_writer is null) return;
        _writer.BootNs = firstNs;
        _writer.SendTemplates(firstNs);
    }

    /// <summary>Called for every frame: the factor rules and the baseline move once a second of capture time.</summary>
    public void Tick(long nowNs)
    {
        _now = nowNs;
        long before = Monitor.LastEvaluatedSecond;
        Monitor.Tick(nowNs);
        if (Series is not null && Monitor.LastEvaluatedSecond != before) Record(Monitor.LastEvaluatedSecond);
    }

    /// <summary>The time series behind the HTML report, when one is asked for.</summary>
    public Output.SeriesRecorder? Series { get; init; }

    /// <summary>The factors the report charts against their baseline band.</summary>
    public static readonly Factor[] Charted =
        [Factor.InviteRatio, Factor.RequestResponseRatio, Factor.CallIdSsrcRatio, Factor.SipMessagesPerSecond, Factor.ErrorResponseRatio];
    public static readonly Factor[] Methods =
        [Factor.InviteRatio, Factor.RegisterRatio, Factor.ByeRatio, Factor.AckRatio, Factor.CancelRatio, Factor.OptionsRatio];
    public const int ChannelCount = 2 + 6 + 5 * 3;

    private readonly double[] _point = new double[ChannelCount];

    private void Record(long second)
    {
        var s = Monitor.ShortWindow;
        var l = Monitor.LongWindow;
        _point[0] = s[(int)Factor.SipMessagesPerSecond];
        _point[1] = s[(int)Factor.RtpPacketsPerSecond];
        for (int i = 0; i < Methods.Length; i++) _point[2 + i] = s[(int)Methods[i]];
        var baseline = Learner?.Baseline;
        var (slot, week) = baseline?.SlotOf((second + 1) * 1_000_000_000) ?? (0, 0);
        for (int i = 0; i < Charted.Length; i++)
        {
            _point[8 + i] = l[(int)Charted[i]];
            var st = baseline?.Stats(slot, Charted[i], week) ?? new BaselineStats(0, double.NaN, double.NaN);
            _point[13 + i] = st.Weeks > 0 ? st.Mean : double.NaN;
            _point[18 + i] = st.Weeks > 0 ? st.Sigma : double.NaN;
        }
        Series!.Add(second, _point);
    }

    public void Expire(long nowNs)
    {
        _now = nowNs;
        Tracker.Expire(nowNs);
    }

    public void Finish(long lastNs)
    {
        _now = lastNs;
        Monitor.Tick(lastNs + 1_000_000_000, force: true);
        Learner?.Flush();
        Tracker.Flush();
        _writer?.Flush(lastNs);
        _sender?.Dispose();
    }

    public Output.BehaviourSummary Summary(int top) =>
        new([.. Monitor.ShortWindow], [.. Monitor.LongWindow], Monitor.History, Monitor.BaselineWeeks, Monitor.BaselineReady,
            [.. Behaviour.Top.Top(top)], Behaviour.Top.ErrorBound, Behaviour.Servers(Monitor.LastEvaluatedSecond, BehaviourAnalyzer.WindowLong));

    void ISessionSink.OnSession(in SessionState session, SessionEndReason reason)
    {
        if (_writer is not null) SessionFlows.Write(_writer, session, reason, _now);
    }

    private sealed class NoAlerts : IAlertSink
    {
        public static readonly NoAlerts Instance = new();
        public bool Publish(in AlertEvent alert) => true;
    }
}
