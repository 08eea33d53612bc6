using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using SipIps.Engine.Common;
using SipIps.Engine.Detection;
using SipIps.Engine.Packets;

namespace SipIps.Export.Alerts;

/// <summary>
/// Formats alerts as EVE-style JSON lines (one object per line), the shape SIEMs already ingest from other IDSs:
/// timestamp, event_type "alert", rule_id, key, score, counters, action, ttl_s, addresses and a sip object.
/// </summary>
public static class EveAlert
{
    /// <summary>Log lines, not HTML: "+", quotes and non-ASCII text stay readable (control characters are still escaped).</summary>
    public static readonly JsonWriterOptions Options = new()
    {
        Indented = false,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static void Write(Utf8JsonWriter w, in AlertEvent a)
    {
        w.WriteStartObject();
        w.WriteString("timestamp", FormatTimestamp(a.TimestampNs));
        w.WriteString("event_type", "alert");
        w.WriteString("rule_id", a.RuleId);
        if (!string.IsNullOrEmpty(a.Description)) w.WriteString("description", a.Description);
        w.WriteString("severity", a.Severity.ToString().ToLowerInvariant());
        WriteText(w, "key", a.Text(AlertTextField.Key));
        w.WriteNumber("score", Math.Round(a.Score, 3));
        w.WriteStartObject("counters");
        w.WriteNumber(a.Distinct ? "distinct" : "count", Math.Round(a.Count, 3));
        if (a.PerCount >= 0)
        {
            w.WriteNumber("per", Math.Round(a.PerCount, 3));
            w.WriteNumber("ratio", Math.Round(a.Count / Math.Max(a.PerCount, 1), 3));
        }
        w.WriteNumber("threshold", a.Threshold);
        w.WriteNumber("window_s", a.WindowNs / 1e9);
        w.WriteEndObject();
        w.WriteString("action", ActionKinds.Name(a.Action));
        w.WriteBoolean("blocked", a.Enforced);
        if (a.Allowlisted) w.WriteBoolean("allowlisted", true);
        if (a.TtlNs > 0) w.WriteNumber("ttl_s", a.TtlNs / 1e9);
        if (a.Action == ActionKind.RateLimit)
        {
            w.WriteNumber("rate", a.Rate);
            w.WriteNumber("burst", a.Burst);
        }
        if (a.Factors is not null)
        {
            // A rule on behaviour factors: each condition's value, threshold and baseline; no single message behind it.
            w.WritePropertyName("factors");
            w.WriteRawValue(a.Factors, skipInputValidation: false);
            w.WriteEndObject();
            return;
        }
        w.WriteString("src_ip", a.Source.ToString());
        w.WriteNumber("src_port", a.SourcePort);
        w.WriteString("dest_ip", a.Destination.ToString());
        w.WriteNumber("dest_port", a.DestinationPort);
        w.WriteString("proto", a.Transport switch
        {
            L4Protocol.Udp => "UDP",
            L4Protocol.Tcp => "TCP",
            L4Protocol.Sctp => "SCTP",
            _ => "IP",
        });
        w.WriteStartObject("sip");
        if (a.IsRequest) WriteText(w, "method", a.Text(AlertTextField.Method));
        else
        {
            w.WriteNumber("status_code", a.StatusCode);
            WriteText(w, "cseq_method", a.Text(AlertTextField.Method));
        }
        WriteText(w, "request_uri", a.Text(AlertTextField.RequestUri));
        WriteText(w, "call_id", a.Text(AlertTextField.CallId));
        WriteText(w, "from", a.Text(AlertTextField.From));
        WriteText(w, "to", a.Text(AlertTextField.To));
        WriteText(w, "user_agent", a.Text(AlertTextField.UserAgent));
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static void WriteText(Utf8JsonWriter w, string name, ReadOnlySpan<byte> value)
    {
        if (value.IsEmpty) return;
        if (System.Text.Unicode.Utf8.IsValid(value)) w.WriteString(name, value);
        else w.WriteString(name, Encoding.UTF8.GetString(value));
    }

    /// <summary>"2026-11-22T03:00:00.123456+0000", as other EVE producers write it.</summary>
    public static string FormatTimestamp(long ns)
    {
        var t = DateTime.UnixEpoch.AddTicks(ns / 100);
        return t.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff", CultureInfo.InvariantCulture) + "+0000";
    }

    /// <summary>One alert as a JSON line (for tests and tools).</summary>
    public static string ToJson(in AlertEvent a)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, Options)) Write(w, a);
        return Encoding.UTF8.GetString(ms.ToArray());
    }
}

