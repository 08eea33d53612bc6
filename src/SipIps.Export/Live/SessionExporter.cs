using System.Net;
using SipIps.Engine.Behaviour;
using SipIps.Engine.Common;
using SipIps.Engine.Detection;
using SipIps.Engine.Sessions;
using SipIps.Export.NetFlow;

namespace SipIps.Export.Live;

/// <summary>Where and how SIP-session flow records go.</summary>
public sealed record NetFlowOptions
{
    public required IPEndPoint Collector { get; init; }
    public uint SourceId { get; init; } = 1;
    public int TemplateRefreshPackets { get; init; } = 20;
    public long TemplateRefreshNs { get; init; } = 60_000_000_000;
    public int MaxPacketBytes { get; init; } = 1400;
}

/// <summary>Behaviour analysis on the session thread: the factor rules, where their alerts go, and the baseline.</summary>
public sealed record BehaviourSetup(Func<IReadOnlyList<FactorRule>> Rules, IAlertSink Alerts, Baseline Baseline, string? BaselineFile, int MinWeeks = 3,
    DetectionShared? Detection = null, Func<RuleMode>? Mode = null);

/// <summary>
/// The session thread: drains the workers' session-event rings into one <see cref="SessionTracker"/> (so a call
/// whose two directions arrive on different workers is one session), and exports finished sessions as NetFlow v9
/// when a collector is configured. Off the packet path: when it falls behind, the rings fill and the workers count
/// what they could not hand over.
/// </summary>
public sealed class SessionExporter : IDisposable, ISessionSink
{
    private readonly SessionTrackerOptions _trackerOptions;
    private readonly NetFlowOptions? _netflow;
    private readonly Action<string> _log;
    private readonly Func<long> _clock;
    private readonly object _ringsLock = new();
    private SpscRing<SessionEvent>[] _rings = [];
    private readonly int _ringCapacity;
    private readonly UdpSender? _sender;
    private readonly NetFlowV9Writer? _writer;
    private readonly Thread _thread;
    private volatile bool _stop;

    public SessionExporter(SessionTrackerOptions tracker, NetFlowOptions? netflow, Action<string> log, int ringCapacity = 8192, Func<long>? clock = null,
        BehaviourSetup? behaviour = null)
    {
        _behaviour = behaviour;
        _trackerOptions = tracker;
        _netflow = netflow;
        _log = log;
        _clock = clock ?? NowNs;
        _ringCapacity = ringCapacity;
        Tracker = new SessionTracker(tracker, this);
        Behaviour = new BehaviourAnalyzer();
        Tracker.PostDialDelayObserved = Behaviour.OnPostDialDelay;
        if (behaviour is not null)
        {
            Learner = new BaselineLearner(behaviour.Baseline);
            Monitor = new FactorMonitor(Behaviour, Learner, behaviour.Alerts, behaviour.Rules, behaviour.Detection) { MinWeeks = behaviour.MinWeeks };
        }
        if (netflow is not null)
        {
            _sender = new UdpSender(netflow.Collector, log);
            long now = _clock();
            _writer = new NetFlowV9Writer(netflow.SourceId, now, SessionFlows.All, _sender.Send, netflow.MaxPacketBytes, netflow.TemplateRefreshPackets,
                netflow.TemplateRefreshNs, w => SessionFlows.WriteExporter(w, _clock(), _trackerOptions, Tracker.Exported));
        }
        _thread = new Thread(Run) { IsBackground = true, Name = "sessions" };
    }

    public SessionTracker Tracker { get; }
    public BehaviourAnalyzer Behaviour { get; }
    public FactorMonitor? Monitor { get; }
    public BaselineLearner? Learner { get; }
    public long BaselineSaveErrors { get; private set; }
    private readonly BehaviourSetup? _behaviour;
    private readonly object _behaviourLock = new();
    public MediaTable Media => Tracker.Media;
    public NetFlowV9Writer? Writer => _writer;
    public long SendErrors => _sender?.Errors ?? 0;
    public long FlowPackets => _sender?.Packets ?? 0;

    /// <summary>Events the workers could not hand over (rings full).</summary>
    public long Lost
    {
        get
        {
            long n = 0;
            foreach (var r in Volatile.Read(ref _rings)) n += r.Lost;
            return n;
        }
    }

    /// <summary>A new ring for one worker (called while the bridge starts its workers).</summary>
    public SpscRing<SessionEvent> AddWorker()
    {
        var ring = new SpscRing<SessionEvent>(_ringCapacity);
        lock (_ringsLock) _rings = [.. _rings, ring];
        return ring;
    }

    public void Start()
    {
        _writer?.SendTemplates(_clock());
        _thread.Start();
    }

