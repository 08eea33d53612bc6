using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using SipIps.Tests;
using Xunit;

namespace SipIps.SystemTests;

/// <summary>A fact that needs root; skipped with the reason when the tests do not run as root.</summary>
public sealed class RootFactAttribute : FactAttribute
{
    public RootFactAttribute()
    {
        if (!Lab.IsRoot) Skip = "needs root for network namespaces, veth pairs and AF_PACKET (CI runs as root)";
    }
}

public sealed record CommandResult(int ExitCode, string Stdout, string Stderr);

/// <summary>
/// One lab (tests/lab/lab.sh) with its own namespace prefix, so that runs never collide, and the sipips bridge
/// running in its middle. Disposing stops the bridge and deletes the namespaces, whatever happened before.
/// </summary>
public sealed class Lab : IDisposable
{
    [DllImport("libc", EntryPoint = "geteuid")]
    private static extern uint GetEuid();

    public static bool IsRoot { get; } = OperatingSystem.IsLinux() && GetEuid() == 0;

    public static string Script => Path.Combine(Corpus.RepoRoot(), "tests", "lab", "lab.sh");
    public static string SipIpsDll => typeof(Host.Program).Assembly.Location;

    public string Prefix { get; }
    public string Dir { get; }
    public string ConfigPath => Path.Combine(Dir, "sipips.yaml");
    public string ControlSocket => Path.Combine(Dir, "control.sock");
    private Process? _bridge;
    private readonly StringBuilder _bridgeLog = new();

    public Lab()
    {
        Prefix = "st" + Guid.NewGuid().ToString("N")[..6];
        Dir = Directory.CreateTempSubdirectory("sipips-lab-").FullName;
        if (!IsRoot) return;
        var up = LabCommand("up");
        if (up.ExitCode != 0)
        {
            LabCommand("down");
            throw new InvalidOperationException($"lab up failed: {up.Stderr}");
        }
    }

    public string BridgeLog
    {
        get
        {
            lock (_bridgeLog) return _bridgeLog.ToString();
        }
    }

    public CommandResult LabCommand(params string[] args) => Run("bash", [Script, .. args], TimeSpan.FromSeconds(60), ("LAB", Prefix));

    /// <summary>Runs a command inside one of the lab's namespaces.</summary>
    public CommandResult Exec(string node, TimeSpan timeout, params string[] command) =>
        Run("ip", ["netns", "exec", $"{Prefix}-{node}", .. command], timeout);

    public Process StartIn(string node, params string[] command) => StartIn(node, [], command);

