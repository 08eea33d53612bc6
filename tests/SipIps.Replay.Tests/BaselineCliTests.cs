using System.Text.Json;
using SipIps.Tests;
using Xunit;

namespace SipIps.Replay.Tests;

/// <summary><c>sipips baseline learn/show</c> and the factors in <c>analyze --json</c>, on real captures.</summary>
public sealed class BaselineCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sipips-baseline-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private static string Capture => Corpus.Path("zeek-sip", "traces", "wireshark.pcap");

    [Fact]
    public void Learn_seeds_a_baseline_that_show_and_analyze_read()
    {
        string file = Path.Combine(_dir, "baseline.bin");
        var learn = CliTests.RunCli("baseline", "learn", Capture, "--file", file, "--slot-minutes", "60", "--timezone", "Europe/Berlin");
        Assert.True(learn.Code == 0, learn.Stderr);
        Assert.Matches(@"^learned [1-9][0-9]* slot\(s\) from [0-9,]+ packets \(.*\) into ", learn.Stdout);
        Assert.True(File.Exists(file));

        var show = CliTests.RunCli("baseline", "show", "--file", file);
        Assert.Equal(0, show.Code);
        Assert.Contains("60-minute slots over 13 weeks, time zone Europe/Berlin", show.Stdout);
        Assert.Contains("invite_ratio", show.Stdout);
        var profile = CliTests.RunCli("baseline", "show", "--file", file, "--factor", "sip_messages_per_second");
        Assert.Equal(0, profile.Code);
        Assert.Contains("sip_messages_per_second by time of week", profile.Stdout);
        Assert.Matches(@"(Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d\d:00 ", profile.Stdout);

        Assert.Equal(2, CliTests.RunCli("baseline", "show", "--file", file, "--factor", "nope").Code);
        Assert.Equal(2, CliTests.RunCli("baseline", "show", "--file", Path.Combine(_dir, "missing.bin")).Code);
        File.WriteAllText(Path.Combine(_dir, "junk.bin"), "junk");
        var junk = CliTests.RunCli("baseline", "show", "--file", Path.Combine(_dir, "junk.bin"));
        Assert.Equal(2, junk.Code);
        Assert.Contains("is not a SipIps baseline", junk.Stderr);

        var analyze = CliTests.RunCli("analyze", Capture, "--json", "--baseline", file);
        Assert.True(analyze.Code == 0, analyze.Stderr);
        using var doc = JsonDocument.Parse(analyze.Stdout);
        var factors = doc.RootElement.GetProperty("factors");
        var w60 = factors.GetProperty("window_60s");
        foreach (var name in Engine.Behaviour.Factors.Names) Assert.True(w60.TryGetProperty(name, out _), name);
        Assert.True(factors.GetProperty("top_users").GetArrayLength() > 0);
    }
}
