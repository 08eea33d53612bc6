using SipIps.Engine.Packets;
using SipIps.Engine.Pipeline;
using SipIps.Engine.Sessions;
using SipIps.Engine.Sip;
using SipIps.Export.Clf;

namespace SipIps.Export.Live;

/// <summary>
/// One worker's view for the exporters: counts SIP messages by method and status code (for metrics), hands each
/// valid message and each RTP packet of a known call to session tracking as a fixed-size event, and copies the values
/// of each message's CLF record into the worker's log ring (the CLF thread formats them). Runs on the worker thread:
/// no locks, no allocation, no I/O; a full queue drops the event and counts it.
/// </summary>
public sealed class LiveObserver : ISipObserver
{
    /// <summary>Largest CLF event (<see cref="ClfEvent"/>) the ring takes; a longer one is dropped and counted.</summary>
    public const int MaxClfEvent = 8192;

    private readonly SpscRing<SessionEvent>? _sessions;
    private readonly ISessionEventSink? _direct;
    private readonly MediaTable? _media;
    private readonly SpscByteRing? _clf;
    private SessionEvent _scratch;

    /// <param name="sessions">The ring to the session thread (live), or null.</param>
    /// <param name="direct">Session tracking fed synchronously (analyze), or null.</param>
    /// <param name="media">Known media addresses, written by session tracking.</param>
    /// <param name="clf">The ring to the CLF writer, or null when CLF is off.</param>
    public LiveObserver(SpscRing<SessionEvent>? sessions, ISessionEventSink? direct, MediaTable? media, SpscByteRing? clf)
    {
        _sessions = sessions;
        _direct = direct;
        _media = media ?? (direct as SessionTracker)?.Media;
        _clf = clf;
    }

    /// <summary>Requests by <see cref="SipMethod"/>.</summary>
    public readonly long[] Requests = new long[SipMethods.Count];
    /// <summary>Responses by status code (100..699; other codes count at 0).</summary>
    public readonly long[] Responses = new long[700];
    /// <summary>Messages whose CLF values did not fit in <see cref="MaxClfEvent"/> bytes (not logged).</summary>
    public long ClfTooLarge;
    public long RtpPackets;

    public SpscRing<SessionEvent>? SessionRing => _sessions;
    public SpscByteRing? ClfRing => _clf;

    public void OnSipMessage(in PacketInfo packet, SipMessage message)
    {
        bool startLine = message.IsRequest || message.StatusCode > 0;
        if (message.IsRequest) Requests[(int)message.Method]++;
        else if (message.StatusCode > 0) Responses[message.StatusCode is >= 100 and < 700 ? message.StatusCode : 0]++;
        if (!startLine) return;
        if (_clf is not null)
        {
            var room = _clf.Reserve(MaxClfEvent);
            if (!room.IsEmpty)
            {
                int n = ClfEvent.Write(packet, message, room);
                if (n < 0) ClfTooLarge++;
                _clf.Commit(n);
            }
        }
        // Sessions are followed on valid messages only: an invalid one may lack the Call-ID or CSeq they key on.
        if (!message.IsValid) return;
        if (_sessions is not null)
        {
            if (_sessions.TryClaim(out int slot))
            {
                SessionEvent.FromSip(ref _sessions[slot], packet, message);
                _sessions.Publish();
            }
        }
        else if (_direct is not null)
        {
            SessionEvent.FromSip(ref _scratch, packet, message);
            _direct.OnEvent(_scratch);
        }
    }

    public void OnOtherUdp(in PacketInfo packet, ReadOnlySpan<byte> payload)
    {
        if (_media is null || !_media.Contains(MediaTable.Key(packet.Destination, packet.DestinationPort))) return;
        if (_sessions is not null)
        {
            if (!_sessions.TryClaim(out int slot)) return;
            if (!SessionEvent.FromRtp(ref _sessions[slot], packet, payload)) return;
            RtpPackets++;
            _sessions.Publish();
        }
        else if (_direct is not null && SessionEvent.FromRtp(ref _scratch, packet, payload))
        {
            RtpPackets++;
            _direct.OnEvent(_scratch);
        }
    }
}
