using SipIps.Capture.AfPacket;
using SipIps.Capture.Interop;
using SipIps.Engine.Enforcement;
using SipIps.Engine.Pipeline;

namespace SipIps.Capture.Bridge;

/// <summary>
/// The bump in the wire: for every pair, worker threads in both directions, plus a heartbeat that reads kernel
/// drop counters and follows link state. Start-up checks throw <see cref="CaptureException"/> with a one-line
/// reason; once running, nothing short of a bug in the loop stops forwarding.
/// </summary>
public sealed class InlineBridge : IDisposable
{
    private readonly BridgeOptions _options;
    private readonly Func<ISipObserver> _observer;
    private readonly Func<IVerdictHook> _hook;
    private readonly Action<string> _log;
    private readonly EvidenceRecorder? _evidence;
    private readonly List<BridgeWorker> _workers = new();
    private readonly List<BridgeThread> _threads = new();
    private readonly Dictionary<string, long> _kernelDrops = new();
    private readonly Dictionary<string, bool> _running = new();
    private readonly HashSet<string> _downedByUs = new();
    private readonly List<string> _warnings = new();
    private readonly object _gate = new();
    private Timer? _heartbeat;
    private DateTimeOffset _started;
    private ExceptionPolicy _policy;

    public InlineBridge(BridgeOptions options, Func<ISipObserver> observer, Func<IVerdictHook> hook, Action<string> log, EvidenceRecorder? evidence = null)
    {
        _evidence = evidence;
        _options = options;
        _policy = options.OnError;
        _observer = observer;
        _hook = hook;
        _log = log;
    }

    public IReadOnlyList<string> Warnings => _warnings;


    /// <summary>Checks the ports, opens the rings and starts forwarding.</summary>
    public void Start()
    {
        Check();
        int group = (Environment.ProcessId & 0x0FFF) << 4;
        foreach (var pair in _options.Pairs)
        {
            int mtu = NetDevice.Query(pair.A).Mtu;
            // lanes[w] holds worker w's two directions: one thread runs both.
            var lanes = new List<BridgeWorker>[_options.Workers];
            for (int w = 0; w < lanes.Length; w++) lanes[w] = [];
            foreach (var (from, to) in new[] { (pair.A, pair.B), (pair.B, pair.A) })
            {
                group++;
                for (int w = 0; w < _options.Workers; w++)
                {
                    var rx = PacketSocket.OpenReceive(from, new RxOptions
                    {
                        Version = _options.Ring,
                        Frames = _options.RingFrames,
                        Mtu = mtu,
                        FanoutGroup = _options.Workers > 1 ? group : 0,
                        BlockTimeoutMs = _options.BlockTimeoutMs,
                    });
                    PacketSocket tx;
                    try
                    {
                        tx = PacketSocket.OpenSend(to);
                    }
                    catch
                    {
                        rx.Dispose();
                        throw;
                    }
                    var engine = _options.Inspect ? new SipEngine(_options.Engine, _observer(), _hook()) : null;
                    var lane = new BridgeWorker($"{from}>{to}#{w}", rx, tx, engine, _options, _log, _evidence);
                    _workers.Add(lane);
                    lanes[w].Add(lane);
                }
                _kernelDrops[from] = 0;
            }
            for (int w = 0; w < lanes.Length; w++)
            {
                _threads.Add(new BridgeThread($"{pair.A}={pair.B}#{w}", [.. lanes[w]], _options, _log)
                {
                    Cpu = _options.WorkerCpus.Count > 0 ? _options.WorkerCpus[w % _options.WorkerCpus.Count] : -1,
                });
            }
            _running[pair.A] = true;
            _running[pair.B] = true;
        }
        _started = DateTimeOffset.UtcNow;
        foreach (var t in _threads) t.Start();
        _heartbeat = new Timer(_ => Heartbeat(), null, 250, 250);
    }

