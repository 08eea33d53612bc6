using System.Diagnostics;
using SipIps.Capture.AfPacket;
using SipIps.Capture.Interop;

namespace SipIps.Capture.Bridge;

/// <summary>
/// One worker thread: it runs both directions (lanes) of a pair for one fanout index, a batch from each in turn,
/// and sleeps in poll() on both rings when both are empty. A request and its reply are thus handled by the same
/// thread, with no wake-up of another thread on the way back (with a thread per direction on one core, a reply
/// waited for the other direction's thread to give up the core).
/// </summary>
public sealed unsafe class BridgeThread
{
    private readonly BridgeWorker[] _lanes;
    private readonly BridgeOptions _options;
    private readonly Action<string> _log;
    private Thread? _thread;
    private volatile bool _stop;

    public BridgeThread(string name, BridgeWorker[] lanes, BridgeOptions options, Action<string> log)
    {
        Name = name;
        _lanes = lanes;
        _options = options;
        _log = log;
        foreach (var lane in lanes) lane.Owner = this;
    }

    public string Name { get; }
    public IReadOnlyList<BridgeWorker> Lanes => _lanes;
    /// <summary>The CPU this thread is pinned to, or -1.</summary>
    public int Cpu { get; init; } = -1;

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

    private void Run()
    {
        if (Cpu >= 0 && CpuAffinity.PinCurrentThread([Cpu]) is { } error) _log($"worker {Name}: cannot pin to CPU {Cpu}: {error}");
        try
        {
            Loop();
        }
        catch (Exception e)
        {
            // The loop itself failed (not one frame): the bridge cannot forward any more. Dying loudly lets systemd
            // restart it and the fail-open helper bridge the ports meanwhile.
            Environment.FailFast($"sipips: worker {Name} failed: {e}");
        }
    }

    private void Loop()
    {
        int batchSize = Math.Max(1, _options.Batch);
        RxFrame* batch = stackalloc RxFrame[batchSize];
        var span = new Span<RxFrame>(batch, batchSize);
        int lanes = _lanes.Length;
        PollFd* pfd = stackalloc PollFd[lanes];
        for (int i = 0; i < lanes; i++) pfd[i] = new PollFd { Fd = _lanes[i].Fd, Events = PollEvents.In | PollEvents.Err };
        long spin = Stopwatch.Frequency * _options.BusyPollMicroseconds / 1_000_000;
        long idleSince = 0;
        while (!_stop)
        {
            int n = 0;
            for (int i = 0; i < lanes; i++) n += _lanes[i].Step(batch, span);
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
                for (int i = 0; i < lanes; i++)
                {
                    _lanes[i].Counters.Polls++;
                    pfd[i].Revents = 0;
                }
                Libc.Poll(pfd, (nuint)lanes, 100);
            }
            else
            {
                idleSince = 0;
            }
            for (int i = 0; i < lanes; i++) _lanes[i].MaybeExpire();
        }
    }
}
