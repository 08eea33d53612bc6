using System.Diagnostics;
using SipIps.Capture.AfPacket;
using SipIps.Capture.Interop;
using SipIps.Engine.Common;
using SipIps.Engine.Enforcement;
using SipIps.Engine.Packets;
using SipIps.Engine.Pipeline;

namespace SipIps.Capture.Bridge;

/// <summary>
/// One direction of a pair (a lane): receive a batch from the ring, run each frame through the engine, queue the
/// passed ones for the peer, send, then give the batch back to the kernel (the verdict is applied at release). An
/// exception on one frame never stops it: the exception policy decides that frame. A <see cref="BridgeThread"/> runs
/// both lanes of a pair, so that a reply never waits for the other direction's thread to be scheduled.
/// </summary>
public sealed unsafe class BridgeWorker : IDisposable
{
    private readonly PacketSocket _rx;
    private readonly PacketSocket _tx;
    private readonly RxRing _ring;
    private readonly FrameSender _sender;
    private readonly SipEngine? _engine;
    private readonly FrameInspector? _inspector;
    private readonly BridgeOptions _options;
    private readonly Action<string> _log;
    private readonly EvidenceRecorder? _evidence;
    private static readonly double s_secondsPerTick = 1.0 / Stopwatch.Frequency;
    private long _nextExpire = Stopwatch.GetTimestamp();

    public BridgeWorker(string name, PacketSocket rx, PacketSocket tx, SipEngine? engine, BridgeOptions options, Action<string> log,
        EvidenceRecorder? evidence = null)
    {
        _evidence = evidence;
        Name = name;
        _rx = rx;
        _tx = tx;
        _ring = RxRing.Create(rx);
        _sender = new FrameSender(tx, options.Send, Math.Max(1, options.Batch));
        _engine = engine;
        _options = options;
        _log = log;
        if (engine is not null) _inspector = new FrameInspector(engine, Counters, log, name) { Policy = options.OnError };
    }

    public string Name { get; }
    public string RxInterface => _rx.InterfaceName;
    /// <summary>Frames the receive ring holds.</summary>
    public int RingFrames => _rx.FrameCount;
    public WorkerCounters Counters { get; } = new();
    /// <summary>Time each inspected frame spent in the engine (decode through verdict), in seconds.</summary>
    public FixedHistogram Processing { get; } = new(1e-6, 2e-6, 5e-6, 10e-6, 20e-6, 50e-6, 100e-6, 250e-6, 1e-3, 10e-3);
    public SipEngine? Engine => _engine;
    public PacketSocket Receive => _rx;
    public ExceptionPolicy Policy
    {
        set
        {
            if (_inspector is not null) _inspector.Policy = value;
        }
    }

    /// <summary>The thread that runs this lane (set when it is added to one).</summary>
    public BridgeThread? Owner { get; internal set; }

    /// <summary>Whether the lane's thread is still looping (it only ends on Stop, or by failing fast).</summary>
    public bool IsRunning => Owner is { IsRunning: true };

    internal int Fd => _rx.Fd;

    /// <summary>Takes one batch (up to the span's length) from the ring, inspects, forwards and releases it; returns the frames taken.</summary>
    internal int Step(RxFrame* batch, Span<RxFrame> span)
    {
        var c = Counters;
        int n = _ring.Fill(span);
        if (n == 0) return 0;
        for (int i = 0; i < n; i++)
        {
            ref RxFrame f = ref batch[i];
            c.RxFrames++;
            c.RxBytes += f.WireLength;
            if (f.ChecksumNotReady) c.ChecksumNotReady++;
            if (f.Truncated)
            {
                // Part of the frame is missing from the ring (offloads on, or a frame larger than the MTU):
                // forwarding it would corrupt it.
                c.Drops[(int)DropReason.Truncated]++;
                continue;
            }
            var verdict = Verdict.Pass;
            if (_inspector is not null)
            {
                long started = Stopwatch.GetTimestamp();
                verdict = _inspector.Inspect(f.Span, f.TimestampNs, f.WireLength, f.HasVlan ? f.VlanTci : -1);
                Processing.Observe((Stopwatch.GetTimestamp() - started) * s_secondsPerTick);
            }
            // Evidence: what the rules dropped or alerted on (a copy into a bounded queue; lost when full, counted).
            if ((verdict.Alerted || verdict.Reason is DropReason.Rule or DropReason.RateLimit or DropReason.Ban or DropReason.Malformed) && _evidence is not null)
                _evidence.Offer(f.Span, f.TimestampNs, f.WireLength);
            if (verdict.IsDrop)
            {
                c.Drops[(int)verdict.Reason]++;
                continue;
            }
            _sender.Add(in f);
        }
        _sender.Flush();
        _ring.Release(n);
        ref readonly var s = ref _sender.Counters;
        c.Forwarded = s.Frames;
        c.ForwardedBytes = s.Bytes;
        c.ForwardErrors = s.Errors;
        return n;
    }

    /// <summary>Expires the engine's state about ten times a second.</summary>
    internal void MaybeExpire() => MaybeExpire(ref _nextExpire);

    private void MaybeExpire(ref long next)
    {
        long now = Stopwatch.GetTimestamp();
        if (_engine is null || now < next) return;
        next = now + Stopwatch.Frequency / 10;
        _engine.Expire(DateTime.UtcNow.Ticks * 100 - DateTime.UnixEpoch.Ticks * 100);
    }

    public void Dispose()
    {
        _sender.Dispose();
        _rx.Dispose();
        _tx.Dispose();
    }
}
