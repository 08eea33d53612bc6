using System.Diagnostics;
using SipIps.Capture;
using SipIps.Engine.Analysis;
using SipIps.Engine.Decode;
using SipIps.Engine.Packets;
using SipIps.Engine.Pipeline;
using SipIps.Engine.Sip;
using SipIps.Export.Clf;
using SipIps.Engine.Detection;
using SipIps.Engine.Enforcement;
using SipIps.Host.Detection;
using SipIps.Host.Output;

namespace SipIps.Host.Commands;

internal sealed class AnalyzeOptions
{
    public required string Capture { get; init; }
    public string? ClfPath { get; init; }
    public bool Json { get; init; }
    public int Top { get; init; } = 10;
    public bool Progress { get; init; }
    public bool VerifyChecksums { get; init; }
    public IReadOnlyList<string> Rules { get; init; } = [];
    public string? AlertsPath { get; init; }
    public string? EvidencePath { get; init; }
    public RuleMode Mode { get; init; } = RuleMode.Detect;
    public string? NetFlow { get; init; }
    public uint SourceId { get; init; } = 1;
    /// <summary>Write a self-contained HTML report here.</summary>
    public string? ReportPath { get; init; }
    /// <summary>A baseline file to compare the factors with (read, never written).</summary>
    public string? BaselinePath { get; init; }
}

/// <summary><c>sipips analyze CAPTURE</c>: the bridge's engine over a capture file, then a report.</summary>
internal static class AnalyzeCommand
{
    private const long ExpireEveryNs = 1_000_000_000;
    private const long ExpireEveryPackets = 1024;

    public static int Run(AnalyzeOptions options, Stream stdout, TextWriter stderr)
    {
        if ((options.AlertsPath ?? options.EvidencePath) is not null && options.Rules.Count == 0)
        {
            stderr.WriteLine("sipips: --alerts and --evidence need --rules (alerts come from rules)");
            return ExitCodes.UsageOrIo;
        }
        System.Net.IPEndPoint? collector = null;
        if (options.NetFlow is not null)
        {
            collector = ResolveCollector(options.NetFlow, out string? why);
            if (collector is null)
            {
                stderr.WriteLine($"sipips: --netflow {options.NetFlow}: {why}");
                return ExitCodes.UsageOrIo;
            }
        }
        SipIps.Engine.Behaviour.Baseline? baseline = null;
        if (options.BaselinePath is not null)
        {
            try
            {
                baseline = SipIps.Engine.Behaviour.Baseline.Load(options.BaselinePath);
            }
            catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException)
            {
                stderr.WriteLine($"sipips: {(e is FileNotFoundException ? $"{options.BaselinePath}: no such file" : e.Message)}");
                return ExitCodes.UsageOrIo;
            }
        }
        RuleSet? rules = null;
        if (options.Rules.Count > 0)
        {
            try
            {
                rules = DetectionRuntime.LoadRules(options.Rules);
            }
            catch (RuleLoadException e)
            {
                foreach (var error in e.Errors) stderr.WriteLine($"sipips: {error}");
                return e.Errors.All(x => x.Line == 0 && x.Message.StartsWith("no such", StringComparison.Ordinal)) ? ExitCodes.UsageOrIo : ExitCodes.InvalidInput;
            }
        }

        CaptureFileReader reader;
        try
        {
            reader = CaptureFileReader.Open(options.Capture);
        }
        catch (CaptureFileException e)
        {
            stderr.WriteLine($"sipips: {e.Message}");
            return ExitCodes.UsageOrIo;
        }

