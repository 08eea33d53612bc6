using System.Net;
using System.Text;
using SipIps.Capture;
using SipIps.Engine.Packets;
using SipIps.Tests;
using Xunit;

namespace SipIps.Replay.Tests;

/// <summary><c>analyze --report</c>: a self-contained page, with every capture string escaped.</summary>
public sealed class HtmlReportTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sipips-report-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    /// <summary>A capture of INVITEs whose User-Agent and From carry markup, over two minutes.</summary>
    internal static string HostileCapture(string dir)
    {
        string path = Path.Combine(dir, "hostile.pcap");
        using var file = File.Create(path);
        using var w = new PcapWriter(file, LinkType.Raw);
        long t = 1_767_571_200_000_000_000;
        for (int i = 0; i < 600; i++)
        {
            string sip = $"INVITE sip:{1000 + i % 50}@198.51.100.20 SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.9:5060;branch=z9hG4bK{i}\r\nMax-Forwards: 70\r\n" +
                         $"From: \"<img src=x onerror=alert(1)>\" <sip:a@evil.example>;tag={i}\r\nTo: <sip:{1000 + i % 50}@198.51.100.20>\r\n" +
                         $"Call-ID: h{i}@203.0.113.9\r\nCSeq: 1 INVITE\r\nUser-Agent: <script>alert('x')</script>friendly-scanner\r\nContent-Length: 0\r\n\r\n";
            var frame = PacketBuilder.Udp(IPAddress.Parse("203.0.113.9"), IPAddress.Parse("198.51.100.20"), 5060, 5060, Encoding.ASCII.GetBytes(sip));
            w.Write(t + i * 200_000_000L, frame, frame.Length);
        }
        return path;
    }

    [Fact]
    public void The_report_is_self_contained_and_escapes_what_the_capture_says()
    {
        string capture = HostileCapture(_dir);
        string report = Path.Combine(_dir, "report.html");
        var r = CliTests.RunCli("analyze", capture, "--rules", Path.Combine(Corpus.RepoRoot(), "rules"), "--report", report, "--no-progress");
        Assert.True(r.Code == 0, r.Stderr);
        string html = File.ReadAllText(report);
        Assert.StartsWith("<!DOCTYPE html>", html);
        Assert.DoesNotContain("<script", html);
        Assert.DoesNotContain("<img", html);
        Assert.Contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;friendly-scanner", html);
        // No network: no links, no external sources; the only URL is the SVG namespace.
        Assert.DoesNotContain("src=\"http", html);
        Assert.DoesNotContain("href=", html);
        Assert.DoesNotContain(System.Text.RegularExpressions.Regex.Matches(html, "https?://"), m => !html.AsSpan(m.Index).StartsWith("http://www.w3.org/2000/svg"));
        // The charts and what they show.
        Assert.True(System.Text.RegularExpressions.Regex.Matches(html, "<svg ").Count >= 7);
        Assert.Contains("<polyline", html);
        Assert.Contains("scanner-user-agent", html);      // an alert on the timeline
        Assert.Contains("invite_ratio", html);
        Assert.Contains(">Top talkers<", html);
    }
}
