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
}
