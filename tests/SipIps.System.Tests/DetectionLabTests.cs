using System.Diagnostics;
using System.Text.Json;
using SipIps.Capture;
using Xunit;
using Xunit.Abstractions;

namespace SipIps.SystemTests;

/// <summary>
/// The shipped rules on the live bridge: a legitimate sipp caller makes 10 calls/s while another namespace floods
/// INVITEs with random Call-IDs. The flood is banned at once and the calls go through; in detect-only mode the
/// flood passes (which proves it is the prevention that stops it).
/// </summary>
public class DetectionLabTests(ITestOutputHelper output)
{
    private const string Uas = "192.0.2.20";
    private const string Uac = "192.0.2.10";
    private const string Attacker = "192.0.2.66";
    private static string Gen => Path.Combine(AppContext.BaseDirectory, "sipips-trafficgen.dll");

    private sealed record Run(int Successful, int Failed, List<long> FloodArrivalsNs, string Flood, JsonElement Status, List<JsonElement> Alerts);

    /// <summary>
    /// Starts the UAS, a capture of what reaches it from the attackers, and the legitimate calls; floods after two
    /// seconds; waits for the calls to finish; returns what arrived and what the bridge says.
    /// </summary>
    private Run CallsUnderFlood(Lab lab, string mode, string floodFrom, string floodHosts, double rate, int count, int calls = 150)
    {
        lab.StartBridge(lab.Detection(Lab.ShippedRules, mode));
        string capture = Path.Combine(lab.Dir, "uas.pcapng");
        using var cap = BridgeTests.StartCaptureIn(lab, "uas", "uas0", capture, $"udp dst port 5060 and src net {floodHosts}");
        Thread.Sleep(1000);
        using var server = lab.StartIn("uas", "timeout", "90", "sipp", "-sn", "uas", "-i", Uas, "-p", "5060", "-nostdin", "-timeout", "80s");
        Thread.Sleep(500);
        string screen = Path.Combine(lab.Dir, "uac.screen");
        using var client = lab.StartIn("uac", "timeout", "90", "sipp", "-sn", "uac", $"{Uas}:5060", "-i", Uac, "-p", "5070",
            "-m", calls.ToString(), "-r", "10", "-l", calls.ToString(), "-nostdin", "-timeout", "60s", "-trace_screen", "-screen_file", screen);
        Thread.Sleep(2000);
        var flood = lab.Exec("atk", TimeSpan.FromSeconds(60), "dotnet", Gen, "sip-flood", "--to", $"{Uas}:5060", "--from", floodFrom,
            "--rate", rate.ToString(System.Globalization.CultureInfo.InvariantCulture), "--count", count.ToString(), "--seconds", "20");
        Assert.True(flood.ExitCode == 0, flood.Stderr);
        output.WriteLine(flood.Stdout.Trim());
        Assert.True(client.WaitForExit(80_000), "the legitimate calls did not finish");
        server.Kill(true);
        Thread.Sleep(500);
        var status = JsonDocument.Parse(lab.Status(json: true)).RootElement.Clone();
        BridgeTests.StopCapture(cap);
        lab.StopBridge();

        var (ok, failed) = Lab.SippCalls(File.Exists(screen) ? File.ReadAllText(screen) : "");
        var arrivals = new List<long>();
        using (var reader = CaptureFileReader.Open(capture))
            while (reader.TryReadNext(out var f)) arrivals.Add(f.TimestampNs);
        var alerts = File.Exists(lab.AlertLog)
            ? File.ReadAllLines(lab.AlertLog).Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToList()
            : [];
        output.WriteLine($"legitimate calls: {ok} successful, {failed} failed; flood INVITEs at the UAS: {arrivals.Count}; alerts: " +
                         string.Join(", ", alerts.Select(a => $"{a.GetProperty("rule_id")} {a.GetProperty("key")} {a.GetProperty("action")}")));
        return new Run(ok, failed, arrivals, flood.Stdout, status, alerts);
    }

    private static long Ns(JsonElement alert) =>
        (DateTime.Parse(alert.GetProperty("timestamp").GetString()!.Replace("+0000", "Z"), System.Globalization.CultureInfo.InvariantCulture,
            System.Globalization.DateTimeStyles.AdjustToUniversal) - DateTime.UnixEpoch).Ticks * 100;

