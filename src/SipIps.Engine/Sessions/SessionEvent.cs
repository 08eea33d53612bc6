using System.Runtime.CompilerServices;
using SipIps.Engine.Common;
using SipIps.Engine.Packets;
using SipIps.Engine.Sip;

namespace SipIps.Engine.Sessions;

/// <summary>Inline text of at most 96 bytes (the NetFlow v9 length of SIP strings), truncated, never allocated.</summary>
[InlineArray(Capacity)]
public struct Text96
{
    public const int Capacity = 96;
    private byte _first;
}

/// <summary>Inline text of at most 32 bytes (tags).</summary>
[InlineArray(Capacity)]
public struct Text32
{
    public const int Capacity = 32;
    private byte _first;
}

public enum SessionEventKind : byte
{
    None = 0,
    /// <summary>A parsed, valid SIP message.</summary>
    Sip = 1,
    /// <summary>An RTP packet sent to a media address that a SIP session announced in SDP.</summary>
    Rtp = 2,
}

/// <summary>
/// What session tracking needs from one packet, copied by the worker into a fixed-size value: numbers, addresses,
/// and the SIP strings truncated to the lengths the flow records carry. It holds no reference into the packet, so it
/// can cross a queue to the exporter thread.
/// </summary>
public struct SessionEvent
{
    public long TimestampNs;
    public SessionEventKind Kind;
    public L4Protocol Transport;
    public bool IsRequest;
    public SipMethod Method;
    public SipMethod CSeqMethod;
    public bool Authenticated;
    public short StatusCode;
    public int WireLength;
    public IpAddr Source;
    public IpAddr Destination;
    public ushort SourcePort;
    public ushort DestinationPort;
    public uint CSeq;
    /// <summary>Expires header (or the first Contact's expires parameter) in seconds; -1 when absent.</summary>
    public int Expires;
    /// <summary>Hash of the full Call-ID (the text below may be truncated).</summary>
    public ulong CallIdHash;

    // SDP: the connection address and the first audio and video ports.
    public IpAddr MediaAddress;
    public ushort AudioPort;
    public ushort VideoPort;

    // RTP (Kind == Rtp).
    public uint Ssrc;
    public ushort RtpSequence;
    public uint RtpTimestamp;
    public byte PayloadType;

    public byte CallIdLength, FromLength, ToLength, FromTagLength, ToTagLength, AgentLength;
    public Text96 CallId;
    public Text96 FromUri;
    public Text96 ToUri;
    public Text32 FromTag;
    public Text32 ToTag;
    /// <summary>User-Agent of a request, Server of a response.</summary>
    public Text96 Agent;

    [System.Diagnostics.CodeAnalysis.UnscopedRef] public readonly ReadOnlySpan<byte> CallIdText => ((ReadOnlySpan<byte>)CallId).Slice(0, CallIdLength);
    [System.Diagnostics.CodeAnalysis.UnscopedRef] public readonly ReadOnlySpan<byte> FromText => ((ReadOnlySpan<byte>)FromUri).Slice(0, FromLength);
    [System.Diagnostics.CodeAnalysis.UnscopedRef] public readonly ReadOnlySpan<byte> ToText => ((ReadOnlySpan<byte>)ToUri).Slice(0, ToLength);
    [System.Diagnostics.CodeAnalysis.UnscopedRef] public readonly ReadOnlySpan<byte> FromTagText => ((ReadOnlySpan<byte>)FromTag).Slice(0, FromTagLength);
    [System.Diagnostics.CodeAnalysis.UnscopedRef] public readonly ReadOnlySpan<byte> ToTagText => ((ReadOnlySpan<byte>)ToTag).Slice(0, ToTagLength);
    [System.Diagnostics.CodeAnalysis.UnscopedRef] public readonly ReadOnlySpan<byte> AgentText => ((ReadOnlySpan<byte>)Agent).Slice(0, AgentLength);

