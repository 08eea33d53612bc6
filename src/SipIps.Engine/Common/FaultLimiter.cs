using System.Diagnostics;

namespace SipIps.Engine.Common;

/// <summary>
/// Counts the internal errors of one thread (a worker, an exporter) and says when one should be logged: the first at
/// once, then at most one every 10 seconds, so that input that trips a fault on every packet cannot flood the log.
/// Written by its own thread only; <see cref="Count"/> may be read from any.
/// </summary>
public sealed class FaultLimiter
{
    private long _lastLogTicks = long.MinValue;
    private long _count;

    public long Count => Volatile.Read(ref _count);
    public long Logged { get; private set; }

    /// <summary>Counts one fault; true when the caller should log it.</summary>
    public bool Note()
    {
        Volatile.Write(ref _count, _count + 1);
        long now = Stopwatch.GetTimestamp();
        if (_lastLogTicks != long.MinValue && now - _lastLogTicks <= Stopwatch.Frequency * 10) return false;
        _lastLogTicks = now;
        Logged++;
        return true;
    }
}
