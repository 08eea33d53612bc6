using System.Diagnostics;
using System.Text.Json;
using Xunit;
using Xunit.Abstractions;

namespace SipIps.SystemTests;

/// <summary>
/// The exporters on the live bridge, checked by the real consumers: a Prometheus server scrapes /metrics and answers
/// PromQL, promtool checks the page, nfcapd stores the NetFlow v9 records and nfdump lists them, tshark decodes them
/// with the SIP strings, and the SIP CLF file has one record per message.
/// </summary>
public class ObservabilityTests(ITestOutputHelper output)
{
    private const string Uas = "192.0.2.20";
    private const string Uac = "192.0.2.10";
    private const int Calls = 20;
    private const int FlowPort = 29955;
    private const int PromPort = 29090;

    [RootFact]
    public void Prometheus_nfdump_tshark_and_the_clf_log_see_the_calls_that_crossed_the_bridge()
    {
        using var lab = new Lab();
        string clf = Path.Combine(lab.Dir, "sip.clf");
        string flows = Path.Combine(lab.Dir, "flows");
        Directory.CreateDirectory(flows);
        // The collectors first (templates go out at start), inside the bridge's namespace: its loopback is where the
        // exporters send.
        using var nfcapd = lab.StartIn("br", "timeout", "120", "nfcapd", "-w", flows, "-b", "127.0.0.1", "-p", FlowPort.ToString(), "-t", "3600");
        string wire = Path.Combine(lab.Dir, "netflow.pcapng");
        using var capture = BridgeTests.StartCaptureIn(lab, "br", "lo", wire, $"udp port {FlowPort}");
        lab.StartBridge(
            "metrics:\n  listen: 127.0.0.1:9464\n" +
            $"netflow:\n  collector: 127.0.0.1:{FlowPort}\n  source_id: 7\n" +
            $"clf:\n  path: {clf}\n" +
            "sessions:\n  linger: 500ms\n");

        // The exporter threads yield to the workers (bridge.management_nice, default 10); the workers keep nice 0.
        var nice = ThreadNice(lab.Bridge!.Id);
        Assert.Equal(10, nice["sessions"]);
        Assert.Equal(10, nice["clf"]);
        Assert.Contains(nice, t => t.Key.Contains('#') && t.Value == 0);

        string promConfig = Path.Combine(lab.Dir, "prometheus.yml");
        File.WriteAllText(promConfig, "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: sipips\n    static_configs:\n      - targets: ['127.0.0.1:9464']\n");
        using var prometheus = lab.StartIn("br", "timeout", "120", "prometheus", $"--config.file={promConfig}",
            $"--storage.tsdb.path={Path.Combine(lab.Dir, "prom")}", $"--web.listen-address=127.0.0.1:{PromPort}");
        prometheus.BeginErrorReadLine();
        prometheus.BeginOutputReadLine();
        Assert.True(SpinWait.SpinUntil(() => Query(lab, "up{job=\"sipips\"}") == 1, 30_000), "prometheus never scraped sipips successfully");

        // The calls.
        using var server = lab.StartIn("uas", "timeout", "60", "sipp", "-sn", "uas", "-i", Uas, "-p", "5060", "-nostdin", "-timeout", "50s");
        Thread.Sleep(500);
        string screen = Path.Combine(lab.Dir, "uac.screen");
        var client = lab.Exec("uac", TimeSpan.FromSeconds(60), "sipp", "-sn", "uac", $"{Uas}:5060", "-i", Uac, "-p", "5070",
            "-m", Calls.ToString(), "-r", "10", "-nostdin", "-timeout", "40s", "-trace_screen", "-screen_file", screen);
        var (ok, _) = Lab.SippCalls(File.ReadAllText(screen));
        Assert.Equal(Calls, ok);
        server.Kill(true);

        // Prometheus, through its HTTP API: the counters after the run.
        Assert.True(SpinWait.SpinUntil(() => Query(lab, "sipips_sip_requests_total{method=\"BYE\"}") == Calls, 15_000),
            $"BYE count in prometheus: {Query(lab, "sipips_sip_requests_total{method=\"BYE\"}")}");
        Assert.Equal(Calls, Query(lab, "sipips_sip_requests_total{method=\"INVITE\"}"));
        Assert.Equal(Calls, Query(lab, "sipips_sip_requests_total{method=\"ACK\"}"));
        Assert.Equal(2 * Calls, Query(lab, "sum(sipips_sip_responses_total{code=\"200\"})"));
        // The session thread measures post-dial delay from its queue, up to one pass (10 ms) behind the worker's
        // counters: a scrape can fall between the two.
        Assert.True(SpinWait.SpinUntil(() => Query(lab, "sipips_post_dial_delay_seconds_count") == Calls, 10_000),
            $"post-dial delays in prometheus: {Query(lab, "sipips_post_dial_delay_seconds_count")}");
        Assert.Equal(0, Query(lab, "sum(sipips_sip_parse_errors_total)"));
        Assert.True(Query(lab, "sum(sipips_port_rx_frames_total)") >= 6 * Calls);
        Assert.Equal(0, Query(lab, "sum(sipips_port_dropped_frames_total)"));
        Assert.True(SpinWait.SpinUntil(() => Query(lab, "sipips_sessions_exported_total") == Calls, 10_000), "sessions exported");
        Assert.Equal(0, Query(lab, "sipips_active_calls"));
        // The behaviour factors are gauges too: 20 calls at 10/s, INVITE, ACK and BYE in equal parts.
        Assert.True(SpinWait.SpinUntil(() => Math.Abs(Query(lab, "sipips_factor{factor=\"request_response_ratio\",window=\"60s\"}") - 1.0) < 0.01, 10_000),
            $"request_response_ratio {Query(lab, "sipips_factor{factor=\"request_response_ratio\",window=\"60s\"}")}");
        Assert.Equal(1.0 / 3, Query(lab, "sipips_factor{factor=\"invite_ratio\",window=\"60s\"}"), 3);
        Assert.Equal(0, Query(lab, "sipips_baseline_ready"));

        // promtool on the page as served.
        var page = lab.Exec("br", TimeSpan.FromSeconds(10), "curl", "-sf", "http://127.0.0.1:9464/metrics");
        Assert.Equal(0, page.ExitCode);
        string pageFile = Path.Combine(lab.Dir, "metrics.txt");
        File.WriteAllText(pageFile, page.Stdout);
        var check = Lab.Run("bash", ["-c", $"promtool check metrics < {pageFile}"], TimeSpan.FromSeconds(20));
        output.WriteLine($"promtool: exit {check.ExitCode} {check.Stdout}{check.Stderr}");
        Assert.True(check.ExitCode == 0, check.Stdout + check.Stderr);
        Assert.DoesNotContain("@", page.Stdout.Split('\n').Where(l => !l.StartsWith('#')).Aggregate("", (a, l) => a + l.Split(' ')[0])); // no URIs as labels

        // The shipped Grafana dashboard asks only for metrics the bridge serves.
        string dashboard = File.ReadAllText(Path.Combine(SipIps.Tests.Corpus.RepoRoot(), "packaging", "grafana-dashboard.json"));
        var wanted = System.Text.RegularExpressions.Regex.Matches(dashboard, "sipips_[a-z_]+").Select(m => m.Value).Distinct().ToList();
        Assert.True(wanted.Count > 15, $"{wanted.Count}");
        Assert.All(wanted, name => Assert.Contains($"# TYPE {System.Text.RegularExpressions.Regex.Replace(name, "_bucket$", "")} ", page.Stdout));

        // logrotate's way: move the file, then SIGUSR1; the bridge reopens at the path.
        Assert.True(SpinWait.SpinUntil(() => lab.Status(json: true).Contains($"\"records\": {6 * Calls}"), 10_000), "CLF records not all written");
        File.Move(clf, clf + ".1");
        lab.Signal("USR1");
        Assert.True(SpinWait.SpinUntil(() => lab.BridgeLog.Contains("logs reopened", StringComparison.Ordinal) && File.Exists(clf), 10_000), lab.BridgeLog);

        var status = JsonDocument.Parse(lab.Status(json: true)).RootElement;
        output.WriteLine(status.GetProperty("sessions").ToString());
        Assert.Equal(0, lab.StopBridge());
        Thread.Sleep(500);
        Lab.Run("kill", ["-TERM", nfcapd.Id.ToString()], TimeSpan.FromSeconds(5));
        Assert.True(nfcapd.WaitForExit(10_000), "nfcapd did not stop");
        BridgeTests.StopCapture(capture); // a kill instead lost the last flow packet once
        prometheus.Kill(true);

        // nfdump: one record per call, with the standard fields right.
        var dump = Lab.Run("nfdump", ["-R", flows, "-q", "-o", "fmt:%sa|%da|%sp|%dp|%pr|%pkt|%byt|%td"], TimeSpan.FromSeconds(20));
        Assert.True(dump.ExitCode == 0, dump.Stderr);
        var rows = dump.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('|').Select(c => c.Trim()).ToArray()).ToList();
        output.WriteLine($"nfdump: {rows.Count} record(s); first: {string.Join(" ", rows.FirstOrDefault() ?? [])}");
        Assert.Equal(Calls, rows.Count);
        Assert.All(rows, r =>
        {
            Assert.Equal(Uac, r[0]);
            Assert.Equal(Uas, r[1]);
            Assert.Equal("5070", r[2]);
            Assert.Equal("5060", r[3]);
            Assert.Equal("UDP", r[4]);
            // INVITE, 180, 200, ACK, BYE, 200 (sipp's UAS sends no 100 Trying).
            Assert.Equal("6", r[5]);
            Assert.True(long.Parse(r[6]) > 6 * 300, r[6]);
        });

