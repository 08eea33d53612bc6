using System.Buffers.Binary;
using System.Net;
using System.Text;
using SipIps.Engine.Decode;
using SipIps.Engine.Packets;
using SipIps.Tests;
using Xunit;

namespace SipIps.Engine.Tests.Decode;

public class DecoderTests
{
    private static readonly IPAddress A4 = IPAddress.Parse("192.0.2.1");
    private static readonly IPAddress B4 = IPAddress.Parse("198.51.100.2");
    private static readonly IPAddress A6 = IPAddress.Parse("2001:db8::1");
    private static readonly IPAddress B6 = IPAddress.Parse("2001:db8::2");
    private static readonly byte[] Payload = Encoding.ASCII.GetBytes("OPTIONS sip:x@example.com SIP/2.0\r\n\r\n");

    private static (DecodeResult Result, PacketInfo Info) Decode(byte[] frame, LinkType link = LinkType.Ethernet)
    {
        PacketInfo info = default;
        var r = PacketDecoder.Decode(frame, link, ref info, DecoderOptions.Default);
        return (r, info);
    }

    private static void AssertUdpPayload(byte[] frame, (DecodeResult Result, PacketInfo Info) d)
    {
        Assert.Equal(DecodeResult.Transport, d.Result);
        Assert.Equal(L4Protocol.Udp, d.Info.Protocol);
        Assert.Equal(5060, d.Info.DestinationPort);
        Assert.Equal(Payload, frame.AsSpan(d.Info.PayloadOffset, d.Info.PayloadLength).ToArray());
    }

    [Fact]
    public void Ethernet_ipv4_udp()
    {
        var f = PacketBuilder.Ethernet(PacketBuilder.Udp(A4, B4, 40000, 5060, Payload));
        var d = Decode(f);
        AssertUdpPayload(f, d);
        Assert.Equal("192.0.2.1", d.Info.Source.ToString());
        Assert.Equal("198.51.100.2", d.Info.Destination.ToString());
    }

    [Fact]
    public void Vlan_and_qinq_tags_are_walked()
    {
        var f = PacketBuilder.Ethernet(PacketBuilder.Udp(A4, B4, 40000, 5060, Payload), 100, 200);
        var d = Decode(f);
        AssertUdpPayload(f, d);
        Assert.Equal(2, d.Info.VlanCount);
        Assert.Equal(100, d.Info.OuterVlan);
    }

    [Fact]
    public void Too_many_vlan_tags_is_an_event()
    {
        var f = PacketBuilder.Ethernet(PacketBuilder.Udp(A4, B4, 40000, 5060, Payload), 1, 2, 3, 4, 5);
        Assert.Equal(DecodeEvent.TooManyVlanTags, Decode(f).Info.Event);
    }

    [Fact]
    public void Ipv6_with_extension_headers()
    {
        var udp = PacketBuilder.Udp(A6, B6, 40000, 5060, Payload);
        // Insert hop-by-hop and destination options headers (8 bytes each) before UDP.
        var ip = new byte[udp.Length + 16];
        udp.AsSpan(0, 40).CopyTo(ip);
        ip[6] = 0; // hop-by-hop
        BinaryPrimitives.WriteUInt16BigEndian(ip.AsSpan(4), (ushort)(udp.Length - 40 + 16));
        ip[40] = 60; ip[41] = 0; // next: destination options, length 8
        ip[48] = 17; ip[49] = 0; // next: UDP
        udp.AsSpan(40).CopyTo(ip.AsSpan(56));
        var f = PacketBuilder.Ethernet(ip);
        var d = Decode(f);
        AssertUdpPayload(f, d);
        Assert.Equal("2001:db8::1", d.Info.Source.ToString());
    }

    [Fact]
    public void Linux_cooked_v1_and_v2()
    {
        var ip = PacketBuilder.Udp(A4, B4, 40000, 5060, Payload);
        var sll = new byte[16 + ip.Length];
        BinaryPrimitives.WriteUInt16BigEndian(sll.AsSpan(14), 0x0800);
        ip.CopyTo(sll, 16);
        AssertUdpPayload(sll, Decode(sll, LinkType.LinuxSll));

        var sll2 = new byte[20 + ip.Length];
        BinaryPrimitives.WriteUInt16BigEndian(sll2, 0x0800);
        ip.CopyTo(sll2, 20);
        AssertUdpPayload(sll2, Decode(sll2, LinkType.LinuxSll2));
    }

