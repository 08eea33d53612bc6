using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using SipIps.Tests;
using Xunit;
using Xunit.Abstractions;

namespace SipIps.SystemTests;

/// <summary>Builds the .deb once for the packaging tests.</summary>
public sealed class DebFixture : IDisposable
{
    public DebFixture()
    {
        if (!Lab.IsRoot) return;
        Dir = Directory.CreateTempSubdirectory("sipips-deb-").FullName;
        var r = Lab.Run("bash", [Path.Combine(Corpus.RepoRoot(), "packaging", "build-deb.sh"), Dir], TimeSpan.FromMinutes(10));
        if (r.ExitCode != 0) throw new InvalidOperationException($"build-deb.sh failed: {r.Stdout}{r.Stderr}");
        Deb = r.Stdout.Trim().Split('\n')[^1];
    }

    public string Dir { get; } = "";
    public string Deb { get; } = "";

    public void Dispose()
    {
        if (Dir.Length > 0) Directory.Delete(Dir, true);
    }
}

/// <summary>
/// The Debian package on this machine (CI is root): install, check, run the lab through the installed binary with
/// systemd's notification socket, fail open on a deliberate stop, and purge without a trace.
/// </summary>
[Collection("packaging")]
public class PackagingTests(DebFixture deb, ITestOutputHelper output) : IClassFixture<DebFixture>
{
    private static readonly TimeSpan Short = TimeSpan.FromSeconds(60);
    private static readonly string[] Installed =
    [
        "/usr/bin/sipips", "/etc/sipips/sipips.yaml", "/etc/sipips/rules.d/flood.yaml", "/etc/default/sipips", "/etc/logrotate.d/sipips",
        "/lib/systemd/system/sipips.service", "/usr/lib/sipips/sipips-failopen", "/usr/share/man/man8/sipips.8.gz",
        "/usr/share/sipips/grafana-dashboard.json", "/usr/share/doc/sipips/README.md", "/usr/share/doc/sipips/copyright",
    ];

    private static CommandResult Sh(string command) => Lab.Run("bash", ["-c", command], Short);

    private void Install()
    {
        var r = Lab.Run("dpkg", ["-i", deb.Deb], Short);
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
    }

    private static void Purge()
    {
        Lab.Run("dpkg", ["--purge", "sipips"], Short);
    }