    /// <summary>The start-up checks: interfaces exist and are up, MTUs match, capabilities, offloads.</summary>
    private void Check()
    {
        if (_options.Pairs.Count == 0) throw new CaptureException("no interface pairs configured");
        var (admin, raw) = NetDevice.Capabilities();
        if (!raw) throw new CaptureException("missing capability CAP_NET_RAW (run as root or grant it: AmbientCapabilities=CAP_NET_RAW CAP_NET_ADMIN)");
        if (!admin) throw new CaptureException("missing capability CAP_NET_ADMIN (needed for promiscuous mode and offloads)");
        var seen = new HashSet<string>();
        foreach (var pair in _options.Pairs)
        {
            if (pair.A == pair.B) throw new CaptureException($"pair {pair.A}-{pair.B}: an interface cannot be its own peer");
            foreach (var name in new[] { pair.A, pair.B })
            {
                if (!seen.Add(name)) throw new CaptureException($"interface {name} is in more than one pair");
                var st = NetDevice.Query(name);
                if (!st.Exists) throw new CaptureException($"interface {name} does not exist");
                ReleaseFromBridge(name);
                if (!st.Up) throw new CaptureException($"interface {name} is down (ip link set {name} up)");
            }
            int mtuA = NetDevice.Query(pair.A).Mtu, mtuB = NetDevice.Query(pair.B).Mtu;
            if (mtuA != mtuB)
                throw new CaptureException($"MTU mismatch in pair {pair.A}-{pair.B}: {pair.A} has {mtuA}, {pair.B} has {mtuB}; frames larger than the smaller one would be lost");
            foreach (var name in new[] { pair.A, pair.B }) CheckOffloads(name);
        }
        CheckInterrupts();
    }

    /// <summary>
    /// Warns of device interrupts delivered to the workers' CPUs (bridge.cpus, or the CPUs the process was started
    /// on): see <see cref="IrqPlacement"/>. Workers that may run on every CPU have no core of their own to protect.
    /// </summary>
    private void CheckInterrupts()
    {
        IReadOnlyList<int> cpus = _options.WorkerCpus.Count > 0 ? _options.WorkerCpus : CpuAffinity.CurrentCpus();
        if (cpus.Count == 0 || cpus.Count >= CpuAffinity.OnlineCpus()) return;
        var irqs = IrqPlacement.OnCpus(cpus, _options.Pairs.SelectMany(p => new[] { p.A, p.B }).ToArray());
        if (irqs.Count == 0) return;
        string list = string.Join(", ", irqs.Take(4).Select(i => $"IRQ {i.Number} {i.Name} ({i.Count:N0} so far)"))
                      + (irqs.Count > 4 ? $" and {irqs.Count - 4} more" : "");
        string warning = $"device interrupts land on the workers' CPU {string.Join(",", cpus.Distinct().Order())}: {list}; their handlers run " +
                         "in the workers' time (move them with /proc/irq/N/smp_affinity_list, or at boot with irqaffinity= or isolcpus=managed_irq,CPUS " +
                         "for those the kernel manages)";
        _warnings.Add(warning);
        _log("warning: " + warning);
    }

    /// <summary>Name prefix of the kernel bridges the fail-open helper (packaging/sipips-failopen) creates.</summary>
    public const string FailOpenBridgePrefix = "sipips-fo";

    /// <summary>
    /// A port still joined to the fail-open bridge is released (the kernel would forward alongside us); a port in
    /// any other bridge or bond is refused.
    /// </summary>
    private void ReleaseFromBridge(string name)
    {
        string? master = NetDevice.Master(name);
        if (master is null) return;
        if (!master.StartsWith(FailOpenBridgePrefix, StringComparison.Ordinal))
            throw new CaptureException($"interface {name} is a port of {master}; take it out first (ip link set {name} nomaster)");
        if (!NetDevice.DeleteBridge(master, out string? error))
            throw new CaptureException($"interface {name} is in the fail-open bridge {master}, which could not be removed: {error}");
        _log($"removed the fail-open bridge {master}: SipIps forwards again");
    }

    private void CheckOffloads(string name)
    {
        for (int i = 0; i < NetDevice.Offloads.Length; i++)
        {
            if (NetDevice.GetOffload(name, i) != true) continue;
            string offload = NetDevice.Offloads[i].Name;
            if (_options.DisableOffloads && NetDevice.DisableOffload(name, i, out string? error))
            {
                _log($"{name}: turned {offload} off");
                continue;
            }
            string warning = _options.DisableOffloads
                ? $"{name}: {offload} is on and could not be turned off; merged or unfinished frames will be counted and may be dropped"
                : $"{name}: {offload} is on (disable_offloads is false); merged or unfinished frames may be dropped";
            _warnings.Add(warning);
            _log("warning: " + warning);
        }
    }

    private void Heartbeat()
    {
        lock (_gate)
        {
            foreach (var w in _workers)
            {
                var (_, drops) = w.Receive.ReadStatistics();
                _kernelDrops[w.RxInterface] = _kernelDrops.GetValueOrDefault(w.RxInterface) + drops;
            }
            if (_options.LinkPropagation) FollowLinks();
        }
    }