    [Fact]
    public void Raw_ip_and_bsd_loopback()
    {
        var ip6 = PacketBuilder.Udp(A6, B6, 40000, 5060, Payload);
        AssertUdpPayload(ip6, Decode(ip6, LinkType.Raw));
        var loop = new byte[4 + ip6.Length];
        BinaryPrimitives.WriteUInt32LittleEndian(loop, 30);
        ip6.CopyTo(loop, 4);
        AssertUdpPayload(loop, Decode(loop, LinkType.Null));
    }

    [Fact]
    public void Ip_in_ip_and_gre_expose_the_inner_packet()
    {
        var inner = PacketBuilder.Udp(A4, B4, 40000, 5060, Payload);
        var ipip = PacketBuilder.Ethernet(PacketBuilder.Ip(IPAddress.Parse("203.0.113.1"), IPAddress.Parse("203.0.113.2"), 4, inner));
        var d = Decode(ipip);
        AssertUdpPayload(ipip, d);
        Assert.Equal("192.0.2.1", d.Info.Source.ToString());
        Assert.Equal(1, d.Info.TunnelDepth);

        var gre = new byte[4 + inner.Length];
        BinaryPrimitives.WriteUInt16BigEndian(gre.AsSpan(2), 0x0800);
        inner.CopyTo(gre, 4);
        var greFrame = PacketBuilder.Ethernet(PacketBuilder.Ip(IPAddress.Parse("203.0.113.1"), IPAddress.Parse("203.0.113.2"), 47, gre));
        AssertUdpPayload(greFrame, Decode(greFrame));
    }

    [Fact]
    public void Vxlan_carries_an_inner_ethernet_frame()
    {
        var innerFrame = PacketBuilder.Ethernet(PacketBuilder.Udp(A4, B4, 40000, 5060, Payload));
        var vx = new byte[8 + innerFrame.Length];
        vx[0] = 0x08;
        innerFrame.CopyTo(vx, 8);
        var outer = PacketBuilder.Ethernet(PacketBuilder.Udp(IPAddress.Parse("203.0.113.1"), IPAddress.Parse("203.0.113.2"), 50000, 4789, vx));
        var d = Decode(outer);
        AssertUdpPayload(outer, d);
        Assert.Equal("192.0.2.1", d.Info.Source.ToString());
    }

    [Fact]
    public void Tunnels_nested_too_deep_are_refused()
    {
        var p = PacketBuilder.Udp(A4, B4, 40000, 5060, Payload);
        for (int i = 0; i < PacketDecoder.MaxTunnelDepth + 1; i++) p = PacketBuilder.Ip(A4, B4, 4, p);
        Assert.Equal(DecodeEvent.TunnelTooDeep, Decode(PacketBuilder.Ethernet(p)).Info.Event);
    }

    [Fact]
    public void Tcp_header_fields()
    {
        var f = PacketBuilder.Ethernet(PacketBuilder.Tcp(A4, B4, 40000, 5060, 1000, 2000, 0x18, Payload));
        var d = Decode(f);
        Assert.Equal(DecodeResult.Transport, d.Result);
        Assert.Equal(L4Protocol.Tcp, d.Info.Protocol);
        Assert.Equal(1000u, d.Info.TcpSequence);
        Assert.Equal(TcpFlags.Psh | TcpFlags.Ack, d.Info.TcpFlags);
        Assert.Equal(Payload.Length, d.Info.PayloadLength);
    }

    [Fact]
    public void Ethernet_padding_is_not_payload()
    {
        var small = Encoding.ASCII.GetBytes("\r\n");
        var f = PacketBuilder.Ethernet(PacketBuilder.Udp(A4, B4, 40000, 5060, small));
        var padded = f.Concat(new byte[20]).ToArray();
        var d = Decode(padded);
        Assert.Equal(2, d.Info.PayloadLength);
    }

    [Fact]
    public void Ipv4_fragment_is_reported_with_its_offset()
    {
        var packet = PacketBuilder.Udp(A4, B4, 40000, 5060, new byte[3000]);
        var frags = PacketBuilder.FragmentV4(packet, 1480);
        var d = Decode(PacketBuilder.Ethernet(frags[1]));
        Assert.Equal(DecodeResult.Fragment, d.Result);
        Assert.Equal(1480, d.Info.FragmentOffset);
        Assert.True(d.Info.MoreFragments);
    }

    public static IEnumerable<object[]> Truncations()
    {
        var frame = PacketBuilder.Ethernet(PacketBuilder.Udp(A4, B4, 40000, 5060, Payload));
        // Every prefix shorter than the UDP header must be malformed, never throw.
        for (int n = 0; n < 14 + 20 + 8; n++) yield return new object[] { frame.Take(n).ToArray() };
    }

