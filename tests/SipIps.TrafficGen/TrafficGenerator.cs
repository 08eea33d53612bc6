using System.Net;
using System.Text;
using SipIps.Capture;
using SipIps.Engine.Packets;
using SipIps.Tests;

namespace SipIps.TrafficGen;

/// <summary>What to generate.</summary>
public sealed record GeneratorOptions
{
    /// <summary>Stop once this many SIP packets are written (the mix repeats until then).</summary>
    public long SipPackets { get; init; } = 10_000;
    public int Seed { get; init; } = 1;
    /// <summary>RTP packets written per answered call (0 for SIP only).</summary>
    public int RtpPerCall { get; init; }
    /// <summary>Add attack traffic: an extension scan with a scanner User-Agent and a REGISTER brute force.</summary>
    public bool Attacks { get; init; }
    public long StartNs { get; init; } = 1_767_225_600_000_000_000; // 2026-01-01T00:00:00Z
}

/// <summary>
/// A reproducible mix of SIP traffic: answered, busy, unanswered, cancelled and challenged calls, registrations
/// with digest challenges, OPTIONS keep-alives; UDP mostly, with TCP (two messages in one segment at times),
/// IPv6, fragmented INVITEs and VLAN tags. Every call gets its own Call-ID, tags, branches and media port.
/// </summary>
public sealed class TrafficGenerator
{
    private readonly GeneratorOptions _o;
    private readonly Random _rnd;
    private readonly PcapWriter _out;
    private long _now;
    private long _sip;
    private ushort _ipId = 1;
    private int _callNumber;

    private static readonly IPAddress Pbx4 = IPAddress.Parse("198.51.100.10");
    private static readonly IPAddress Pbx6 = IPAddress.Parse("2001:db8:5::10");
    private static readonly string[] Agents = ["Acme-Phone/4.2.1", "Yealink SIP-T46S 66.86.0.15", "Grandstream GXP2170 1.0.11.23", "Linphone/5.2.0 (belle-sip/5.2.0)", "Zoiper rv2.10.19.4"];

    public TrafficGenerator(GeneratorOptions options, Stream output)
    {
        _o = options;
        _rnd = new Random(options.Seed);
        _out = new PcapWriter(output, LinkType.Ethernet);
        _now = options.StartNs;
    }

    public long SipPacketsWritten => _sip;
    public long PacketsWritten => _out.Records;

    public void Run()
    {
        if (_o.Attacks) Attacks();
        while (_sip < _o.SipPackets)
        {
            int pick = _rnd.Next(100);
            if (pick < 55) Call();
            else if (pick < 85) Registration();
            else Options();
        }
        FlushTcp();
        _out.Dispose();
    }

    private SipSamples.Call NewCall(bool v6)
    {
        int n = ++_callNumber;
        int user = 1000 + _rnd.Next(400);
        int callee = 1000 + _rnd.Next(400);
        string ip = v6 ? $"2001:db8:1::{_rnd.Next(1, 0xffff):x}" : $"192.0.2.{_rnd.Next(2, 250)}";
        return new SipSamples.Call(
            CallId: $"{Hex(12)}-{n}@{(v6 ? "[" + ip + "]" : ip)}",
            FromUser: user.ToString(),
            ToUser: callee.ToString(),
            FromTag: Hex(10),
            ToTag: Hex(8),
            Branch: "z9hG4bK" + Hex(16),
            CallerIp: v6 ? "[" + ip + "]" : ip,
            CalleeIp: v6 ? "[2001:db8:5::10]" : "198.51.100.10",
            CallerPort: 5060 + _rnd.Next(0, 3) * 2,
            MediaPort: 10000 + 2 * _rnd.Next(0, 10000),
            Domain: "pbx.example.com",
            UserAgent: Agents[_rnd.Next(Agents.Length)]);
    }

    private string Hex(int digits)
    {
        Span<char> s = stackalloc char[digits];
        for (int i = 0; i < digits; i++) s[i] = "0123456789abcdef"[_rnd.Next(16)];
        return new string(s);
    }

