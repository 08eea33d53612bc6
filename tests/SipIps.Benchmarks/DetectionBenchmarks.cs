using System.Net;
using System.Text;
using BenchmarkDotNet.Attributes;
using SipIps.Engine.Detection;
using SipIps.Engine.Packets;
using SipIps.Engine.Pipeline;
using SipIps.Engine.Sip;
using SipIps.Rules;
using SipIps.Tests;

namespace SipIps.Benchmarks;

/// <summary>
/// SIP messages per second through the whole engine on one core (decode, parse, session state, rules), with the
/// shipped rules and without, over a mix of calls and registrations from 256 sources. The rules run detect-only,
/// so no message is cut short by a ban: every rule sees every message (the worst case).
/// </summary>
[MemoryDiagnoser]
public class DetectionBenchmarks
{
    private const int Messages = 2048;
    private byte[][] _frames = [];
    private SipEngine _none = null!, _stateOnly = null!, _shipped = null!;
    private long _ts = 1_767_225_600_000_000_000;

    private sealed class NoObserver : ISipObserver
    {
        public void OnSipMessage(in PacketInfo packet, SipMessage message)
        {
        }
    }

    [GlobalSetup]
    public void Setup()
    {
        var server = IPAddress.Parse("198.51.100.20");
        var frames = new List<byte[]>();
        for (int i = 0; frames.Count < Messages; i++)
        {
            string ip = $"10.{i % 4}.{i % 64}.{1 + i % 250}";
            var caller = IPAddress.Parse(ip);
            var c = SipSamples.BenchmarkCall with
            {
                CallId = $"bench-{i}@{ip}", FromTag = $"tag{i}", FromUser = $"u{i % 500}", ToUser = $"{1000 + i % 300}",
                CallerIp = ip, Branch = $"z9hG4bK{i:x8}",
            };
            byte[] Up(string sip) => PacketBuilder.Ethernet(PacketBuilder.Udp(caller, server, 5060, 5060, Encoding.ASCII.GetBytes(sip)));
            byte[] Down(string sip) => PacketBuilder.Ethernet(PacketBuilder.Udp(server, caller, 5060, 5060, Encoding.ASCII.GetBytes(sip)));
            if (i % 3 == 2)
            {
                // A digest registration: REGISTER, 401, REGISTER with credentials, 200.
                frames.Add(Up(SipSamples.Register(c, 1, withAuth: false)));
                frames.Add(Down(SipSamples.Challenge(c, 1, "n0nce")));
                frames.Add(Up(SipSamples.Register(c, 2, withAuth: true, nonce: "n0nce")));
                frames.Add(Down(SipSamples.Response(c, 200, "OK", method: "REGISTER", cseq: 2)));
                continue;
            }
            // A call: INVITE, 180, 200 (SDP), ACK, BYE, 200.
            frames.Add(Up(SipSamples.Invite(c)));
            frames.Add(Down(SipSamples.Response(c, 180, "Ringing")));
            frames.Add(Down(SipSamples.Response(c, 200, "OK", body: SipSamples.AnswerSdp(c))));
            frames.Add(Up(SipSamples.InDialog(c, "ACK", 1, c.Branch + "a")));
            frames.Add(Up(SipSamples.InDialog(c, "BYE", 2, c.Branch + "b")));
            frames.Add(Down(SipSamples.Response(c, 200, "OK", method: "BYE", cseq: 2)));
        }
        _frames = frames.Take(Messages).ToArray();

        var options = new DetectionOptions { Mode = RuleMode.Detect };
        DetectionEngine Detection(RuleSet rules) =>
            new(new DetectionShared(new RuleSetHolder(rules), new EnforcementTable(), new AlertQueue(1), options));
        _none = new SipEngine(EngineOptions.Default, new NoObserver());
        _stateOnly = new SipEngine(EngineOptions.Default, new NoObserver(), Detection(RuleSet.Empty));
        _shipped = new SipEngine(EngineOptions.Default, new NoObserver(), Detection(ShippedRules()));
    }

    private static RuleSet ShippedRules()
    {
        string? dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "SipIps.sln"))) dir = Path.GetDirectoryName(dir);
        var result = RuleLoader.Load([Path.Combine(dir ?? ".", "rules")]);
        if (!result.Ok) throw new InvalidOperationException(string.Join("\n", result.Errors));
        return result.RuleSet!;
    }

    private void Run(SipEngine engine)
    {
        var frames = _frames;
        for (int i = 0; i < frames.Length; i++)
        {
            engine.ProcessFrame(frames[i], LinkType.Ethernet, _ts, frames[i].Length);
            _ts += 50_000; // 20,000 messages/s of capture time
        }
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Messages, Description = "per message: decode + parse, no detection")]
    public void NoDetection() => Run(_none);

    [Benchmark(OperationsPerInvoke = Messages, Description = "per message: + dialog and source state, no rules")]
    public void StateOnly() => Run(_stateOnly);

    [Benchmark(OperationsPerInvoke = Messages, Description = "per message: + the 20 shipped rules")]
    public void ShippedRulesDetect() => Run(_shipped);
}
