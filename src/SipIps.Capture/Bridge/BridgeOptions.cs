using SipIps.Capture.AfPacket;
using SipIps.Engine.Pipeline;

namespace SipIps.Capture.Bridge;

/// <summary>Two interfaces forwarded to each other.</summary>
public sealed record BridgePair(string A, string B);

/// <summary>What an internal error on one frame does to that frame (Suricata calls these exception policies).</summary>
public enum ExceptionPolicy
{
    /// <summary>Forward it: availability first.</summary>
    FailOpen,
    /// <summary>Drop it: nothing uninspected passes.</summary>
    FailClosed,
}

public sealed record BridgeOptions
{
    public IReadOnlyList<BridgePair> Pairs { get; init; } = [];
    /// <summary>Worker threads per pair, each running both directions; each port's rings are joined by PACKET_FANOUT (hash, with defragmentation).</summary>
    public int Workers { get; init; } = Environment.ProcessorCount;
    /// <summary>CPUs for the workers: worker w of every port runs on WorkerCpus[w % count] (empty: wherever the kernel puts it).</summary>
    public IReadOnlyList<int> WorkerCpus { get; init; } = [];
    public RingVersion Ring { get; init; } = RingVersion.V2;
    /// <summary>Frames per receive ring; 0 (the default) sizes each ring by its MTU (<see cref="RingGeometry.DefaultFrames"/>).</summary>
    public int RingFrames { get; init; }
    public int BlockTimeoutMs { get; init; } = 1;
    public SendMode Send { get; init; } = SendMode.SendMmsg;
    public int Batch { get; init; } = 64;
    /// <summary>
    /// How long a worker keeps checking an empty ring before it sleeps in poll(). Waking a sleeping core costs tens
    /// to hundreds of microseconds (more in a VM), but spinning only helps where the delivery work of forwarded
    /// frames runs on another core: in the veth lab the spinning thread starves its own core's softirq and the
    /// latency grows (measured), so it is off by default.
    /// </summary>
    public int BusyPollMicroseconds { get; init; }
    public ExceptionPolicy OnError { get; init; } = ExceptionPolicy.FailOpen;
    /// <summary>Turn off offloads that change frames between the wire and the ring (GRO, LRO, TSO, GSO, checksums).</summary>
    public bool DisableOffloads { get; init; } = true;
    /// <summary>When one port of a pair loses its link, take its peer down too, so that neighbours fail over.</summary>
    public bool LinkPropagation { get; init; } = true;
    /// <summary>Run every frame through the engine. Off: forward only (for measurements).</summary>
    public bool Inspect { get; init; } = true;
    public EngineOptions Engine { get; init; } = EngineOptions.Default;
}
