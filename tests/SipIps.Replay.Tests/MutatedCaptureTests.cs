using System.Net;
using System.Text;
using System.Text.Json;
using FsCheck;
using FsCheck.Fluent;
using SipIps.Capture;
using SipIps.Engine.Packets;
using SipIps.Tests;
using Xunit;

namespace SipIps.Replay.Tests;

/// <summary>
/// The whole of <c>sipips analyze</c> (decoding, fragment, TCP and SCTP reassembly, parsing, sessions and RTP, the
/// behaviour factors, the shipped rules, the report, CLF, NetFlow, alerts, evidence and the HTML report) over captures
/// whose frames an attacker rewrote: bytes flipped or set to values that sit on parsing boundaries, frames cut short
/// or lengthened, spliced from other frames, repeated and reordered. Every run must end with exit 0 and a full report:
/// no internal error, whatever the bytes. The frames come from real captures of every transport and tunnel the
/// decoder follows, and from a generated call with a fragmented INVITE (IPv4 and IPv6), TCP segments, SCTP chunks,
/// VLAN tags and RTP.
/// </summary>
public class MutatedCaptureTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sipips-mutated-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly string[] s_files =
    [
        "ndpi/pcap/sip_hello.pcapng",
        "ndpi/pcap/rtp.pcapng",
        "suricata-verify-sip/sip-sdp/sdp.pcap",
        "transport-edge-cases/heplify/sip_sctp.pcap",
    ];

    [Fact]
    public void Analyze_of_a_rewritten_capture_file_reports_or_refuses_it_in_one_line()
    {
        // The file itself rewritten: section, interface and record headers, block and record lengths, link types.
        // Each run ends with a report (exit 0, a damaged end reported) or a one-line refusal (exit 2), never an
        // internal error.
        var files = s_files.Select(f => (Name: f, Bytes: File.ReadAllBytes(Corpus.Path(f.Split('/'))))).ToArray();
        int run = 0;
        var cases = Gen.Choose(0, files.Length - 1).SelectMany(s => Gen.Choose(0, int.MaxValue).Select(seed => (s, seed)));
        Prop.ForAll(Arb.From(cases), ((int File, int Seed) c) =>
        {
            var (name, original) = files[c.File];
            var bytes = (byte[])original.Clone();
            var rnd = new Random(c.Seed);
            int edits = 1 + rnd.Next(6);
            for (int e = 0; e < edits; e++)
            {
                // Headers sit at the start and at each record's start: half the edits fall in the first 64 bytes.
                int at = rnd.Next(2) == 0 ? rnd.Next(Math.Min(64, bytes.Length)) : rnd.Next(bytes.Length);
                int width = Math.Min(1 << rnd.Next(3), bytes.Length - at);
                for (int k = 0; k < width; k++) bytes[at + k] = HostileFrames.Interesting[rnd.Next(HostileFrames.Interesting.Length)];
            }
            if (rnd.Next(4) == 0) bytes = bytes.AsSpan(0, rnd.Next(bytes.Length + 1)).ToArray();
            string path = Path.Combine(_dir, $"file{run++}.cap");
            File.WriteAllBytes(path, bytes);
            var (code, stdout, stderr) = CliTests.RunCli("analyze", path, "--json", "--no-progress", "--clf", path + ".clf");
            string what = $"{name}, seed {c.Seed}: exit {code}: {stderr}";
            if (code != 0) FuzzCampaign.Keep(path);
            Assert.True(code is 0 or 2, what);
            if (code == 0) JsonDocument.Parse(stdout).Dispose();
            else Assert.True(stderr.TrimEnd('\n').Split('\n').Length == 1 && stderr.StartsWith("sipips: "), what);
            foreach (var f in Directory.GetFiles(_dir)) File.Delete(f);
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(FuzzCampaign.Cases(240)));
    }


    [Fact]
    public void Analyze_with_every_output_survives_captures_an_attacker_rewrote()
    {
        var sources = HostileFrames.Sources;
        string rules = Path.Combine(Corpus.RepoRoot(), "rules");
        int run = 0;
        var cases = Gen.Choose(0, sources.Count - 1).SelectMany(s => Gen.Choose(0, int.MaxValue).Select(seed => (s, seed)));
        Prop.ForAll(Arb.From(cases), ((int Source, int Seed) c) =>
        {
            var source = sources[c.Source];
            var frames = HostileFrames.Mutate(source, c.Seed);
            string capture = Path.Combine(_dir, $"case{run}.pcap");
            string outputs = Path.Combine(_dir, $"out{run++}");
            using (var file = File.Create(capture))
            using (var writer = new PcapWriter(file, source.Link))
            {
                foreach (var (ns, data) in frames) writer.Write(ns, data);
            }
            var (code, stdout, stderr) = CliTests.RunCli("analyze", capture, "--json", "--no-progress",
                "--clf", outputs + ".clf", "--rules", rules, "--mode", "prevent", "--alerts", outputs + ".alerts",
                "--evidence", outputs + ".evidence.pcap", "--report", outputs + ".html", "--netflow", "127.0.0.1:9");
            string what = $"{source.Name}, seed {c.Seed}: exit {code}: {stderr}";
            if (code != 0) FuzzCampaign.Keep(capture);
            Assert.True(code == 0, what);
            using var report = JsonDocument.Parse(stdout);
            Assert.True(report.RootElement.GetProperty("packets").GetInt64() == frames.Count, what);
            foreach (var f in Directory.GetFiles(_dir)) File.Delete(f);
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(FuzzCampaign.Cases(120)));
    }
}