    [RootFact]
    public void The_package_installs_checks_out_and_purges_without_a_trace()
    {
        var size = new FileInfo(deb.Deb).Length;
        output.WriteLine($"{Path.GetFileName(deb.Deb)}: {size / 1e6:0.0} MB; /usr/bin/sipips {new FileInfo(Path.Combine(deb.Dir, "publish-deb", "sipips")).Length / 1e6:0.0} MB");
        Assert.Matches(@"sipips_\d+\.\d+\.\d+-1_amd64\.deb$", deb.Deb);
        var lintian = Lab.Run("lintian", ["--fail-on", "error,warning", deb.Deb], Short);
        output.WriteLine($"lintian: exit {lintian.ExitCode} {lintian.Stdout}");
        Assert.True(lintian.ExitCode == 0, lintian.Stdout + lintian.Stderr);
        var conffiles = Sh($"dpkg-deb -e {deb.Deb} {deb.Dir}/control && cat {deb.Dir}/control/conffiles").Stdout;
        Assert.Contains("/etc/sipips/sipips.yaml", conffiles);
        Assert.Contains("/etc/sipips/rules.d/flood.yaml", conffiles);
        // Self-contained: no .NET runtime among the dependencies, only what the native host loads.
        var control = File.ReadAllText(Path.Combine(deb.Dir, "control", "control"));
        Assert.Contains("Depends: libc6", control);
        Assert.DoesNotContain("dotnet", control);
        Assert.DoesNotContain("libicu", control);

        Purge();
        try
        {
            Install();
            var version = Lab.Run("/usr/bin/sipips", ["version"], Short);
            Assert.Equal(0, version.ExitCode);
            Assert.StartsWith("sipips ", version.Stdout);
            // The binary runs without any .NET on the path.
            Assert.Equal(0, Sh("env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin /usr/bin/sipips version").ExitCode);
            Assert.Equal(0, Lab.Run("/usr/bin/sipips", ["check-config", "/etc/sipips/sipips.yaml"], Short).ExitCode);
            var rules = Lab.Run("/usr/bin/sipips", ["rules", "check", "/etc/sipips/rules.d"], Short);
            Assert.True(rules.ExitCode == 0, rules.Stderr);
            Assert.Contains("20 rule(s)", rules.Stdout);
            foreach (var f in Installed) Assert.True(File.Exists(f), $"{f} is missing");
            Assert.Contains("sipips", Sh("getent passwd sipips").Stdout);
            Assert.Equal("sipips:sipips 750", Sh("stat -c '%U:%G %a' /var/lib/sipips").Stdout.Trim());
            Assert.Equal("sipips:sipips 750", Sh("stat -c '%U:%G %a' /var/log/sipips").Stdout.Trim());
            Assert.Equal(0, Sh("man -l /usr/share/man/man8/sipips.8.gz > /dev/null").ExitCode);

            // The unit: verified, and scored by systemd's own security analysis (no systemd as PID 1 here).
            var verify = Lab.Run("systemd-analyze", ["verify", "/lib/systemd/system/sipips.service"], Short);
            Assert.True(verify.ExitCode == 0, verify.Stdout + verify.Stderr);
            var security = Lab.Run("systemd-analyze", ["security", "--offline=true", "/lib/systemd/system/sipips.service"], Short);
            string score = security.Stdout.Split('\n').LastOrDefault(l => l.Contains("Overall exposure level")) ?? security.Stdout;
            output.WriteLine(score.Trim());
            var m = System.Text.RegularExpressions.Regex.Match(score, @"level for sipips\.service: ([\d.]+)");
            Assert.True(m.Success, security.Stdout + security.Stderr);
            Assert.True(double.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) <= 3.0, score);

            // ExecStartPre with a broken configuration: the start stops there, with one line naming file:line.
            string unit = File.ReadAllText("/lib/systemd/system/sipips.service");
            string pre = unit.Split('\n').First(l => l.StartsWith("ExecStartPre=", StringComparison.Ordinal))["ExecStartPre=".Length..];
            File.AppendAllText("/etc/sipips/sipips.yaml", "\nbridge_typo: 1\n");
            var refused = Sh(pre);
            Assert.Equal(1, refused.ExitCode);
            var line = Assert.Single(refused.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.Matches(@"^sipips: /etc/sipips/sipips\.yaml:\d+:1: unknown key 'bridge_typo'", line);

            // Removal keeps the configuration (with the operator's edits) and the user; purge takes them.
            var remove = Lab.Run("dpkg", ["-r", "sipips"], Short);
            Assert.True(remove.ExitCode == 0, remove.Stderr);
            Assert.False(File.Exists("/usr/bin/sipips"));
            Assert.Contains("bridge_typo", File.ReadAllText("/etc/sipips/sipips.yaml"));
            Assert.True(File.Exists("/etc/sipips/rules.d/flood.yaml"));
            Assert.Contains("sipips", Sh("getent passwd sipips").Stdout);
        }
        finally
        {
            Purge();
        }
        foreach (var f in Installed.Append("/etc/sipips").Append("/var/lib/sipips").Append("/var/log/sipips"))
            Assert.False(File.Exists(f) || Directory.Exists(f), $"{f} is left after purge");
        Assert.Equal("", Sh("getent passwd sipips; getent group sipips").Stdout.Trim());
        Assert.NotEqual(0, Sh("dpkg -s sipips").ExitCode);
    }

