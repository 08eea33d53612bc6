using SipIps.Engine.Common;

namespace SipIps.Engine.Packets;

public enum L4Protocol : byte
{
    None = 0,
    Icmp = 1,
    Tcp = 6,
    Udp = 17,
    Icmpv6 = 58,
    Sctp = 132,
    Other = 255,
}

/// <summary>TCP flag bits as on the wire.</summary>
[Flags]
public enum TcpFlags : byte
{
    None = 0,
    Fin = 0x01,
    Syn = 0x02,
    Rst = 0x04,
    Psh = 0x08,
    Ack = 0x10,
    Urg = 0x20,
}

/// <summary>What the decoder learnt about one frame, from the link layer to the transport payload.</summary>
public struct PacketInfo
{
    public long TimestampNs;
    public int CapturedLength;
    public int WireLength;

    public byte VlanCount;
    public ushort OuterVlan;
    public byte TunnelDepth;

    public byte IpVersion;
    public IpAddr Source;
    public IpAddr Destination;
    public L4Protocol Protocol;
    /// <summary>The raw IP protocol / next-header number of the transport.</summary>
    public byte IpProtocol;

    public ushort SourcePort;
    public ushort DestinationPort;
    public uint TcpSequence;
    public uint TcpAcknowledgment;
    public TcpFlags TcpFlags;

    /// <summary>Offset of the transport header in the buffer the decoder was given.</summary>
    public int TransportOffset;
    /// <summary>Offset and length of the transport payload in the buffer the decoder was given.</summary>
    public int PayloadOffset;
    public int PayloadLength;

    /// <summary>An IPv4 header checksum was wrong (set only under <c>ChecksumPolicy.Count</c>).</summary>
    public bool BadChecksum;

    /// <summary>True when the transport bytes come from IP fragment reassembly.</summary>
    public bool Reassembled;

    // Fragment details, set when the decoder returns DecodeResult.Fragment.
    public uint FragmentId;
    public int FragmentOffset;
    public bool MoreFragments;

    public DecodeEvent Event;
}

/// <summary>What the decoder did with a frame.</summary>
public enum DecodeResult : byte
{
    /// <summary>A transport header was found; <see cref="PacketInfo.PayloadOffset"/> is set.</summary>
    Transport,
    /// <summary>Not IP (ARP, LLDP, ...): nothing to inspect.</summary>
    NotIp,
    /// <summary>IP with a transport the engine does not inspect (ICMP, ESP, ...).</summary>
    OtherTransport,
    /// <summary>An IP fragment; its data is at <see cref="PacketInfo.PayloadOffset"/>.</summary>
    Fragment,
    /// <summary>A layer was malformed; <see cref="PacketInfo.Event"/> says which.</summary>
    Malformed,
}
