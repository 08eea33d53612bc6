using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;
using SipIps.Capture;
using SipIps.Capture.Interop;
using Xunit;
using Xunit.Abstractions;

namespace SipIps.SystemTests;

/// <summary>One lab with the bridge running, shared by the traffic tests of this class.</summary>
public sealed class RunningBridge : IDisposable
{
    public Lab Lab { get; } = new();

    public RunningBridge()
    {
        if (Lab.IsRoot) Lab.StartBridge();
    }

    public void Dispose() => Lab.Dispose();
}

/// <summary>Traffic through SipIps between the lab's UAC and UAS: it must arrive, intact, with SIP inspected.</summary>
public class BridgeTests(RunningBridge fixture, ITestOutputHelper output) : IClassFixture<RunningBridge>
{
    private Lab Lab => fixture.Lab;
    private static readonly TimeSpan Short = TimeSpan.FromSeconds(30);

    [RootFact]
    public void Ping_crosses_the_bridge_over_ipv4_and_ipv6()
    {
        var v4 = Lab.Exec("uac", Short, "ping", "-c", "5", "-i", "0.2", "-W", "2", "192.0.2.20");
        Assert.True(v4.ExitCode == 0, v4.Stdout + v4.Stderr);
        Assert.Contains(" 0% packet loss", v4.Stdout);
        var v6 = Lab.Exec("uac", Short, "ping", "-6", "-c", "5", "-i", "0.2", "-W", "2", "2001:db8::20");
        Assert.True(v6.ExitCode == 0, v6.Stdout + v6.Stderr);
        Assert.Contains(" 0% packet loss", v6.Stdout);
        // The bridge runs at the width VectorWidth picks for this processor (capped at 128 bits unless its 512-bit
        // units are full width), started again with it where needed, and says so.
        if (Environment.GetEnvironmentVariable(VectorWidth.Variable) is null)
        {
            int expected = VectorWidth.FullWidthVectors ? VectorWidth.Current : Math.Min(VectorWidth.Current, VectorWidth.Bits);
            Assert.Contains($", {expected}-bit vectors", Lab.BridgeLog);
        }
        // No ring_frames in the lab's configuration: each ring is sized by the 1500-byte MTU.
        Assert.Contains("ring v2 (16,384 frames)", Lab.BridgeLog);
    }

