using SipIps.Rules.Yaml;
using SipIps.Capture.AfPacket;
using SipIps.Capture.Bridge;
using SipIps.Host.Config;
using SipIps.Tests;
using Xunit;

namespace SipIps.Replay.Tests;

/// <summary>The configuration file: every error names file:line:column, and the shipped file is valid.</summary>
public class ConfigTests
{
    private static ConfigException Error(string yaml) =>
        Assert.Throws<ConfigException>(() => SipIpsConfig.Parse(yaml, "test.yaml"));

    [Theory]
    [InlineData("bridge:\n  pairs: [[a, b]]\n  wrokers: 2\n", "test.yaml:3:3: unknown key 'wrokers' in bridge")]
    [InlineData("bridge:\n  pairs: [[a, b]]\n  workers: many\n", "test.yaml:3:12: bridge.workers must be a whole number")]
    [InlineData("bridge:\n  pairs: [[a, b]]\n  workers: 0\n", "test.yaml:3:12: bridge.workers must be between 1 and 64, not 0")]
    [InlineData("bridge:\n  pairs: [[a, b]]\n  cpus: [0, 4096]\n", "test.yaml:3:13: each of bridge.cpus must be between 0 and 1023, not 4096")]
    [InlineData("bridge:\n  pairs: [[a, b]]\n  cpus: [1000]\n", "test.yaml:3:10: bridge.cpus: CPU 1000 does not exist here")]
    [InlineData("bridge:\n  pairs: [[a, b]]\n  management_cpus: []\n", "test.yaml:3:20: bridge.management_cpus lists at least one CPU")]
    [InlineData("bridge:\n  pairs: [[a, b]]\n  management_nice: 20\n", "test.yaml:3:20: bridge.management_nice must be between 0 and 19, not 20")]
    [InlineData("bridge:\n  pairs: [[a, b]]\n  ring: v4\n", "test.yaml:3:9: bridge.ring must be one of v2, v3, not 'v4'")]
    [InlineData("bridge:\n  pairs: [[a, b, c]]\n", "test.yaml:2:11: each pair lists exactly two interfaces")]
    [InlineData("bridge:\n  pairs: [[a, a]]\n", "test.yaml:2:11: pair [a, a]: an interface cannot be its own peer")]
    [InlineData("bridge:\n  pairs: [[a, b], [b, c]]\n", "test.yaml:2:19: pair [b, c]: an interface is in more than one pair")]
    [InlineData("bridge:\n  pairs: [[a, b]]\n  pairs: [[c, d]]\n", "test.yaml:3:3: duplicate key 'pairs'")]
    [InlineData("bridge:\n  workers: 2\n", "bridge.pairs is missing")]
    [InlineData("bridge:\n  pairs: [[a, b]]\n  exception_policy: maybe\n", "bridge.exception_policy must be one of fail-open, fail-closed")]
    [InlineData("bridge:\n  pairs: [[a, b]]\n  link_propagation: sometimes\n", "test.yaml:3:21: bridge.link_propagation must be true or false")]
    [InlineData("bridge:\n  pairs: [[averyveryverylongname, b]]\n", "is not an interface name")]
    [InlineData("sip:\n  ports: [5060, 70000]\nbridge:\n  pairs: [[a, b]]\n", "test.yaml:2:17: each of sip.ports must be between 1 and 65535")]
    [InlineData("sip:\n  ports: [5061]\nbridge:\n  pairs: [[a, b]]\n", "port 5061 is both a SIP port and an encrypted SIP port")]
    [InlineData("bridge:\n  pairs: [[a, b]\n", "test.yaml:3:1: ")]
    [InlineData("", "the file is empty")]
    [InlineData("- a\n- b\n", "the configuration must be a mapping")]
    [InlineData("bridge:\n  pairs: [[a, b]]\nnetflow:\n  source_id: 3\n", "test.yaml:4:3: netflow.collector is missing")]
    [InlineData("bridge:\n  pairs: [[a, b]]\nnetflow:\n  collector: collector.example:2055\n", "test.yaml:4:14: netflow.collector: 'collector.example:2055' is not an address and port")]
    [InlineData("bridge:\n  pairs: [[a, b]]\nmetrics:\n  listen: 127.0.0.1\n", "test.yaml:4:11: metrics.listen: '127.0.0.1' is not an address and port")]
    [InlineData("bridge:\n  pairs: [[a, b]]\nclf:\n  max_file_mb: 10\n", "test.yaml:4:3: clf.path is missing")]
    [InlineData("bridge:\n  pairs: [[a, b]]\nclf:\n  path: /tmp/x\n  rotate_interval: soon\n", "test.yaml:5:20: clf.rotate_interval")]
    [InlineData("bridge:\n  pairs: [[a, b]]\nsessions:\n  capacity: 10\n", "test.yaml:4:13: sessions.capacity must be between 1024")]
    [InlineData("bridge:\n  pairs: [[a, b]]\nbaseline:\n  timezone: Mars/Olympus\n", "test.yaml:4:13: baseline.timezone: unknown time zone 'Mars/Olympus'")]
    [InlineData("bridge:\n  pairs: [[a, b]]\nbaseline:\n  slot: 11m\n", "test.yaml:4:9: baseline.slot must be whole minutes that divide a week")]
    [InlineData("bridge:\n  pairs: [[a, b]]\nbaseline:\n  weeks: 2\n", "baseline.min_weeks (3) is more than the weeks kept (2)")]
    public void Errors_name_the_place_and_the_problem(string yaml, string expected)
    {
        var e = Error(yaml);
        Assert.Contains(expected, e.ToString());
        Assert.DoesNotContain("\n", e.ToString());
    }

