using System.Text.Json;
using SipIps.Engine.Packets;
using SipIps.Tests;
using Xunit;
using Xunit.Abstractions;

namespace SipIps.SystemTests;

/// <summary>
/// Frames an attacker rewrote (<see cref="HostileFrames"/>: real captures and a generated call, bits flipped, fields
/// set to boundary values, frames cut, spliced and repeated) sent into the live bridge from the attacker's host while
/// the UAC makes calls, with the shipped rules in prevent mode and every exporter on. The calls must all succeed, and
/// neither a worker nor an exporter thread may fail on any frame.
/// </summary>
public class HostileTrafficTests(ITestOutputHelper output)
{
    private const string Uas = "192.0.2.20";
    private const string Uac = "192.0.2.10";
    private const int Calls = 50;
    private static string Gen => Path.Combine(AppContext.BaseDirectory, "sipips-trafficgen.dll");

    [RootFact]
    public void Rewritten_frames_from_an_attacker_stop_neither_the_calls_nor_any_thread()
    {
        using var lab = new Lab();
        lab.StartBridge(lab.Detection(Lab.ShippedRules) +
                        "metrics:\n  listen: 127.0.0.1:9464\n" +
                        "netflow:\n  collector: 127.0.0.1:2055\n" +
                        $"clf:\n  path: {Path.Combine(lab.Dir, "sip.clf")}\n");

        // Ethernet frames only, each fitting the lab's MTU; the generated call comes from an attacker's address, so
        // that a rule it trips accuses nobody in the lab.
        var sources = HostileFrames.Captures.Where(s => s.Link == LinkType.Ethernet).Prepend(HostileFrames.Generated("203.0.113.66")).ToList();
        var frames = new List<string>();
        for (int seed = 0; frames.Count < 1500; seed++)
            foreach (var (_, data) in HostileFrames.Mutate(sources[seed % sources.Count], seed))
                if (data.Length is >= 14 and <= 1514) frames.Add(Convert.ToHexString(data));
        string hex = Path.Combine(lab.Dir, "hostile.hex");
        File.WriteAllLines(hex, frames);
        // The captures hold both directions of their conversations: a switch that learned both ends behind the
        // attacker's port would keep most frames there. Unlearned, every address is flooded on to the bridge.
        var learning = lab.Exec("a", TimeSpan.FromSeconds(10), "ip", "link", "set", "a-atk", "type", "bridge_slave", "learning", "off");
        Assert.True(learning.ExitCode == 0, learning.Stderr);

        using var server = lab.StartIn("uas", "timeout", "60", "sipp", "-sn", "uas", "-i", Uas, "-p", "5060", "-nostdin", "-timeout", "50s");
        Thread.Sleep(500);
        using var attacker = lab.StartIn("atk", "timeout", "60", "dotnet", Gen, "send-frames", "atk0", hex);
        string screen = Path.Combine(lab.Dir, "uac.screen");
        lab.Exec("uac", TimeSpan.FromSeconds(60), "sipp", "-sn", "uac", $"{Uas}:5060", "-i", Uac, "-p", "5070",
            "-m", Calls.ToString(), "-r", "10", "-nostdin", "-timeout", "40s", "-trace_screen", "-screen_file", screen);
        Assert.True(attacker.WaitForExit(60_000), "the attacker's frames were not all sent");
        string sent = attacker.StandardOutput.ReadToEnd().Trim();
        server.Kill(true);
        var (ok, failed) = Lab.SippCalls(File.Exists(screen) ? File.ReadAllText(screen) : "");

        var status = JsonDocument.Parse(lab.Status(json: true)).RootElement;
        output.WriteLine($"attacker: {sent}; calls {ok} ok, {failed} failed");
        output.WriteLine(lab.Status());
        Assert.Equal(Calls, ok);
        long received = 0;
        foreach (var port in status.GetProperty("ports").EnumerateArray())
        {
            Assert.Equal(0, port.GetProperty("errors").GetInt64());
            received += port.GetProperty("rx_frames").GetInt64();
        }
        // The switch in front of the bridge drops frames whose source address is a group address; most get through.
        Assert.True(received > frames.Count * 3 / 4, $"the bridge received {received} frames of {frames.Count} sent");
        Assert.Equal(0, status.GetProperty("sessions").GetProperty("internal_errors").GetInt64());
        Assert.Equal(0, status.GetProperty("clf").GetProperty("internal_errors").GetInt64());
        Assert.Equal(0, status.GetProperty("clf").GetProperty("write_errors").GetInt64());
        Assert.Equal(0, lab.StopBridge());
        Assert.DoesNotContain("internal error", lab.BridgeLog);
    }
}