        // tshark: the same records, with the SIP strings readable.
        var shark = Lab.Run("tshark", ["-r", wire, "-d", $"udp.port=={FlowPort},cflow", "-T", "fields", "-E", "separator=|", "-E", "occurrence=a",
            "-e", "cflow.pie.ntop.sip_call_id", "-e", "cflow.pie.ntop.sip_calling_party", "-e", "cflow.pie.ntop.sip_called_party",
            "-e", "cflow.pie.ntop.sip_response_code"], TimeSpan.FromSeconds(30));
        Assert.True(shark.ExitCode == 0, shark.Stderr);
        var callIds = new HashSet<string>();
        foreach (var line in shark.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var f = line.Split('|');
            if (f[0].Length == 0) continue;
            var ids = f[0].Split(',');
            for (int i = 0; i < ids.Length; i++)
            {
                callIds.Add(ids[i]);
                Assert.StartsWith("sip:sipp@", f[1].Split(',')[i]);
                Assert.StartsWith("sip:service@", f[2].Split(',')[i]);
                Assert.Equal("200", f[3].Split(',')[i]);
            }
        }
        output.WriteLine($"tshark: {callIds.Count} Call-ID(s), e.g. {callIds.FirstOrDefault()}");
        Assert.Equal(Calls, callIds.Count);

