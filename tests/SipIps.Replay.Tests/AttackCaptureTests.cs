using System.Text.Json;
using SipIps.Tests;
using Xunit;

namespace SipIps.Replay.Tests;

/// <summary>
/// The shipped rules over real captures: the attacks in the corpus raise the alerts they should, from the right
/// source, and the captures of ordinary traffic raise none.
/// </summary>
public class AttackCaptureTests
{
    private static string Rules => Path.Combine(Corpus.RepoRoot(), "rules");

    private static (JsonElement Report, List<JsonElement> Alerts) Analyze(string capture, params string[] extra)
    {
        string alerts = Path.GetTempFileName();
        try
        {
            var (code, stdout, stderr) = CliTests.RunCli(["analyze", capture, "--rules", Rules, "--alerts", alerts, "--json", .. extra]);
            Assert.True(code == 0, stderr);
            var report = JsonDocument.Parse(stdout).RootElement.GetProperty("detection").Clone();
            var list = File.ReadAllLines(alerts).Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToList();
            Assert.Equal(report.GetProperty("alerts").GetInt64(), list.Count);
            return (report, list);
        }
        finally
        {
            File.Delete(alerts);
        }
    }

    private static IEnumerable<string> Sources(List<JsonElement> alerts, string rule) =>
        alerts.Where(a => a.GetProperty("rule_id").GetString() == rule).Select(a => a.GetProperty("key").GetString()!).Distinct();

    [Fact]
    public void Sipvicious_options_scan_is_caught_by_its_user_agent_from_each_scanning_source()
    {
        var (report, alerts) = Analyze(Corpus.Path("sip-attacks-initconf", "traces", "BadUserAgent-sipvicious.pcap"));
        var keys = Sources(alerts, "scanner-user-agent").ToHashSet();
        // Every source that sent the friendly-scanner agent, and no other (one message in the capture says "Zeeko").
        Assert.Contains("src_ip=27.53.138.51", keys);
        Assert.Contains("src_ip=7.17.254.165", keys);
        Assert.Equal(10, keys.Count);
        Assert.All(alerts, a => Assert.Equal("friendly-scanner", a.GetProperty("sip").GetProperty("user_agent").GetString()));
        Assert.Equal(10, report.GetProperty("banned_keys").GetArrayLength());
    }

    [Fact]
    public void Sipcli_toll_fraud_is_caught_as_toll_fraud_and_as_a_scanner_from_the_one_attacking_source()
    {
        var (_, alerts) = Analyze(Corpus.Path("sip-attacks-initconf", "traces", "SIP-3700-unauthorized-401.pcap"));
        Assert.Equal(["src_ip=40.129.198.250"], Sources(alerts, "toll-fraud-international"));
        Assert.Equal(["src_ip=40.129.198.250"], Sources(alerts, "toll-fraud-dial-probe"));
        Assert.Equal(["src_ip=40.129.198.250"], Sources(alerts, "scanner-user-agent"));
        var fraud = alerts.First(a => a.GetProperty("rule_id").GetString() == "toll-fraud-international");
        Assert.Equal("critical", fraud.GetProperty("severity").GetString());
        Assert.StartsWith("sip:", fraud.GetProperty("sip").GetProperty("request_uri").GetString());
        Assert.Equal("ban", fraud.GetProperty("action").GetString());
        // analyze defaults to detect-only: it says what would happen and blocks nothing.
        Assert.False(fraud.GetProperty("blocked").GetBoolean());
        // The servers that answered are never accused.
        Assert.DoesNotContain(alerts, a => a.GetProperty("key").GetString()!.Contains("157.147.97.", StringComparison.Ordinal));
    }

    [Fact]
    public void In_prevent_mode_the_first_ban_stops_the_attacker_and_later_rules_see_nothing()
    {
        var (report, alerts) = Analyze(Corpus.Path("sip-attacks-initconf", "traces", "SIP-3700-unauthorized-401.pcap"), "--mode", "prevent");
        Assert.True(alerts.All(a => a.GetProperty("blocked").GetBoolean()));
        Assert.Equal("src_ip=40.129.198.250", Assert.Single(report.GetProperty("banned_keys").EnumerateArray()).GetProperty("key").GetString());
        Assert.True(report.GetProperty("dropped_frames").GetProperty("ban").GetInt64() > 30);
    }