    [Theory]
    [MemberData(nameof(Truncations))]
    public void Every_truncated_prefix_is_malformed_not_an_exception(byte[] prefix)
    {
        var d = Decode(prefix);
        Assert.Equal(DecodeResult.Malformed, d.Result);
        Assert.NotEqual(DecodeEvent.None, d.Info.Event);
    }

    [Fact]
    public void Bad_ipv4_checksum_follows_the_policy()
    {
        var f = PacketBuilder.Ethernet(PacketBuilder.Udp(A4, B4, 40000, 5060, Payload));
        f[14 + 10] ^= 0xFF;
        PacketInfo info = default;
        Assert.Equal(DecodeResult.Malformed, PacketDecoder.Decode(f, LinkType.Ethernet, ref info, DecoderOptions.Default));
        Assert.Equal(DecodeEvent.Ipv4BadChecksum, info.Event);

        info = default;
        var count = new DecoderOptions { Ipv4Checksum = ChecksumPolicy.Count };
        Assert.Equal(DecodeResult.Transport, PacketDecoder.Decode(f, LinkType.Ethernet, ref info, count));
        Assert.True(info.BadChecksum);
    }

    [Fact]
    public void Malformed_layers_get_their_own_events()
    {
        var ip = PacketBuilder.Udp(A4, B4, 40000, 5060, Payload);
        var badIhl = (byte[])ip.Clone();
        badIhl[0] = 0x44;
        Assert.Equal(DecodeEvent.Ipv4BadHeaderLength, Decode(badIhl, LinkType.Raw).Info.Event);

        var badTotal = (byte[])ip.Clone();
        BinaryPrimitives.WriteUInt16BigEndian(badTotal.AsSpan(2), 10);
        Assert.Equal(DecodeEvent.Ipv4BadTotalLength, Decode(badTotal, LinkType.Raw).Info.Event);

        var badUdp = (byte[])ip.Clone();
        BinaryPrimitives.WriteUInt16BigEndian(badUdp.AsSpan(24), 4);
        var opts = new DecoderOptions { Ipv4Checksum = ChecksumPolicy.Ignore };
        PacketInfo info = default;
        PacketDecoder.Decode(badUdp, LinkType.Raw, ref info, opts);
        Assert.Equal(DecodeEvent.UdpBadLength, info.Event);

        var tcp = PacketBuilder.Tcp(A4, B4, 1, 5060, 1, 1, 0x18, Payload);
        tcp[20 + 12] = 0x30; // data offset 12 bytes
        info = default;
        PacketDecoder.Decode(tcp, LinkType.Raw, ref info, opts);
        Assert.Equal(DecodeEvent.TcpBadHeaderLength, info.Event);

        var v6 = PacketBuilder.Udp(A6, B6, 1, 5060, Payload);
        BinaryPrimitives.WriteUInt16BigEndian(v6.AsSpan(4), 5000);
        Assert.Equal(DecodeEvent.Ipv6Truncated, Decode(v6, LinkType.Raw).Info.Event);

        Assert.Equal(DecodeEvent.UnsupportedLinkType, Decode(ip, (LinkType)999).Info.Event);
    }

    [Fact]
    public void Non_ip_frames_are_not_errors()
    {
        var arp = new byte[42];
        BinaryPrimitives.WriteUInt16BigEndian(arp.AsSpan(12), 0x0806);
        Assert.Equal(DecodeResult.NotIp, Decode(arp).Result);
    }

    [Fact]
    public void Sctp_chunk_reader_yields_data_chunks_and_flags_bad_lengths()
    {
        var pkt = PacketBuilder.Sctp(A4, B4, 5060, 5060, (Payload, true, true, 7), (Payload, true, false, 8));
        PacketInfo info = default;
        Assert.Equal(DecodeResult.Transport, PacketDecoder.Decode(pkt, LinkType.Raw, ref info, DecoderOptions.Default));
        var reader = new SctpChunkReader(pkt.AsSpan(info.PayloadOffset, info.PayloadLength));
        Assert.True(reader.TryNext(out var first));
        Assert.True(first.IsComplete);
        Assert.Equal(7u, first.Tsn);
        Assert.Equal(Payload, first.UserData.ToArray());
        Assert.True(reader.TryNext(out var second));
        Assert.False(second.IsComplete);
        Assert.False(reader.TryNext(out _));

        var bad = pkt.AsSpan(info.PayloadOffset, info.PayloadLength).ToArray();
        BinaryPrimitives.WriteUInt16BigEndian(bad.AsSpan(2), 60000);
        var r2 = new SctpChunkReader(bad);
        Assert.False(r2.TryNext(out _));
        Assert.Equal(DecodeEvent.SctpBadChunkLength, r2.Error);
    }
}