    public Process StartIn(string node, IEnumerable<(string Name, string Value)> environment, params string[] command)
    {
        var psi = new ProcessStartInfo("ip", ["netns", "exec", $"{Prefix}-{node}", .. command])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
        };
        foreach (var (name, value) in environment) psi.Environment[name] = value;
        return Process.Start(psi)!;
    }

    /// <summary>
    /// How the bridge is started: the build in this tree by default; the packaging tests set the installed binary.
    /// </summary>
    public string[] SipIpsCommand { get; set; } = ["dotnet", SipIpsDll];

    public string AlertLog => Path.Combine(Dir, "alerts.json");
    public string EvidencePath => Path.Combine(Dir, "evidence.pcap");
    public string StateFile => Path.Combine(Dir, "bans.json");
    public static string ShippedRules => Path.Combine(Corpus.RepoRoot(), "rules");

    /// <summary>
    /// The detection section: every file inside the lab's directory (never the system's /var), and no rules unless
    /// asked (an empty directory), so that traffic tests are about forwarding.
    /// </summary>
    public string Detection(string? rules = null, string mode = "prevent", string more = "")
    {
        if (rules is null)
        {
            rules = Path.Combine(Dir, "no-rules");
            Directory.CreateDirectory(rules);
        }
        return $"detection:\n  rules: [{rules}]\n  mode: {mode}\n  alert_log: {AlertLog}\n  evidence: {{ path: {EvidencePath} }}\n  state_file: {StateFile}\n{more}";
    }

    public void WriteConfig(string extra = "", string pairs = "[[pa, pb]]", int workers = 1)
    {
        if (!extra.Contains("detection:", StringComparison.Ordinal)) extra += Detection();
        if (!extra.Contains("baseline:", StringComparison.Ordinal)) extra += $"baseline:\n  file: {Path.Combine(Dir, "baseline.bin")}\n";
        File.WriteAllText(ConfigPath, $"bridge:\n  pairs: {pairs}\n  workers: {workers}\n{extra}control:\n  socket: {ControlSocket}\n");
    }

    /// <summary>Starts sipips run in the bridge namespace and waits until it forwards.</summary>
    public void StartBridge(string extra = "", int workers = 1, params (string Name, string Value)[] environment)
    {
        WriteConfig(extra, workers: workers);
        lock (_bridgeLog) _bridgeLog.Clear();
        _bridge = StartIn("br", environment, [.. SipIpsCommand, "run", "--config", ConfigPath]);
        _bridge.StandardInput.Close();
        _bridge.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (_bridgeLog) _bridgeLog.AppendLine(e.Data); };
        _bridge.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_bridgeLog) _bridgeLog.AppendLine(e.Data); };
        _bridge.BeginOutputReadLine();
        _bridge.BeginErrorReadLine();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        // The line that follows the start of the workers; a warning before it ("no rules: forwarding with operator
        // bans only") must not pass for it, or the test would begin while the bridge still compiles its paths.
        while (!BridgeLog.Contains("sipips: forwarding ", StringComparison.Ordinal))
        {
            if (_bridge.HasExited) throw new InvalidOperationException($"sipips exited with {_bridge.ExitCode}: {BridgeLog}");
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"sipips did not start: {BridgeLog}");
            Thread.Sleep(50);
        }
    }

    public Process? Bridge => _bridge;

    public void Signal(string signal) => Run("kill", ["-" + signal, _bridge!.Id.ToString()], TimeSpan.FromSeconds(5));

    /// <summary>SIGTERM and wait; returns the exit code.</summary>
    public int StopBridge()
    {
        if (_bridge is null || _bridge.HasExited) return _bridge?.ExitCode ?? 0;
        // ip netns exec replaces itself with the command, so this is the sipips process.
        Signal("TERM");
        if (!_bridge.WaitForExit(15_000)) _bridge.Kill(true);
        // The overload without a timeout also waits for the log readers to reach the end of the output, so that the
        // last lines (the "stopped" line among them) are in BridgeLog when this returns.
        _bridge.WaitForExit();
        return _bridge.ExitCode;
    }

    public string Status(bool json = false)
    {
        var r = Exec("br", TimeSpan.FromSeconds(20), [.. SipIpsCommand, "status", "--socket", ControlSocket, .. (json ? new[] { "--json" } : [])]);
        Assert.True(r.ExitCode == 0, $"status failed: {r.Stderr}");
        return r.Stdout;
    }

    /// <summary>Successful and failed calls from a sipp screen dump (the cumulative column); -1 when absent.</summary>
    public static (int Successful, int Failed) SippCalls(string screen)
    {
        return (Count("Successful call"), Count("Failed call"));

        int Count(string label)
        {
            var m = System.Text.RegularExpressions.Regex.Match(screen, System.Text.RegularExpressions.Regex.Escape(label) + @"\s*\|\s*\d+\s*\|\s*(\d+)");
            return m.Success ? int.Parse(m.Groups[1].Value) : -1;
        }
    }

    public static CommandResult Run(string file, IEnumerable<string> args, TimeSpan timeout, params (string, string)[] env)
    {
        var psi = new ProcessStartInfo(file, args)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
        };
        foreach (var (k, v) in env) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        p.StandardInput.Close();
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout))
        {
            p.Kill(true);
            p.WaitForExit();
            return new CommandResult(-1, Drain(stdout), Drain(stderr) + $"\n(killed after {timeout.TotalSeconds} s)");
        }
        return new CommandResult(p.ExitCode, Drain(stdout), Drain(stderr));

        // A daemon started by the command may keep the pipes open: take what is there, never wait forever.
        static string Drain(Task<string> read) => read.Wait(TimeSpan.FromSeconds(5)) ? read.Result : "(output still open)";
    }

    public void Dispose()
    {
        try
        {
            StopBridge();
        }
        catch (Exception)
        {
            // Teardown continues whatever happens to the bridge.
        }
        if (IsRoot) LabCommand("down");
        try
        {
            Directory.Delete(Dir, true);
        }
        catch (IOException)
        {
        }
    }
}
