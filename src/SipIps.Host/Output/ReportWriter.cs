using System.Globalization;
using System.Text.Json;
using SipIps.Engine.Analysis;
using SipIps.Engine.Common;
using SipIps.Engine.Packets;
using SipIps.Engine.Pipeline;
using SipIps.Engine.Sip;

namespace SipIps.Host.Output;

/// <summary>Renders the analysis report as text for people or JSON for tools.</summary>
internal static class ReportWriter
{
    public static void WriteJson(Stream output, AnalysisResult r, int top)
    {
        using var w = new Utf8JsonWriter(output, Json.Indented);
        var c = r.Counters;
        var rep = r.Report;
        w.WriteStartObject();
        w.WriteString("file", r.File);
        w.WriteString("format", r.Format);
        w.WriteNumber("packets", r.Packets);
        w.WriteNumber("bytes", r.Bytes);
        if (r.Warning is not null) w.WriteString("warning", r.Warning);
        w.WriteStartObject("time_span");
        if (r.Packets > 0)
        {
            w.WriteString("first", Iso(r.FirstPacketNs));
            w.WriteString("last", Iso(r.LastPacketNs));
            w.WriteNumber("seconds", Math.Round((r.LastPacketNs - r.FirstPacketNs) / 1e9, 6));
        }
        w.WriteEndObject();
        w.WriteNumber("sip_messages", c.SipMessages);
        w.WriteNumber("valid_messages", rep.Valid);
        w.WriteNumber("invalid_messages", c.SipMessages - rep.Valid);

        w.WriteStartObject("requests");
        foreach (var (name, count) in Requests(rep)) w.WriteNumber(name, count);
        w.WriteEndObject();
        w.WriteStartObject("responses");
        for (int code = 100; code < rep.ResponsesByCode.Length; code++)
            if (rep.ResponsesByCode[code] > 0) w.WriteNumber(code.ToString(CultureInfo.InvariantCulture), rep.ResponsesByCode[code]);
        if (rep.ResponsesByCode[0] > 0) w.WriteNumber("invalid", rep.ResponsesByCode[0]);
        w.WriteEndObject();
        w.WriteStartObject("responses_by_class");
        foreach (var (cls, count) in ResponseClasses(rep)) w.WriteNumber(cls, count);
        w.WriteEndObject();

        w.WriteStartObject("transports");
        w.WriteNumber("udp", c.SipUdp);
        w.WriteNumber("tcp", c.SipTcp);
        w.WriteNumber("sctp", c.SipSctp);
        w.WriteEndObject();

        var calls = rep.SummarizeCalls();
        w.WriteStartObject("calls");
        w.WriteNumber("total", calls.Total);
        w.WriteNumber("answered", calls.Answered);
        w.WriteNumber("completed", calls.Completed);
        w.WriteNumber("cancelled", calls.Cancelled);
        w.WriteNumber("failed", calls.Failed);
        w.WriteNumber("auth_challenge_only", calls.AuthChallengeOnly);
        w.WriteNumber("no_final_response", calls.NoFinalResponse);
        w.WriteStartObject("failures_by_code");
        foreach (var (code, n) in calls.FailuresByCode) w.WriteNumber(code.ToString(CultureInfo.InvariantCulture), n);
        w.WriteEndObject();
        if (calls.Untracked > 0) w.WriteNumber("untracked", calls.Untracked);
        w.WriteEndObject();

        var regs = rep.SummarizeRegistrations();
        w.WriteStartObject("registrations");
        w.WriteNumber("requests", regs.Requests);
        w.WriteNumber("accepted", regs.Accepted);
        w.WriteNumber("challenged", regs.Challenged);
        w.WriteNumber("failed", regs.Failed);
        w.WriteNumber("distinct_aors", regs.DistinctAors);
        w.WriteNumber("registered_aors", regs.RegisteredAors);
        w.WriteEndObject();

        Top(w, "top_sources", rep.Sources, top);
        Top(w, "top_from_uris", rep.FromUris, top);
        Top(w, "top_to_uris", rep.ToUris, top);
        Top(w, "top_user_agents", rep.UserAgents, top);

        w.WriteStartObject("parse_errors");
        for (int i = 1; i < c.ParseStatusCounts.Length; i++)
            if (c.ParseStatusCounts[i] > 0) w.WriteNumber(SipParseStatusNames.Name((SipParseStatus)i), c.ParseStatusCounts[i]);
        w.WriteEndObject();
        w.WriteStartObject("anomalies");
        for (int i = 0; i < c.AnomalyCounts.Length; i++)
            if (c.AnomalyCounts[i] > 0) w.WriteNumber(SipParseStatusNames.Name((SipAnomaly)(1UL << i)), c.AnomalyCounts[i]);
        w.WriteEndObject();
        w.WriteStartObject("decode_errors");
        for (int i = 1; i < c.DecodeEventCounts.Length; i++)
            if (c.DecodeEventCounts[i] > 0) w.WriteNumber(DecodeEvents.Name((DecodeEvent)i), c.DecodeEventCounts[i]);
        w.WriteEndObject();

        w.WriteStartObject("reassembly");
        w.WriteNumber("ip_fragments", c.Fragments);
        w.WriteNumber("ip_datagrams_reassembled", c.Reassembled);
        w.WriteNumber("tcp_segments", c.TcpSegments);
        w.WriteNumber("tcp_messages", r.Tcp.Messages);
        w.WriteNumber("tcp_retransmissions", r.Tcp.Retransmissions);
        w.WriteNumber("tcp_out_of_order", r.Tcp.OutOfOrder);
        w.WriteNumber("tcp_gaps", r.Tcp.Gaps);
        w.WriteNumber("tcp_resyncs", r.Tcp.Resyncs);
        w.WriteEndObject();

        w.WriteStartObject("other");
        w.WriteNumber("not_ip", c.NotIp);
        w.WriteNumber("other_transport", c.OtherTransport);
        w.WriteNumber("keepalives", c.KeepAlives);
        w.WriteNumber("non_sip_on_sip_port", c.NonSipOnSipPort);
        w.WriteNumber("encrypted_sip", c.EncryptedSip);
        w.WriteNumber("truncated_frames", c.TruncatedFrames);
        w.WriteNumber("ipv4_bad_checksums", c.BadChecksums);
        w.WriteEndObject();
        if (r.ClfRecords > 0) w.WriteNumber("clf_records", r.ClfRecords);
        if (r.Detection is { } d) WriteDetectionJson(w, d);
        if (r.Behaviour is { } b) WriteBehaviourJson(w, b);
        w.WriteEndObject();
        w.Flush();
        output.WriteByte((byte)'\n');
    }