    [Fact]
    public void Register_brute_force_and_invite_sweep_are_caught_from_the_attacking_source()
    {
        var (_, alerts) = Analyze(Corpus.Path("sip-attacks-cesnet", "sip.pcap"));
        Assert.Equal(["src_ip+to_user=147.32.77.113/6001"], Sources(alerts, "register-bruteforce-src"));
        Assert.Equal(["src_ip=147.32.77.113"], Sources(alerts, "scanner-user-agent"));
        // The rule on behaviour factors per source sees the same attacker by its share of failed requests alone.
        Assert.Equal(["src_ip=147.32.77.113"], Sources(alerts, "source-error-ratio"));
        Assert.All(alerts, a => Assert.StartsWith("src_ip", a.GetProperty("key").GetString()));
        Assert.DoesNotContain(alerts, a => a.GetProperty("key").GetString()!.Contains("195.113.172.", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("suricata-verify-sip/sip-method/sip.pcap")]
    [InlineData("zeek-sip/traces/wireshark.pcap")]
    [InlineData("ndpi/pcap/sip.pcap")]
    [InlineData("ndpi/pcap/sip_hello.pcapng")]
    [InlineData("transport-edge-cases/heplify/sip_ipv4_tcp.pcap")]
    public void Ordinary_traffic_raises_no_alert_and_no_ban(string capture)
    {
        var (report, alerts) = Analyze(Corpus.Path(capture.Split('/')));
        Assert.Empty(alerts);
        Assert.Equal(0, report.GetProperty("banned_keys").GetArrayLength());
        Assert.True(report.GetProperty("by_rule").EnumerateArray().Any(r => r.GetProperty("matched").GetInt64() > 0), "the rules saw the traffic");
    }

    [Fact]
    public void Rules_check_reports_every_error_with_its_place_and_fails()
    {
        string dir = Directory.CreateTempSubdirectory("sipips-rules-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "a.yaml"), "rules:\n  - id: one\n    match: { method: INVITE }\n    key: src_ip\n    window: 1s\n    threshold: 5\n    colour: red\n");
            File.WriteAllText(Path.Combine(dir, "b.yaml"), "rules:\n  - id: two\n    match: { user_agent: { regex: \"([\" } }\n    key: src_ip\n    window: 1s\n    threshold: 5\n");
            var (code, _, stderr) = CliTests.RunCli("rules", "check", dir);
            Assert.Equal(1, code);
            Assert.Contains($"{Path.Combine(dir, "a.yaml")}:7:5: unknown key 'colour' in a rule", stderr);
            Assert.Contains($"{Path.Combine(dir, "b.yaml")}:3:", stderr);
            Assert.Contains("bad regex", stderr);
            Assert.DoesNotContain("   at ", stderr); // no stack trace
            var ok = CliTests.RunCli("rules", "check", Rules);
            Assert.True(ok.Code == 0, ok.Stderr);
            Assert.Contains("ok: ", ok.Stdout);
            Assert.Equal(2, CliTests.RunCli("rules", "check", Path.Combine(dir, "missing")).Code);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void Evidence_holds_exactly_the_frames_that_alerted()
    {
        string evidence = Path.GetTempFileName();
        try
        {
            var (code, stdout, stderr) = CliTests.RunCli("analyze", Corpus.Path("sip-attacks-cesnet", "sip.pcap"), "--rules", Rules, "--evidence", evidence, "--json");
            Assert.True(code == 0, stderr);
            long alerted = JsonDocument.Parse(stdout).RootElement.GetProperty("detection").GetProperty("alerted_frames").GetInt64();
            using var reader = Capture.CaptureFileReader.Open(evidence);
            int n = 0;
            while (reader.TryReadNext(out _)) n++;
            Assert.Equal(alerted, n);
            Assert.True(n > 0);
        }
        finally
        {
            File.Delete(evidence);
        }
    }
}
