using SipIps.Engine.Analysis;
using SipIps.Engine.Pipeline;

namespace SipIps.Host.Output;

/// <summary>Everything an analysis run produced, for rendering as text or JSON.</summary>
internal sealed record AnalysisResult(
    string File,
    string Format,
    long Packets,
    long Bytes,
    long FirstPacketNs,
    long LastPacketNs,
    string? Warning,
    EngineCounters Counters,
    CaptureReport Report,
    Engine.Reassembly.TcpCounters Tcp,
    long ClfRecords,
    double ElapsedSeconds);
