using System.Net;
using System.Text;
using SipIps.Capture;
using SipIps.Engine.Packets;
using Xunit;

namespace SipIps.Tests;

/// <summary>
/// Frames an attacker rewrote, for the tests that run hostile traffic through the engine and the exporters: frames
/// from real captures of every transport and tunnel the decoder follows, and a generated call with a fragmented
/// INVITE (IPv4 and IPv6), TCP segments, SCTP chunks, VLAN tags and RTP, rewritten as a seed decides.
/// </summary>
public static class HostileFrames
{
    private static readonly string[] s_captures =
    [
        "zeek-sip/traces/wireshark.pcap",
        "suricata-verify-sip/sip-tcp-method/sip-tcp.pcap",
        "suricata-verify-sip/sip-body-frames/public-cloudshark-sip-s0.pcap",
        "suricata-verify-sip/sip-sdp/sdp.pcap",
        "transport-edge-cases/sngrep/ipip.pcap",
        "transport-edge-cases/heplify/sip_sctp.pcap",
        "transport-edge-cases/heplify/sip_ipv6_udp.pcap",
        "transport-edge-cases/heplify/sip_ipv4_tcp.pcap",
        "ndpi/pcap/rtp.pcapng",
        "sip-attacks-initconf/traces/SIP-3700-unauthorized-401.pcap",
    ];

    public sealed record Source(string Name, LinkType Link, List<(long Ns, byte[] Data)> Frames);

    /// <summary>The generated call, then the captures.</summary>
    public static IReadOnlyList<Source> Sources => s_sources.Value;

    /// <summary>The captures' frames (up to 300 of each, of its first link type), read once.</summary>
    public static IReadOnlyList<Source> Captures => s_captureSources.Value;

    private static readonly Lazy<List<Source>> s_captureSources = new(LoadCaptures);
    private static readonly Lazy<List<Source>> s_sources = new(() => [Generated(), .. Captures]);

    private static List<Source> LoadCaptures()
    {
        var sources = new List<Source>();
        foreach (var relative in s_captures)
        {
            using var reader = CaptureFileReader.Open(Corpus.Path(relative.Split('/')));
            var frames = new List<(long, byte[])>();
            LinkType? link = null;
            while (frames.Count < 300 && reader.TryReadNext(out var f))
            {
                link ??= f.Link;
                if (f.Link == link) frames.Add((f.TimestampNs, f.Data.ToArray()));
            }
            Assert.True(frames.Count > 0, $"{relative} has no frames");
            sources.Add(new Source(relative, link!.Value, frames));
        }
        return sources;
    }

    /// <summary>
    /// A call through every path of the decoder: fragments, TCP, SCTP, VLAN tags, IPv6 and RTP, from
    /// <paramref name="callerIp"/> (the lab's tests use an attacker's address, so that no rule accuses a real host).
    /// </summary>
    public static Source Generated(string callerIp = "192.0.2.10")
    {
        var c = SipSamples.BenchmarkCall with { CallerIp = callerIp };
        var caller = IPAddress.Parse(c.CallerIp);
        var callee = IPAddress.Parse(c.CalleeIp);
        var caller6 = IPAddress.Parse("2001:db8::10");
        var callee6 = IPAddress.Parse("2001:db8::20");
        byte[] invite = Encoding.ASCII.GetBytes(SipSamples.Invite(c));
        byte[] ok = Encoding.ASCII.GetBytes(SipSamples.Response(c, 200, "OK", body: SipSamples.AnswerSdp(c)));
        byte[] ack = Encoding.ASCII.GetBytes(SipSamples.InDialog(c, "ACK", 1, "z9hG4bKack1"));
        byte[] bye = Encoding.ASCII.GetBytes(SipSamples.InDialog(c, "BYE", 2, "z9hG4bKbye1"));
        var frames = new List<byte[]>();
        foreach (var f in PacketBuilder.FragmentV4(PacketBuilder.Udp(caller, callee, 5060, 5060, invite, ipId: 7), 256))
            frames.Add(PacketBuilder.Ethernet(f));
        foreach (var f in PacketBuilder.FragmentV6(PacketBuilder.Udp(caller6, callee6, 5060, 5060, invite), 256, 9))
            frames.Add(PacketBuilder.Ethernet(f, 100));
        frames.Add(PacketBuilder.Ethernet(PacketBuilder.Udp(callee, caller, 5060, 5060, Encoding.ASCII.GetBytes(SipSamples.Response(c, 180, "Ringing"))), 10, 20));
        frames.Add(PacketBuilder.Ethernet(PacketBuilder.Udp(callee, caller, 5060, 5060, ok)));
        frames.Add(PacketBuilder.Ethernet(PacketBuilder.Udp(caller, callee, 5060, 5060, ack)));
        for (int i = 0; i < 4; i++)
        {
            var rtp = new byte[172];
            rtp[0] = 0x80;
            rtp[2] = (byte)i;
            rtp[11] = 0x42;
            frames.Add(PacketBuilder.Ethernet(PacketBuilder.Udp(caller, callee, 40000, (ushort)c.MediaPort, rtp)));
        }
        // The BYE over TCP, in three segments after the handshake.
        uint seq = 1000;
        frames.Add(PacketBuilder.Ethernet(PacketBuilder.Tcp(caller, callee, 40001, 5060, seq - 1, 0, 0x02, [])));
        for (int at = 0; at < bye.Length; at += 120)
        {
            var part = bye.AsSpan(at, Math.Min(120, bye.Length - at));
            frames.Add(PacketBuilder.Ethernet(PacketBuilder.Tcp(caller, callee, 40001, 5060, seq + (uint)at, 1, 0x18, part)));
        }
        frames.Add(PacketBuilder.Ethernet(PacketBuilder.Sctp(caller, callee, 5060, 5060,
            (bye.AsSpan(0, 100).ToArray(), true, false, 1u), (bye.AsSpan(100).ToArray(), false, true, 2u))));
        long t = 1_700_000_000_000_000_000;
        return new Source("generated call", LinkType.Ethernet, frames.Select((f, i) => (t + i * 1_000_000L, f)).ToList());
    }

