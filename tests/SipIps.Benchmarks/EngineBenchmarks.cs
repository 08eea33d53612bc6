using System.Net;
using System.Text;
using BenchmarkDotNet.Attributes;
using SipIps.Engine.Analysis;
using SipIps.Engine.Packets;
using SipIps.Engine.Pipeline;
using SipIps.Export.Clf;
using SipIps.Tests;

namespace SipIps.Benchmarks;

/// <summary>Whole frames through the engine: decode, detect, parse, report; and CLF formatting.</summary>
[MemoryDiagnoser]
public class EngineBenchmarks
{
    private SipEngine _engine = null!;
    private byte[][] _frames = [];
    private readonly byte[] _clf = new byte[8192];
    private SipClfFormatter _formatter = null!;
    private Engine.Sip.SipMessage _parsed = null!;
    private PacketInfo _info;
    private byte[] _queued = [];
    private long _ts;

    [GlobalSetup]
    public void Setup()
    {
        _engine = new SipEngine(EngineOptions.Default, new CaptureReport());
        var a = IPAddress.Parse("192.0.2.10");
        var b = IPAddress.Parse("198.51.100.20");
        var frames = new List<byte[]>();
        for (int i = 0; i < 64; i++)
        {
            var c = SipSamples.BenchmarkCall with { CallId = $"bench-{i}@192.0.2.10", FromTag = $"tag{i}" };
            frames.Add(PacketBuilder.Ethernet(PacketBuilder.Udp(a, b, 5060, 5060, Encoding.ASCII.GetBytes(SipSamples.Invite(c)))));
            frames.Add(PacketBuilder.Ethernet(PacketBuilder.Udp(b, a, 5060, 5060, Encoding.ASCII.GetBytes(SipSamples.Response(c, 200, "OK", body: SipSamples.AnswerSdp(c))))));
        }
        _frames = frames.ToArray();
        _formatter = new SipClfFormatter();
        _parsed = new Engine.Sip.SipMessage();
        Engine.Sip.SipParser.Parse(Encoding.ASCII.GetBytes(SipSamples.Invite(SipSamples.BenchmarkCall)), _parsed);
        _info = new PacketInfo { Source = Engine.Common.IpAddr.FromV4(0xC000020A), Destination = Engine.Common.IpAddr.FromV4(0xC6336414), SourcePort = 5060, DestinationPort = 5060, Protocol = L4Protocol.Udp, TimestampNs = 1_700_000_000_000_000_000 };
        var queued = new byte[8192];
        _queued = queued.AsSpan(0, ClfEvent.Write(_info, _parsed, queued)).ToArray();
    }

    /// <summary>128 frames (64 INVITE and 64 200 OK with SDP) per operation.</summary>
    [Benchmark(OperationsPerInvoke = 128, Description = "engine: frame -> SIP message -> report")]
    public void Frames()
    {
        foreach (var f in _frames) _engine.ProcessFrame(f, LinkType.Ethernet, _ts++, f.Length);
    }

    [Benchmark(Description = "CLF record of an INVITE")]
    public int Clf() => _formatter.Format(_info, _parsed, _clf);

    /// <summary>The CLF thread's part of a live record: the queued values formatted.</summary>
    [Benchmark(Description = "CLF record of an INVITE, from its queued values (CLF thread)")]
    public int ClfFromQueue() => _formatter.Format(_queued, _clf);

    /// <summary>The worker's part of a live CLF record: the values copied into the queue, formatted later by the CLF thread.</summary>
    [Benchmark(Description = "CLF values of an INVITE, queued (worker side)")]
    public int ClfQueued() => ClfEvent.Write(_info, _parsed, _clf);
}
