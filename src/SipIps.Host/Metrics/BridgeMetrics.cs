using SipIps.Capture;
using SipIps.Capture.Bridge;
using SipIps.Engine.Detection;
using SipIps.Engine.Enforcement;
using SipIps.Engine.Packets;
using SipIps.Engine.Sip;
using SipIps.Export.Alerts;
using SipIps.Export.Live;
using SipIps.Export.Metrics;
using SipIps.Host.Detection;

namespace SipIps.Host.Metrics;

/// <summary>
/// Builds the /metrics page of the running bridge from the counters of its parts. Every label takes values from a
/// fixed set (ports, methods, status codes, reasons, rule ids, table names): no Call-ID, URI or address is a label.
/// </summary>
internal sealed class BridgeMetrics(
    InlineBridge bridge,
    Func<IReadOnlyList<LiveObserver>> observers,
    DetectionRuntime detection,
    AlertLogWriter alerts,
    AlertQueue alertQueue,
    EvidenceRecorder? evidence,
    SessionExporter? sessions,
    ClfLogWriter? clf,
    Func<long> scrapes)
{
    public string Render()
    {
        var p = new PromText();
        var snap = bridge.Snapshot();
        var workers = bridge.Workers;

        p.Family("sipips_build_info", "gauge", "SipIps version (always 1).");
        p.Sample("sipips_build_info", 1, ("version", Program.Version));
        p.Single("sipips_start_time_seconds", "gauge", "When the bridge started, in seconds since the Unix epoch.", snap.Started.ToUnixTimeMilliseconds() / 1000.0);
        p.Single("sipips_workers_per_port", "gauge", "Worker threads per interface pair (each runs both directions; also the fanout width of each port).", snap.WorkersPerPort);

        // Ports.
        p.Family("sipips_port_up", "gauge", "1 when the port is up with a carrier.");
        foreach (var port in snap.Ports) p.Sample("sipips_port_up", port.Up && port.Running ? 1 : 0, ("port", port.Name));
        PortCounter(p, snap, "sipips_port_rx_frames_total", "Frames received on the port.", x => x.RxFrames);
        PortCounter(p, snap, "sipips_port_rx_bytes_total", "Bytes received on the port.", x => x.RxBytes);
        p.Family("sipips_port_tx_frames_total", "counter", "Frames forwarded out of the port (received on its peer).");
        foreach (var port in snap.Ports) p.Sample("sipips_port_tx_frames_total", snap.Ports.First(x => x.Name == port.Peer).Forwarded, ("port", port.Name));
        p.Family("sipips_port_tx_bytes_total", "counter", "Bytes forwarded out of the port (received on its peer).");
        foreach (var port in snap.Ports) p.Sample("sipips_port_tx_bytes_total", snap.Ports.First(x => x.Name == port.Peer).ForwardedBytes, ("port", port.Name));
        p.Family("sipips_port_dropped_frames_total", "counter", "Frames received on the port and not forwarded, by reason.");
        foreach (var port in snap.Ports)
            for (int r = 1; r < DropReasons.Count; r++)
                p.Sample("sipips_port_dropped_frames_total", port.Drops.GetValueOrDefault(DropReasons.Name((DropReason)r)), ("port", port.Name), ("reason", DropReasons.Name((DropReason)r)));
        PortCounter(p, snap, "sipips_port_kernel_drops_total", "Frames the kernel dropped because the receive ring was full (PACKET_STATISTICS).", x => x.KernelDrops);
        PortCounter(p, snap, "sipips_port_send_errors_total", "Frames that could not be sent to the peer.", x => x.ForwardErrors);
        PortCounter(p, snap, "sipips_port_checksum_not_ready_total", "Frames that arrived with an unfinished checksum (offload).", x => x.ChecksumNotReady);
        PortCounter(p, snap, "sipips_internal_errors_total", "Frames on which the engine failed; the exception policy decided them.", x => x.Exceptions);

        p.Family("sipips_verdicts_total", "counter", "Verdicts on received frames, by action and reason.");
        p.Sample("sipips_verdicts_total", snap.Ports.Sum(x => x.Forwarded + x.ForwardErrors), ("action", "forward"), ("reason", "none"));
        for (int r = 1; r < DropReasons.Count; r++)
        {
            string name = DropReasons.Name((DropReason)r);
            p.Sample("sipips_verdicts_total", snap.Ports.Sum(x => x.Drops.GetValueOrDefault(name)), ("action", "drop"), ("reason", name));
        }

        // SIP.
        var engines = workers.Select(w => w.Engine).OfType<Engine.Pipeline.SipEngine>().Select(e => e.Counters).ToList();
        p.Family("sipips_sip_messages_total", "counter", "SIP messages inspected, by transport.");
        p.Sample("sipips_sip_messages_total", engines.Sum(c => c.SipUdp), ("transport", "udp"));
        p.Sample("sipips_sip_messages_total", engines.Sum(c => c.SipTcp), ("transport", "tcp"));
        p.Sample("sipips_sip_messages_total", engines.Sum(c => c.SipSctp), ("transport", "sctp"));
        var obs = observers();
        p.Family("sipips_sip_requests_total", "counter", "SIP requests by method.");
        for (int m = 0; m < SipMethods.Count; m++)
            p.Sample("sipips_sip_requests_total", obs.Sum(o => o.Requests[m]), ("method", SipMethods.Name((SipMethod)m)));
        p.Family("sipips_sip_responses_total", "counter", "SIP responses by status code (codes seen so far) and class.");
        for (int code = 0; code < 700; code++)
        {
            long n = obs.Sum(o => o.Responses[code]);
            if (n == 0) continue;
            p.Sample("sipips_sip_responses_total", n, ("code", code == 0 ? "other" : code.ToString(System.Globalization.CultureInfo.InvariantCulture)), ("class", code == 0 ? "other" : $"{code / 100}xx"));
        }
        p.Family("sipips_sip_parse_errors_total", "counter", "SIP messages that failed to parse, by reason.");
        for (int s = 1; s < SipParseStatusNames.Count; s++)
        {
            long n = engines.Sum(c => c.ParseStatusCounts[s]);
            p.Sample("sipips_sip_parse_errors_total", n, ("reason", SipParseStatusNames.Name((SipParseStatus)s)));
        }
        p.Family("sipips_decode_errors_total", "counter", "Frames or fragments that failed to decode, by reason.");
        for (int e = 1; e < DecodeEvents.Count; e++)
            p.Sample("sipips_decode_errors_total", engines.Sum(c => c.DecodeEventCounts[e]), ("reason", DecodeEvents.Name((DecodeEvent)e)));
        p.Single("sipips_sip_not_sip_on_sip_port_total", "counter", "Payloads on SIP ports that were not SIP.", engines.Sum(c => c.NonSipOnSipPort));
        p.Single("sipips_sip_encrypted_total", "counter", "Payloads on encrypted SIP ports (TLS, WSS), forwarded uninspected.", engines.Sum(c => c.EncryptedSip));

        long[] buckets = new long[11];
        double sum = 0;
        foreach (var w in workers) w.Processing.AddTo(buckets, ref sum);
        p.Histogram("sipips_packet_processing_seconds", "Time a frame spends in the engine (decode to verdict).", workers.Count > 0 ? workers[0].Processing.Bounds : [], buckets, sum);

        // Detection.
        var totals = detection.Totals();
        p.Single("sipips_detection_messages_total", "counter", "SIP messages seen by the rules.", totals.Messages);
        p.Family("sipips_alerts_total", "counter", "Alerts raised, by rule.");
        var rules = detection.RuleTotals();
        foreach (var (id, c) in rules) p.Sample("sipips_alerts_total", c.Alerts, ("rule_id", id));
        p.Family("sipips_rule_actions_total", "counter", "Messages dropped, rate-limited and keys banned, by rule.");
        foreach (var (id, c) in rules)
        {
            p.Sample("sipips_rule_actions_total", c.Dropped, ("rule_id", id), ("action", "drop"));
            p.Sample("sipips_rule_actions_total", c.RateLimited, ("rule_id", id), ("action", "rate_limit"));
            p.Sample("sipips_rule_actions_total", c.Bans, ("rule_id", id), ("action", "ban"));
        }
        var enforcement = detection.Enforcement;
        p.Single("sipips_active_bans", "gauge", "Keys banned now.", enforcement.Bans);
        p.Single("sipips_active_rate_limits", "gauge", "Keys rate-limited now.", enforcement.RateLimits);

        // Tables.
        var tables = new List<(string, long, long)>();
        foreach (var e in detection.Engines.Take(1))
        {
            tables.Add(("rule_counters", e.CounterTable.Count, e.CounterTable.Capacity));
            tables.Add(("distinct_counters", e.DistinctTable.Count, e.DistinctTable.Capacity));
            tables.Add(("dialogs", e.DialogTable.Count, e.DialogTable.Capacity));
            tables.Add(("scores", e.ScoreTable.Count, e.ScoreTable.Capacity));
            tables.Add(("known_sources", e.KnownSourceTable.Count, e.KnownSourceTable.Capacity));
        }
        tables.Add(("enforcement", enforcement.Bans + enforcement.RateLimits, enforcement.Capacity));
        if (sessions is not null)
        {
            tables.Add(("sessions", sessions.Tracker.Active, sessions.Tracker.Capacity));
            tables.Add(("media", sessions.Media.Count, sessions.Media.Capacity));
            foreach (var k in sessions.Behaviour.KeyedTables) tables.Add(("factor_keys_" + k.Spec.Name, k.Count, k.Capacity));
        }
        p.Family("sipips_table_entries", "gauge", "Entries in use in each fixed-capacity table.");
        foreach (var (name, count, _) in tables) p.Sample("sipips_table_entries", count, ("table", name));
        p.Family("sipips_table_capacity", "gauge", "Capacity of each fixed-capacity table.");
        foreach (var (name, _, capacity) in tables) p.Sample("sipips_table_capacity", capacity, ("table", name));

        // Sessions.
        if (sessions is not null)
        {
            var t = sessions.Tracker;
            p.Single("sipips_active_calls", "gauge", "Answered calls not yet ended.", t.ActiveCalls);
            p.Single("sipips_active_registrations", "gauge", "Addresses of record with an unexpired registration.", t.ActiveRegistrations);
            p.Single("sipips_active_sessions", "gauge", "SIP sessions (Call-IDs) followed now.", t.Active);
            p.Single("sipips_sessions_exported_total", "counter", "Sessions finished and exported.", t.Exported);
            p.Single("sipips_sessions_evicted_total", "counter", "Sessions exported early because the table was full.", t.Evicted);
            p.Single("sipips_rtp_packets_total", "counter", "RTP packets tied to a call through its SDP.", t.RtpPackets);
            var pdd = t.PostDialDelay;
            long[] pb = new long[pdd.Bounds.Count + 1];
            double ps = 0;
            pdd.AddTo(pb, ref ps);
            p.Histogram("sipips_post_dial_delay_seconds", "Time from an INVITE to its first final response.", pdd.Bounds, pb, ps);
            if (sessions.Monitor is { } monitor)
            {
                var (shortWindow, longWindow) = sessions.FactorValues();
                p.Family("sipips_factor", "gauge", "SIP traffic behaviour factors over the 10 s and 60 s windows (rules/README.md lists them; NaN when undefined).");
                for (int f = 0; f < Engine.Behaviour.Factors.Count; f++)
                {
                    p.Sample("sipips_factor", shortWindow[f], ("factor", Engine.Behaviour.Factors.Name((Engine.Behaviour.Factor)f)), ("window", "10s"));
                    p.Sample("sipips_factor", longWindow[f], ("factor", Engine.Behaviour.Factors.Name((Engine.Behaviour.Factor)f)), ("window", "60s"));
                }
                p.Single("sipips_baseline_history_seconds", "gauge", "History the baseline holds for the current time-of-week slot (whole weeks).", monitor.BaselineWeeks * 604800.0);
                p.Single("sipips_baseline_ready", "gauge", "1 when the current slot has enough history; 0 while factor rules use their static thresholds.", monitor.BaselineReady ? 1 : 0);
                p.Single("sipips_factor_rule_firings_total", "counter", "Alerts raised by rules on behaviour factors.", monitor.Fired);
            }
            p.Single("sipips_netflow_packets_total", "counter", "NetFlow v9 export packets sent.", sessions.FlowPackets);
            p.Single("sipips_netflow_send_errors_total", "counter", "NetFlow v9 export packets that could not be sent.", sessions.SendErrors);
        }
        if (clf is not null)
        {
            p.Single("sipips_clf_records_total", "counter", "SIP CLF records written.", clf.Written);
            p.Single("sipips_clf_write_errors_total", "counter", "SIP CLF records lost to write errors.", clf.WriteErrors);
            p.Single("sipips_clf_rotations_total", "counter", "SIP CLF file rotations.", clf.Rotations);
            p.Single("sipips_clf_records_too_large_total", "counter", "SIP messages whose CLF values exceeded the queue's record limit (not logged).",
                obs.Sum(o => o.ClfTooLarge));
        }
        p.Single("sipips_alerts_written_total", "counter", "Alert lines written to the alert log.", alerts.Written);

        p.Family("sipips_exporter_queue_dropped_total", "counter", "Events an exporter's full queue could not take (the wire was never slowed).");
        p.Sample("sipips_exporter_queue_dropped_total", sessions?.Lost ?? 0, ("exporter", "sessions"));
        p.Sample("sipips_exporter_queue_dropped_total", clf?.Lost ?? 0, ("exporter", "clf"));
        p.Sample("sipips_exporter_queue_dropped_total", alertQueue.Lost, ("exporter", "alerts"));
        p.Sample("sipips_exporter_queue_dropped_total", evidence?.Lost ?? 0, ("exporter", "evidence"));
        p.Family("sipips_exporter_internal_errors_total", "counter", "Events an exporter thread failed on: dropped and counted, the thread went on.");
        p.Sample("sipips_exporter_internal_errors_total", sessions?.Faults.Count ?? 0, ("exporter", "sessions"));
        p.Sample("sipips_exporter_internal_errors_total", clf?.Faults.Count ?? 0, ("exporter", "clf"));
        p.Family("sipips_gc_collections_total", "counter", "Garbage collections by generation (a collection pauses the workers).");
        for (int g = 0; g <= 2; g++) p.Sample("sipips_gc_collections_total", GC.CollectionCount(g), ("generation", g.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        p.Single("sipips_gc_allocated_bytes_total", "counter", "Bytes allocated on the managed heap since start.", GC.GetTotalAllocatedBytes());
        p.Single("sipips_metrics_scrapes_total", "counter", "Requests for /metrics.", scrapes());
        return p.ToString();
    }

    private static void PortCounter(PromText p, BridgeSnapshot snap, string name, string help, Func<PortSnapshot, long> value)
    {
        p.Family(name, "counter", help);
        foreach (var port in snap.Ports) p.Sample(name, value(port), ("port", port.Name));
    }
}