        // SIP CLF: one record per SIP message, the same Call-IDs.
        Assert.Equal(0, new FileInfo(clf).Length);
        var records = ReadClf(File.ReadAllBytes(clf + ".1"));
        Assert.Equal(6 * Calls, records.Count);
        Assert.Equal(callIds.OrderBy(x => x), records.Select(r => r.CallId).Distinct().OrderBy(x => x));
        Assert.Equal(Calls, records.Count(r => r.CSeq.EndsWith(" INVITE") && r.Status == "-"));
    }

    internal static List<Export.Clf.ClfEntry> ReadClf(byte[] data)
    {
        var list = new List<Export.Clf.ClfEntry>();
        int at = 0;
        while (at < data.Length)
        {
            int n = Export.Clf.ClfReader.TryParse(data.AsSpan(at), out var entry, out string? error);
            Assert.True(n > 0, $"bad CLF record at byte {at}: {error}");
            list.Add(entry!);
            at += n;
        }
        return list;
    }

    /// <summary>A PromQL instant query through the HTTP API; the single sample's value, or -1.</summary>
    private static double Query(Lab lab, string promql)
    {
        var r = lab.Exec("br", TimeSpan.FromSeconds(10), "curl", "-sf", "--get", $"http://127.0.0.1:{PromPort}/api/v1/query", "--data-urlencode", $"query={promql}");
        if (r.ExitCode != 0) return -1;
        using var doc = JsonDocument.Parse(r.Stdout);
        var result = doc.RootElement.GetProperty("data").GetProperty("result");
        if (result.GetArrayLength() != 1) return -1;
        return double.Parse(result[0].GetProperty("value")[1].GetString()!, System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Thread name to nice value (field 19 of /proc/PID/task/TID/stat) of every thread of a process.</summary>
    private static Dictionary<string, int> ThreadNice(int pid)
    {
        var result = new Dictionary<string, int>();
        foreach (var dir in Directory.GetDirectories($"/proc/{pid}/task"))
        {
            try
            {
                string stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                result[File.ReadAllText(Path.Combine(dir, "comm")).TrimEnd('\n')] = int.Parse(fields[16]);
            }
            catch (IOException)
            {
                // The thread ended since the listing.
            }
        }
        return result;
    }
}