    /// <summary>
    /// Rest between passes over the rings. Each wake-up costs a context switch on a core the thread may share with a
    /// worker (at 2 ms they were two fifths of this thread's time at 300k events/s); events carry their own timestamps,
    /// so only the queue's depth limits the rest: a ring of 8192 holds 24 ms of a saturated worker's events, and a
    /// pass that finds a ring fuller than one batch goes on without resting.
    /// </summary>
    public const int RestMs = 10;

    private void Run()
    {
        long nextExpire = 0, nextFlush = 0, nextSave = _clock() + 300_000_000_000;
        while (!_stop)
        {
            bool full = false;
            foreach (var ring in Volatile.Read(ref _rings))
            {
                // A bounded batch per ring per turn, so that one busy worker does not starve the others.
                int i = 0;
                for (; i < 4096 && ring.TryPeek(out int slot); i++) Take(ring, slot, behaviour: Monitor is not null);
                if (i == 4096) full = true;
            }
            try
            {
                Periodic(ref nextExpire, ref nextFlush, ref nextSave);
            }
            catch (Exception x)
            {
                Fault(x, "in the periodic work (expiry, flow export, behaviour)");
            }
            // Events are taken in batches: the thread rests unless a ring still had more than a batch, so that it does not
            // wake for every few events on a core it may share with a worker.
            if (!full) Thread.Sleep(RestMs);
        }
    }

    /// <summary>
    /// Internal errors of this thread: an event that trips a fault is dropped and counted, and the thread goes on; it
    /// never takes the process down with it.
    /// </summary>
    public FaultLimiter Faults { get; } = new();

    /// <summary>Hands one queued event to session tracking (and the behaviour factors), then frees its slot.</summary>
    private void Take(SpscRing<SessionEvent> ring, int slot, bool behaviour)
    {
        try
        {
            ref var e = ref ring[slot];
            Tracker.OnEvent(e);
            if (behaviour) Behaviour.OnEvent(e);
        }
        catch (Exception x)
        {
            Fault(x, "on a session event (dropped)");
        }
        ring.Release();
    }

    private void Fault(Exception x, string where)
    {
        if (Faults.Note()) _log($"sessions: internal error {where}: {x.GetType().Name}: {x.Message}");
    }

    private void Periodic(ref long nextExpire, ref long nextFlush, ref long nextSave)
    {
        long now = _clock();
        if (Monitor is not null)
        {
            // Once a second (Tick returns at once within a second); readers of the factor values take the lock.
            if (_behaviour?.Mode is { } mode) Monitor.Mode = mode();
            lock (_behaviourLock) Monitor.Tick(now);
            if (now >= nextSave)
            {
                SaveBaseline();
                nextSave = now + 300_000_000_000;
            }
        }
        if (now >= nextExpire)
        {
            Tracker.Expire(now);
            nextExpire = now + 100_000_000;
        }
        if (_writer is not null && now >= nextFlush)
        {
            // Records wait at most a second for a full packet; templates go out on time even when idle.
            _writer.Flush(now);
            if (_writer.TemplatesDue(now)) _writer.SendTemplates(now);
            nextFlush = now + 1_000_000_000;
        }
    }

    void ISessionSink.OnSession(in SessionState session, SessionEndReason reason)
    {
        if (_writer is null) return;
        // Caught here, per session, so that the expiry pass that ends it goes on and removes it: a session that
        // failed to export would otherwise fail again on every pass.
        try
        {
            SessionFlows.Write(_writer, session, reason, _clock());
        }
        catch (Exception x)
        {
            Fault(x, "exporting a session record (left incomplete)");
        }
    }

    /// <summary>The factor values of both windows at the last evaluation (a copy, under the lock).</summary>
    public (double[] Short, double[] Long) FactorValues()
    {
        lock (_behaviourLock)
            return Monitor is null ? ([], []) : ([.. Monitor.ShortWindow], [.. Monitor.LongWindow]);
    }

    /// <summary>Writes the baseline file (atomically); a failure is counted and logged once.</summary>
    public void SaveBaseline()
    {
        if (_behaviour?.BaselineFile is not string file) return;
        try
        {
            lock (_behaviourLock) _behaviour.Baseline.Save(file);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            if (BaselineSaveErrors++ == 0) _log($"cannot save the baseline to {file}: {e.Message}");
        }
    }

    /// <summary>Stops the thread, then exports every open session and sends what is pending.</summary>
    public void Dispose()
    {
        if (_thread.IsAlive)
        {
            _stop = true;
            _thread.Join();
        }
        foreach (var ring in _rings)
            while (ring.TryPeek(out int slot)) Take(ring, slot, behaviour: false);
        Tracker.Flush();
        _writer?.Flush(_clock());
        SaveBaseline();
        _sender?.Dispose();
    }

    public static long NowNs() => (DateTime.UtcNow.Ticks - DateTime.UnixEpoch.Ticks) * 100;
}
