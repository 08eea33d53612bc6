using Xunit;

namespace SipIps.SystemTests;

/// <summary>Start-up checks, link propagation and shutdown, each on a lab of its own.</summary>
public class StartupTests
{
    private static readonly TimeSpan Short = TimeSpan.FromSeconds(30);

    private static CommandResult RunBridgeExpectingFailure(Lab lab, string pairs)
    {
        lab.WriteConfig(pairs: pairs);
        var r = lab.Exec("br", TimeSpan.FromSeconds(30), "dotnet", Lab.SipIpsDll, "run", "--config", lab.ConfigPath);
        Assert.DoesNotContain("   at ", r.Stderr);
        Assert.Single(r.Stderr.Trim().Split('\n'));
        return r;
    }

    [RootFact]
    public void A_missing_interface_is_refused_in_one_line()
    {
        using var lab = new Lab();
        var r = RunBridgeExpectingFailure(lab, "[[pa, nosuch0]]");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("interface nosuch0 does not exist", r.Stderr);
    }

    [RootFact]
    public void An_interface_that_is_down_is_refused()
    {
        using var lab = new Lab();
        lab.Exec("br", Short, "ip", "link", "set", "pb", "down");
        var r = RunBridgeExpectingFailure(lab, "[[pa, pb]]");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("interface pb is down", r.Stderr);
    }

    [RootFact]
    public void An_mtu_mismatch_is_refused()
    {
        using var lab = new Lab();
        lab.Exec("br", Short, "ip", "link", "set", "pb", "mtu", "1400");
        var r = RunBridgeExpectingFailure(lab, "[[pa, pb]]");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("MTU mismatch in pair pa-pb: pa has 1500, pb has 1400", r.Stderr);
    }

    [RootFact]
    public void A_bad_configuration_names_file_line_and_column()
    {
        using var lab = new Lab();
        File.WriteAllText(lab.ConfigPath, "bridge:\n  pairs: [[pa, pb]]\n  workers: many\n");
        var r = lab.Exec("br", Short, "dotnet", Lab.SipIpsDll, "run", "--config", lab.ConfigPath);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains($"{lab.ConfigPath}:3:12: bridge.workers must be a whole number", r.Stderr);
    }

    [RootFact]
    public void Losing_the_link_on_one_port_takes_the_peer_down_and_back_up()
    {
        using var lab = new Lab();
        lab.StartBridge();
        lab.Exec("uas", Short, "ip", "link", "set", "uas0", "down");
        Assert.True(SpinWait.SpinUntil(() => lab.Exec("br", Short, "ip", "-o", "link", "show", "pa").Stdout.Contains("state DOWN"), 5000),
            "pa did not go down: " + lab.BridgeLog);
        // The log line may reach us a moment after the link change it reports.
        Assert.True(SpinWait.SpinUntil(() => lab.BridgeLog.Contains("pb lost its link: took pa down", StringComparison.Ordinal), 5000), lab.BridgeLog);
        lab.Exec("uas", Short, "ip", "link", "set", "uas0", "up");
        Assert.True(SpinWait.SpinUntil(() => lab.Exec("br", Short, "ip", "-o", "link", "show", "pa").Stdout.Contains(",UP,"), 5000),
            "pa did not come back: " + lab.BridgeLog);
        var ping = lab.Exec("uac", Short, "ping", "-c", "3", "-i", "0.3", "-W", "2", "192.0.2.20");
        Assert.Contains(" 0% packet loss", ping.Stdout);
    }

    [RootFact]
    public void Sigterm_stops_cleanly_with_exit_code_zero()
    {
        using var lab = new Lab();
        lab.StartBridge();
        Assert.Equal(0, lab.StopBridge());
        Assert.Contains("stopped", lab.BridgeLog);
        Assert.False(File.Exists(lab.ControlSocket));
    }
}
