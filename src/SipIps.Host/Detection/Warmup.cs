using System.Buffers.Binary;
using System.Text;
using SipIps.Engine.Detection;
using SipIps.Engine.Packets;
using SipIps.Engine.Pipeline;
using SipIps.Engine.Sip;

namespace SipIps.Host.Detection;

/// <summary>
/// Runs synthetic traffic through a throw-away engine before the bridge starts, so that the code of every path
/// (parsing, session state, each kind of rule, a firing, a ban, an alert) is compiled before the first real
/// packet. Without it, the first SIP messages on the wire pay for compilation and hold up the frames behind them
/// by several milliseconds. Nothing here touches the real state: the engine, its tables and its bans are its own.
/// </summary>
internal static class Warmup
{
    private sealed class Discard : IAlertSink, ISipObserver
    {
        public bool Publish(in AlertEvent alert) => true;

        public void OnSipMessage(in PacketInfo packet, SipMessage message)
        {
        }
    }

    public static void Run(EngineOptions engineOptions, RuleSet rules)
    {
        var sink = new Discard();
        var options = new DetectionOptions { Counters = 1024, DistinctCounters = 256, Dialogs = 1024, Scores = 256, KnownSources = 256 };
        // The same hook the workers get, over tables of its own.
        var runtime = new DetectionRuntime(rules, options, sink, 64);
        var engine = new SipEngine(engineOptions, sink, runtime.WorkerHook());
        long ts = (DateTime.UtcNow - DateTime.UnixEpoch).Ticks * 100;
        byte[] caller = [192, 0, 2, 10], server = [198, 51, 100, 20], attacker = [203, 0, 113, 66];
        for (int round = 0; round < 3; round++)
        {
            for (int i = 0; i < 40; i++)
            {
                string id = $"warmup-{round}-{i}@192.0.2.10";
                // A call, a registration with its challenge, and a scan, flood and brute force that fire rules.
                Send(engine, ref ts, caller, server, Invite(id, $"10{i % 10}", "Phone/1.0"));
                Send(engine, ref ts, server, caller, Response(200, "INVITE", id));
                Send(engine, ref ts, caller, server, Request("ACK", id, "Phone/1.0"));
                Send(engine, ref ts, caller, server, Request("BYE", id, "Phone/1.0"));
                Send(engine, ref ts, caller, server, Request("REGISTER", id, "Phone/1.0"));
                Send(engine, ref ts, server, caller, Response(401, "REGISTER", id));
                Send(engine, ref ts, attacker, server, Invite($"a{id}", $"00972{i}", "friendly-scanner"));
                Send(engine, ref ts, attacker, server, Request("OPTIONS", $"o{id}", "sipcli/1.0"));
                Send(engine, ref ts, attacker, server, "INVITE sip:x SIP/2.0\r\nCSeq: x\r\n\r\n");
                Send(engine, ref ts, attacker, server, "\x16\x03\x01 not sip at all");
            }
        }
    }

    private static string Invite(string callId, string user, string ua) =>
        $"INVITE sip:{user}@198.51.100.20 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK{callId.GetHashCode():x}\r\nMax-Forwards: 70\r\n" +
        $"From: <sip:alice@example.com>;tag=1\r\nTo: <sip:{user}@example.com>\r\nCall-ID: {callId}\r\nCSeq: 1 INVITE\r\n" +
        $"Contact: <sip:alice@192.0.2.10>\r\nUser-Agent: {ua}\r\nContent-Type: application/sdp\r\nContent-Length: 58\r\n\r\n" +
        "v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n";

    private static string Request(string method, string callId, string ua) =>
        $"{method} sip:bob@198.51.100.20 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK{method}{callId.GetHashCode():x}\r\n" +
        $"Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=1\r\nTo: <sip:bob@example.com>;tag=2\r\nCall-ID: {callId}\r\n" +
        $"CSeq: 2 {method}\r\nUser-Agent: {ua}\r\nAuthorization: Digest username=\"alice\", realm=\"x\", nonce=\"n\", uri=\"sip:x\", response=\"r\"\r\nContent-Length: 0\r\n\r\n";

    private static string Response(int code, string method, string callId) =>
        $"SIP/2.0 {code} Reason\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK1\r\nFrom: <sip:alice@example.com>;tag=1\r\n" +
        $"To: <sip:bob@example.com>;tag=2\r\nCall-ID: {callId}\r\nCSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n";

    /// <summary>An Ethernet/IPv4/UDP frame from port 5060 to 5060 with a valid IPv4 header checksum.</summary>
    private static void Send(SipEngine engine, ref long ts, byte[] src, byte[] dst, string sip)
    {
        var payload = Encoding.ASCII.GetBytes(sip);
        var f = new byte[14 + 20 + 8 + payload.Length];
        f[12] = 0x08;
        var ip = f.AsSpan(14, 20);
        ip[0] = 0x45;
        BinaryPrimitives.WriteUInt16BigEndian(ip[2..], (ushort)(20 + 8 + payload.Length));
        ip[8] = 64;
        ip[9] = 17;
        src.CopyTo(ip[12..]);
        dst.CopyTo(ip[16..]);
        uint sum = 0;
        for (int i = 0; i < 20; i += 2) sum += BinaryPrimitives.ReadUInt16BigEndian(ip[i..]);
        while (sum > 0xFFFF) sum = (sum & 0xFFFF) + (sum >> 16);
        BinaryPrimitives.WriteUInt16BigEndian(ip[10..], (ushort)~sum);
        var udp = f.AsSpan(34, 8);
        BinaryPrimitives.WriteUInt16BigEndian(udp, 5060);
        BinaryPrimitives.WriteUInt16BigEndian(udp[2..], 5060);
        BinaryPrimitives.WriteUInt16BigEndian(udp[4..], (ushort)(8 + payload.Length));
        payload.CopyTo(f.AsSpan(42));
        engine.ProcessFrame(f, LinkType.Ethernet, ts, f.Length);
        ts += 1_000_000;
    }
}
