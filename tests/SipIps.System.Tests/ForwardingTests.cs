using System.Text.Json;
using Xunit;

namespace SipIps.SystemTests;

/// <summary>Traffic the bridge must forward unchanged whatever it is: VLAN-tagged, jumbo, spread over workers.</summary>
public class ForwardingTests
{
    private static readonly TimeSpan Short = TimeSpan.FromSeconds(30);

    [RootFact]
    public void Vlan_tagged_frames_keep_their_tag_across_the_bridge()
    {
        // This kernel may lack 802.1Q devices, so tagged frames are written raw on the UAC side and captured raw
        // on the UAS side. On the bridge's port the kernel moves the tag into metadata; SipIps must put it back.
        using var lab = new Lab();
        lab.StartBridge();
        string uacMac = Mac(lab, "uac", "uac0"), uasMac = Mac(lab, "uas", "uas0");
        var frames = new List<byte[]>();
        for (int i = 0; i < 20; i++)
        {
            var ip = SipIps.Tests.PacketBuilder.Udp(System.Net.IPAddress.Parse("198.51.100.10"), System.Net.IPAddress.Parse("198.51.100.20"),
                (ushort)(6000 + i), 5060, System.Text.Encoding.ASCII.GetBytes(SipIps.Tests.SipSamples.Invite(SipIps.Tests.SipSamples.BenchmarkCall with { CallId = $"vlan-{i}" })));
            var f = SipIps.Tests.PacketBuilder.Ethernet(ip, (ushort)(i % 2 == 0 ? 100 : 0x2000 | 200));
            Convert.FromHexString(uasMac.Replace(":", "")).CopyTo(f, 0);
            Convert.FromHexString(uacMac.Replace(":", "")).CopyTo(f, 6);
            frames.Add(f);
        }
        string hex = Path.Combine(lab.Dir, "vlan.hex");
        File.WriteAllLines(hex, frames.Select(Convert.ToHexString));
        string capture = Path.Combine(lab.Dir, "vlan.pcapng");
        using var cap = BridgeTests.StartCaptureIn(lab, "uas", "uas0", capture);
        Thread.Sleep(1000);
        string gen = Path.Combine(AppContext.BaseDirectory, "sipips-trafficgen.dll");
        var send = lab.Exec("uac", Short, "dotnet", gen, "send-frames", "uac0", hex);
        Assert.True(send.ExitCode == 0, send.Stdout + send.Stderr);
        Thread.Sleep(500);
        Lab.Run("kill", ["-INT", cap.Id.ToString()], Short);
        cap.WaitForExit(15_000);
        var arrived = new HashSet<string>();
        using (var reader = SipIps.Capture.CaptureFileReader.Open(capture))
            while (reader.TryReadNext(out var f)) arrived.Add(Convert.ToHexString(f.Data));
        foreach (var f in frames) Assert.Contains(Convert.ToHexString(f), arrived);
        var status = JsonDocument.Parse(lab.Status(json: true)).RootElement;
        Assert.Equal(20, status.GetProperty("sip_messages").GetInt64());
    }

    private static string Mac(Lab lab, string node, string dev) =>
        System.Text.RegularExpressions.Regex.Match(lab.Exec(node, Short, "ip", "-o", "link", "show", dev).Stdout, @"link/ether ([0-9a-f:]{17})").Groups[1].Value;

    [RootFact]
    public void Jumbo_frames_cross_whole()
    {
        using var lab = new Lab();
        foreach (var (node, dev) in new[] { ("uac", "uac0"), ("a", "a-uac"), ("a", "a-atk"), ("atk", "atk0"), ("a", "a-up"), ("a", "sw"), ("br", "pa"), ("br", "pb"), ("uas", "uas0") })
            lab.Exec(node, Short, "ip", "link", "set", dev, "mtu", "9000");
        lab.StartBridge();
        // 8,972 bytes of ICMP payload fill a 9,000-byte IP packet; "do not fragment" proves it crossed whole.
        var ping = lab.Exec("uac", Short, "ping", "-c", "3", "-i", "0.2", "-W", "2", "-M", "do", "-s", "8972", "192.0.2.20");
        Assert.True(ping.Stdout.Contains(" 0% packet loss"), ping.Stdout + ping.Stderr);
        var status = JsonDocument.Parse(lab.Status(json: true)).RootElement;
        foreach (var port in status.GetProperty("ports").EnumerateArray())
            Assert.False(port.GetProperty("dropped").TryGetProperty("truncated", out _), "a jumbo frame did not fit the ring");
    }

