using System.Text;
using SipIps.Engine.Analysis;
using SipIps.Engine.Common;
using SipIps.Engine.Packets;
using SipIps.Engine.Sip;
using SipIps.Tests;
using Xunit;

namespace SipIps.Engine.Tests.Analysis;

public class CaptureReportTests
{
    [Fact]
    public void Top_talkers_are_exact_for_a_user_population_of_a_few_thousand()
    {
        // A PBX's worth of users, each calling the same number of times: every counter must hold its own key, so
        // that the report names real counts instead of bounds as large as the counts themselves.
        const int users = 3000, callsEach = 3;
        var report = new CaptureReport();
        var message = new SipMessage();
        var packet = new PacketInfo { Source = IpAddr.FromV4(0xC0000201), Protocol = L4Protocol.Udp };
        for (int round = 0; round < callsEach; round++)
        {
            for (int u = 0; u < users; u++)
            {
                var call = SipSamples.BenchmarkCall with
                {
                    CallId = $"c{round}-{u}@192.0.2.1",
                    FromUser = (10000 + u).ToString(),
                    ToUser = (20000 + (u * 7 + round) % users).ToString(),
                };
                Assert.Equal(SipParseStatus.Ok, SipParser.Parse(Encoding.ASCII.GetBytes(SipSamples.Invite(call)), message));
                report.OnSipMessage(packet, message);
            }
        }

        Assert.Equal(0, report.FromUris.ErrorBound);
        Assert.Equal(0, report.ToUris.ErrorBound);
        var from = report.FromUris.Top(users);
        Assert.Equal(users, from.Count);
        Assert.All(from, item =>
        {
            Assert.Equal(callsEach, item.Count);
            Assert.Equal(0, item.Error);
        });
        Assert.Contains(from, item => item.Key == "sip:12999@example.com");
        Assert.All(report.ToUris.Top(users), item => Assert.Equal(callsEach, item.Count));
    }

    [Theory]
    [InlineData("sip:alice@example.com", "sip:alice@example.com")]
    [InlineData("sips:bob@192.0.2.7", "sips:bob@192.0.2.7")]
    [InlineData("sip:example.com", "sip:example.com")]
    [InlineData("sip:alice@[2001:db8::1]", "sip:alice@[2001:db8::1]")]
    [InlineData("SIP:alice@example.com", "sip:alice@example.com")]
    [InlineData("sip:alice:secret@example.com", "sip:alice@example.com")]
    [InlineData("sip:alice@example.com:05060", "sip:alice@example.com:5060")]
    [InlineData("sip:alice@example.com:5060", "sip:alice@example.com:5060")]
    [InlineData("sip:alice@example.com;transport=tcp", "sip:alice@example.com")]
    [InlineData("sip:alice@example.com?subject=x", "sip:alice@example.com")]
    [InlineData("tel:+15551234", "tel:+15551234")]
    public void An_address_is_the_same_whether_the_text_is_reused_or_written(string uri, string expected)
    {
        var message = new SipMessage();
        var text = $"OPTIONS sip:x@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n" +
                   $"From: <{uri}>;tag=1\r\nTo: <sip:x@example.com>\r\nCall-ID: a\r\nCSeq: 1 OPTIONS\r\n" +
                   "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n";
        Assert.Equal(SipParseStatus.Ok, SipParser.Parse(Encoding.ASCII.GetBytes(text), message));
        Span<byte> scratch = stackalloc byte[256];
        Assert.Equal(expected, Encoding.ASCII.GetString(CaptureReport.Address(message, message.From.Uri, scratch)));
        int n = CaptureReport.FormatAddress(message, message.From.Uri, scratch);
        Assert.Equal(expected, Encoding.ASCII.GetString(scratch.Slice(0, n)));
    }
}