    private void Advance(double meanMs) => _now += (long)(-Math.Log(1 - _rnd.NextDouble()) * meanMs * 1_000_000);

    private void Call()
    {
        bool v6 = _rnd.Next(10) == 0;
        bool tcp = !v6 && _rnd.Next(8) == 0;
        var c = NewCall(v6);
        var caller = IPAddress.Parse(c.CallerIp.Trim('[', ']'));
        var pbx = v6 ? Pbx6 : Pbx4;
        // A host sits on one VLAN: a quarter of the callers are tagged.
        ushort vlan = (ushort)(caller.GetAddressBytes()[^1] % 4 == 0 ? 100 : 0);
        void Up(string msg) => Send(caller, pbx, (ushort)c.CallerPort, 5060, msg, tcp, vlan);
        void Down(string msg) => Send(pbx, caller, 5060, (ushort)c.CallerPort, msg, tcp, vlan);

        int outcome = _rnd.Next(100);
        if (outcome < 10)
        {
            // Challenged first: 407, ACK, then the authenticated INVITE.
            Up(SipSamples.Invite(c));
            Advance(20); Down(SipSamples.Response(c, 407, "Proxy Authentication Required", withTag: true));
            Advance(5); Up(SipSamples.InDialog(c, "ACK", 1, c.Branch));
            c = c with { CSeq = 2, Branch = "z9hG4bK" + Hex(16) };
            outcome = 50;
        }
        // Some INVITEs carry ICE candidates and video, and fragment at a 1500-byte MTU as real ones do.
        Up(SipSamples.Invite(c, !tcp && _rnd.Next(30) == 0 ? BigSdp(c) : ""));
        Advance(15); Down(SipSamples.Response(c, 100, "Trying", withTag: false));
        if (outcome < 60)
        {
            Advance(300); Down(SipSamples.Response(c, 180, "Ringing"));
            Advance(3000); Down(SipSamples.Response(c, 200, "OK", body: SipSamples.AnswerSdp(c)));
            Advance(10); Up(SipSamples.InDialog(c, "ACK", c.CSeq, "z9hG4bK" + Hex(16)));
            for (int i = 0; i < _o.RtpPerCall; i++)
            {
                _now += 20_000_000;
                Rtp(caller, pbx, (ushort)c.MediaPort, (ushort)(c.MediaPort + 10000), i);
            }
            Advance(60_000); Up(SipSamples.InDialog(c, "BYE", c.CSeq + 1, "z9hG4bK" + Hex(16)));
            Advance(20); Down(SipSamples.Response(c, 200, "OK", "BYE", cseq: c.CSeq + 1));
        }
        else if (outcome < 75)
        {
            Advance(200); Down(SipSamples.Response(c, 486, "Busy Here"));
            Advance(5); Up(SipSamples.InDialog(c, "ACK", c.CSeq, c.Branch));
        }
        else if (outcome < 85)
        {
            Advance(300); Down(SipSamples.Response(c, 180, "Ringing"));
            Advance(8000); Up(SipSamples.InDialog(c, "CANCEL", c.CSeq, c.Branch).Replace("To: <sip:" + c.ToUser + "@" + c.Domain + ">;tag=" + c.ToTag, "To: <sip:" + c.ToUser + "@" + c.Domain + ">"));
            Advance(10); Down(SipSamples.Response(c, 200, "OK", "CANCEL"));
            Advance(10); Down(SipSamples.Response(c, 487, "Request Terminated"));
            Advance(5); Up(SipSamples.InDialog(c, "ACK", c.CSeq, c.Branch));
        }
        else
        {
            Advance(100); Down(SipSamples.Response(c, 404, "Not Found"));
            Advance(5); Up(SipSamples.InDialog(c, "ACK", c.CSeq, c.Branch));
        }
        Advance(50);
    }

