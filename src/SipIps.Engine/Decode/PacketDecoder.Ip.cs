using System.Buffers.Binary;
using SipIps.Engine.Common;
using SipIps.Engine.Packets;

namespace SipIps.Engine.Decode;

public static partial class PacketDecoder
{
    private static DecodeResult DecodeIpv4(ReadOnlySpan<byte> b, int off, int limit, ref PacketInfo info, DecoderOptions options)
    {
        int avail = limit - off;
        if (avail < 20) return Malformed(ref info, DecodeEvent.Ipv4Truncated);
        byte vihl = b[off];
        if (vihl >> 4 != 4) return Malformed(ref info, DecodeEvent.Ipv4BadVersion);
        int ihl = (vihl & 0x0F) * 4;
        if (ihl < 20 || ihl > avail) return Malformed(ref info, DecodeEvent.Ipv4BadHeaderLength);
        int total = BinaryPrimitives.ReadUInt16BigEndian(b.Slice(off + 2));
        // A total length of 0 is what TSO-offloaded sends look like in a capture taken on the sender.
        if (total == 0) total = avail;
        if (total < ihl) return Malformed(ref info, DecodeEvent.Ipv4BadTotalLength);
        if (total > avail) return Malformed(ref info, DecodeEvent.Ipv4Truncated);
        if (options.Ipv4Checksum != ChecksumPolicy.Ignore && !Ipv4ChecksumValid(b.Slice(off, ihl)))
        {
            if (options.Ipv4Checksum == ChecksumPolicy.Verify) return Malformed(ref info, DecodeEvent.Ipv4BadChecksum);
            info.BadChecksum = true;
        }

        info.IpVersion = 4;
        info.Source = IpAddr.FromV4(b.Slice(off + 12, 4));
        info.Destination = IpAddr.FromV4(b.Slice(off + 16, 4));
        byte proto = b[off + 9];
        ushort fragField = BinaryPrimitives.ReadUInt16BigEndian(b.Slice(off + 6));
        bool more = (fragField & 0x2000) != 0;
        int fragOffset = (fragField & 0x1FFF) * 8;
        int payload = off + ihl;
        int end = off + total;
        if (more || fragOffset != 0)
        {
            int len = end - payload;
            if (more && (len & 7) != 0 || len == 0 && more) return Malformed(ref info, DecodeEvent.FragmentBadLength);
            if (fragOffset + len > 65535 - 20) return Malformed(ref info, DecodeEvent.FragmentTooLarge);
            info.IpProtocol = proto;
            info.FragmentId = BinaryPrimitives.ReadUInt16BigEndian(b.Slice(off + 4));
            info.FragmentOffset = fragOffset;
            info.MoreFragments = more;
            info.PayloadOffset = payload;
            info.PayloadLength = len;
            return DecodeResult.Fragment;
        }
        return DecodeIpPayload(b, payload, end, proto, ref info, options);
    }

    private static bool Ipv4ChecksumValid(ReadOnlySpan<byte> header)
    {
        uint sum = 0;
        for (int i = 0; i + 1 < header.Length; i += 2)
            sum += BinaryPrimitives.ReadUInt16BigEndian(header.Slice(i));
        while ((sum >> 16) != 0) sum = (sum & 0xFFFF) + (sum >> 16);
        return sum == 0xFFFF;
    }