    public static void WriteText(TextWriter o, AnalysisResult r, int top)
    {
        var c = r.Counters;
        var rep = r.Report;
        o.WriteLine($"SipIps analysis of {r.File} ({r.Format})");
        if (r.Warning is not null) o.WriteLine($"  warning: {r.Warning}");
        o.WriteLine();
        o.WriteLine($"  packets        {r.Packets,12:N0}   ({FormatBytes(r.Bytes)})");
        if (r.Packets > 0)
            o.WriteLine($"  time span      {Iso(r.FirstPacketNs)} .. {Iso(r.LastPacketNs)} ({(r.LastPacketNs - r.FirstPacketNs) / 1e9:0.###} s)");
        o.WriteLine($"  SIP messages   {c.SipMessages,12:N0}   valid {rep.Valid:N0}, invalid {c.SipMessages - rep.Valid:N0}  (udp {c.SipUdp:N0}, tcp {c.SipTcp:N0}, sctp {c.SipSctp:N0})");
        o.WriteLine();

        Section(o, "Requests by method");
        foreach (var (name, count) in Requests(rep).OrderByDescending(x => x.Count)) Row(o, name, count);
        Section(o, "Responses by status code");
        for (int code = 100; code < rep.ResponsesByCode.Length; code++)
            if (rep.ResponsesByCode[code] > 0) Row(o, $"{code} {ReasonText(code)}", rep.ResponsesByCode[code]);
        if (rep.ResponsesByCode[0] > 0) Row(o, "invalid code", rep.ResponsesByCode[0]);

        var calls = rep.SummarizeCalls();
        Section(o, $"Calls (Call-IDs with an INVITE): {calls.Total:N0}");
        Row(o, "answered", calls.Answered);
        Row(o, "  of which ended by BYE", calls.Completed);
        Row(o, "cancelled", calls.Cancelled);
        Row(o, "failed", calls.Failed);
        foreach (var (code, n) in calls.FailuresByCode.OrderByDescending(x => x.Value).Take(top)) Row(o, $"  {code} {ReasonText(code)}", n);
        Row(o, "challenged, never answered", calls.AuthChallengeOnly);
        Row(o, "no final response", calls.NoFinalResponse);
        if (calls.Untracked > 0) Row(o, "not tracked (table full)", calls.Untracked);

        var regs = rep.SummarizeRegistrations();
        Section(o, $"Registrations: {regs.Requests:N0} REGISTER requests");
        Row(o, "accepted (2xx)", regs.Accepted);
        Row(o, "challenged (401/407)", regs.Challenged);
        Row(o, "failed", regs.Failed);
        Row(o, "distinct AORs", regs.DistinctAors);
        Row(o, "AORs registered", regs.RegisteredAors);

        TopText(o, "Top sources (by SIP messages)", rep.Sources, top);
        TopText(o, "Top From URIs", rep.FromUris, top);
        TopText(o, "Top To URIs", rep.ToUris, top);
        TopText(o, "Top User-Agents", rep.UserAgents, top);

        Section(o, $"Parse errors: {c.ParseErrors:N0}");
        for (int i = 1; i < c.ParseStatusCounts.Length; i++)
            if (c.ParseStatusCounts[i] > 0) Row(o, SipParseStatusNames.Name((SipParseStatus)i), c.ParseStatusCounts[i]);
        Section(o, "Anomalies (non-fatal)");
        for (int i = 0; i < c.AnomalyCounts.Length; i++)
            if (c.AnomalyCounts[i] > 0) Row(o, SipParseStatusNames.Name((SipAnomaly)(1UL << i)), c.AnomalyCounts[i]);
        Section(o, $"Decode errors: {c.DecodeErrors:N0}");
        for (int i = 1; i < c.DecodeEventCounts.Length; i++)
            if (c.DecodeEventCounts[i] > 0) Row(o, DecodeEvents.Name((DecodeEvent)i), c.DecodeEventCounts[i]);
        Section(o, "Transport");
        Row(o, "IP fragments", c.Fragments);
        Row(o, "IP datagrams reassembled", c.Reassembled);
        Row(o, "TCP segments", c.TcpSegments);
        Row(o, "TCP retransmissions", r.Tcp.Retransmissions);
        Row(o, "TCP out-of-order segments", r.Tcp.OutOfOrder);
        Row(o, "TCP gaps", r.Tcp.Gaps);
        Row(o, "keep-alives", c.KeepAlives);
        Row(o, "non-SIP on SIP ports", c.NonSipOnSipPort);
        Row(o, "encrypted SIP (not inspected)", c.EncryptedSip);
        Row(o, "non-IP frames", c.NotIp);
        if (c.BadChecksums > 0) Row(o, "IPv4 bad checksums (inspected)", c.BadChecksums);
        if (r.Detection is { } d) WriteDetectionText(o, d, top);
        if (r.Behaviour is { } b) WriteBehaviourText(o, b);
        if (r.ClfRecords > 0)
        {
            o.WriteLine();
            o.WriteLine($"  {r.ClfRecords:N0} SIP CLF records written.");
        }
        o.WriteLine();
        double rate = r.ElapsedSeconds > 0 ? r.Packets / r.ElapsedSeconds : 0;
        o.WriteLine($"  analysed in {r.ElapsedSeconds:0.###} s ({rate:N0} packets/s)");
    }