    private string BigSdp(SipSamples.Call c)
    {
        var sb = new StringBuilder();
        sb.Append("a=ice-ufrag:").Append(Hex(8)).Append("\r\na=ice-pwd:").Append(Hex(24)).Append("\r\n");
        for (int i = 0; i < 12; i++)
            sb.Append($"a=candidate:{i} 1 UDP {2130706431 - i} 192.0.2.{_rnd.Next(2, 250)} {c.MediaPort + i} typ host\r\n");
        sb.Append($"m=video {c.MediaPort + 2} RTP/AVP 96 97 98\r\n");
        sb.Append("a=rtpmap:96 H264/90000\r\na=fmtp:96 profile-level-id=42e01f;packetization-mode=1\r\n");
        sb.Append("a=rtpmap:97 VP8/90000\r\na=rtpmap:98 H265/90000\r\n");
        sb.Append("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:").Append(Hex(40)).Append("\r\n");
        return sb.ToString();
    }

    private void Registration()
    {
        bool v6 = _rnd.Next(10) == 0;
        var c = NewCall(v6);
        var ua = IPAddress.Parse(c.CallerIp.Trim('[', ']'));
        var pbx = v6 ? Pbx6 : Pbx4;
        string nonce = Hex(32);
        Send(ua, pbx, (ushort)c.CallerPort, 5060, SipSamples.Register(c, 1, false), false, 0);
        Advance(10); Send(pbx, ua, 5060, (ushort)c.CallerPort, SipSamples.Challenge(c, 1, nonce), false, 0);
        Advance(30); Send(ua, pbx, (ushort)c.CallerPort, 5060, SipSamples.Register(c, 2, true, nonce), false, 0);
        Advance(10); Send(pbx, ua, 5060, (ushort)c.CallerPort, SipSamples.Response(c with { Branch = c.Branch + "-2" }, 200, "OK", "REGISTER", cseq: 2), false, 0);
        Advance(40);
    }

    private void Options()
    {
        var c = NewCall(false);
        var ua = IPAddress.Parse(c.CallerIp);
        string options = SipSamples.InDialog(c, "OPTIONS", 1, c.Branch).Replace(";tag=" + c.ToTag, "");
        Send(Pbx4, ua, 5060, (ushort)c.CallerPort, options, false, 0);
        Advance(5); Send(ua, Pbx4, (ushort)c.CallerPort, 5060, SipSamples.Response(c, 200, "OK", "OPTIONS"), false, 0);
        Advance(20);
    }

    private void Attacks()
    {
        // An extension scan from one source with a well-known scanner User-Agent.
        var scanner = IPAddress.Parse("203.0.113.66");
        for (int ext = 100; ext < 400; ext++)
        {
            var c = NewCall(false) with { ToUser = ext.ToString(), FromUser = ext.ToString(), CallerIp = "203.0.113.66", CallerPort = 5070, UserAgent = "friendly-scanner" };
            Send(scanner, Pbx4, 5070, 5060, SipSamples.InDialog(c, "OPTIONS", 1, c.Branch).Replace(";tag=" + c.ToTag, ""), false, 0);
            _now += 2_000_000;
            Send(Pbx4, scanner, 5060, 5070, SipSamples.Response(c, 404, "Not Found", "OPTIONS"), false, 0);
            _now += 1_000_000;
        }
        // A REGISTER brute force against one extension.
        var brute = IPAddress.Parse("203.0.113.99");
        for (int i = 0; i < 200; i++)
        {
            var c = NewCall(false) with { FromUser = "1001", CallerIp = "203.0.113.99", CallerPort = 5060, UserAgent = "sipcli/v1.8" };
            Send(brute, Pbx4, 5060, 5060, SipSamples.Register(c, i + 1, true, Hex(32)), false, 0);
            _now += 5_000_000;
            Send(Pbx4, brute, 5060, 5060, SipSamples.Challenge(c, i + 1, Hex(32)).Replace("401 Unauthorized", "403 Forbidden"), false, 0);
            _now += 5_000_000;
        }
    }

    private readonly Dictionary<(IPAddress, ushort, IPAddress, ushort), uint> _tcpSeqs = new();
    private (IPAddress Src, IPAddress Dst, ushort SPort, ushort DPort, ushort Vlan, byte[] Payload)? _pendingTcp;

