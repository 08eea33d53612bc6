using System.Diagnostics;
using SipIps.Capture;
using SipIps.Engine.Analysis;
using SipIps.Engine.Decode;
using SipIps.Engine.Packets;
using SipIps.Engine.Pipeline;
using SipIps.Engine.Sip;
using SipIps.Export.Clf;
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
}

/// <summary><c>sipips analyze CAPTURE</c>: the bridge's engine over a capture file, then a report.</summary>
internal static class AnalyzeCommand
{
    private const long ExpireEveryNs = 1_000_000_000;
    private const long ExpireEveryPackets = 1024;

    public static int Run(AnalyzeOptions options, Stream stdout, TextWriter stderr)
    {
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
            var engine = new SipEngine(engineOptions, observer);
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
                    engine.ProcessFrame(frame.Data, frame.Link, frame.TimestampNs, frame.WireLength);
                    if (frame.TimestampNs >= nextExpire && packets >= nextExpirePacket)
                    {
                        // Capture time drives expiry, so a replay ages state as the live bridge would; a capture
                        // that spans days still sweeps no more often than every ExpireEveryPackets frames.
                        engine.Expire(frame.TimestampNs);
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
                stderr.WriteLine($"sipips: {e.Message}");
                return ExitCodes.UsageOrIo;
            }
            progress?.Clear();
            clock.Stop();

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
                engine.Tcp.Counters, clfRecords, clock.Elapsed.TotalSeconds);
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