    /// <summary>Fills the event from a valid SIP message.</summary>
    public static void FromSip(ref SessionEvent e, in PacketInfo packet, SipMessage m)
    {
        e.Kind = SessionEventKind.Sip;
        e.TimestampNs = packet.TimestampNs;
        e.Transport = packet.Protocol;
        e.Source = packet.Source;
        e.Destination = packet.Destination;
        e.SourcePort = packet.SourcePort;
        e.DestinationPort = packet.DestinationPort;
        e.WireLength = packet.WireLength;
        e.IsRequest = m.IsRequest;
        e.Method = m.Method;
        e.CSeqMethod = m.CSeqMethod;
        e.StatusCode = (short)m.StatusCode;
        e.CSeq = m.CSeqNumber is >= 0 and <= uint.MaxValue ? (uint)m.CSeqNumber : 0;
        e.Authenticated = m.Authorization.IsPresent || m.ProxyAuthorization.IsPresent;
        long expires = m.Expires >= 0 ? m.Expires : m.ContactCount > 0 ? m.Contacts[0].Expires : -1;
        e.Expires = expires < 0 ? -1 : (int)Math.Min(expires, int.MaxValue);
        var callId = m[m.CallId];
        e.CallIdHash = m.CallIdHash;
        e.CallIdLength = Copy(callId, e.CallId);
        e.FromLength = Copy(m[m.From.Uri.Text], e.FromUri);
        e.ToLength = Copy(m[m.To.Uri.Text], e.ToUri);
        e.FromTagLength = Copy(m[m.From.Tag], e.FromTag);
        e.ToTagLength = Copy(m[m.To.Tag], e.ToTag);
        e.AgentLength = Copy(m.IsRequest ? m[m.UserAgent] : m[m.Server], e.Agent);
        e.MediaAddress = default;
        e.AudioPort = e.VideoPort = 0;
        for (int i = 0; i < m.MediaCount; i++)
        {
            ref readonly var media = ref m.Media[i];
            if (media.Port is <= 0 or > 65535) continue;
            var address = media.ConnectionAddress.IsPresent ? media.ConnectionAddress : m.Sdp.ConnectionAddress;
            if (media.Kind == SdpMediaKind.Audio && e.AudioPort == 0)
            {
                e.AudioPort = (ushort)media.Port;
                e.MediaAddress = address;
            }
            else if (media.Kind == SdpMediaKind.Video && e.VideoPort == 0)
            {
                e.VideoPort = (ushort)media.Port;
                if (!e.MediaAddress.IsPresent) e.MediaAddress = address;
            }
        }
    }

    /// <summary>
    /// Reads an RTP header (RFC 3550 section 5.1) into the event; false when the payload is not RTP version 2 or is
    /// RTCP (packet types 200 to 204 share the port pair in RFC 5761 multiplexing).
    /// </summary>
    public static bool FromRtp(ref SessionEvent e, in PacketInfo packet, ReadOnlySpan<byte> payload)
    {
        if (payload.Length < 12 || (payload[0] >> 6) != 2) return false;
        byte second = payload[1];
        if (second is >= 200 and <= 204) return false;
        e.Kind = SessionEventKind.Rtp;
        e.TimestampNs = packet.TimestampNs;
        e.Transport = packet.Protocol;
        e.Source = packet.Source;
        e.Destination = packet.Destination;
        e.SourcePort = packet.SourcePort;
        e.DestinationPort = packet.DestinationPort;
        e.WireLength = packet.WireLength;
        e.PayloadType = (byte)(second & 0x7F);
        e.RtpSequence = System.Buffers.Binary.BinaryPrimitives.ReadUInt16BigEndian(payload.Slice(2));
        e.RtpTimestamp = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(payload.Slice(4));
        e.Ssrc = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(payload.Slice(8));
        return true;
    }

    private static byte Copy(ReadOnlySpan<byte> value, Span<byte> destination)
    {
        int n = Math.Min(value.Length, destination.Length);
        SmallCopy.To(value.Slice(0, n), destination);
        return (byte)n;
    }
}
