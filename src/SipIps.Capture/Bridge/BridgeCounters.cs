using SipIps.Engine.Enforcement;

namespace SipIps.Capture.Bridge;

/// <summary>One worker's counters; written by that worker only, read (racily, whole longs) by status.</summary>
public sealed class WorkerCounters
{
    public long RxFrames;
    public long RxBytes;
    public long Forwarded;
    public long ForwardedBytes;
    public long ForwardErrors;
    public long ChecksumNotReady;
    public long Exceptions;
    public long Polls;
    public readonly long[] Drops = new long[DropReasons.Count];
}

/// <summary>A port's totals at one moment.</summary>
public sealed record PortSnapshot(
    string Name,
    string Peer,
    bool Up,
    bool Running,
    long RxFrames,
    long RxBytes,
    long Forwarded,
    long ForwardedBytes,
    long ForwardErrors,
    long KernelDrops,
    long ChecksumNotReady,
    long Exceptions,
    IReadOnlyDictionary<string, long> Drops);

public sealed record BridgeSnapshot(
    DateTimeOffset Started,
    TimeSpan Uptime,
    int WorkersPerPort,
    string Ring,
    string Send,
    string ExceptionPolicy,
    bool Inspect,
    IReadOnlyList<PortSnapshot> Ports,
    long SipMessages,
    long SipInvalid,
    IReadOnlyList<string> Warnings);
