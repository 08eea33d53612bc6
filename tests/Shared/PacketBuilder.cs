using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace SipIps.Tests;

/// <summary>
/// Builds well-formed frames (Ethernet, VLAN, IPv4/IPv6, UDP/TCP/SCTP, fragments) with correct lengths and
/// checksums, for tests and the traffic generator.
/// </summary>
public static class PacketBuilder
{
    public static readonly byte[] MacA = [0x02, 0x00, 0x00, 0x00, 0x00, 0x01];
    public static readonly byte[] MacB = [0x02, 0x00, 0x00, 0x00, 0x00, 0x02];

    public static byte[] Udp(IPAddress src, IPAddress dst, ushort sport, ushort dport, ReadOnlySpan<byte> payload, ushort ipId = 1)
    {
        var l4 = new byte[8 + payload.Length];
        BinaryPrimitives.WriteUInt16BigEndian(l4, sport);
        BinaryPrimitives.WriteUInt16BigEndian(l4.AsSpan(2), dport);
        BinaryPrimitives.WriteUInt16BigEndian(l4.AsSpan(4), (ushort)l4.Length);
        payload.CopyTo(l4.AsSpan(8));
        ushort sum = TransportChecksum(src, dst, 17, l4);
        BinaryPrimitives.WriteUInt16BigEndian(l4.AsSpan(6), sum == 0 ? (ushort)0xFFFF : sum);
        return Ip(src, dst, 17, l4, ipId);
    }

    public static byte[] Tcp(IPAddress src, IPAddress dst, ushort sport, ushort dport, uint seq, uint ack, byte flags, ReadOnlySpan<byte> payload)
    {
        var l4 = new byte[20 + payload.Length];
        BinaryPrimitives.WriteUInt16BigEndian(l4, sport);
        BinaryPrimitives.WriteUInt16BigEndian(l4.AsSpan(2), dport);
        BinaryPrimitives.WriteUInt32BigEndian(l4.AsSpan(4), seq);
        BinaryPrimitives.WriteUInt32BigEndian(l4.AsSpan(8), ack);
        l4[12] = 5 << 4;
        l4[13] = flags;
        BinaryPrimitives.WriteUInt16BigEndian(l4.AsSpan(14), 65535);
        payload.CopyTo(l4.AsSpan(20));
        BinaryPrimitives.WriteUInt16BigEndian(l4.AsSpan(16), TransportChecksum(src, dst, 6, l4));
        return Ip(src, dst, 6, l4);
    }