    private static DecodeResult DecodeIpv6(ReadOnlySpan<byte> b, int off, int limit, ref PacketInfo info, DecoderOptions options)
    {
        int avail = limit - off;
        if (avail < 40) return Malformed(ref info, DecodeEvent.Ipv6Truncated);
        if (b[off] >> 4 != 6) return Malformed(ref info, DecodeEvent.Ipv6BadVersion);
        int payloadLength = BinaryPrimitives.ReadUInt16BigEndian(b.Slice(off + 4));
        // Zero means a jumbogram (RFC 2675) or a TSO capture: take what was captured.
        int end = payloadLength == 0 ? limit : off + 40 + payloadLength;
        if (end > limit) return Malformed(ref info, DecodeEvent.Ipv6Truncated);
        info.IpVersion = 6;
        info.Source = IpAddr.FromV6(b.Slice(off + 8, 16));
        info.Destination = IpAddr.FromV6(b.Slice(off + 24, 16));
        byte next = b[off + 6];
        int p = off + 40;

        for (int n = 0; ; n++)
        {
            switch (next)
            {
                case 0:   // hop-by-hop
                case 43:  // routing
                case 60:  // destination options
                case 135: // mobility
                case 139: // HIP
                case 140: // shim6
                {
                    if (n >= MaxIpv6Extensions) return Malformed(ref info, DecodeEvent.Ipv6TooManyExtensions);
                    if (end - p < 8) return Malformed(ref info, DecodeEvent.Ipv6ExtensionTruncated);
                    int extLen = (b[p + 1] + 1) * 8;
                    if (end - p < extLen) return Malformed(ref info, DecodeEvent.Ipv6ExtensionTruncated);
                    next = b[p];
                    p += extLen;
                    continue;
                }
                case 51: // AH: length in 4-octet units, minus 2
                {
                    if (n >= MaxIpv6Extensions) return Malformed(ref info, DecodeEvent.Ipv6TooManyExtensions);
                    if (end - p < 8) return Malformed(ref info, DecodeEvent.Ipv6ExtensionTruncated);
                    int extLen = (b[p + 1] + 2) * 4;
                    if (end - p < extLen) return Malformed(ref info, DecodeEvent.Ipv6ExtensionTruncated);
                    next = b[p];
                    p += extLen;
                    continue;
                }
                case 44: // fragment
                {
                    if (end - p < 8) return Malformed(ref info, DecodeEvent.Ipv6ExtensionTruncated);
                    ushort field = BinaryPrimitives.ReadUInt16BigEndian(b.Slice(p + 2));
                    int fragOffset = (field >> 3) * 8;
                    bool more = (field & 1) != 0;
                    uint id = BinaryPrimitives.ReadUInt32BigEndian(b.Slice(p + 4));
                    byte fragNext = b[p];
                    p += 8;
                    if (!more && fragOffset == 0)
                    {
                        // An atomic fragment (RFC 6946): process it as a whole datagram.
                        next = fragNext;
                        continue;
                    }
                    int len = end - p;
                    if (more && ((len & 7) != 0 || len == 0)) return Malformed(ref info, DecodeEvent.FragmentBadLength);
                    if (fragOffset + len > 65535) return Malformed(ref info, DecodeEvent.FragmentTooLarge);
                    info.IpProtocol = fragNext;
                    info.FragmentId = id;
                    info.FragmentOffset = fragOffset;
                    info.MoreFragments = more;
                    info.PayloadOffset = p;
                    info.PayloadLength = len;
                    return DecodeResult.Fragment;
                }
                default:
                    return DecodeIpPayload(b, p, end, next, ref info, options);
            }
        }
    }

    /// <summary>
    /// Decodes what an IP header carries, from <paramref name="off"/> to <paramref name="end"/>. Also used on the
    /// output of fragment reassembly.
    /// </summary>
    public static DecodeResult DecodeIpPayload(ReadOnlySpan<byte> b, int off, int end, byte proto, ref PacketInfo info, DecoderOptions options)
    {
        info.IpProtocol = proto;
        info.TransportOffset = off;
        switch (proto)
        {
            case 17: return DecodeUdp(b, off, end, ref info, options);
            case 6: return DecodeTcp(b, off, end, ref info);
            case 132: return DecodeSctp(b, off, end, ref info);
            case 4:
            case 41:
                // IP-in-IP and IPv6-in-IP: the inner header is what the endpoints see.
                if (++info.TunnelDepth > MaxTunnelDepth) return Malformed(ref info, DecodeEvent.TunnelTooDeep);
                return proto == 4 ? DecodeIpv4(b, off, end, ref info, options) : DecodeIpv6(b, off, end, ref info, options);
            case 47: return DecodeGre(b, off, end, ref info, options);
            case 1:
                info.Protocol = L4Protocol.Icmp;
                return DecodeResult.OtherTransport;
            case 58:
                info.Protocol = L4Protocol.Icmpv6;
                return DecodeResult.OtherTransport;
            default:
                info.Protocol = L4Protocol.Other;
                return DecodeResult.OtherTransport;
        }
    }
}
