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
    double ElapsedSeconds,
    DetectionSummary? Detection = null,
    BehaviourSummary? Behaviour = null);

/// <summary>The behaviour factors at the end of the capture, and what the rules on them raised.</summary>
internal sealed record BehaviourSummary(
    double[] Short,
    double[] Long,
    List<(long TimestampNs, string RuleId, Engine.Behaviour.ConditionResult[] Results)> Firings,
    int BaselineWeeks,
    bool BaselineReady,
    List<Engine.Analysis.TopK.Item> TopUsers,
    long TopUsersErrorBound,
    List<(Engine.Common.IpAddr Server, long Responses, double ErrorRatio)> Servers);

/// <summary>What the rules did over the capture.</summary>
internal sealed record DetectionSummary(
    int RuleCount,
    Engine.Detection.RuleMode Mode,
    List<(string Id, Engine.Detection.RuleCounters Counters)> Rules,
    Engine.Detection.DetectionCounters Totals,
    Detection.RecordingAlertSink Alerts,
    long[] DroppedFrames,
    long AlertedFrames,
    string? AlertsPath,
    string? EvidencePath);
