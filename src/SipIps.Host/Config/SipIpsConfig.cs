using SipIps.Rules.Yaml;
using SipIps.Capture.AfPacket;
using SipIps.Capture.Bridge;
using SipIps.Engine.Decode;
using SipIps.Engine.Pipeline;

namespace SipIps.Host.Config;

/// <summary>The settings in /etc/sipips/sipips.yaml. Every key is documented in packaging/sipips.yaml.</summary>
public sealed record SipIpsConfig
{
    public const string DefaultPath = "/etc/sipips/sipips.yaml";
    public const string DefaultControlSocket = "/run/sipips/control.sock";

    public string File { get; init; } = DefaultPath;
    public BridgeOptions Bridge { get; init; } = new();
    public string ControlSocket { get; init; } = DefaultControlSocket;
    public DetectionConfig Detection { get; init; } = new();
    public ExportConfig Export { get; init; } = new();
    /// <summary>CPUs for everything but the workers (exporters, metrics, control, the runtime's threads); empty: any.</summary>
    public IReadOnlyList<int> ManagementCpus { get; init; } = [];
    /// <summary>
    /// Nice value of the exporter and control threads: on a core they share with a worker, the worker goes first, and
    /// when the core is short they fall behind and drop (counted) instead of the bridge dropping frames.
    /// </summary>
    public int ManagementNice { get; init; } = 10;

    public static SipIpsConfig LoadFile(string path)
    {
        string text;
        try
        {
            text = System.IO.File.ReadAllText(path);
        }
        catch (FileNotFoundException)
        {
            throw new ConfigException(path, 0, 0, "no such file");
        }
        catch (DirectoryNotFoundException)
        {
            throw new ConfigException(path, 0, 0, "no such file or directory");
        }
        catch (UnauthorizedAccessException)
        {
            throw new ConfigException(path, 0, 0, "permission denied");
        }
        catch (IOException e)
        {
            throw new ConfigException(path, 0, 0, e.Message);
        }
        return Parse(text, path);
    }