    [RootFact]
    public void The_installed_binary_bridges_the_lab_notifies_systemd_and_fails_open_on_stop()
    {
        Purge();
        try
        {
            Install();
            using var lab = new Lab { SipIpsCommand = ["/usr/bin/sipips"] };
            string socketPath = Path.Combine(lab.Dir, "notify.sock");
            using var notify = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
            notify.Bind(new UnixDomainSocketEndPoint(socketPath));
            var messages = new List<(TimeSpan At, string Text)>();
            var clock = Stopwatch.StartNew();
            var reader = new Thread(() =>
            {
                var buffer = new byte[4096];
                try
                {
                    while (true)
                    {
                        int n = notify.Receive(buffer);
                        lock (messages) messages.Add((clock.Elapsed, Encoding.UTF8.GetString(buffer, 0, n)));
                    }
                }
                catch (Exception e) when (e is SocketException or ObjectDisposedException)
                {
                }
            }) { IsBackground = true };
            reader.Start();

            clock.Restart();
            lab.StartBridge(environment: [("NOTIFY_SOCKET", socketPath), ("WATCHDOG_USEC", "2000000")]);
            Assert.True(SpinWait.SpinUntil(() => { lock (messages) return messages.Any(m => m.Text.Contains("READY=1")); }, 10_000), "no READY=1");
            TimeSpan ready;
            lock (messages) ready = messages.First(m => m.Text.Contains("READY=1")).At;
            output.WriteLine($"READY=1 {ready.TotalMilliseconds:0} ms after the start");
            lock (messages) Assert.Contains(messages, m => m.Text.Contains("STATUS=forwarding pa<->pb"));

            // Calls through the installed binary.
            using var server = lab.StartIn("uas", "timeout", "60", "sipp", "-sn", "uas", "-i", "192.0.2.20", "-p", "5060", "-nostdin", "-timeout", "50s");
            Thread.Sleep(500);
            string screen = Path.Combine(lab.Dir, "uac.screen");
            lab.Exec("uac", Short, "sipp", "-sn", "uac", "192.0.2.20:5060", "-i", "192.0.2.10", "-p", "5070", "-m", "20", "-r", "10",
                "-nostdin", "-timeout", "40s", "-trace_screen", "-screen_file", screen);
            server.Kill(true);
            Assert.Equal((20, 0), Lab.SippCalls(File.ReadAllText(screen)));
            Assert.Contains("\"sip_messages\": 120", lab.Status(json: true));

            // The watchdog is fed at half its interval while the bridge is healthy.
            Assert.True(SpinWait.SpinUntil(() => { lock (messages) return messages.Count(m => m.Text == "WATCHDOG=1") >= 3; }, 10_000), "watchdog pings");
            lock (messages)
            {
                var pings = messages.Where(m => m.Text == "WATCHDOG=1").Select(m => m.At).ToList();
                output.WriteLine($"{pings.Count} watchdog pings, intervals {string.Join(", ", pings.Zip(pings.Skip(1), (a, b) => $"{(b - a).TotalMilliseconds:0} ms"))}");
                Assert.All(pings.Zip(pings.Skip(1), (a, b) => b - a), d => Assert.InRange(d.TotalMilliseconds, 500, 1600));
            }

            // A deliberate stop (an upgrade): STOPPING=1, then ExecStopPost joins the ports; the next start removes it.
            Assert.Equal(0, lab.StopBridge());
            lock (messages) Assert.Contains(messages, m => m.Text.Contains("STOPPING=1"));
            string env = File.ReadAllText("/etc/default/sipips");
            Assert.Contains("FAILOPEN=yes", env);
            string post = File.ReadAllText("/lib/systemd/system/sipips.service").Split('\n')
                .First(l => l.StartsWith("ExecStopPost=", StringComparison.Ordinal))["ExecStopPost=".Length..].Replace("/etc/sipips/sipips.yaml", lab.ConfigPath);
            var failOpen = lab.Exec("br", Short, "bash", "-c", $"set -a; . /etc/default/sipips; {post}");
            Assert.True(failOpen.ExitCode == 0, failOpen.Stdout + failOpen.Stderr);
            Assert.Contains("pa and pb joined in sipips-fo0", failOpen.Stdout);
            Assert.Equal(0, lab.Exec("uac", Short, "ping", "-c", "2", "-i", "0.2", "-W", "1", "192.0.2.20").ExitCode);
            lab.StartBridge();
            Assert.Contains("removed the fail-open bridge sipips-fo0", lab.BridgeLog);
            Assert.Equal(0, lab.Exec("uac", Short, "ping", "-c", "2", "-i", "0.2", "-W", "1", "192.0.2.20").ExitCode);
            lab.StopBridge();
            notify.Dispose();
        }
        finally
        {
            Purge();
        }
    }
}
