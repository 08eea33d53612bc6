using System.Text.Json;
using SipIps.TrafficGen;
using Xunit;

namespace SipIps.SystemTests;

/// <summary>
/// The shipped rules over a generated day of a PBX (phones registering, calling, answering the PBX's OPTIONS
/// pings, over UDP and TCP, with VLANs and fragments) with two attackers mixed in: only the attackers are accused.
/// </summary>
public class GeneratedTrafficTests
{
    private static JsonElement Analyze(string pcap)
    {
        var stdout = new MemoryStream();
        var stderr = new StringWriter();
        int code = Host.Program.Run(["analyze", pcap, "--rules", Lab.ShippedRules, "--json"], stdout, new StringWriter(), stderr);
        Assert.True(code == 0, stderr.ToString());
        return JsonDocument.Parse(stdout.ToArray()).RootElement.GetProperty("detection").Clone();
    }

    private static string Generate(bool attacks)
    {
        string pcap = Path.Combine(Path.GetTempPath(), $"sipips-gen-{Guid.NewGuid():N}.pcap");
        using (var file = new BufferedStream(File.Create(pcap), 1 << 20))
            new TrafficGenerator(new GeneratorOptions { SipPackets = 60_000, Seed = 11, Attacks = attacks }, file).Run();
        return pcap;
    }

    [Fact]
    public void Only_the_scanner_and_the_brute_forcer_are_accused()
    {
        string pcap = Generate(attacks: true);
        try
        {
            var d = Analyze(pcap);
            var keys = d.GetProperty("banned_keys").EnumerateArray().Select(k => k.GetProperty("key").GetString()!).ToList();
            Assert.Contains("src_ip=203.0.113.66", keys);
            Assert.Contains(keys, k => k.Contains("203.0.113.99", StringComparison.Ordinal));
            Assert.All(keys, k => Assert.Contains("203.0.113.", k));
            var fired = d.GetProperty("by_rule").EnumerateArray().Where(r => r.GetProperty("fired").GetInt64() > 0)
                .Select(r => r.GetProperty("id").GetString()).ToHashSet();
            Assert.Contains("scanner-user-agent", fired);
            Assert.Contains("scan-extensions", fired);
            Assert.Contains("register-bruteforce-src", fired);
        }
        finally
        {
            File.Delete(pcap);
        }
    }

    [Fact]
    public void A_busy_pbx_and_its_phones_raise_nothing()
    {
        string pcap = Generate(attacks: false);
        try
        {
            var d = Analyze(pcap);
            Assert.Equal(0, d.GetProperty("alerts").GetInt64());
        }
        finally
        {
            File.Delete(pcap);
        }
    }
}
