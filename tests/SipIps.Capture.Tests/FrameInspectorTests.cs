using System.Net;
using System.Text;
using SipIps.Capture.Bridge;
using SipIps.Engine.Enforcement;
using SipIps.Engine.Packets;
using SipIps.Engine.Pipeline;
using SipIps.Engine.Sip;
using SipIps.Tests;
using Xunit;

namespace SipIps.Capture.Tests;

public class FrameInspectorTests
{
    private sealed class ThrowingHook : IVerdictHook
    {
        public Verdict OnSipMessage(in PacketInfo packet, SipMessage message) => throw new InvalidOperationException("boom");
    }

    private sealed class NoObserver : ISipObserver
    {
        public void OnSipMessage(in PacketInfo packet, SipMessage message) { }
    }

    private static readonly byte[] Invite = PacketBuilder.Ethernet(PacketBuilder.Udp(IPAddress.Parse("192.0.2.10"), IPAddress.Parse("192.0.2.20"), 5060, 5060,
        Encoding.ASCII.GetBytes(SipSamples.Invite(SipSamples.BenchmarkCall))));

    [Theory]
    [InlineData(ExceptionPolicy.FailOpen, DropReason.None)]
    [InlineData(ExceptionPolicy.FailClosed, DropReason.ExceptionPolicy)]
    public void An_internal_error_on_a_frame_is_decided_by_the_policy_counted_and_logged_once(ExceptionPolicy policy, DropReason expected)
    {
        var counters = new WorkerCounters();
        var log = new List<string>();
        var inspector = new FrameInspector(new SipEngine(EngineOptions.Default, new NoObserver(), new ThrowingHook()), counters, log.Add, "test") { Policy = policy };
        for (int i = 0; i < 100; i++)
            Assert.Equal(expected, inspector.Inspect(Invite, i, Invite.Length, -1).Reason);
        Assert.Equal(100, counters.Exceptions);
        var line = Assert.Single(log);
        Assert.Contains("boom", line);
    }

    [Fact]
    public void Frames_without_errors_pass_and_are_inspected()
    {
        var counters = new WorkerCounters();
        var engine = new SipEngine(EngineOptions.Default, new NoObserver());
        var inspector = new FrameInspector(engine, counters, _ => { }, "test") { Policy = ExceptionPolicy.FailClosed };
        Assert.False(inspector.Inspect(Invite, 1, Invite.Length, 100).IsDrop);
        Assert.Equal(1, engine.Counters.SipMessages);
        Assert.Equal(0, counters.Exceptions);
    }
}