/// <summary>
/// Drains an <see cref="AlertQueue"/> on its own thread into an EVE JSON lines file. <see cref="Reopen"/> (on
/// SIGHUP) lets logrotate move the file away. A write error is counted and reported once; alerts never block
/// the packet path.
/// </summary>
public sealed class AlertLogWriter : IDisposable
{
    private readonly AlertQueue _queue;
    private readonly string? _path;
    private readonly Action<string> _log;
    private readonly Thread _thread;
    private readonly object _fileLock = new();
    private readonly Action<AlertEvent>? _tap;
    private Stream? _stream;
    private Utf8JsonWriter? _writer;
    private volatile bool _stop;
    private volatile bool _reopen;
    private bool _reported;

    /// <param name="queue">Where the workers publish.</param>
    /// <param name="path">The file to append to; null to only count (and tap) alerts.</param>
    /// <param name="log">Operator log.</param>
    /// <param name="tap">Called with each alert after it is written (for counting per rule).</param>
    public AlertLogWriter(AlertQueue queue, string? path, Action<string> log, Action<AlertEvent>? tap = null)
    {
        _queue = queue;
        _path = path;
        _log = log;
        _tap = tap;
        if (path is not null) Open();
        _thread = new Thread(Run) { IsBackground = true, Name = "alerts" };
        _thread.Start();
    }

    public long Written { get; private set; }
    public long WriteErrors { get; private set; }

    private void Open()
    {
        string? dir = Path.GetDirectoryName(_path);
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        _stream = new FileStream(_path!, FileMode.Append, FileAccess.Write, FileShare.ReadWrite, 65536);
        _writer = new Utf8JsonWriter(_stream, EveAlert.Options);
    }

    public void Reopen() => _reopen = true;

    private void Run()
    {
        while (true)
        {
            bool stopping = _stop;
            Drain();
            if (stopping) break;
            _queue.Wait(200);
        }
    }

    private void Drain()
    {
        bool wrote = false;
        while (_queue.TryTake(out var a))
        {
            lock (_fileLock)
            {
                if (_reopen && _path is not null)
                {
                    _reopen = false;
                    Close();
                    TryOpen();
                }
                if (_writer is not null)
                {
                    try
                    {
                        EveAlert.Write(_writer, a);
                        _writer.Flush();
                        _writer.Reset();
                        _stream!.WriteByte((byte)'\n');
                        wrote = true;
                    }
                    catch (IOException e)
                    {
                        WriteErrors++;
                        if (!_reported)
                        {
                            _reported = true;
                            _log($"cannot write alerts to {_path}: {e.Message}");
                        }
                        _writer.Reset();
                    }
                }
            }
            Written++;
            _tap?.Invoke(a);
        }
        if (wrote)
        {
            lock (_fileLock)
            {
                try
                {
                    _stream?.Flush();
                }
                catch (IOException)
                {
                    WriteErrors++;
                }
            }
        }
    }

    private void TryOpen()
    {
        try
        {
            Open();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _log($"cannot reopen the alert log {_path}: {e.Message}");
        }
    }

    private void Close()
    {
        _writer?.Dispose();
        _stream?.Dispose();
        _writer = null;
        _stream = null;
    }

    /// <summary>Writes what is queued and stops.</summary>
    public void Dispose()
    {
        _stop = true;
        _thread.Join();
        lock (_fileLock) Close();
    }
}
