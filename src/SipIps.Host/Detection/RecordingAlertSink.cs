using System.Text;
using System.Text.Json;
using SipIps.Engine.Detection;
using SipIps.Export.Alerts;

namespace SipIps.Host.Detection;

/// <summary>
/// The alert sink of <c>analyze</c>: offline there is no packet path to protect, so every alert is written at once
/// (none is lost to a full queue) and counted per rule; the keys that were banned are remembered for the report.
/// </summary>
internal sealed class RecordingAlertSink : IAlertSink, IDisposable
{
    public const int MaxBannedKeys = 10_000;

    private readonly Stream? _stream;
    private readonly Utf8JsonWriter? _writer;

    public RecordingAlertSink(string? path)
    {
        if (path is null) return;
        _stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read, 65536);
        _writer = new Utf8JsonWriter(_stream, EveAlert.Options);
    }

    public long Alerts { get; private set; }
    public Dictionary<string, long> AlertsByRule { get; } = new(StringComparer.Ordinal);
    public Dictionary<string, long> BansByRule { get; } = new(StringComparer.Ordinal);

    /// <summary>Banned keys in the order they were first banned: key, rule, time of the first ban.</summary>
    public List<(string Key, string Rule, long FirstNs, bool Enforced)> BannedKeys { get; } = [];
    private readonly HashSet<string> _banned = [];

    /// <summary>Alerts in order (time, rule, key), for the report's timeline; the first 10,000.</summary>
    public List<(long Ns, string Rule, string Key)> Timeline { get; } = [];

    public bool Publish(in AlertEvent alert)
    {
        Alerts++;
        if (Timeline.Count < 10_000) Timeline.Add((alert.TimestampNs, alert.RuleId, Encoding.UTF8.GetString(alert.Text(AlertTextField.Key))));
        AlertsByRule[alert.RuleId] = AlertsByRule.GetValueOrDefault(alert.RuleId) + 1;
        if (alert.Action == ActionKind.Ban)
        {
            BansByRule[alert.RuleId] = BansByRule.GetValueOrDefault(alert.RuleId) + 1;
            string key = Encoding.UTF8.GetString(alert.Text(AlertTextField.Key));
            if (_banned.Count < MaxBannedKeys && _banned.Add(key)) BannedKeys.Add((key, alert.RuleId, alert.TimestampNs, alert.Enforced));
        }
        if (_writer is not null)
        {
            EveAlert.Write(_writer, alert);
            _writer.Flush();
            _writer.Reset();
            _stream!.WriteByte((byte)'\n');
        }
        return true;
    }

    public void Dispose()
    {
        _writer?.Dispose();
        _stream?.Dispose();
    }
}
