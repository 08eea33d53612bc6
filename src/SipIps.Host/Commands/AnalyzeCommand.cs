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
            ISipObserver observer = clf is null ? report : new CompositeObserver(report, clf);
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
                    if (packets == 0) first = frame.TimestampNs;
                    last = frame.TimestampNs;
                    packets++;
                    var verdict = engine.ProcessFrame(frame.Data, frame.Link, frame.TimestampNs, frame.WireLength);
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
                engine.Tcp.Counters, clfRecords, clock.Elapsed.TotalSeconds, summary);
            if (reader.Warning is not null && !options.Json) stderr.WriteLine($"sipips: warning: {reader.Warning}");
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