    [RootFact]
    public void A_tcp_transfer_arrives_with_the_same_sha256()
    {
        string send = Path.Combine(Lab.Dir, "send.bin"), recv = Path.Combine(Lab.Dir, "recv.bin");
        var data = new byte[8 << 20];
        Random.Shared.NextBytes(data);
        File.WriteAllBytes(send, data);
        using var server = Lab.StartIn("uas", "timeout", "60", "socat", "-u", "TCP-LISTEN:9000,reuseaddr", $"OPEN:{recv},creat,trunc");
        Thread.Sleep(500);
        var client = Lab.Exec("uac", TimeSpan.FromSeconds(60), "socat", "-u", $"FILE:{send}", "TCP:192.0.2.20:9000,retry=20,interval=0.2");
        Assert.True(client.ExitCode == 0, client.Stderr);
        Assert.True(server.WaitForExit(30_000), "receiver did not finish");
        Assert.Equal(Convert.ToHexString(SHA256.HashData(data)), Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(recv))));
    }

    private (int Successful, int Failed) Sipp(int calls, int rate, bool ipv6)
    {
        string uas = ipv6 ? "2001:db8::20" : "192.0.2.20";
        string uac = ipv6 ? "2001:db8::10" : "192.0.2.10";
        string screen = Path.Combine(Lab.Dir, $"uac-{Guid.NewGuid():N}.screen");
        using var server = Lab.StartIn("uas", "timeout", "90", "sipp", "-sn", "uas", "-i", uas, "-p", "5060", "-nostdin", "-timeout", "80s");
        Thread.Sleep(500);
        var client = Lab.Exec("uac", TimeSpan.FromSeconds(90), "sipp", "-sn", "uac", ipv6 ? $"[{uas}]:5060" : $"{uas}:5060", "-i", uac, "-p", "5070",
            "-m", calls.ToString(), "-r", rate.ToString(), "-l", calls.ToString(), "-nostdin", "-timeout", "60s",
            "-trace_screen", "-screen_file", screen);
        server.Kill(true);
        string text = File.Exists(screen) ? File.ReadAllText(screen) : client.Stdout;
        output.WriteLine(text.Length > 4000 ? text[^4000..] : text);
        Assert.True(client.ExitCode == 0, $"sipp exit {client.ExitCode}: {client.Stderr}");
        return Lab.SippCalls(text);
    }

    [RootFact]
    public void Two_hundred_sipp_calls_all_succeed()
    {
        var before = Status();
        var (ok, failed) = Sipp(200, 50, ipv6: false);
        Assert.Equal(200, ok);
        Assert.Equal(0, failed);
        var after = Status();
        // sipp's uac/uas scenarios exchange INVITE, 180, 200, ACK, BYE, 200 per call: all of it inspected.
        Assert.Equal(200 * 6, after.GetProperty("sip_messages").GetInt64() - before.GetProperty("sip_messages").GetInt64());
        Assert.Equal(0, after.GetProperty("sip_invalid").GetInt64());
    }

    [RootFact]
    public void Sipp_calls_over_ipv6_succeed()
    {
        var (ok, failed) = Sipp(50, 25, ipv6: true);
        Assert.Equal(50, ok);
        Assert.Equal(0, failed);
    }

    private JsonElement Status() => JsonDocument.Parse(Lab.Status(json: true)).RootElement.Clone();

    [RootFact]
    public void Status_counts_what_crossed_each_port()
    {
        Lab.Exec("uac", Short, "ping", "-c", "3", "-i", "0.2", "192.0.2.20");
        var s = Status();
        var ports = s.GetProperty("ports").EnumerateArray().ToDictionary(p => p.GetProperty("name").GetString()!);
        Assert.True(ports["pa"].GetProperty("rx_frames").GetInt64() >= 3);
        Assert.True(ports["pa"].GetProperty("forwarded").GetInt64() >= 3);
        Assert.True(ports["pb"].GetProperty("forwarded").GetInt64() >= 3);
        Assert.Equal("pb", ports["pa"].GetProperty("peer").GetString());
        Assert.Equal(0, ports["pa"].GetProperty("send_errors").GetInt64());
        Assert.True(s.GetProperty("uptime_seconds").GetDouble() > 0);
        string text = Lab.Status();
        Assert.Contains("worker(s) per pair", text);
        Assert.Matches(@"pa\s+pb\s+up", text);
    }

    private static string Mac(Lab lab, string node, string dev)
    {
        var r = lab.Exec(node, Short, "ip", "-o", "link", "show", dev);
        return Regex.Match(r.Stdout, @"link/ether ([0-9a-f:]{17})").Groups[1].Value;
    }

    private Process StartCapture(string node, string dev, string file) => StartCaptureIn(Lab, node, dev, file);

    internal static Process StartCaptureIn(Lab lab, string node, string dev, string file, string? filter = null)
    {
        var p = filter is null
            ? lab.StartIn(node, "timeout", "60", "tshark", "-q", "-B", "32", "-i", dev, "-w", file)
            : lab.StartIn(node, "timeout", "60", "tshark", "-q", "-B", "32", "-i", dev, "-f", filter, "-w", file);
        var deadline = DateTime.UtcNow.AddSeconds(15);
        // tshark says "Capturing on" once the socket is open.
        var err = new System.Text.StringBuilder();
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (err) err.AppendLine(e.Data); };
        p.BeginErrorReadLine();
        while (true)
        {
            lock (err) if (err.ToString().Contains("Capturing on", StringComparison.Ordinal)) break;
            if (DateTime.UtcNow > deadline || p.HasExited) throw new InvalidOperationException($"tshark did not start on {dev}: {err}");
            Thread.Sleep(50);
        }
        return p;
    }

    /// <summary>Stops a capture with SIGINT and waits: tshark then writes what it still buffers, which a kill loses.</summary>
    internal static void StopCapture(Process capture)
    {
        Lab.Run("kill", ["-INT", capture.Id.ToString()], TimeSpan.FromSeconds(5));
        Assert.True(capture.WaitForExit(15_000), "tshark did not stop");
    }

    /// <summary>
    /// The frames a host sent, as hex. ARP, IPv6 neighbour discovery and MLD are left out: their timers fire on their
    /// own and may land at one capture's edge but not the other's (a new lab's hosts send their first MLD reports
    /// in the very seconds the two captures start, one after the other).
    /// </summary>
    private static List<string> Frames(string file, string sourceMac)
    {
        var mac = Convert.FromHexString(sourceMac.Replace(":", ""));
        var frames = new List<string>();
        using var reader = CaptureFileReader.Open(file);
        while (reader.TryReadNext(out var f))
        {
            var d = f.Data;
            if (d.Length < 14 || !d.Slice(6, 6).SequenceEqual(mac)) continue;
            bool arp = d[12] == 0x08 && d[13] == 0x06;
            bool nd = d[12] == 0x86 && d[13] == 0xDD && d.Length > 54 && d[20] == 58 && d[54] is >= 133 and <= 137;
            // MLD: ICMPv6 behind a hop-by-hop header (router alert); queries 130, reports 131 and 143, done 132.
            bool mld = d[12] == 0x86 && d[13] == 0xDD && d.Length > 62 && d[20] == 0 && d[54] == 58 && d[62] is 130 or 131 or 132 or 143;
            if (!arp && !nd && !mld) frames.Add(Convert.ToHexString(d));
        }
        frames.Sort(StringComparer.Ordinal);
        return frames;
    }

    [RootFact]
    public void Frames_leave_the_bridge_byte_for_byte_as_they_entered()
    {
        // Captured on the far side of each port: the bridge sends past the qdisc, where a capture on its own ports
        // would not see the frames it transmits.
        string sideA = Path.Combine(Lab.Dir, "a.pcapng"), sideB = Path.Combine(Lab.Dir, "b.pcapng");
        using var capA = StartCapture("a", "a-up", sideA);
        using var capB = StartCapture("uas", "uas0", sideB);
        // "Capturing on" comes a little before the capture loop runs: without a pause the first frame is missed.
        Thread.Sleep(1000);
        var v4 = Lab.Exec("uac", Short, "ping", "-c", "5", "-i", "0.1", "-s", "1200", "192.0.2.20");
        Assert.Contains(" 0% packet loss", v4.Stdout);
        var v6 = Lab.Exec("uac", Short, "ping", "-6", "-c", "5", "-i", "0.1", "2001:db8::20");
        Assert.Contains(" 0% packet loss", v6.Stdout);
        Assert.Equal(20, Sipp(20, 20, ipv6: false).Successful);
        Thread.Sleep(500);
        foreach (var c in new[] { capA, capB }) StopCapture(c);
        string uacMac = Mac(Lab, "uac", "uac0"), uasMac = Mac(Lab, "uas", "uas0");
        var aToB = (Frames(sideA, uacMac), Frames(sideB, uacMac));
        var bToA = (Frames(sideB, uasMac), Frames(sideA, uasMac));
        // Each way at least the 20 calls' three messages (INVITE, ACK, BYE; or 180, 200, 200), besides the pings.
        Assert.True(aToB.Item1.Count >= 60, $"only {aToB.Item1.Count} frames captured from the UAC");
        Assert.True(bToA.Item1.Count >= 60, $"only {bToA.Item1.Count} frames captured from the UAS");
        AssertSame("UAC to UAS", aToB.Item1, aToB.Item2);
        AssertSame("UAS to UAC", bToA.Item1, bToA.Item2);
    }

    private static void AssertSame(string what, List<string> entered, List<string> left)
    {
        var missing = entered.Except(left).ToList();
        var extra = left.Except(entered).ToList();
        Assert.True(missing.Count == 0 && extra.Count == 0 && entered.Count == left.Count,
            $"{what}: {entered.Count} frames entered, {left.Count} left; {missing.Count} never left, {extra.Count} left that never entered; " +
            $"first missing: {missing.FirstOrDefault()?[..Math.Min(400, missing.FirstOrDefault()?.Length ?? 0)]}");
    }

    [RootFact]
    public void Sighup_reloads_and_a_bad_file_is_refused_while_forwarding_goes_on()
    {
        File.WriteAllText(Lab.ConfigPath, File.ReadAllText(Lab.ConfigPath).Replace("workers: 1", "workers: 1\n  exception_policy: fail-closed"));
        Lab.Signal("HUP");
        Assert.True(SpinWait.SpinUntil(() => Lab.BridgeLog.Contains("reloaded", StringComparison.Ordinal), 15000), Lab.BridgeLog);

        string good = File.ReadAllText(Lab.ConfigPath);
        File.WriteAllText(Lab.ConfigPath, good + "bogus_key: 1\n");
        Lab.Signal("HUP");
        Assert.True(SpinWait.SpinUntil(() => Lab.BridgeLog.Contains("reload refused", StringComparison.Ordinal), 15000), Lab.BridgeLog);
        Assert.Contains("unknown key 'bogus_key'", Lab.BridgeLog);
        File.WriteAllText(Lab.ConfigPath, good);

        var ping = Lab.Exec("uac", Short, "ping", "-c", "3", "-i", "0.2", "-W", "2", "192.0.2.20");
        Assert.Contains(" 0% packet loss", ping.Stdout);
        Assert.Contains("fail-closed", Lab.Status(), StringComparison.OrdinalIgnoreCase);
    }
}
