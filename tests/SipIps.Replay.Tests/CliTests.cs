using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using SipIps.Capture;
using SipIps.Engine.Packets;
using SipIps.Export.Clf;
using SipIps.Tests;
using Xunit;

namespace SipIps.Replay.Tests;

/// <summary>The command-line contract: outputs, exit codes (0 ok, 1 invalid input, 2 usage or I/O), one-line errors.</summary>
public class CliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sipips-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    internal static (int Code, string Stdout, string Stderr) RunCli(params string[] args) => Run(args);

    private static (int Code, string Stdout, string Stderr) Run(params string[] args)
    {
        var stdout = new MemoryStream();
        var stdoutText = new StringWriter();
        var stderr = new StringWriter();
        int code = Host.Program.Run(args, stdout, stdoutText, stderr);
        return (code, Encoding.UTF8.GetString(stdout.ToArray()) + stdoutText, stderr.ToString());
    }

    private static string Sip(string relative) => Corpus.Path(relative.Split('/'));

    [Fact]
    public void Analyze_json_has_the_documented_keys_and_values()
    {
        var (code, stdout, stderr) = Run("analyze", Sip("zeek-sip/traces/wireshark.pcap"), "--json");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        var r = doc.RootElement;
        foreach (var key in new[] { "packets", "sip_messages", "requests", "responses", "calls", "parse_errors", "decode_errors", "registrations", "top_sources", "top_from_uris", "top_to_uris", "time_span" })
            Assert.True(r.TryGetProperty(key, out _), $"missing key {key}");
        Assert.Equal(81, r.GetProperty("packets").GetInt64());
        Assert.Equal(81, r.GetProperty("sip_messages").GetInt64());
        Assert.Equal(18, r.GetProperty("requests").GetProperty("REGISTER").GetInt64());
        Assert.Equal(11, r.GetProperty("requests").GetProperty("INVITE").GetInt64());
        Assert.Equal(14, r.GetProperty("responses").GetProperty("401").GetInt64());
        Assert.Equal(4, r.GetProperty("calls").GetProperty("total").GetInt64());
        Assert.Equal(1, r.GetProperty("calls").GetProperty("cancelled").GetInt64());
        Assert.Equal(3, r.GetProperty("registrations").GetProperty("accepted").GetInt64());
        Assert.Equal("192.168.1.2", r.GetProperty("top_sources")[0].GetProperty("key").GetString());
        Assert.Equal(47, r.GetProperty("top_sources")[0].GetProperty("count").GetInt64());
        Assert.Equal(1446.038, r.GetProperty("time_span").GetProperty("seconds").GetDouble(), 3);
    }

    [Fact]
    public void Analyze_text_report_names_the_sections()
    {
        var (code, stdout, _) = Run("analyze", Sip("sip-attacks-initconf/traces/BadUserAgent-sipvicious.pcap"), "--no-progress");
        Assert.Equal(0, code);
        foreach (var s in new[] { "Requests by method", "Responses by status code", "Calls", "Registrations", "Top sources", "Top User-Agents", "Parse errors", "Decode errors" })
            Assert.Contains(s, stdout);
        Assert.Contains("friendly-scanner", stdout);
    }

    [Fact]
    public void Analyze_writes_one_clf_record_per_message_that_reads_back()
    {
        string clf = Path.Combine(_dir, "out.clf");
        var (code, stdout, stderr) = Run("analyze", Sip("zeek-sip/traces/wireshark.pcap"), "--json", "--clf", clf);
        Assert.True(code == 0, stderr);
        var bytes = File.ReadAllBytes(clf);
        var entries = new List<ClfEntry>();
        int pos = 0;
        while (pos < bytes.Length)
        {
            int n = ClfReader.TryParse(bytes.AsSpan(pos), out var e, out var error);
            Assert.True(n > 0, $"record at {pos}: {error}");
            entries.Add(e!);
            pos += n;
        }
        Assert.Equal(81, entries.Count);
        using var doc = JsonDocument.Parse(stdout);
        Assert.Equal(81, doc.RootElement.GetProperty("clf_records").GetInt64());
        Assert.Equal(47, entries.Count(e => e.Flags[0] == 'R'));
        Assert.All(entries, e => Assert.Matches("^[Rr][OD]RUU$", e.Flags));
        // The first REGISTER as tshark shows it.
        var first = entries[0];
        Assert.EndsWith(" REGISTER", first.CSeq);
        Assert.Equal("sip:sip.cybercity.dk", first.RequestUri);
        Assert.Equal("192.168.1.2:5060", first.Source);
        Assert.Equal("212.242.33.35:5060", first.Destination);
    }

    [Fact]
    public void Analyze_refuses_missing_unreadable_and_non_capture_files_in_one_line()
    {
        var missing = Run("analyze", Path.Combine(_dir, "nope.pcap"));
        Assert.Equal(2, missing.Code);
        Assert.Single(missing.Stderr.Trim().Split('\n'));
        Assert.Contains("no such file", missing.Stderr);

        string text = Path.Combine(_dir, "notes.txt");
        File.WriteAllText(text, "this is not a capture\n");
        var notCapture = Run("analyze", text);
        Assert.Equal(2, notCapture.Code);
        Assert.Contains("not a pcap or pcapng file", notCapture.Stderr);
        Assert.DoesNotContain("   at ", notCapture.Stderr);

        var dir = Run("analyze", _dir);
        Assert.Equal(2, dir.Code);
        Assert.Contains("is a directory", dir.Stderr);
    }

    private string WriteCapture(int frames)
    {
        string path = Path.Combine(_dir, $"gen{frames}.pcap");
        using var w = new PcapWriter(File.Create(path), LinkType.Ethernet);
        var a = IPAddress.Parse("192.0.2.10");
        var b = IPAddress.Parse("198.51.100.20");
        for (int i = 0; i < frames; i++)
        {
            var c = SipSamples.BenchmarkCall with { CallId = $"cli-{i}@192.0.2.10" };
            w.Write(1_700_000_000_000_000_000 + i * 1_000_000L, PacketBuilder.Ethernet(PacketBuilder.Udp(a, b, 5060, 5060, Encoding.ASCII.GetBytes(SipSamples.Invite(c)))));
        }
        return path;
    }

    [Fact]
    public void A_behaviour_rule_that_fires_on_the_last_window_of_the_capture_reaches_the_alerts_file()
    {
        // 45 requests from one source, each answered 404: 15 over 6 s, then 30 in the capture's last 60 ms. The shipped
        // source-error-ratio rule needs 40 messages, and seconds are judged once they are over: only the final tick,
        // for the capture's last second, sees enough.
        // That tick once ran after the alert file was closed, and analyze ended with an internal error.
        string path = Path.Combine(_dir, "errors.pcap");
        var attacker = IPAddress.Parse("203.0.113.66");
        var server = IPAddress.Parse("198.51.100.20");
        using (var w = new PcapWriter(File.Create(path), LinkType.Ethernet))
        {
            long t = 1_767_225_600_000_000_000;
            for (int i = 0; i < 45; i++)
            {
                var c = SipSamples.BenchmarkCall with { CallId = $"err-{i}@203.0.113.66", CallerIp = "203.0.113.66", Branch = $"z9hG4bKerr{i}" };
                w.Write(t, PacketBuilder.Ethernet(PacketBuilder.Udp(attacker, server, 5060, 5060, Encoding.ASCII.GetBytes(SipSamples.InDialog(c, "OPTIONS", 1, c.Branch)))));
                w.Write(t + 2_000_000, PacketBuilder.Ethernet(PacketBuilder.Udp(server, attacker, 5060, 5060, Encoding.ASCII.GetBytes(SipSamples.Response(c, 404, "Not Found", "OPTIONS")))));
                t += i < 15 ? 400_000_000 : 2_000_000;
            }
        }
        string alerts = Path.Combine(_dir, "errors.alerts");
        var (code, _, stderr) = Run("analyze", path, "--json", "--rules", Path.Combine(Corpus.RepoRoot(), "rules"), "--alerts", alerts);
        Assert.True(code == 0, stderr);
        Assert.Contains(File.ReadAllLines(alerts), l => l.Contains("\"rule_id\":\"source-error-ratio\"") && l.Contains("\"key\":\"src_ip=203.0.113.66\""));
    }

    [Fact]
    public void The_text_report_prints_no_terminal_controls_an_attacker_sent()
    {
        // A User-Agent with the escape sequences that retitle a terminal and clear its screen, and a Unicode
        // override that displays text reversed: the report shows them as escapes, never as themselves.
        string path = Path.Combine(_dir, "controls.pcap");
        const string agent = "friendly\u001b]0;pwned\u0007\u001b[2J\u202Erenacs";
        using (var w = new PcapWriter(File.Create(path), LinkType.Ethernet))
        {
            var c = SipSamples.BenchmarkCall with { UserAgent = agent };
            var sip = Encoding.UTF8.GetBytes(SipSamples.Invite(c));
            w.Write(1_700_000_000_000_000_000, PacketBuilder.Ethernet(PacketBuilder.Udp(IPAddress.Parse("203.0.113.9"), IPAddress.Parse("198.51.100.20"), 5060, 5060, sip)));
        }
        var (code, stdout, stderr) = Run("analyze", path, "--no-progress");
        Assert.True(code == 0, stderr);
        Assert.DoesNotContain('\u001b', stdout);
        Assert.DoesNotContain('\u0007', stdout);
        Assert.DoesNotContain('\u202E', stdout);
        Assert.Contains("friendly\\u001B]0;pwned\\u0007\\u001B[2J\\u202Erenacs", stdout);
    }

    [Fact]
    public void Truncated_final_record_is_reported_but_the_report_is_made()
    {
        string path = WriteCapture(5);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes.AsSpan(0, bytes.Length - 100).ToArray());
        var (code, stdout, stderr) = Run("analyze", path, "--json");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        Assert.Equal(4, doc.RootElement.GetProperty("sip_messages").GetInt64());
        Assert.Contains("truncated final record", doc.RootElement.GetProperty("warning").GetString());
    }

    [Fact]
    public void Corrupt_record_in_the_middle_is_an_error()
    {
        string path = WriteCapture(5);
        var bytes = File.ReadAllBytes(path);
        bytes[24 + 8] = 0xFF;
        bytes[24 + 11] = 0x7F;
        File.WriteAllBytes(path, bytes);
        var (code, _, stderr) = Run("analyze", path);
        Assert.Equal(2, code);
        Assert.Contains("corrupt record at offset 24", stderr);
    }

    [Fact]
    public void Parse_exit_codes_and_json()
    {
        var ok = Run("parse", Corpus.Path("rfc4475", "messages", "esc01.dat"));
        Assert.Equal(0, ok.Code);
        using (var doc = JsonDocument.Parse(ok.Stdout))
        {
            Assert.True(doc.RootElement.GetProperty("valid").GetBoolean());
            Assert.Equal("INVITE", doc.RootElement.GetProperty("method").GetString());
            Assert.Equal("sips:user@example.com", doc.RootElement.GetProperty("request_uri").GetProperty("user_unescaped").GetString());
            Assert.Equal(2, doc.RootElement.GetProperty("sdp").GetProperty("media").GetArrayLength());
        }

        var bad = Run("parse", Corpus.Path("rfc4475", "messages", "scalar02.dat"));
        Assert.Equal(1, bad.Code);
        using (var doc = JsonDocument.Parse(bad.Stdout))
        {
            Assert.False(doc.RootElement.GetProperty("valid").GetBoolean());
            Assert.Equal("cseq_out_of_range", doc.RootElement.GetProperty("reason").GetString());
        }

        Assert.Equal(2, Run("parse", Path.Combine(_dir, "missing.sip")).Code);
        Assert.Equal(2, Run("parse").Code);
        Assert.Equal(2, Run("analyze", "--bogus-option", "x").Code);
        var version = Run("version");
        Assert.Equal(0, version.Code);
        Assert.StartsWith("sipips ", version.Stdout);
    }

    [Fact]
    public async Task Analyze_as_its_own_process_keeps_its_arguments_and_output_at_the_width_it_picks()
    {
        // The real binary, without the width set: unless the processor has full-width 512-bit units it runs itself
        // again (execve) with the width capped, and either way it must keep its arguments, its standard streams and
        // its exit code; the report is the in-process one.
        string dll = typeof(Host.Program).Assembly.Location;
        string capture = Sip("zeek-sip/traces/wireshark.pcap");
        var psi = new ProcessStartInfo("dotnet", [dll, "analyze", capture, "--json", "--no-progress"]) { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.Environment.Remove("DOTNET_PreferredVectorBitWidth");
        // The report's distinct-count sketches hash with the process's seed: the child takes this process's seed, so
        // that the two reports can be compared byte for byte (with its own random seed, an estimate over a handful of
        // Call-IDs differed now and then).
        psi.Environment[Engine.Common.Hash64.SeedVariable] = Engine.Common.Hash64.Seed.ToString(System.Globalization.CultureInfo.InvariantCulture);
        using var p = Process.Start(psi)!;
        var stderrTask = p.StandardError.ReadToEndAsync();
        string stdout = await p.StandardOutput.ReadToEndAsync();
        await p.WaitForExitAsync();
        Assert.True(p.ExitCode == 0, await stderrTask);
        var inProcess = Run("analyze", capture, "--json", "--no-progress");
        Assert.Equal(inProcess.Stdout.Trim(), stdout.Trim());

        var missing = new ProcessStartInfo("dotnet", [dll, "analyze", Path.Combine(_dir, "no such.pcap")]) { RedirectStandardOutput = true, RedirectStandardError = true };
        missing.Environment.Remove("DOTNET_PreferredVectorBitWidth");
        using var q = Process.Start(missing)!;
        string error = await q.StandardError.ReadToEndAsync();
        await q.WaitForExitAsync();
        Assert.Equal(2, q.ExitCode);
        Assert.Contains("no such.pcap", error);
    }

    [Fact]
    public void Parse_reads_standard_input_and_binary_garbage_is_invalid_not_a_crash()
    {
        string dll = typeof(Host.Program).Assembly.Location;
        var psi = new ProcessStartInfo("dotnet", [dll, "parse", "-"]) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        p.StandardInput.BaseStream.Write([0xFF, 0xFE, 0x00, 0x41, 0x0A, 0xC3]);
        p.StandardInput.Close();
        string stdout = p.StandardOutput.ReadToEnd();
        string stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 1, stderr);
        using var doc = JsonDocument.Parse(stdout);
        Assert.False(doc.RootElement.GetProperty("valid").GetBoolean());
    }
}
