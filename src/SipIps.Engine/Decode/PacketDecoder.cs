using System.Buffers.Binary;
using SipIps.Engine.Packets;

namespace SipIps.Engine.Decode;

public enum ChecksumPolicy : byte
{
    /// <summary>A bad checksum makes the packet malformed.</summary>
    Verify,
    /// <summary>A bad checksum is counted, and the packet inspected anyway.</summary>
    Count,
    /// <summary>Checksums are not computed.</summary>
    Ignore,
}

/// <summary>Decoder settings; immutable and shared by every worker.</summary>
public sealed class DecoderOptions
{
    /// <summary>
    /// What to do with an IPv4 header whose checksum is wrong. <see cref="ChecksumPolicy.Verify"/> (the default) does
    /// not inspect it: the receiving host discards it too, so inspecting it would let an attacker insert messages
    /// the endpoint never sees. Captures from the wild (anonymised, or taken on a host with offload) often carry bad
    /// checksums; offline analysis uses <see cref="ChecksumPolicy.Count"/>.
    /// </summary>
    public ChecksumPolicy Ipv4Checksum { get; init; } = ChecksumPolicy.Verify;

    /// <summary>Decode VXLAN (UDP 4789) as a tunnel.</summary>
    public bool DecodeVxlan { get; init; } = true;

    public static DecoderOptions Default { get; } = new();
}

/// <summary>
/// Frame decoding from the link layer to the transport payload, in the style of Suricata's decode-*.c: every layer
/// checks its length first, and a malformed layer sets a <see cref="DecodeEvent"/> and returns. Nothing throws and
/// nothing allocates.
/// </summary>
public static partial class PacketDecoder
{
    public const int MaxVlanTags = 4;
    public const int MaxTunnelDepth = 4;
    public const int MaxIpv6Extensions = 8;

    private const ushort EtherTypeIpv4 = 0x0800;
    private const ushort EtherTypeIpv6 = 0x86DD;
    private const ushort EtherTypeVlan = 0x8100;
    private const ushort EtherTypeQinQ = 0x88A8;
    private const ushort EtherTypeQinQOld = 0x9100;

    public static DecodeResult Decode(ReadOnlySpan<byte> frame, LinkType link, ref PacketInfo info, DecoderOptions options)
    {
        info.Event = DecodeEvent.None;
        switch (link)
        {
            case LinkType.Ethernet:
                return DecodeEthernet(frame, 0, ref info, options);
            case LinkType.LinuxSll:
                if (frame.Length < 16) return Malformed(ref info, DecodeEvent.LinuxSllTruncated);
                return DecodeEtherType(frame, 16, BinaryPrimitives.ReadUInt16BigEndian(frame.Slice(14)), ref info, options);
            case LinkType.LinuxSll2:
                if (frame.Length < 20) return Malformed(ref info, DecodeEvent.LinuxSllTruncated);
                return DecodeEtherType(frame, 20, BinaryPrimitives.ReadUInt16BigEndian(frame), ref info, options);
            case LinkType.Raw:
                return DecodeRawIp(frame, 0, ref info, options);
            case LinkType.Ipv4:
                return DecodeIpv4(frame, 0, frame.Length, ref info, options);
            case LinkType.Ipv6:
                return DecodeIpv6(frame, 0, frame.Length, ref info, options);
            case LinkType.Null:
            case LinkType.Loop:
                return DecodeLoopback(frame, link, ref info, options);
            default:
                return Malformed(ref info, DecodeEvent.UnsupportedLinkType);
        }
    }

    private static DecodeResult Malformed(ref PacketInfo info, DecodeEvent e)
    {
        info.Event = e;
        return DecodeResult.Malformed;
    }

    private static DecodeResult DecodeEthernet(ReadOnlySpan<byte> b, int off, ref PacketInfo info, DecoderOptions options)
    {
        if (b.Length - off < 14) return Malformed(ref info, DecodeEvent.EthernetTruncated);
        return DecodeEtherType(b, off + 14, BinaryPrimitives.ReadUInt16BigEndian(b.Slice(off + 12)), ref info, options);
    }

    private static DecodeResult DecodeEtherType(ReadOnlySpan<byte> b, int off, ushort type, ref PacketInfo info, DecoderOptions options)
    {
        // 802.1Q and 802.1ad (QinQ) tags, at most MaxVlanTags deep.
        while (type is EtherTypeVlan or EtherTypeQinQ or EtherTypeQinQOld)
        {
            if (info.VlanCount >= MaxVlanTags) return Malformed(ref info, DecodeEvent.TooManyVlanTags);
            if (b.Length - off < 4) return Malformed(ref info, DecodeEvent.VlanTruncated);
            ushort tci = BinaryPrimitives.ReadUInt16BigEndian(b.Slice(off));
            if (info.VlanCount == 0) info.OuterVlan = (ushort)(tci & 0x0FFF);
            info.VlanCount++;
            type = BinaryPrimitives.ReadUInt16BigEndian(b.Slice(off + 2));
            off += 4;
        }
        return type switch
        {
            EtherTypeIpv4 => DecodeIpv4(b, off, b.Length, ref info, options),
            EtherTypeIpv6 => DecodeIpv6(b, off, b.Length, ref info, options),
            _ => DecodeResult.NotIp,
        };
    }

    private static DecodeResult DecodeRawIp(ReadOnlySpan<byte> b, int off, ref PacketInfo info, DecoderOptions options)
    {
        if (b.Length - off < 1) return Malformed(ref info, DecodeEvent.Ipv4Truncated);
        return (b[off] >> 4) switch
        {
            4 => DecodeIpv4(b, off, b.Length, ref info, options),
            6 => DecodeIpv6(b, off, b.Length, ref info, options),
            _ => Malformed(ref info, DecodeEvent.Ipv4BadVersion),
        };
    }

    private static DecodeResult DecodeLoopback(ReadOnlySpan<byte> b, LinkType link, ref PacketInfo info, DecoderOptions options)
    {
        if (b.Length < 4) return Malformed(ref info, DecodeEvent.LoopbackTruncated);
        uint family = link == LinkType.Loop
            ? BinaryPrimitives.ReadUInt32BigEndian(b)
            : BinaryPrimitives.ReadUInt32LittleEndian(b);
        // Written in the capturing host's order: accept a byte-swapped value too.
        if (family > 0xFFFF) family = BinaryPrimitives.ReverseEndianness(family);
        return family switch
        {
            2 => DecodeIpv4(b, 4, b.Length, ref info, options),
            10 or 24 or 28 or 30 => DecodeIpv6(b, 4, b.Length, ref info, options),
            _ => Malformed(ref info, DecodeEvent.LoopbackUnknownFamily),
        };
    }
}