    [Fact]
    public void Cpu_lists_are_read_and_a_cpu_is_listed_once()
    {
        var c = SipIpsConfig.Parse("bridge:\n  pairs: [[a, b]]\n  cpus: [0, 0]\n  management_cpus: [0]\n", "test.yaml");
        Assert.Equal([0], c.Bridge.WorkerCpus);
        Assert.Equal([0], c.ManagementCpus);
        Assert.Empty(SipIpsConfig.Parse("bridge:\n  pairs: [[a, b]]\n", "test.yaml").ManagementCpus);
        Assert.Equal(10, SipIpsConfig.Parse("bridge:\n  pairs: [[a, b]]\n", "test.yaml").ManagementNice);
        Assert.Equal(0, SipIpsConfig.Parse("bridge:\n  pairs: [[a, b]]\n  management_nice: 0\n", "test.yaml").ManagementNice);
    }

    [Fact]
    public void The_shipped_configuration_is_valid_and_means_the_defaults()
    {
        var c = SipIpsConfig.LoadFile(Path.Combine(Corpus.RepoRoot(), "packaging", "sipips.yaml"));
        Assert.Equal([new BridgePair("eth1", "eth2")], c.Bridge.Pairs);
        var defaults = new BridgeOptions();
        Assert.Equal(defaults.Ring, c.Bridge.Ring);
        Assert.Equal(RingVersion.V2, c.Bridge.Ring);
        Assert.Equal(defaults.Send, c.Bridge.Send);
        Assert.Equal(defaults.Batch, c.Bridge.Batch);
        Assert.Equal(defaults.RingFrames, c.Bridge.RingFrames);
        Assert.Equal(defaults.BusyPollMicroseconds, c.Bridge.BusyPollMicroseconds);
        Assert.Equal(ExceptionPolicy.FailOpen, c.Bridge.OnError);
        Assert.True(c.Bridge.DisableOffloads && c.Bridge.LinkPropagation && c.Bridge.Inspect);
        Assert.Equal(Environment.ProcessorCount, c.Bridge.Workers);
        Assert.Equal(SipIpsConfig.DefaultControlSocket, c.ControlSocket);
        Assert.Equal([5060, 5080], c.Bridge.Engine.SipPorts);
        Assert.Equal(new ExportConfig(), c.Export);
        Assert.Equal("127.0.0.1:9464", c.Export.Metrics!.ToString());
        Assert.Null(c.Export.NetFlow);
        Assert.Null(c.Export.Clf);
    }