    public static SipIpsConfig Parse(string text, string file)
    {
        var root = YamlTree.Load(text, file);
        if (root is null) throw new ConfigException(file, 0, 0, "the file is empty: at least bridge.pairs is needed");
        var top = YamlTree.Mapping(root, "the configuration");

        var pairs = new List<BridgePair>();
        int workers = Environment.ProcessorCount;
        List<int> workerCpus = [], managementCpus = [];
        int managementNice = 10;
        var ring = RingVersion.V2;
        int frames = 0, blockTimeout = 1, batch = 64, busyPoll = 0;
        var send = SendMode.SendMmsg;
        var policy = ExceptionPolicy.FailOpen;
        bool offloads = true, links = true, inspect = true, verifyChecksums = true;
        var sipPorts = new List<ushort> { 5060, 5080 };
        var encryptedPorts = new List<ushort> { 5061, 443 };
        string controlSocket = DefaultControlSocket;
        bool sawPairs = false;
        var detection = new DetectionConfig();
        var export = new ExportConfig();

        YamlTree.Each(top, "the configuration", new Dictionary<string, Action<YNode>>
        {
            ["bridge"] = node => YamlTree.Each(YamlTree.Mapping(node, "bridge"), "bridge", new Dictionary<string, Action<YNode>>
            {
                ["pairs"] = n =>
                {
                    sawPairs = true;
                    var seen = new HashSet<string>();
                    foreach (var item in YamlTree.Sequence(n, "bridge.pairs").Items)
                    {
                        var pair = YamlTree.Sequence(item, "each pair");
                        if (pair.Items.Count != 2) throw item.Error("each pair lists exactly two interfaces, like [eth1, eth2]");
                        var p = new BridgePair(Interface(pair.Items[0]), Interface(pair.Items[1]));
                        if (p.A == p.B) throw item.Error($"pair [{p.A}, {p.B}]: an interface cannot be its own peer");
                        if (!seen.Add(p.A) || !seen.Add(p.B)) throw item.Error($"pair [{p.A}, {p.B}]: an interface is in more than one pair");
                        pairs.Add(p);
                    }
                },
                ["workers"] = n => workers = n is YScalar { Value: "auto" } ? Environment.ProcessorCount : YamlTree.Int(n, "bridge.workers", 1, 64),
                ["ring"] = n => ring = YamlTree.OneOf(n, "bridge.ring", "v2", "v3") == "v3" ? RingVersion.V3 : RingVersion.V2,
                ["ring_frames"] = n => frames = YamlTree.Int(n, "bridge.ring_frames", 256, 1 << 20),
                ["block_timeout_ms"] = n => blockTimeout = YamlTree.Int(n, "bridge.block_timeout_ms", 1, 1000),
                ["send"] = n => send = YamlTree.OneOf(n, "bridge.send", "sendmmsg", "sendto") == "sendto" ? SendMode.SendTo : SendMode.SendMmsg,
                ["batch"] = n => batch = YamlTree.Int(n, "bridge.batch", 1, 1024),
                ["cpus"] = n => workerCpus = Cpus(n, "bridge.cpus"),
                ["management_cpus"] = n => managementCpus = Cpus(n, "bridge.management_cpus"),
                ["management_nice"] = n => managementNice = YamlTree.Int(n, "bridge.management_nice", 0, 19),
                ["busy_poll_us"] = n => busyPoll = YamlTree.Int(n, "bridge.busy_poll_us", 0, 100_000),
                ["exception_policy"] = n => policy = YamlTree.OneOf(n, "bridge.exception_policy", "fail-open", "fail-closed") == "fail-closed"
                    ? ExceptionPolicy.FailClosed : ExceptionPolicy.FailOpen,
                ["disable_offloads"] = n => offloads = YamlTree.Bool(n, "bridge.disable_offloads"),
                ["link_propagation"] = n => links = YamlTree.Bool(n, "bridge.link_propagation"),
                ["inspect"] = n => inspect = YamlTree.Bool(n, "bridge.inspect"),
            }),
            ["sip"] = node => YamlTree.Each(YamlTree.Mapping(node, "sip"), "sip", new Dictionary<string, Action<YNode>>
            {
                ["ports"] = n => sipPorts = Ports(n, "sip.ports"),
                ["encrypted_ports"] = n => encryptedPorts = Ports(n, "sip.encrypted_ports"),
                ["verify_checksums"] = n => verifyChecksums = YamlTree.Bool(n, "sip.verify_checksums"),
            }),
            ["control"] = node => YamlTree.Each(YamlTree.Mapping(node, "control"), "control", new Dictionary<string, Action<YNode>>
            {
                ["socket"] = n => controlSocket = YamlTree.String(n, "control.socket"),
            }),
            ["detection"] = node => detection = DetectionConfig.Parse(node, file),
            ["metrics"] = node => export = export with { Metrics = ExportConfig.ParseMetrics(node) },
            ["netflow"] = node => export = export with { NetFlow = ExportConfig.ParseNetFlow(node) },
            ["clf"] = node => export = export with { Clf = ExportConfig.ParseClf(node) },
            ["baseline"] = node => export = export with { Baseline = ExportConfig.ParseBaseline(node) },
            ["sessions"] = node =>
            {
                var (o, queue) = ExportConfig.ParseSessions(node);
                export = export with { Sessions = o, SessionQueue = queue };
            },
        });

        if (!sawPairs || pairs.Count == 0) throw top.Error("bridge.pairs is missing: list the interface pairs to bridge, like pairs: [[eth1, eth2]]");
        foreach (var port in encryptedPorts)
            if (sipPorts.Contains(port)) throw top.Error($"port {port} is both a SIP port and an encrypted SIP port");

        return new SipIpsConfig
        {
            File = file,
            ControlSocket = controlSocket,
            ManagementCpus = managementCpus,
            ManagementNice = managementNice,
            Detection = detection,
            Export = export,
            Bridge = new BridgeOptions
            {
                Pairs = pairs,
                Workers = workers,
                Ring = ring,
                RingFrames = frames,
                BlockTimeoutMs = blockTimeout,
                Send = send,
                Batch = batch,
                BusyPollMicroseconds = busyPoll,
                WorkerCpus = workerCpus,
                OnError = policy,
                DisableOffloads = offloads,
                LinkPropagation = links,
                Inspect = inspect,
                Engine = new EngineOptions
                {
                    SipPorts = sipPorts,
                    EncryptedSipPorts = encryptedPorts,
                    Decoder = new DecoderOptions { Ipv4Checksum = verifyChecksums ? ChecksumPolicy.Verify : ChecksumPolicy.Count },
                },
            },
        };
    }

    private static string Interface(YNode node)
    {
        string name = YamlTree.String(node, "an interface name");
        if (name.Length > 15 || name.Contains('/') || name.Contains(' '))
            throw node.Error($"'{name}' is not an interface name (at most 15 characters, no '/' or spaces)");
        return name;
    }

    /// <summary>A list of CPU numbers of this machine (as taskset and /proc/cpuinfo count them).</summary>
    private static List<int> Cpus(YNode node, string what)
    {
        var list = new List<int>();
        foreach (var item in YamlTree.Sequence(node, what).Items)
        {
            int cpu = YamlTree.Int(item, $"each of {what}", 0, 1023);
            int online = Capture.Interop.CpuAffinity.OnlineCpus();
            if (cpu >= online) throw item.Error($"{what}: CPU {cpu} does not exist here (CPUs 0 to {online - 1})");
            if (!list.Contains(cpu)) list.Add(cpu);
        }
        if (list.Count == 0) throw node.Error($"{what} lists at least one CPU (or leave it out)");
        return list;
    }

    private static List<ushort> Ports(YNode node, string what)
    {
        var list = new List<ushort>();
        foreach (var item in YamlTree.Sequence(node, what).Items) list.Add((ushort)YamlTree.Int(item, $"each of {what}", 1, 65535));
        return list;
    }
}