        using (reader)
        {
            ClfFileObserver? clf = null;
            try
            {
                if (options.ClfPath is not null) clf = new ClfFileObserver(options.ClfPath);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                stderr.WriteLine($"sipips: cannot write {options.ClfPath}: {e.Message}");
                return ExitCodes.UsageOrIo;
            }

            var report = new CaptureReport();
            // Captures often carry wrong IPv4 checksums (anonymised, or taken on a host with offload): offline, they
            // are counted and inspected unless asked otherwise; the live bridge verifies them.
            var engineOptions = new EngineOptions
            {
                Decoder = new DecoderOptions { Ipv4Checksum = options.VerifyChecksums ? ChecksumPolicy.Verify : ChecksumPolicy.Count },
            };
            RecordingAlertSink? alerts = null;
            DetectionRuntime? detection = null;
            PcapWriter? evidence = null;
            FileStream? evidenceFile = null;
            IVerdictHook? hook = null;
            if (rules is not null)
            {
                try
                {
                    alerts = new RecordingAlertSink(options.AlertsPath);
                    // Opened now so that an unwritable path fails before the run; the header follows the first frame's link type.
                    if (options.EvidencePath is not null) evidenceFile = new FileStream(options.EvidencePath, FileMode.Create, FileAccess.Write, FileShare.Read, 65536);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    alerts?.Dispose();
                    clf?.Dispose();
                    stderr.WriteLine($"sipips: cannot write {(alerts is null ? options.AlertsPath : options.EvidencePath)}: {e.Message}");
                    return ExitCodes.UsageOrIo;
                }
                detection = new DetectionRuntime(rules, new DetectionOptions { Mode = options.Mode }, alerts);
                hook = detection.CreateHook();
            }
            // Sessions, behaviour factors and the rules on them, on capture time, as the bridge's session thread does;
            // with --netflow, the session records are sent as the capture is read.
            var flows = new CaptureSessions(collector, options.SourceId, stderr, alerts, rules?.FactorRules ?? [], baseline, detection: detection?.Shared)
            {
                Series = options.ReportPath is null ? null : new SeriesRecorder(CaptureSessions.ChannelCount),
            };
            var observers = new List<ISipObserver> { report };
            if (clf is not null) observers.Add(clf);
            observers.Add(flows.Observer);
            ISipObserver observer = new CompositeObserver([.. observers]);
            var engine = new SipEngine(engineOptions, observer, hook);
            var dropped = new long[DropReasons.Count];
            long alertedFrames = 0;
            var progress = options.Progress && reader.Length > 0 ? new ProgressBar(stderr, reader.Length) : null;

            long first = 0, last = 0, packets = 0, nextExpire = long.MinValue, nextExpirePacket = 0;
            var clock = Stopwatch.StartNew();
            try
            {
                while (reader.TryReadNext(out var frame))
                {
                    if (packets == 0)
                    {
                        first = frame.TimestampNs;
                        flows.Begin(first);
                    }
                    last = frame.TimestampNs;
                    packets++;
                    var verdict = engine.ProcessFrame(frame.Data, frame.Link, frame.TimestampNs, frame.WireLength);
                    flows.Tick(frame.TimestampNs);
                    if (verdict.IsDrop || verdict.Alerted)
                    {
                        dropped[(int)verdict.Reason]++;
                        if (verdict.Alerted) alertedFrames++;
                        if (evidenceFile is not null)
                        {
                            evidence ??= new PcapWriter(evidenceFile, frame.Link);
                            evidence.Write(frame.TimestampNs, frame.Data, frame.WireLength);
                        }
                    }
                    if (frame.TimestampNs >= nextExpire && packets >= nextExpirePacket)
                    {
                        // Capture time drives expiry, so a replay ages state as the live bridge would; a capture
                        // that spans days still sweeps no more often than every ExpireEveryPackets frames.
                        engine.Expire(frame.TimestampNs);
                        detection?.Enforcement.Expire(frame.TimestampNs);
                        flows.Expire(frame.TimestampNs);
                        nextExpire = frame.TimestampNs + ExpireEveryNs;
                        nextExpirePacket = packets + ExpireEveryPackets;
                    }
                    if ((packets & 0xFFFF) == 0) progress?.Update(reader.Position, packets);
                }
            }
            catch (CaptureFileException e)
            {
                progress?.Clear();
                clf?.Dispose();
                alerts?.Dispose();
                evidence?.Dispose();
                evidenceFile?.Dispose();
                stderr.WriteLine($"sipips: {e.Message}");
                return ExitCodes.UsageOrIo;
            }
            progress?.Clear();
            clock.Stop();

            // Session tracking ends first: its last tick of the behaviour factors may still raise alerts, which the
            // alert file and the summary below must hold.
            flows.Finish(last);
            if (collector is not null && !options.Json)
                stderr.WriteLine($"sipips: netflow: {flows.Records:N0} session record(s) in {flows.Packets:N0} v9 packet(s) to {collector}" +
                                 (flows.Errors > 0 ? $", {flows.Errors:N0} send error(s)" : ""));
            alerts?.Dispose();
            if (evidence is null && evidenceFile is not null) new PcapWriter(evidenceFile, LinkType.Ethernet).Dispose(); // an empty but valid file
            evidence?.Dispose();
            DetectionSummary? summary = detection is null ? null : new DetectionSummary(
                rules!.Rules.Count, options.Mode, detection.RuleTotals(), detection.Totals(), alerts!, dropped, alertedFrames,
                options.AlertsPath, options.EvidencePath);
            long clfRecords = 0;
            if (clf is not null)
            {
                try
                {
                    clf.Dispose();
                    clfRecords = clf.Records;
                }
                catch (IOException e)
                {
                    stderr.WriteLine($"sipips: cannot write {options.ClfPath}: {e.Message}");
                    return ExitCodes.UsageOrIo;
                }
            }

            var result = new AnalysisResult(options.Capture, reader.Format == CaptureFormat.Pcap ? "pcap" : "pcapng",
                packets, engine.Counters.Bytes, first, last, reader.Warning, engine.Counters, report,
                engine.Tcp.Counters, clfRecords, clock.Elapsed.TotalSeconds, summary, flows.Summary(options.Top));
            if (reader.Warning is not null && !options.Json) stderr.WriteLine($"sipips: warning: {reader.Warning}");
            if (options.ReportPath is not null)
            {
                try
                {
                    HtmlReport.Write(options.ReportPath, result, flows.Series!, alerts?.Timeline ?? []);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    stderr.WriteLine($"sipips: cannot write {options.ReportPath}: {e.Message}");
                    return ExitCodes.UsageOrIo;
                }
            }
            if (options.Json)
            {
                ReportWriter.WriteJson(stdout, result, options.Top);
            }
            else
            {
                using var text = new StreamWriter(stdout, leaveOpen: true);
                ReportWriter.WriteText(text, result, options.Top);
            }
            stdout.Flush();
            return ExitCodes.Success;
        }
    }

    private static System.Net.IPEndPoint? ResolveCollector(string text, out string? why)
    {
        why = null;
        if (System.Net.IPEndPoint.TryParse(text, out var ep) && ep.Port != 0) return ep;
        int colon = text.LastIndexOf(':');
        if (colon <= 0 || !ushort.TryParse(text.AsSpan(colon + 1), out ushort port) || port == 0)
        {
            why = "not HOST:PORT";
            return null;
        }
        try
        {
            var addresses = System.Net.Dns.GetHostAddresses(text[..colon]);
            if (addresses.Length > 0) return new System.Net.IPEndPoint(addresses[0], port);
            why = "the host has no address";
        }
        catch (System.Net.Sockets.SocketException e)
        {
            why = e.Message;
        }
        return null;
    }

    /// <summary>Writes one CLF record per SIP message to a file.</summary>
    private sealed class ClfFileObserver : ISipObserver, IDisposable
    {
        private readonly FileStream _file;
        private readonly byte[] _record = new byte[1 << 17];
        private readonly SipClfFormatter _formatter = new();

        public ClfFileObserver(string path)
        {
            _file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read, 1 << 16);
        }

        public long Records { get; private set; }
        public long Skipped { get; private set; }

        public void OnSipMessage(in PacketInfo packet, SipMessage message)
        {
            // A message without a start line has nothing to log.
            if (!message.IsRequest && message.StatusCode == 0) return;
            int n = _formatter.Format(packet, message, _record);
            if (n < 0)
            {
                Skipped++;
                return;
            }
            _file.Write(_record, 0, n);
            Records++;
        }

        public void Dispose() => _file.Dispose();
    }
}
