using System.Text.Json;
using Xunit;
using Xunit.Abstractions;

namespace SipIps.SystemTests;

/// <summary>What an operator does to a running bridge: ban and unban, restart, reload rules and the blocklist.</summary>
public class OperationsTests(ITestOutputHelper output)
{
    private const string Attacker = "192.0.2.66";
    private static string Gen => Path.Combine(AppContext.BaseDirectory, "sipips-trafficgen.dll");

    private static void Flood(Lab lab, int count, string from = Attacker)
    {
        var r = lab.Exec("atk", TimeSpan.FromSeconds(30), "dotnet", Gen, "sip-flood", "--to", "192.0.2.20:5060", "--from", from,
            "--rate", "500", "--count", count.ToString(), "--seconds", "10");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Thread.Sleep(300);
    }

    private static JsonElement Detection(Lab lab) => JsonDocument.Parse(lab.Status(json: true)).RootElement.GetProperty("detection").Clone();

    private static CommandResult Cli(Lab lab, params string[] args) =>
        lab.Exec("br", TimeSpan.FromSeconds(20), ["dotnet", Lab.SipIpsDll, .. args, "--socket", lab.ControlSocket]);

    [RootFact]
    public void An_operator_ban_drops_the_key_survives_a_restart_and_can_be_lifted()
    {
        using var lab = new Lab();
        lab.StartBridge();
        var ban = Cli(lab, "ban", $"src_ip={Attacker}", "--ttl", "1h");
        Assert.True(ban.ExitCode == 0, ban.Stderr);
        Assert.Contains($"banned src_ip={Attacker}", ban.Stdout);
        Flood(lab, 40);
        Assert.Equal(40, Detection(lab).GetProperty("ban_drops").GetInt64());
        Assert.Contains($"src_ip={Attacker}", lab.Status());

        Assert.Equal(0, lab.StopBridge());
        Assert.Contains($"src_ip={Attacker}", File.ReadAllText(lab.StateFile));
        lab.StartBridge();
        Assert.Contains("restored 1 ban(s)", lab.BridgeLog);
        var entry = Detection(lab).GetProperty("bans").EnumerateArray().Single();
        Assert.Equal("operator", entry.GetProperty("origin").GetString());
        Assert.InRange(entry.GetProperty("ttl_s").GetDouble(), 3500, 3600);
        Flood(lab, 10);
        Assert.Equal(10, Detection(lab).GetProperty("ban_drops").GetInt64());

        var unban = Cli(lab, "unban", $"src_ip={Attacker}");
        Assert.True(unban.ExitCode == 0, unban.Stderr);
        Flood(lab, 10);
        Assert.Equal(10, Detection(lab).GetProperty("ban_drops").GetInt64());
        Assert.Empty(Detection(lab).GetProperty("bans").EnumerateArray());

        var again = Cli(lab, "unban", $"src_ip={Attacker}");
        Assert.Equal(1, again.ExitCode);
        Assert.Contains("no ban or rate limit", again.Stderr);
        var bad = Cli(lab, "ban", "src_ip=not-an-address");
        Assert.Equal(1, bad.ExitCode);
        Assert.Contains("is not an IP address", bad.Stderr);
    }

    [RootFact]
    public void Sighup_refuses_bad_rules_keeps_the_counters_and_reloads_the_blocklist()
    {
        using var lab = new Lab();
        string rules = Path.Combine(lab.Dir, "rules");
        Directory.CreateDirectory(rules);
        string ruleFile = Path.Combine(rules, "flood.yaml");
        const string rule = "rules:\n  - id: slow-flood\n    description: test\n    match: { type: request, method: INVITE }\n    key: src_ip\n    window: 60s\n    threshold: 30\n    actions: [alert]\n";
        File.WriteAllText(ruleFile, rule);
        string blocklist = Path.Combine(lab.Dir, "blocklist.txt");
        File.WriteAllText(blocklist, "# nobody yet\n");
        lab.StartBridge(lab.Detection(rules, more: $"  blocklist: {blocklist}\n"));

        Flood(lab, 20);
        File.WriteAllText(ruleFile, rule.Replace("threshold: 30", "threshold: -3"));
        lab.Signal("HUP");
        WaitFor(lab, "rules reload refused");
        Assert.Contains("threshold", lab.BridgeLog);
        Flood(lab, 15); // 35 in the window: the old rule, with its counters, fires
        Assert.Equal(1, Detection(lab).GetProperty("by_rule").EnumerateArray().Single().GetProperty("fired").GetInt64());

        File.WriteAllText(blocklist, $"{Attacker}   10m  # the flooder\n203.0.113.0/24\n");
        File.WriteAllText(ruleFile, rule);
        lab.Signal("HUP");
        WaitFor(lab, "blocklist reloaded: 2 entries");
        Assert.Contains("rules reloaded: 1 rule(s)", lab.BridgeLog);
        Flood(lab, 25);
        var d = Detection(lab);
        Assert.Equal(25, d.GetProperty("ban_drops").GetInt64());
        Assert.Equal(2, d.GetProperty("bans").GetArrayLength());
        Assert.All(d.GetProperty("bans").EnumerateArray(), b => Assert.Equal("blocklist", b.GetProperty("origin").GetString()));

        // A broken blocklist is refused; the running one stays.
        File.WriteAllText(blocklist, "src_ip=999.0.0.1\n");
        lab.Signal("HUP");
        WaitFor(lab, "blocklist reload refused");
        Assert.Contains($"{blocklist}:1:1:", lab.BridgeLog);
        Assert.Equal(2, Detection(lab).GetProperty("bans").GetArrayLength());
        output.WriteLine(lab.BridgeLog);
    }

    [RootFact]
    public void The_control_socket_answers_root_and_refuses_other_users()
    {
        using var lab = new Lab();
        lab.StartBridge();
        var mode = File.GetUnixFileMode(lab.ControlSocket);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite, mode);
        // The lab directory is private; let other users reach the socket file so that its own checks are what is tested.
        File.SetUnixFileMode(lab.Dir, File.GetUnixFileMode(lab.Dir) | UnixFileMode.OtherExecute);
        CommandResult AsNobody() => Lab.Run("setpriv",
            ["--reuid=65534", "--regid=65534", "--clear-groups", "dotnet", Lab.SipIpsDll, "ban", "src_ip=192.0.2.1", "--socket", lab.ControlSocket],
            TimeSpan.FromSeconds(30), ("HOME", "/tmp"), ("DOTNET_CLI_HOME", "/tmp"));
        var refused = AsNobody();
        Assert.NotEqual(0, refused.ExitCode);
        Assert.Contains("permission denied", refused.Stderr);
        // Even with the file opened to everyone, the peer credentials are checked.
        File.SetUnixFileMode(lab.ControlSocket, mode | UnixFileMode.OtherRead | UnixFileMode.OtherWrite);
        var nobody = AsNobody();
        Assert.NotEqual(0, nobody.ExitCode);
        Assert.Contains("may not use the control socket", nobody.Stderr);
        Assert.Empty(Detection(lab).GetProperty("bans").EnumerateArray());
    }

    private static void WaitFor(Lab lab, string text)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!lab.BridgeLog.Contains(text, StringComparison.Ordinal))
        {
            Assert.True(DateTime.UtcNow < deadline, $"no '{text}' in the log:\n{lab.BridgeLog}");
            Thread.Sleep(50);
        }
    }
}
