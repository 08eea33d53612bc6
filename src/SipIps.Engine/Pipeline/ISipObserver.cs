using SipIps.Engine.Packets;
using SipIps.Engine.Sip;

namespace SipIps.Engine.Pipeline;

/// <summary>
/// Receives what the engine sees, synchronously on the worker thread. Implementations must not block and must not
/// keep references to the message: it is reused for the next one.
/// </summary>
public interface ISipObserver
{
    /// <summary>Every SIP message the engine parsed, valid or not (check <see cref="SipMessage.Status"/>).</summary>
    void OnSipMessage(in PacketInfo packet, SipMessage message);

    /// <summary>
    /// A UDP payload that is not SIP and not on a SIP port: where media (RTP) for known calls is looked for. Called for
    /// every such datagram, so it must cost a lookup at most.
    /// </summary>
    void OnOtherUdp(in PacketInfo packet, ReadOnlySpan<byte> payload)
    {
    }
}

/// <summary>Fans one engine's output out to several observers.</summary>
public sealed class CompositeObserver(params ISipObserver[] observers) : ISipObserver
{
    private readonly ISipObserver[] _observers = observers;

    public void OnSipMessage(in PacketInfo packet, SipMessage message)
    {
        foreach (var o in _observers) o.OnSipMessage(packet, message);
    }

    public void OnOtherUdp(in PacketInfo packet, ReadOnlySpan<byte> payload)
    {
        foreach (var o in _observers) o.OnOtherUdp(packet, payload);
    }
}
