using System.Buffers.Binary;
using SipIps.Engine.Packets;

namespace SipIps.Engine.Decode;

public static partial class PacketDecoder
{
    private const int VxlanPort = 4789;

    private static DecodeResult DecodeUdp(ReadOnlySpan<byte> b, int off, int end, ref PacketInfo info, DecoderOptions options)
    {
        int avail = end - off;
        if (avail < 8) return Malformed(ref info, DecodeEvent.UdpTruncated);
        int length = BinaryPrimitives.ReadUInt16BigEndian(b.Slice(off + 4));
        // Zero is legal only for IPv6 jumbograms; then the IP length rules.
        if (length == 0) length = avail;
        if (length < 8) return Malformed(ref info, DecodeEvent.UdpBadLength);
        if (length > avail) return Malformed(ref info, DecodeEvent.UdpTruncated);
        info.Protocol = L4Protocol.Udp;
        info.SourcePort = BinaryPrimitives.ReadUInt16BigEndian(b.Slice(off));
        info.DestinationPort = BinaryPrimitives.ReadUInt16BigEndian(b.Slice(off + 2));
        info.PayloadOffset = off + 8;
        info.PayloadLength = length - 8;

        if (options.DecodeVxlan && info.DestinationPort == VxlanPort)
        {
            if (info.PayloadLength < 8 + 14) return Malformed(ref info, DecodeEvent.VxlanTruncated);
            if ((b[info.PayloadOffset] & 0x08) != 0)
            {
                if (++info.TunnelDepth > MaxTunnelDepth) return Malformed(ref info, DecodeEvent.TunnelTooDeep);
                int inner = info.PayloadOffset + 8;
                ResetTransport(ref info);
                return DecodeEthernet(b.Slice(0, off + length), inner, ref info, options);
            }
        }
        return DecodeResult.Transport;
    }

    private static DecodeResult DecodeTcp(ReadOnlySpan<byte> b, int off, int end, ref PacketInfo info)
    {
        int avail = end - off;
        if (avail < 20) return Malformed(ref info, DecodeEvent.TcpTruncated);
        int hlen = (b[off + 12] >> 4) * 4;
        if (hlen < 20 || hlen > avail) return Malformed(ref info, DecodeEvent.TcpBadHeaderLength);
        info.Protocol = L4Protocol.Tcp;
        info.SourcePort = BinaryPrimitives.ReadUInt16BigEndian(b.Slice(off));
        info.DestinationPort = BinaryPrimitives.ReadUInt16BigEndian(b.Slice(off + 2));
        info.TcpSequence = BinaryPrimitives.ReadUInt32BigEndian(b.Slice(off + 4));
        info.TcpAcknowledgment = BinaryPrimitives.ReadUInt32BigEndian(b.Slice(off + 8));
        info.TcpFlags = (TcpFlags)(b[off + 13] & 0x3F);
        info.PayloadOffset = off + hlen;
        info.PayloadLength = avail - hlen;
        return DecodeResult.Transport;
    }

    private static DecodeResult DecodeSctp(ReadOnlySpan<byte> b, int off, int end, ref PacketInfo info)
    {
        // Common header: ports, verification tag, checksum. The chunks are walked by SctpChunks.
        if (end - off < 12) return Malformed(ref info, DecodeEvent.SctpTruncated);
        info.Protocol = L4Protocol.Sctp;
        info.SourcePort = BinaryPrimitives.ReadUInt16BigEndian(b.Slice(off));
        info.DestinationPort = BinaryPrimitives.ReadUInt16BigEndian(b.Slice(off + 2));
        info.PayloadOffset = off + 12;
        info.PayloadLength = end - off - 12;
        return DecodeResult.Transport;
    }

    private static DecodeResult DecodeGre(ReadOnlySpan<byte> b, int off, int end, ref PacketInfo info, DecoderOptions options)
    {
        if (end - off < 4) return Malformed(ref info, DecodeEvent.GreTruncated);
        ushort flags = BinaryPrimitives.ReadUInt16BigEndian(b.Slice(off));
        ushort proto = BinaryPrimitives.ReadUInt16BigEndian(b.Slice(off + 2));
        if ((flags & 0x0007) != 0 || (flags & 0x4000) != 0) return Malformed(ref info, DecodeEvent.GreUnsupportedVersion);
        int hlen = 4;
        if ((flags & 0x8000) != 0) hlen += 4; // checksum + reserved
        if ((flags & 0x2000) != 0) hlen += 4; // key
        if ((flags & 0x1000) != 0) hlen += 4; // sequence
        if (end - off < hlen) return Malformed(ref info, DecodeEvent.GreTruncated);
        if (++info.TunnelDepth > MaxTunnelDepth) return Malformed(ref info, DecodeEvent.TunnelTooDeep);
        int inner = off + hlen;
        var limited = b.Slice(0, end);
        ResetTransport(ref info);
        switch (proto)
        {
            case EtherTypeIpv4: return DecodeIpv4(limited, inner, end, ref info, options);
            case EtherTypeIpv6: return DecodeIpv6(limited, inner, end, ref info, options);
            case 0x6558: return DecodeEthernet(limited, inner, ref info, options); // transparent Ethernet bridging
            case 0x88BE: // ERSPAN type II: 8-byte header, then the mirrored frame
                if (end - inner < 8) return Malformed(ref info, DecodeEvent.GreTruncated);
                return DecodeEthernet(limited, inner + 8, ref info, options);
            case 0x22EB: // ERSPAN type III: 12 bytes, plus 8 when the O flag is set
            {
                if (end - inner < 12) return Malformed(ref info, DecodeEvent.GreTruncated);
                int h = 12 + ((b[inner + 11] & 0x01) != 0 ? 8 : 0);
                if (end - inner < h) return Malformed(ref info, DecodeEvent.GreTruncated);
                return DecodeEthernet(limited, inner + h, ref info, options);
            }
            default:
                info.Protocol = L4Protocol.Other;
                return DecodeResult.OtherTransport;
        }
    }

    private static void ResetTransport(ref PacketInfo info)
    {
        info.Protocol = L4Protocol.None;
        info.SourcePort = info.DestinationPort = 0;
        info.PayloadOffset = info.PayloadLength = 0;
    }
}