    // Bytes on the boundaries parsers decide on: lengths, separators, line ends, high bits.
    public static readonly byte[] Interesting = [0x00, 0x01, 0x05, 0x08, 0x0A, 0x0D, 0x20, 0x22, 0x2C, 0x2F, 0x3A, 0x3B, 0x3C, 0x3E, 0x40, 0x45, 0x7F, 0x80, 0xFE, 0xFF];

    /// <summary>Rewrites the frames of <paramref name="source"/> as the generator seeded with <paramref name="seed"/> decides.</summary>
    public static List<(long Ns, byte[] Data)> Mutate(Source source, int seed)
    {
        var rnd = new Random(seed);
        var frames = source.Frames.Select(f => (f.Ns, (byte[])f.Data.Clone())).ToList();
        int edits = 1 + rnd.Next(Math.Max(1, frames.Count));
        for (int e = 0; e < edits; e++)
        {
            int i = rnd.Next(frames.Count);
            var (ns, data) = frames[i];
            switch (rnd.Next(8))
            {
                case 0 when data.Length > 0:
                    data[rnd.Next(data.Length)] ^= (byte)(1 << rnd.Next(8));
                    break;
                case 1 when data.Length > 0:
                    data[rnd.Next(data.Length)] = Interesting[rnd.Next(Interesting.Length)];
                    break;
                case 2 when data.Length > 1:
                    // Both bytes of a 16-bit field (a length, a port, an offset) at once.
                    int at = rnd.Next(data.Length - 1);
                    data[at] = Interesting[rnd.Next(Interesting.Length)];
                    data[at + 1] = Interesting[rnd.Next(Interesting.Length)];
                    break;
                case 3:
                    data = data.AsSpan(0, rnd.Next(data.Length + 1)).ToArray();
                    break;
                case 4:
                    var longer = new byte[data.Length + 1 + rnd.Next(64)];
                    data.CopyTo(longer, 0);
                    rnd.NextBytes(longer.AsSpan(data.Length));
                    data = longer;
                    break;
                case 5:
                    // A run of bytes from another frame, at the same or another place.
                    var other = frames[rnd.Next(frames.Count)].Item2;
                    if (other.Length == 0 || data.Length == 0) break;
                    int from = rnd.Next(other.Length), to = rnd.Next(data.Length);
                    int n = Math.Min(rnd.Next(1, 48), Math.Min(other.Length - from, data.Length - to));
                    other.AsSpan(from, n).CopyTo(data.AsSpan(to));
                    break;
                case 6:
                    frames.Insert(rnd.Next(frames.Count + 1), (ns, (byte[])data.Clone()));
                    break;
                default:
                    int j = rnd.Next(frames.Count);
                    (frames[i], frames[j]) = (frames[j], frames[i]);
                    continue;
            }
            frames[i] = (ns, data);
        }
        return frames;
    }
}
