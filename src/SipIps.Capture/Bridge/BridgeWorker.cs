using System.Diagnostics;
using SipIps.Capture.AfPacket;
using SipIps.Capture.Interop;
using SipIps.Engine.Common;
using SipIps.Engine.Enforcement;
using SipIps.Engine.Packets;
using SipIps.Engine.Pipeline;

namespace SipIps.Capture.Bridge;

/// <summary>
/// One thread bridging one direction of a pair: receive a batch from the ring, run each frame through the engine,
/// queue the passed ones for the peer, send, then give the batch back to the kernel (the verdict is applied at
/// release). An exception on one frame never stops the loop: the exception policy decides that frame.
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
    private readonly int _batch;
    private static readonly double s_secondsPerTick = 1.0 / Stopwatch.Frequency;
    private Thread? _thread;
    private volatile bool _stop;

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
        _batch = Math.Max(1, options.Batch);
        if (engine is not null) _inspector = new FrameInspector(engine, Counters, log, name) { Policy = options.OnError };
    }

    public string Name { get; }
    public string RxInterface => _rx.InterfaceName;
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

    /// <summary>Whether the worker's thread is still looping (it only ends on Stop, or by failing fast).</summary>
    public bool IsRunning => _thread is { IsAlive: true } && !_stop;

    public void Start()
    {
        _thread = new Thread(Run) { IsBackground = true, Name = Name };
        _thread.Start();
    }

    public void Stop()
    {
        _stop = true;
        _thread?.Join();
    }

    /// <summary>The CPU this worker's thread is pinned to, or -1.</summary>
    public int Cpu { get; init; } = -1;

    private void Run()
    {
        if (Cpu >= 0 && Interop.CpuAffinity.PinCurrentThread([Cpu]) is { } error) _log($"worker {Name}: cannot pin to CPU {Cpu}: {error}");
        try
        {
            Loop();
        }
        catch (Exception e)
        {
            // The loop itself failed (not one frame): the bridge cannot forward this direction any more. Dying
            // loudly lets systemd restart it and the fail-open helper bridge the ports meanwhile.
            Environment.FailFast($"sipips: worker {Name} failed: {e}");
        }
    }

    private void Loop()
    {
        RxFrame* batch = stackalloc RxFrame[_batch];
        var span = new Span<RxFrame>(batch, _batch);
        var pfd = new PollFd { Fd = _rx.Fd, Events = PollEvents.In | PollEvents.Err };
        var c = Counters;
        long nextExpire = Stopwatch.GetTimestamp();
        long spin = Stopwatch.Frequency * _options.BusyPollMicroseconds / 1_000_000;
        long idleSince = 0;
        while (!_stop)
        {
            int n = _ring.Fill(span);
            if (n == 0)
            {
                long now = Stopwatch.GetTimestamp();
                if (idleSince == 0) idleSince = now;
                if (now - idleSince < spin)
                {
                    Thread.SpinWait(32);
                    continue;
                }
                idleSince = 0;
                c.Polls++;
                pfd.Revents = 0;
                Libc.Poll(&pfd, 1, 100);
                MaybeExpire(ref nextExpire);
                continue;
            }
            idleSince = 0;
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
            MaybeExpire(ref nextExpire);
        }
    }

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