    [Fact]
    public void The_exporter_sections_parse()
    {
        var c = SipIpsConfig.Parse("bridge:\n  pairs: [[a, b]]\nmetrics:\n  listen: '[::1]:9100'\nnetflow:\n  collector: 192.0.2.50:2055\n  source_id: 9\n  template_refresh: 5m\n" +
                                   "clf:\n  path: /var/log/x.clf\n  max_file_mb: 5\n  rotate_interval: 1d\n  files: 3\nsessions:\n  capacity: 4096\n  linger: 1s\n", "t.yaml");
        Assert.Equal("[::1]:9100", c.Export.Metrics!.ToString());
        Assert.Equal("192.0.2.50:2055", c.Export.NetFlow!.Collector.ToString());
        Assert.Equal(9u, c.Export.NetFlow.SourceId);
        Assert.Equal(300_000_000_000, c.Export.NetFlow.TemplateRefreshNs);
        Assert.Equal(("/var/log/x.clf", 5L << 20, 86_400_000_000_000, 3), (c.Export.Clf!.Path, c.Export.Clf.MaxFileBytes, c.Export.Clf.RotateIntervalNs, c.Export.Clf.Files));
        Assert.Equal((4096, 1_000_000_000L), (c.Export.Sessions.Capacity, c.Export.Sessions.LingerNs));
        Assert.Null(SipIpsConfig.Parse("bridge:\n  pairs: [[a, b]]\nmetrics: off\n", "t.yaml").Export.Metrics);
    }

    [Theory]
    // An unclosed flow mapping before a comment: the YAML library's scanner fails it with no place of its own.
    [InlineData("bridge:\n  pairs: [[a, b]]\n  management_nice: {10\n# a comment\nmetrics: off\n", ":3:", "cannot be read after this point")]
    // A key with a line break in it (a double-quoted escape): the error stays on one line.
    [InlineData("bridge:\n  pairs: [[a, b]]\n  \"no\\npe\": 1\n", ":3:3:", "unknown key 'no\\npe' in bridge")]
    public void Check_config_errors_are_one_placed_line_for_yaml_that_breaks_the_reader(string yaml, string place, string message)
    {
        string path = Path.Combine(Path.GetTempPath(), $"sipips-config-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(path, yaml);
        try
        {
            var r = CliTests.RunCli("check-config", path);
            Assert.True(r.Code == 1, r.Stderr);
            string line = Assert.Single(r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.StartsWith($"sipips: {path}{place}", line);
            Assert.Contains(message, line);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Check_config_exit_codes()
    {
        var ok = CliTests.RunCli("check-config", Path.Combine(Corpus.RepoRoot(), "packaging", "sipips.yaml"));
        Assert.Equal(0, ok.Code);
        Assert.Contains("ok (1 pair(s): eth1<->eth2)", ok.Stdout);
        var pairs = CliTests.RunCli("check-config", "--pairs", Path.Combine(Corpus.RepoRoot(), "packaging", "sipips.yaml"));
        Assert.Equal("eth1 eth2", pairs.Stdout.Trim());
        string bad = Path.GetTempFileName();
        File.WriteAllText(bad, "bridge:\n  pairs: [[a, b]]\n  nope: 1\n");
        var invalid = CliTests.RunCli("check-config", bad);
        Assert.Equal(1, invalid.Code);
        Assert.Equal($"sipips: {bad}:3:3: unknown key 'nope' in bridge (known: pairs, workers, ring, ring_frames, block_timeout_ms, send, batch, cpus, management_cpus, management_nice, busy_poll_us, exception_policy, disable_offloads, link_propagation, inspect)", invalid.Stderr.Trim());
        File.Delete(bad);
        Assert.Equal(2, CliTests.RunCli("check-config", "/nonexistent/sipips.yaml").Code);
        Assert.Equal(2, CliTests.RunCli("status", "--socket", "/nonexistent/control.sock").Code);
    }
}