    [RootFact]
    public void A_single_source_flood_is_banned_at_once_while_legitimate_calls_go_through()
    {
        using var lab = new Lab();
        var run = CallsUnderFlood(lab, "prevent", Attacker, $"{Attacker}/32", rate: 2000, count: 10_000);

        Assert.True(run.Successful >= 149, $"only {run.Successful} of 150 legitimate calls succeeded");
        Assert.True(run.FloodArrivalsNs.Count <= 20, $"{run.FloodArrivalsNs.Count} flood INVITEs reached the UAS");
        var ban = Assert.Single(run.Alerts, a => a.GetProperty("rule_id").GetString() == "invite-flood-src");
        Assert.Equal($"src_ip={Attacker}", ban.GetProperty("key").GetString());
        Assert.Equal("ban", ban.GetProperty("action").GetString());
        Assert.True(ban.GetProperty("blocked").GetBoolean());
        // The ban takes effect on the message that crosses the threshold: nothing of the flood arrives later
        // than 50 ms after it (both times are the kernel's receive timestamps).
        double lastAfterBanMs = (run.FloodArrivalsNs.Max() - Ns(ban)) / 1e6;
        output.WriteLine($"last flood INVITE reached the UAS {lastAfterBanMs:0.000} ms after the threshold was crossed");
        Assert.True(lastAfterBanMs < 50, $"{lastAfterBanMs} ms");
        // The counters show the drops, and the ban is listed.
        var d = run.Status.GetProperty("detection");
        Assert.True(d.GetProperty("ban_drops").GetInt64() >= 9_900, d.ToString());
        var bans = d.GetProperty("bans").EnumerateArray().ToList();
        Assert.Contains(bans, b => b.GetProperty("key").GetString() == $"src_ip={Attacker}" && b.GetProperty("drops").GetInt64() >= 9_900);
        var pa = run.Status.GetProperty("ports").EnumerateArray().First(p => p.GetProperty("name").GetString() == "pa");
        Assert.True(pa.GetProperty("dropped").GetProperty("ban").GetInt64() >= 9_900);
        // The ban was saved, and the evidence holds the frames that alerted or were dropped.
        Assert.Contains($"src_ip={Attacker}", File.ReadAllText(lab.StateFile));
        using var evidence = CaptureFileReader.Open(lab.EvidencePath);
        int kept = 0;
        while (evidence.TryReadNext(out _)) kept++;
        Assert.True(kept > 100, $"{kept} evidence frames");
    }

    [RootFact]
    public void A_flood_spread_over_many_sources_below_any_per_source_threshold_is_stopped()
    {
        using var lab = new Lab();
        // A hundred attacking addresses in one /24, each at 15 INVITEs/s: below the per-source threshold of 20/s.
        string batch = Path.Combine(lab.Dir, "addrs.batch");
        File.WriteAllLines(batch, Enumerable.Range(1, 100).Select(i => $"addr add 203.0.113.{i}/32 dev atk0"));
        var add = lab.Exec("atk", TimeSpan.FromSeconds(30), "ip", "-batch", batch);
        Assert.True(add.ExitCode == 0, add.Stderr);
        var run = CallsUnderFlood(lab, "prevent", "203.0.113.1-100", "203.0.113.0/24", rate: 1500, count: 6000);

        Assert.True(run.Successful >= 149, $"only {run.Successful} of 150 legitimate calls succeeded");
        Assert.DoesNotContain(run.Alerts, a => a.GetProperty("rule_id").GetString() == "invite-flood-src");
        var prefix = Assert.Single(run.Alerts, a => a.GetProperty("rule_id").GetString() == "invite-flood-prefix");
        Assert.Equal("src_prefix=203.0.113.0/24", prefix.GetProperty("key").GetString());
        Assert.True(run.FloodArrivalsNs.Count <= 60, $"{run.FloodArrivalsNs.Count} flood INVITEs reached the UAS");
        // The traffic-behaviour signature sees the same flood without any key: INVITE ratio, volume, unanswered
        // requests, calls without media. A new baseline has no history yet, so its static thresholds decide.
        var signature = Assert.Single(run.Alerts, a => a.GetProperty("rule_id").GetString() == "invite-flood-signature");
        var factors = signature.GetProperty("factors");
        Assert.True(factors.GetProperty("invite_ratio").GetProperty("value").GetDouble() > 0.6, factors.ToString());
        Assert.True(factors.GetProperty("invite_ratio").GetProperty("static_fallback").GetBoolean());
        Assert.Equal("global", signature.GetProperty("key").GetString());
        // Its protect action: new calls from unknown sources wait for a minute (the legitimate caller is known).
        Assert.Equal("drop", signature.GetProperty("action").GetString());
        Assert.True(signature.GetProperty("blocked").GetBoolean());
        Assert.Equal(60, signature.GetProperty("ttl_s").GetDouble());
    }

    [RootFact]
    public void In_detect_only_mode_the_flood_reaches_the_uas_and_is_only_reported()
    {
        using var lab = new Lab();
        var run = CallsUnderFlood(lab, "detect", Attacker, $"{Attacker}/32", rate: 2000, count: 10_000, calls: 50);
        Assert.True(run.FloodArrivalsNs.Count >= 9_000, $"only {run.FloodArrivalsNs.Count} of 10,000 flood INVITEs reached the UAS");
        var alert = Assert.Single(run.Alerts.Where(a => a.GetProperty("rule_id").GetString() == "invite-flood-src").Take(1));
        Assert.False(alert.GetProperty("blocked").GetBoolean());
        Assert.Equal(0, run.Status.GetProperty("detection").GetProperty("ban_drops").GetInt64());
    }
}