    /// <summary>
    /// A port that loses its link takes its peer down, so that the neighbours on that side see the failure and
    /// fail over; when the link returns, the peer comes back. Ports taken down here are not followed themselves.
    /// </summary>
    private void FollowLinks()
    {
        foreach (var pair in _options.Pairs)
        {
            foreach (var (port, peer) in new[] { (pair.A, pair.B), (pair.B, pair.A) })
            {
                if (_downedByUs.Contains(port)) continue;
                bool running = NetDevice.Query(port).Running;
                bool was = _running.GetValueOrDefault(port, true);
                if (running == was) continue;
                _running[port] = running;
                if (!running && !_downedByUs.Contains(peer))
                {
                    if (NetDevice.SetUp(peer, false, out var error))
                    {
                        _downedByUs.Add(peer);
                        _log($"{port} lost its link: took {peer} down so that its neighbours fail over");
                    }
                    else
                    {
                        _log($"{port} lost its link; could not take {peer} down: {error}");
                    }
                }
                else if (running && _downedByUs.Contains(peer))
                {
                    if (NetDevice.SetUp(peer, true, out var error))
                    {
                        _downedByUs.Remove(peer);
                        _log($"{port} has its link again: brought {peer} back up");
                    }
                    else
                    {
                        _log($"{port} has its link again; could not bring {peer} up: {error}");
                    }
                }
            }
        }
    }

    public void SetExceptionPolicy(ExceptionPolicy policy)
    {
        _policy = policy;
        foreach (var w in _workers) w.Policy = policy;
    }

    /// <summary>The configuration's words for the settings, as status shows them.</summary>
    private static string Word(ExceptionPolicy p) => p == ExceptionPolicy.FailClosed ? "fail-closed" : "fail-open";

    public BridgeSnapshot Snapshot()
    {
        lock (_gate)
        {
            var ports = new List<PortSnapshot>();
            foreach (var pair in _options.Pairs)
            {
                foreach (var (port, peer) in new[] { (pair.A, pair.B), (pair.B, pair.A) })
                {
                    var ws = _workers.Where(w => w.RxInterface == port).Select(w => w.Counters).ToList();
                    var st = NetDevice.Query(port);
                    var drops = new Dictionary<string, long>();
                    for (int r = 1; r < DropReasons.Count; r++)
                    {
                        long n = ws.Sum(c => c.Drops[r]);
                        if (n > 0) drops[DropReasons.Name((DropReason)r)] = n;
                    }
                    ports.Add(new PortSnapshot(port, peer, st.Up, st.Running,
                        ws.Sum(c => c.RxFrames), ws.Sum(c => c.RxBytes), ws.Sum(c => c.Forwarded), ws.Sum(c => c.ForwardedBytes),
                        ws.Sum(c => c.ForwardErrors), _kernelDrops.GetValueOrDefault(port), ws.Sum(c => c.ChecksumNotReady),
                        ws.Sum(c => c.Exceptions), drops));
                }
            }
            long sip = 0, invalid = 0;
            foreach (var w in _workers)
            {
                if (w.Engine is null) continue;
                sip += w.Engine.Counters.SipMessages;
                invalid += w.Engine.Counters.ParseErrors;
            }
            return new BridgeSnapshot(_started, DateTimeOffset.UtcNow - _started, _options.Workers,
                $"{(_options.Ring == RingVersion.V3 ? "v3" : "v2")} ({(_workers.Count > 0 ? _workers[0].RingFrames : 0):N0} frames)", _options.Send == SendMode.SendTo ? "sendto" : "sendmmsg",
                Word(_policy), _options.Inspect, ports, sip, invalid, _warnings.ToList());
        }
    }

    public IReadOnlyList<BridgeWorker> Workers => _workers;

    /// <summary>Every worker is looping (for the systemd watchdog).</summary>
    public bool Healthy => _threads.Count > 0 && _threads.All(t => t.IsRunning);
    public IReadOnlyList<BridgeThread> Threads => _threads;

    public void Stop()
    {
        _heartbeat?.Dispose();
        _heartbeat = null;
        foreach (var t in _threads) t.Stop();
        lock (_gate)
        {
            // Leave the ports as found.
            foreach (var port in _downedByUs) NetDevice.SetUp(port, true, out _);
            _downedByUs.Clear();
        }
    }

    public void Dispose()
    {
        Stop();
        foreach (var w in _workers) w.Dispose();
        _workers.Clear();
        _threads.Clear();
    }
}