    /// <summary>An SCTP packet with the given DATA chunks (stream 0; B/E flags as given).</summary>
    public static byte[] Sctp(IPAddress src, IPAddress dst, ushort sport, ushort dport, params (byte[] Data, bool Begin, bool End, uint Tsn)[] chunks)
    {
        var body = new List<byte>();
        var common = new byte[12];
        BinaryPrimitives.WriteUInt16BigEndian(common, sport);
        BinaryPrimitives.WriteUInt16BigEndian(common.AsSpan(2), dport);
        BinaryPrimitives.WriteUInt32BigEndian(common.AsSpan(4), 0x01020304);
        body.AddRange(common);
        foreach (var (data, begin, end, tsn) in chunks)
        {
            var h = new byte[16];
            h[0] = 0;
            h[1] = (byte)((begin ? 2 : 0) | (end ? 1 : 0));
            BinaryPrimitives.WriteUInt16BigEndian(h.AsSpan(2), (ushort)(16 + data.Length));
            BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(4), tsn);
            BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(12), 0);
            body.AddRange(h);
            body.AddRange(data);
            while (body.Count % 4 != 0) body.Add(0);
        }
        return Ip(src, dst, 132, body.ToArray());
    }

    /// <summary>An IP packet (v4 or v6 after the addresses) carrying <paramref name="l4"/>.</summary>
    public static byte[] Ip(IPAddress src, IPAddress dst, byte proto, ReadOnlySpan<byte> l4, ushort id = 1, byte ttl = 64)
    {
        if (src.AddressFamily == AddressFamily.InterNetwork)
        {
            var p = new byte[20 + l4.Length];
            p[0] = 0x45;
            BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(2), (ushort)p.Length);
            BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(4), id);
            p[8] = ttl;
            p[9] = proto;
            src.GetAddressBytes().CopyTo(p, 12);
            dst.GetAddressBytes().CopyTo(p, 16);
            BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(10), Checksum(p.AsSpan(0, 20), 0));
            l4.CopyTo(p.AsSpan(20));
            return p;
        }
        var v6 = new byte[40 + l4.Length];
        v6[0] = 0x60;
        BinaryPrimitives.WriteUInt16BigEndian(v6.AsSpan(4), (ushort)l4.Length);
        v6[6] = proto;
        v6[7] = ttl;
        src.GetAddressBytes().CopyTo(v6, 8);
        dst.GetAddressBytes().CopyTo(v6, 24);
        l4.CopyTo(v6.AsSpan(40));
        return v6;
    }

    /// <summary>Wraps an IP packet in Ethernet II, with optional VLAN tags (outer first; 0x88A8 for the outer of two).</summary>
    public static byte[] Ethernet(ReadOnlySpan<byte> ip, params ushort[] vlans)
    {
        ushort etherType = (ip[0] >> 4) == 6 ? (ushort)0x86DD : (ushort)0x0800;
        var f = new byte[14 + 4 * vlans.Length + ip.Length];
        MacB.CopyTo(f, 0);
        MacA.CopyTo(f, 6);
        int off = 12;
        for (int i = 0; i < vlans.Length; i++)
        {
            BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(off), vlans.Length > 1 && i == 0 ? (ushort)0x88A8 : (ushort)0x8100);
            BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(off + 2), vlans[i]);
            off += 4;
        }
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(off), etherType);
        ip.CopyTo(f.AsSpan(off + 2));
        return f;
    }

    /// <summary>Splits an IPv4 packet into fragments whose data is at most <paramref name="maxData"/> bytes (a multiple of 8).</summary>
    public static List<byte[]> FragmentV4(byte[] packet, int maxData)
    {
        int ihl = (packet[0] & 0xF) * 4;
        var data = packet.AsSpan(ihl);
        var list = new List<byte[]>();
        for (int off = 0; off < data.Length; off += maxData)
        {
            int len = Math.Min(maxData, data.Length - off);
            bool more = off + len < data.Length;
            var f = new byte[ihl + len];
            packet.AsSpan(0, ihl).CopyTo(f);
            BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(2), (ushort)f.Length);
            BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(6), (ushort)((more ? 0x2000 : 0) | (off / 8)));
            f[10] = f[11] = 0;
            BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(10), Checksum(f.AsSpan(0, ihl), 0));
            data.Slice(off, len).CopyTo(f.AsSpan(ihl));
            list.Add(f);
        }
        return list;
    }

    /// <summary>Splits an IPv6 packet (no extension headers) with Fragment headers.</summary>
    public static List<byte[]> FragmentV6(byte[] packet, int maxData, uint id)
    {
        byte next = packet[6];
        var data = packet.AsSpan(40);
        var list = new List<byte[]>();
        for (int off = 0; off < data.Length; off += maxData)
        {
            int len = Math.Min(maxData, data.Length - off);
            bool more = off + len < data.Length;
            var f = new byte[48 + len];
            packet.AsSpan(0, 40).CopyTo(f);
            f[6] = 44;
            BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(4), (ushort)(8 + len));
            f[40] = next;
            BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(42), (ushort)(off | (more ? 1 : 0)));
            BinaryPrimitives.WriteUInt32BigEndian(f.AsSpan(44), id);
            data.Slice(off, len).CopyTo(f.AsSpan(48));
            list.Add(f);
        }
        return list;
    }

    public static ushort TransportChecksum(IPAddress src, IPAddress dst, byte proto, ReadOnlySpan<byte> l4)
    {
        var s = src.GetAddressBytes();
        var d = dst.GetAddressBytes();
        var pseudo = new byte[s.Length + d.Length + 8];
        s.CopyTo(pseudo, 0);
        d.CopyTo(pseudo, s.Length);
        BinaryPrimitives.WriteUInt32BigEndian(pseudo.AsSpan(s.Length + d.Length), (uint)l4.Length);
        pseudo[^1] = proto;
        uint sum = Sum(pseudo, 0);
        return Checksum(l4, sum);
    }

    public static ushort Checksum(ReadOnlySpan<byte> data, uint initial)
    {
        uint sum = Sum(data, initial);
        while ((sum >> 16) != 0) sum = (sum & 0xFFFF) + (sum >> 16);
        return (ushort)~sum;
    }

    private static uint Sum(ReadOnlySpan<byte> data, uint sum)
    {
        int i = 0;
        for (; i + 1 < data.Length; i += 2) sum += BinaryPrimitives.ReadUInt16BigEndian(data.Slice(i));
        if (i < data.Length) sum += (uint)data[i] << 8;
        while ((sum >> 16) != 0) sum = (sum & 0xFFFF) + (sum >> 16);
        return sum;
    }
}