    [RootFact]
    public void Two_workers_per_port_share_the_load_and_every_call_succeeds()
    {
        using var lab = new Lab();
        lab.StartBridge(workers: 2);
        using var server = lab.StartIn("uas", "timeout", "60", "sipp", "-sn", "uas", "-i", "192.0.2.20", "-p", "5060", "-nostdin", "-timeout", "50s");
        Thread.Sleep(500);
        var client = lab.Exec("uac", TimeSpan.FromSeconds(60), "sipp", "-sn", "uac", "192.0.2.20:5060", "-i", "192.0.2.10", "-p", "5070",
            "-m", "100", "-r", "50", "-l", "100", "-nostdin", "-timeout", "40s");
        server.Kill(true);
        Assert.True(client.ExitCode == 0, $"sipp exit {client.ExitCode}");
        var status = JsonDocument.Parse(lab.Status(json: true)).RootElement;
        Assert.Equal(2, status.GetProperty("workers_per_port").GetInt32());
        Assert.Equal(600, status.GetProperty("sip_messages").GetInt64());
    }

    [RootFact]
    public void Without_cap_net_raw_the_bridge_refuses_to_start()
    {
        using var lab = new Lab();
        lab.WriteConfig();
        var r = lab.Exec("br", Short, "capsh", "--drop=cap_net_raw", "--", "-c", $"dotnet {Lab.SipIpsDll} run --config {lab.ConfigPath}");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("missing capability CAP_NET_RAW", r.Stderr);
    }

    [RootFact]
    public void Kamailio_registers_and_proxies_a_call_through_the_bridge()
    {
        using var lab = new Lab();
        lab.StartBridge();
        var start = lab.LabCommand("kamailio", "start");
        Assert.True(start.ExitCode == 0, start.Stdout + start.Stderr);
        Thread.Sleep(1000);
        string scenario = Path.Combine(SipIps.Tests.Corpus.RepoRoot(), "tests", "lab", "register.xml");

        // Twenty registrations from the UAC side, through SipIps, to the registrar.
        var reg = lab.Exec("uac", TimeSpan.FromSeconds(60), "sipp", "-sf", scenario, "192.0.2.20:5060", "-i", "192.0.2.10", "-p", "5070",
            "-m", "20", "-r", "10", "-nostdin", "-timeout", "30s");
        Assert.True(reg.ExitCode == 0, $"registrations failed: {reg.Stdout[^Math.Min(2000, reg.Stdout.Length)..]}");

        // A UAS registers as user1 at 192.0.2.20:5080; a call from the UAC to user1 goes SipIps -> kamailio -> UAS.
        var uasReg = lab.Exec("uas", TimeSpan.FromSeconds(30), "sipp", "-sf", scenario, "192.0.2.20:5060", "-i", "192.0.2.20", "-p", "5080",
            "-m", "1", "-nostdin", "-timeout", "10s");
        Assert.True(uasReg.ExitCode == 0, "UAS registration failed");
        using var server = lab.StartIn("uas", "timeout", "60", "sipp", "-sn", "uas", "-i", "192.0.2.20", "-p", "5080", "-nostdin", "-timeout", "50s");
        Thread.Sleep(500);
        var call = lab.Exec("uac", TimeSpan.FromSeconds(60), "sipp", "-sn", "uac", "-s", "user1", "192.0.2.20:5060", "-i", "192.0.2.10", "-p", "5072",
            "-m", "10", "-r", "5", "-nostdin", "-timeout", "40s");
        server.Kill(true);
        Assert.True(call.ExitCode == 0, $"proxied calls failed (exit {call.ExitCode})");
        Assert.True(JsonDocument.Parse(lab.Status(json: true)).RootElement.GetProperty("sip_messages").GetInt64() >= 20 * 2 + 10 * 6);
    }
}