    private static void WriteBehaviourJson(Utf8JsonWriter w, BehaviourSummary b)
    {
        w.WriteStartObject("factors");
        w.WriteFactorWindows(b.Short, b.Long);
        w.WriteNumber("baseline_weeks", b.BaselineWeeks);
        w.WriteBoolean("baseline_ready", b.BaselineReady);
        w.WriteStartArray("top_users");
        foreach (var u in b.TopUsers)
        {
            w.WriteStartObject();
            w.WriteString("from", u.Key);
            w.WriteNumber("requests", u.Count);
            w.WriteNumber("max_overcount", u.Error);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("servers");
        foreach (var (server, responses, errors) in b.Servers)
        {
            w.WriteStartObject();
            w.WriteString("address", server.ToString());
            w.WriteNumber("responses_60s", responses);
            w.WriteNumber("error_response_ratio_60s", Math.Round(errors, 6));
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("factor_alerts");
        foreach (var (t, id, results) in b.Firings)
        {
            w.WriteStartObject();
            w.WriteString("timestamp", DateTime.UnixEpoch.AddTicks(t / 100).ToString("yyyy-MM-ddTHH:mm:ss.fffZ", System.Globalization.CultureInfo.InvariantCulture));
            w.WriteString("rule_id", id);
            w.WriteStartObject("conditions");
            foreach (var c in results)
            {
                w.WriteStartObject(Engine.Behaviour.Factors.Name(c.Condition.Factor));
                w.WriteNumber("value", Math.Round(c.Value, 6));
                if (!double.IsNaN(c.Threshold)) w.WriteNumber("threshold", Math.Round(c.Threshold, 6));
                w.WriteBoolean("static_fallback", c.UsedStatic);
                w.WriteEndObject();
            }
            w.WriteEndObject();
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void WriteBehaviourText(TextWriter o, BehaviourSummary b)
    {
        Section(o, "Behaviour factors (the last 10 s and 60 s of the capture)");
        for (int f = 0; f < Engine.Behaviour.Factors.Count; f++)
        {
            string Fmt(double v) => double.IsNaN(v) || double.IsInfinity(v) ? "-" : v.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture);
            o.WriteLine($"  {Engine.Behaviour.Factors.Name((Engine.Behaviour.Factor)f),-28} {Fmt(b.Short[f]),12} {Fmt(b.Long[f]),12}");
        }
        foreach (var (server, responses, errors) in b.Servers.Take(10))
            o.WriteLine($"  server {server,-39} {responses,8:N0} responses in 60 s, error_response_ratio {errors:0.###}");
        if (b.Firings.Count > 0)
        {
            o.WriteLine($"  Rules on factors fired {b.Firings.Count:N0} time(s){(b.BaselineReady ? "" : " (baseline not ready: static thresholds)")}:");
            foreach (var (t, id, results) in b.Firings.Take(20))
                o.WriteLine($"    {DateTime.UnixEpoch.AddTicks(t / 100):yyyy-MM-dd HH:mm:ss}Z {id}: " +
                            string.Join(", ", results.Select(c => $"{Engine.Behaviour.Factors.Name(c.Condition.Factor)} {c.Value:0.###} (threshold {c.Threshold:0.###})")));
        }
    }

    private static void WriteDetectionJson(Utf8JsonWriter w, DetectionSummary d)
    {
        w.WriteStartObject("detection");
        w.WriteNumber("rules", d.RuleCount);
        w.WriteString("mode", d.Mode == Engine.Detection.RuleMode.Prevent ? "prevent" : "detect");
        w.WriteNumber("alerts", d.Alerts.Alerts);
        w.WriteNumber("alerted_frames", d.AlertedFrames);
        w.WriteStartObject("dropped_frames");
        for (int i = 1; i < d.DroppedFrames.Length; i++)
            if (d.DroppedFrames[i] > 0) w.WriteNumber(Engine.Enforcement.DropReasons.Name((Engine.Enforcement.DropReason)i), d.DroppedFrames[i]);
        w.WriteEndObject();
        w.WriteStartArray("by_rule");
        foreach (var (id, c) in d.Rules)
        {
            w.WriteStartObject();
            w.WriteString("id", id);
            w.WriteNumber("matched", c.Matched);
            w.WriteNumber("fired", c.Fired);
            w.WriteNumber("alerts", c.Alerts);
            w.WriteNumber("bans", d.Alerts.BansByRule.GetValueOrDefault(id));
            w.WriteNumber("rate_limits", c.RateLimits);
            w.WriteNumber("dropped", c.Dropped);
            w.WriteNumber("rate_limited", c.RateLimited);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("banned_keys");
        foreach (var (key, rule, first, enforced) in d.Alerts.BannedKeys)
        {
            w.WriteStartObject();
            w.WriteString("key", key);
            w.WriteString("rule_id", rule);
            w.WriteString("first", Iso(first));
            w.WriteBoolean("enforced", enforced);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteNumber("ban_drops", d.Totals.BanDrops);
        w.WriteNumber("rate_limit_drops", d.Totals.RateLimitDrops);
        w.WriteNumber("rule_drops", d.Totals.RuleDrops);
        w.WriteNumber("allowlisted_messages", d.Totals.Allowlisted);
        if (d.AlertsPath is not null) w.WriteString("alert_log", d.AlertsPath);
        if (d.EvidencePath is not null) w.WriteString("evidence", d.EvidencePath);
        w.WriteEndObject();
    }

    private static void WriteDetectionText(TextWriter o, DetectionSummary d, int top)
    {
        string mode = d.Mode == Engine.Detection.RuleMode.Prevent ? "prevent" : "detect-only";
        Section(o, $"Detection: {d.RuleCount} rules ({mode}), {d.Alerts.Alerts:N0} alerts");
        o.WriteLine($"    {"rule",-30} {"matched",10} {"fired",7} {"alerts",7} {"bans",6} {"dropped",9}");
        foreach (var (id, c) in d.Rules)
        {
            long dropped = c.Dropped + c.RateLimited;
            if (c.Matched == 0 && c.Alerts == 0) continue;
            o.WriteLine($"    {id,-30} {c.Matched,10:N0} {c.Fired,7:N0} {c.Alerts,7:N0} {d.Alerts.BansByRule.GetValueOrDefault(id),6:N0} {dropped,9:N0}");
        }
        long quiet = d.Rules.Count(x => x.Counters.Matched == 0 && x.Counters.Alerts == 0);
        if (quiet > 0) o.WriteLine($"    ({quiet} rule(s) matched nothing)");
        long framesDropped = d.DroppedFrames.Skip(1).Sum();
        if (d.Mode == Engine.Detection.RuleMode.Detect)
        {
            o.WriteLine($"    frames that raised an alert: {d.AlertedFrames:N0} (detect-only: nothing dropped; --mode prevent replays as the bridge would)");
        }
        else if (framesDropped > 0 || d.AlertedFrames > 0)
        {
            var reasons = Enumerable.Range(1, d.DroppedFrames.Length - 1).Where(i => d.DroppedFrames[i] > 0)
                .Select(i => $"{Engine.Enforcement.DropReasons.Name((Engine.Enforcement.DropReason)i)} {d.DroppedFrames[i]:N0}");
            o.WriteLine($"    frames the bridge would drop: {framesDropped:N0}{(framesDropped > 0 ? $" ({string.Join(", ", reasons)})" : "")}; frames that raised an alert: {d.AlertedFrames:N0}");
        }
        if (d.Alerts.BannedKeys.Count > 0)
        {
            Section(o, $"Banned keys: {d.Alerts.BannedKeys.Count:N0}{(d.Mode == Engine.Detection.RuleMode.Detect ? " (detect-only: not enforced)" : "")}");
            foreach (var (key, rule, first, _) in d.Alerts.BannedKeys.Take(top))
            {
                string shown = PrintableText.Escape(key);
                o.WriteLine($"    {(shown.Length > 52 ? shown[..49] + "..." : shown),-52} {rule,-26} {Iso(first)}");
            }
            if (d.Alerts.BannedKeys.Count > top) o.WriteLine($"    ... and {d.Alerts.BannedKeys.Count - top:N0} more (see --json)");
        }
        if (d.AlertsPath is not null) o.WriteLine($"    alerts written to {d.AlertsPath}");
        if (d.EvidencePath is not null) o.WriteLine($"    evidence frames written to {d.EvidencePath}");
    }

    private static IEnumerable<(string Name, long Count)> Requests(CaptureReport rep)
    {
        for (int i = 1; i < rep.RequestsByMethod.Length; i++)
            if (rep.RequestsByMethod[i] > 0) yield return (SipMethods.Name((SipMethod)i), rep.RequestsByMethod[i]);
        foreach (var item in rep.UnknownMethods.Top(32)) yield return (item.Key, item.Count);
    }

    private static IEnumerable<(string Class, long Count)> ResponseClasses(CaptureReport rep)
    {
        for (int cls = 1; cls <= 6; cls++)
        {
            long n = 0;
            for (int code = cls * 100; code < cls * 100 + 100; code++) n += rep.ResponsesByCode[code];
            if (n > 0) yield return ($"{cls}xx", n);
        }
    }

    private static void Top(Utf8JsonWriter w, string name, TopK top, int n)
    {
        w.WriteStartArray(name);
        foreach (var item in top.Top(n))
        {
            w.WriteStartObject();
            w.WriteString("key", item.Key);
            w.WriteNumber("count", item.Count);
            if (item.Error > 0) w.WriteNumber("max_overcount", item.Error);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    private static void TopText(TextWriter o, string title, TopK top, int n)
    {
        var items = top.Top(n);
        if (items.Count == 0) return;
        Section(o, title);
        foreach (var item in items)
        {
            string key = PrintableText.Escape(item.Key);
            Row(o, key.Length > 60 ? key[..57] + "..." : key, item.Count, item.Error > 0 ? $"(±{item.Error:N0})" : null);
        }
    }

    private static void Section(TextWriter o, string title)
    {
        o.WriteLine();
        o.WriteLine($"  {title}");
    }

    private static void Row(TextWriter o, string label, long count, string? note = null) =>
        o.WriteLine($"    {label,-44} {count,12:N0}{(note is null ? "" : " " + note)}");

    private static string Iso(long ns) =>
        DateTimeOffset.FromUnixTimeMilliseconds(ns / 1_000_000).AddTicks(ns % 1_000_000 / 100).ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture);

    private static string FormatBytes(long b) => b switch
    {
        >= 1L << 30 => $"{b / (double)(1L << 30):0.0} GiB",
        >= 1L << 20 => $"{b / (double)(1L << 20):0.0} MiB",
        >= 1L << 10 => $"{b / 1024.0:0.0} KiB",
        _ => $"{b} bytes",
    };

    private static string ReasonText(int code) => code switch
    {
        100 => "Trying",
        180 => "Ringing",
        181 => "Call Is Being Forwarded",
        183 => "Session Progress",
        200 => "OK",
        202 => "Accepted",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        484 => "Address Incomplete",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        600 => "Busy Everywhere",
        603 => "Decline",
        604 => "Does Not Exist Anywhere",
        _ => "",
    };
}