    private void Send(IPAddress src, IPAddress dst, ushort sport, ushort dport, string message, bool tcp, ushort vlan)
    {
        var payload = Encoding.ASCII.GetBytes(message);
        _sip++;
        if (tcp)
        {
            // Now and then two messages in a row from the same side share a segment, as on a busy connection.
            if (_pendingTcp is { } p)
            {
                _pendingTcp = null;
                if (p.Src.Equals(src) && p.SPort == sport && p.Dst.Equals(dst) && p.DPort == dport)
                {
                    Segment(src, dst, sport, dport, vlan, p.Payload.Concat(payload).ToArray());
                    return;
                }
                Segment(p.Src, p.Dst, p.SPort, p.DPort, p.Vlan, p.Payload);
            }
            if (_rnd.Next(4) == 0)
            {
                _pendingTcp = (src, dst, sport, dport, vlan, payload);
                return;
            }
            Segment(src, dst, sport, dport, vlan, payload);
            return;
        }
        FlushTcp();
        var packet = PacketBuilder.Udp(src, dst, sport, dport, payload, _ipId++);
        if (packet.Length > 1500 && src.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork)
        {
            foreach (var f in PacketBuilder.FragmentV4(packet, 1480)) Write(PacketBuilder.Ethernet(f, Vlans(vlan)));
            return;
        }
        Write(PacketBuilder.Ethernet(packet, Vlans(vlan)));
    }

    private void FlushTcp()
    {
        if (_pendingTcp is { } p)
        {
            _pendingTcp = null;
            Segment(p.Src, p.Dst, p.SPort, p.DPort, p.Vlan, p.Payload);
        }
    }

    /// <summary>One data segment; a connection not seen before opens with a handshake, and each side keeps its sequence.</summary>
    private void Segment(IPAddress src, IPAddress dst, ushort sport, ushort dport, ushort vlan, byte[] payload)
    {
        var key = (src, sport, dst, dport);
        if (!_tcpSeqs.TryGetValue(key, out uint seq))
        {
            uint isn = (uint)_rnd.Next();
            uint peerIsn = (uint)_rnd.Next();
            Write(PacketBuilder.Ethernet(PacketBuilder.Tcp(src, dst, sport, dport, isn, 0, 0x02, default), Vlans(vlan)));
            Write(PacketBuilder.Ethernet(PacketBuilder.Tcp(dst, src, dport, sport, peerIsn, isn + 1, 0x12, default), Vlans(vlan)));
            Write(PacketBuilder.Ethernet(PacketBuilder.Tcp(src, dst, sport, dport, isn + 1, peerIsn + 1, 0x10, default), Vlans(vlan)));
            seq = isn + 1;
            _tcpSeqs[(dst, dport, src, sport)] = peerIsn + 1;
        }
        Write(PacketBuilder.Ethernet(PacketBuilder.Tcp(src, dst, sport, dport, seq, 1, 0x18, payload), Vlans(vlan)));
        _tcpSeqs[key] = seq + (uint)payload.Length;
    }

    private static ushort[] Vlans(ushort vlan) => vlan == 0 ? [] : [vlan];

    private void Rtp(IPAddress src, IPAddress dst, ushort sport, ushort dport, int seq)
    {
        var rtp = new byte[12 + 160];
        rtp[0] = 0x80;
        rtp[1] = 0;
        rtp[2] = (byte)(seq >> 8);
        rtp[3] = (byte)seq;
        BitConverter.TryWriteBytes(rtp.AsSpan(4), seq * 160);
        BitConverter.TryWriteBytes(rtp.AsSpan(8), 0x12345678 ^ sport);
        Write(PacketBuilder.Ethernet(PacketBuilder.Udp(src, dst, sport, dport, rtp, _ipId++)));
    }

    private void Write(byte[] frame)
    {
        _out.Write(_now, frame);
        _now += 1000;
    }
}
