using System.Runtime.CompilerServices;
using SipIps.Engine.Common;
using SipIps.Engine.Packets;

namespace SipIps.Engine.Detection;

/// <summary>The text of an alert's SIP fields, stored inline so that an alert is one fixed-size value.</summary>
[InlineArray(Size)]
public struct AlertText
{
    public const int Size = 1024;
    private byte _e;
}

public enum AlertTextField : byte { Key, Method, CallId, From, To, UserAgent, RequestUri, Count }

/// <summary>
/// One rule firing, with everything an operator needs to see why: the rule, the key and its score, the counter
/// values against the threshold, what was done, and the SIP fields of the message that tipped it over. A fixed-size
/// value: producing one allocates nothing, and a bounded queue carries it to the alert writer.
/// </summary>
public struct AlertEvent
{
    public long TimestampNs;
    public string RuleId;
    public string Description;
    public Severity Severity;
    public double Score;
    public double Count;
    /// <summary>For a ratio rule, the denominator; otherwise -1.</summary>
    public double PerCount;
    public double Threshold;
    public long WindowNs;
    public bool Distinct;
    public ActionKind Action;
    /// <summary>True when the action was applied (prevent mode, not allowlisted).</summary>
    public bool Enforced;
    public bool Allowlisted;
    public long TtlNs;
    public double Rate;
    public double Burst;

    public IpAddr Source;
    public IpAddr Destination;
    public ushort SourcePort;
    public ushort DestinationPort;
    public L4Protocol Transport;
    public bool IsRequest;
    public int StatusCode;
    /// <summary>For a rule on behaviour factors: a JSON object of each condition's value, threshold and baseline.</summary>
    public string? Factors;

    private AlertText _text;
    private TextSpans _spans;

    [InlineArray((int)AlertTextField.Count)]
    private struct TextSpans
    {
        private (short Start, short Length) _e;
    }

    private static readonly short[] s_limits = [KeyLimit, 32, 160, 192, 192, 128, 192];
    public const int KeyLimit = EnforcementTable.MaxKeyText;

    /// <summary>Clears the text fields; call before filling an event that is reused.</summary>
    public void ClearText() => _spans = default;

    /// <summary>Appends a field's text, cut to its limit.</summary>
    public void SetText(AlertTextField field, ReadOnlySpan<byte> value)
    {
        int start = 0;
        for (int i = 0; i < (int)field; i++) start += s_limits[i];
        int n = Math.Min(value.Length, s_limits[(int)field]);
        value[..n].CopyTo(((Span<byte>)_text).Slice(start, n));
        _spans[(int)field] = ((short)start, (short)n);
    }

    [System.Diagnostics.CodeAnalysis.UnscopedRef]
    public readonly ReadOnlySpan<byte> Text(AlertTextField field)
    {
        var (start, length) = _spans[(int)field];
        return ((ReadOnlySpan<byte>)_text).Slice(start, length);
    }
}

/// <summary>Where the engine hands alerts; an implementation must not block the packet path.</summary>
public interface IAlertSink
{
    /// <summary>Takes a copy of the alert; false when it had to be dropped (the sink is full).</summary>
    bool Publish(in AlertEvent alert);
}

/// <summary>
/// A bounded multi-producer, single-consumer queue of alerts. Producers (workers) never wait for the consumer: when
/// the queue is full the alert is counted as lost. A short lock guards the ring; alerts are rare next to packets.
/// </summary>
public sealed class AlertQueue : IAlertSink
{
    private readonly AlertEvent[] _ring;
    private readonly object _lock = new();
    private readonly SemaphoreSlim _signal = new(0, int.MaxValue);
    private long _head;
    private long _tail;

    public AlertQueue(int capacity = 4096) => _ring = new AlertEvent[Math.Max(1, capacity)];

    public long Published { get; private set; }
    public long Lost { get; private set; }
    public int Capacity => _ring.Length;

    public bool Publish(in AlertEvent alert)
    {
        lock (_lock)
        {
            if (_tail - _head >= _ring.Length)
            {
                Lost++;
                return false;
            }
            _ring[_tail % _ring.Length] = alert;
            _tail++;
            Published++;
        }
        if (_signal.CurrentCount == 0) _signal.Release();
        return true;
    }

    /// <summary>Takes the oldest alert, if any.</summary>
    public bool TryTake(out AlertEvent alert)
    {
        lock (_lock)
        {
            if (_head == _tail)
            {
                alert = default;
                return false;
            }
            alert = _ring[_head % _ring.Length];
            _ring[_head % _ring.Length] = default; // release the string references
            _head++;
            return true;
        }
    }

    /// <summary>Waits until an alert may be available or the timeout passes.</summary>
    public bool Wait(int timeoutMs) => _signal.Wait(timeoutMs);
}
