using System.Text;
using SipIps.Engine.Behaviour;
using SipIps.Engine.Common;
using SipIps.Engine.Detection;
using SipIps.Engine.Enforcement;
using SipIps.Engine.Sessions;
using SipIps.Engine.Sip;
using Xunit;
using Xunit.Abstractions;

namespace SipIps.Rules.Tests;

/// <summary>Synthetic session events with known answers, for the behaviour factors.</summary>
internal sealed class EventMaker
{
    private SessionEvent _e;
    public static readonly IpAddr Client = IpAddr.FromV4(0xC000020A), Server = IpAddr.FromV4(0xC6336414);

    public SessionEvent Request(long t, SipMethod method, string callId, string from = "sip:alice@example.com", string to = "sip:bob@example.com", IpAddr? source = null)
    {
        _e = default;
        _e.Kind = SessionEventKind.Sip;
        _e.TimestampNs = t;
        _e.IsRequest = true;
        _e.Method = method;
        _e.CSeqMethod = method;
        _e.Source = source ?? Client;
        _e.Destination = Server;
        _e.SourcePort = _e.DestinationPort = 5060;
        _e.CallIdHash = Hash64.Compute(Encoding.ASCII.GetBytes(callId));
        Set(from, _e.FromUri, ref _e.FromLength);
        Set(to, _e.ToUri, ref _e.ToLength);
        return _e;
    }

    public SessionEvent Response(long t, int status, SipMethod method, string callId, string to = "sip:bob@example.com")
    {
        var e = Request(t, method, callId, to: to);
        e.IsRequest = false;
        e.StatusCode = (short)status;
        e.Source = Server;
        e.Destination = Client;
        return e;
    }

    public static SessionEvent Rtp(long t, uint ssrc, ushort seq, uint ts) => new()
    {
        Kind = SessionEventKind.Rtp, TimestampNs = t, Ssrc = ssrc, RtpSequence = seq, RtpTimestamp = ts, PayloadType = 0,
        Source = Client, Destination = Server, WireLength = 214,
    };

    private static void Set(string value, Span<byte> into, ref byte length)
    {
        length = (byte)Encoding.ASCII.GetBytes(value, into);
    }
}

public class BehaviourTests(ITestOutputHelper output)
{
    private const long T0 = 1_767_571_200_000_000_000; // Monday 2026-01-05 00:00:00 UTC
    private static double F(double[] v, Factor f) => v[(int)f];

    [Fact]
    public void Ratios_over_a_window_are_exact_and_distinct_counts_within_the_sketch_error()
    {
        var a = new BehaviourAnalyzer();
        var m = new EventMaker();
        // Ten seconds: each second 4 INVITEs (new Call-IDs, From users u0..u39), 4 BYEs, 2 REGISTERs; 10 responses, 1 of them an error.
        int call = 0;
        for (int s = 0; s < 10; s++)
        {
            long t = T0 + s * 1_000_000_000L;
            for (int i = 0; i < 4; i++, call++)
            {
                a.OnEvent(m.Request(t, SipMethod.Invite, $"c{call}", from: $"sip:u{call}@example.com"));
                a.OnEvent(m.Request(t, SipMethod.Bye, $"c{call}", from: $"sip:u{call}@example.com"));
            }
            a.OnEvent(m.Request(t, SipMethod.Register, $"r{s}", to: $"sip:aor{s % 5}@example.com", source: IpAddr.FromV4((uint)(0x0A000000 + s))));
            a.OnEvent(m.Request(t, SipMethod.Register, $"r{s}b", to: $"sip:aor{s % 5}@example.com", source: IpAddr.FromV4((uint)(0x0A000000 + s))));
            for (int i = 0; i < 10; i++) a.OnEvent(m.Response(t, i == 0 ? 486 : 200, SipMethod.Invite, $"c{call - 1}"));
        }
        // Media for 8 of the calls: 8 SSRCs.
        for (uint ssrc = 1; ssrc <= 8; ssrc++)
            for (ushort q = 0; q < 10; q++)
                a.OnEvent(EventMaker.Rtp(T0 + q * 20_000_000L, ssrc, q, q * 160u));
        var v = new double[Factors.Count];
        long sip = a.Evaluate(T0 / 1_000_000_000 + 9, 10, v);
        Assert.Equal(200, sip);
        Assert.Equal(0.4, F(v, Factor.InviteRatio), 9);
        Assert.Equal(0.4, F(v, Factor.ByeRatio), 9);
        Assert.Equal(0.2, F(v, Factor.RegisterRatio), 9);
        Assert.Equal(1.0, F(v, Factor.RequestResponseRatio), 9);
        Assert.Equal(0.1, F(v, Factor.ErrorResponseRatio), 9);
        Assert.Equal(20.0, F(v, Factor.SipMessagesPerSecond), 9);
        Assert.Equal(8.0, F(v, Factor.RtpPacketsPerSecond), 9);
        // Distinct counts come from 256-register sketches whose Call-ID and AOR hashes take the process's random
        // seed, so the bounds cover the register collisions a run can draw rather than a fixed error. 40 Call-IDs
        // collide about 3 times on average (the estimate corrects for that); 6 or more, which a run draws about 8% of
        // the time, read as 36.5 and put the ratio under 4.5. The bounds below need 11 or more (under 0.1%).
        Assert.InRange(F(v, Factor.CallIdSsrcRatio), 40 / 8.0 * 0.75, 40 / 8.0 * 1.25);
        // 10 source addresses registering 5 AORs. One collision among the 5 AOR hashes (about 4% of runs) reads as 4
        // AORs, a ratio of 2.5; two (under 0.1%) are outside the bounds.
        Assert.InRange(F(v, Factor.RegisterIpUriRatio), 2 * 0.9, 2 * 1.3);
        Assert.Equal(0.0, F(v, Factor.RtpSeqDisorder), 9);
        Assert.Equal(0.0, F(v, Factor.RtpLossRatio), 9);
        Assert.True(double.IsNaN(F(v, Factor.PostDialDelaySeconds)));
        output.WriteLine(string.Join(", ", Factors.Names.Select((n, i) => $"{n}={v[i]:0.###}")));
    }

    [Fact]
    public void Top_users_are_exact_for_a_pbx_of_a_thousand_users()
    {
        var a = new BehaviourAnalyzer();
        var m = new EventMaker();
        const int users = 1000;
        for (int round = 0; round < 3; round++)
            for (int u = 0; u < users; u++)
                for (int k = 0; k <= u % 3; k++)
                    a.OnEvent(m.Request(T0 + round * 1_000_000_000L, SipMethod.Invite, $"c{round}-{u}-{k}", from: $"sip:{1000 + u}@example.com"));
        Assert.Equal(0, a.Top.ErrorBound);
        var top = a.Top.Top(users);
        Assert.Equal(users, top.Count);
        Assert.All(top, item =>
        {
            Assert.Equal(0, item.Error);
            Assert.Equal(3 * ((int.Parse(item.Key.AsSpan(4, 4)) - 1000) % 3 + 1), item.Count);
        });
    }

    [Fact]
    public void Rtp_loss_jitter_and_sequence_disorder_have_their_known_values()
    {
        var a = new BehaviourAnalyzer();
        // Stream 1: every 20 ms, 160-sample steps, arrivals alternating 10 and 30 ms apart: |D| = 10 ms each time, so
        // the jitter converges towards 10 ms. Every tenth packet is lost: 10% loss.
        long t = T0;
        int sent = 0, lost = 0;
        for (int q = 0; q < 500; q++)
        {
            t += q % 2 == 0 ? 10_000_000 : 30_000_000;
            if (q % 10 == 5)
            {
                lost++;
                continue;
            }
            sent++;
            a.OnEvent(EventMaker.Rtp(t, 0xA1, (ushort)q, (uint)q * 160));
        }
        var v = new double[Factors.Count];
        a.Evaluate(t / 1_000_000_000, 10, v);
        // Across a lost packet the transit does not change (40 ms later, two steps of 20 ms): |D| is 0 for one
        // interval in nine, so the running estimate settles a little under 10 ms.
        Assert.InRange(F(v, Factor.RtpJitterMs), 8.0, 10.0);
        Assert.InRange(F(v, Factor.RtpLossRatio), 0.09, 0.11);
        Assert.InRange(F(v, Factor.RtpSeqDisorder), 0.09, 0.12); // a gap is a break too
        // Stream 2, forged: random sequence numbers. Nearly every step is a break.
        var a2 = new BehaviourAnalyzer();
        var rnd = new Random(3);
        for (int q = 0; q < 500; q++) a2.OnEvent(EventMaker.Rtp(T0 + q * 20_000_000L, 0xB2, (ushort)rnd.Next(65536), (uint)q * 160));
        a2.Evaluate((T0 + 499 * 20_000_000L) / 1_000_000_000, 10, v);
        Assert.True(F(v, Factor.RtpSeqDisorder) > 0.95, $"{F(v, Factor.RtpSeqDisorder)}");
    }

    [Fact]
    public void Status_code_ratios_are_kept_per_server()
    {
        var a = new BehaviourAnalyzer(servers: 4);
        var m = new EventMaker();
        for (int s = 0; s < 10; s++)
        {
            long t = T0 + s * 1_000_000_000L;
            for (int i = 0; i < 10; i++)
            {
                var ok = m.Response(t, i < 2 ? 503 : 200, SipMethod.Invite, $"a{s}-{i}");
                a.OnEvent(ok);                                        // server 198.51.100.20: 20% errors
                var other = m.Response(t, i < 9 ? 404 : 200, SipMethod.Invite, $"b{s}-{i}");
                other.Source = IpAddr.FromV4(0xC6336415);             // server 198.51.100.21: 90% errors
                a.OnEvent(other);
            }
        }
        var servers = a.Servers(T0 / 1_000_000_000 + 9, 10);
        Assert.Equal(2, servers.Count);
        Assert.Equal((EventMaker.Server, 100L), (servers.Single(x => x.Server == EventMaker.Server).Server, servers.Single(x => x.Server == EventMaker.Server).Responses));
        Assert.Equal(0.2, servers.Single(x => x.Server == EventMaker.Server).ErrorRatio, 9);
        Assert.Equal(0.9, servers.Single(x => x.Server != EventMaker.Server).ErrorRatio, 9);
        // Two minutes later the window is empty.
        Assert.Empty(a.Servers(T0 / 1_000_000_000 + 200, 60));
    }

    [Fact]
    public void Volume_change_compares_a_window_with_the_one_before()
    {
        var a = new BehaviourAnalyzer();
        var m = new EventMaker();
        for (int s = 0; s < 20; s++)
            for (int i = 0; i < (s < 10 ? 5 : 20); i++)
                a.OnEvent(m.Request(T0 + s * 1_000_000_000L, SipMethod.Options, $"o{s}-{i}"));
        var v = new double[Factors.Count];
        a.Evaluate(T0 / 1_000_000_000 + 19, 10, v);
        Assert.Equal(4.0, F(v, Factor.SipVolumeChange), 9);
        Assert.Equal(1.0, F(v, Factor.OptionsRatio), 9);
        Assert.Equal(200.0, F(v, Factor.RequestResponseRatio), 9); // no response at all: the 200 requests over one
    }

    [Fact]
    public void The_baseline_keeps_a_rolling_window_of_weeks_per_slot_in_local_time()
    {
        var b = new Baseline(5, 13, TimeZoneInfo.FindSystemTimeZoneById("Europe/Berlin"));
        // Monday 2026-11-23 08:00 UTC is 09:00 in Berlin: slot 9 x 12.
        var (slot, week) = b.SlotOf(new DateTimeOffset(2026, 11, 23, 8, 0, 0, TimeSpan.Zero).ToUnixTimeMilliseconds() * 1_000_000);
        Assert.Equal(108, slot);
        // Summer time: 2026-07-06 (Monday) 08:00 UTC is 10:00 in Berlin.
        Assert.Equal(120, b.SlotOf(new DateTimeOffset(2026, 7, 6, 8, 0, 0, TimeSpan.Zero).ToUnixTimeMilliseconds() * 1_000_000).Slot);
        for (int w = 0; w < 20; w++) b.Learn(slot, w, Factor.InviteRatio, w);
        // At week 20: weeks 7..19 are the 13 in the window.
        var s = b.Stats(slot, Factor.InviteRatio, 20);
        Assert.Equal(13, s.Weeks);
        Assert.Equal(13.0, s.Mean, 6);
        Assert.Equal(Math.Sqrt(Enumerable.Range(7, 13).Select(x => (x - 13.0) * (x - 13.0)).Sum() / 12), s.Sigma, 5);
        // The current week's value does not count for itself.
        Assert.Equal(12, b.Stats(slot, Factor.InviteRatio, 19).Weeks);
        Assert.Equal(0, b.Stats(slot + 1, Factor.InviteRatio, 20).Weeks);

        string file = Path.GetTempFileName();
        try
        {
            b.Save(file);
            var back = Baseline.Load(file);
            Assert.Equal(s, back.Stats(slot, Factor.InviteRatio, 20));
            Assert.Equal("Europe/Berlin", back.Zone.Id);
            File.WriteAllBytes(file, File.ReadAllBytes(file)[..100]);
            Assert.Throws<InvalidDataException>(() => Baseline.Load(file));
            File.WriteAllText(file, "not a baseline");
            Assert.Contains("is not a SipIps baseline", Assert.Throws<InvalidDataException>(() => Baseline.Load(file)).Message);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void The_factor_names_in_the_rules_documentation_are_the_ones_in_the_code()
    {
        string doc = File.ReadAllText(Path.Combine(SipIps.Tests.Corpus.RepoRoot(), "rules", "README.md"));
        var documented = System.Text.RegularExpressions.Regex.Matches(doc, @"^\| `([a-z0-9_]+)` \|", System.Text.RegularExpressions.RegexOptions.Multiline)
            .Select(m => m.Groups[1].Value).Where(n => !n.EndsWith(".yaml")).Where(n => Factors.TryParse(n, out _) || n.Contains("ratio") || n.Contains("per_second")).ToList();
        Assert.Equal(Factors.Names, documented);
    }

    [Fact]
    public void Factor_rules_load_and_their_errors_name_the_place()
    {
        const string good = "rules:\n  - id: flood-signature\n    severity: high\n    window: 10s\n    min_messages: 100\n    when:\n" +
                            "      - factor: invite_ratio\n        above: baseline + 4 sigma\n        static: 0.6\n" +
                            "      - factor: request_response_ratio\n        above: 1.5\n" +
                            "      - factor: sip_messages_per_second\n        ratio_to_baseline: 3\n        static: 500\n";
        var r = RuleLoader.Parse(good);
        Assert.Empty(r.Errors);
        var rule = Assert.Single(r.RuleSet!.FactorRules);
        Assert.Equal(3, rule.When.Count);
        Assert.Equal(new FactorCondition(Factor.InviteRatio, FactorComparison.Above, true, 4, 0.6), rule.When[0]);
        Assert.Equal(new FactorCondition(Factor.RequestResponseRatio, FactorComparison.Above, false, 1.5, null), rule.When[1]);
        Assert.Equal(FactorComparison.RatioToBaseline, rule.When[2].Comparison);

        (string Yaml, string Error)[] bad =
        [
            (good.Replace("invite_ratio", "invite_rate"), "rules.yaml:7:17: unknown factor 'invite_rate'"),
            (good.Replace("baseline + 4 sigma", "baseline + lots"), "rules.yaml:8:16: 'baseline + lots' is neither a number nor 'baseline + K sigma'"),
            (good.Replace("window: 10s", "window: 30s"), "rules.yaml:4:13: a factor rule's window is 10s or 60s"),
            (good.Replace("above: 1.5", "above: 1.5\n        below: 0.5"), "rules.yaml:12:16: a condition has one of above, below or ratio_to_baseline"),
            (good.Replace("above: 1.5", "above: 1.5\n        static: 2"), "'static' is the fallback of a condition on the baseline"),
            (good.Replace("    min_messages: 100\n", "    min_messages: 100\n    actions: [{action: ban, ttl: 10m}]\n"), "a ban on the global key would block every SIP message"),
            (good.Replace("    min_messages: 100\n", "    min_messages: 100\n    actions: [drop]\n"), "fires on a window, not on one message"),
            (good.Replace("    min_messages: 100\n", "    min_messages: 100\n    key: call_id\n"), "rules.yaml:6:10: rule flood-signature: factors are kept per src_ip, src_prefix, dst_ip, from_uri, to_uri or globally, not per call_id"),
            (good.Replace("    min_messages: 100\n", "    min_messages: 100\n    key: src_ip\n"), "a key's sip_messages_per_second is compared with a fixed value"),
            (good.Replace("    min_messages: 100\n", "    min_messages: 100\n    key: dst_ip\n").Replace("request_response_ratio", "call_id_ssrc_ratio"), "call_id_ssrc_ratio is computed globally only"),
            (good.Replace("      - factor: sip_messages_per_second\n        ratio_to_baseline: 3\n        static: 500\n", "")
                 .Replace("    min_messages: 100\n", "    min_messages: 100\n    key: src_ip\n    actions: [alert, protect]\n"), "protect guards all traffic"),
        ];
        foreach (var (yaml, error) in bad)
        {
            var e = RuleLoader.Parse(yaml);
            Assert.True(e.Errors.Count > 0, error);
            Assert.Contains(error, e.Errors[0].ToString());
        }
    }

    /// <summary>
    /// Four weeks of synthetic traffic, compressed (one-hour slots, the first 40 seconds of each hour carry traffic),
    /// with a daily pattern: quiet nights, a peak at 13:00 five times the night's volume. Three weeks teach the
    /// baseline; in the fourth, an INVITE flood is injected on Wednesday at 14:00. Only the flood may fire: not the
    /// daily peaks, which static thresholds low enough to see the flood would take for attacks.
    /// </summary>
    [Fact]
    public void A_learned_week_pattern_lets_only_the_flood_fire()
    {
        var ruleYaml = File.ReadAllText(Path.Combine(SipIps.Tests.Corpus.RepoRoot(), "rules", "behaviour.yaml"));
        var rules = RuleLoader.Parse(ruleYaml, "behaviour.yaml").RuleSet!.FactorRules;
        Assert.NotEmpty(rules);
        var baseline = new Baseline(slotMinutes: 60, weeks: 13);
        var learner = new BaselineLearner(baseline);
        var analyzer = new BehaviourAnalyzer();
        var sink = new ListSink();
        var monitor = new FactorMonitor(analyzer, learner, sink, () => rules) { MinWeeks = 3 };
        var m = new EventMaker();
        var rnd = new Random(11);
        long floodStart = T0 + (21L * 86400 + 2 * 86400 + 14 * 3600 + 15) * 1_000_000_000; // week 4, Wednesday 14:00:15
        long floodEnd = floodStart + 15_000_000_000;
        int call = 0;
        uint ssrc = 1;
        var peaks = new List<double>();
        for (int hour = 0; hour < 28 * 24; hour++)
        {
            int h = hour % 24;
            double rate = 2 + 8 * Math.Max(0, Math.Sin(Math.PI * (h - 6) / 14.0)); // calls per second
            for (int sec = 0; sec < 40; sec++)
            {
                long t = T0 + ((long)hour * 3600 + sec) * 1_000_000_000;
                int calls = Poisson(rnd, rate);
                for (int c = 0; c < calls; c++, call++)
                {
                    string id = $"call{call}";
                    long u = t + rnd.Next(900) * 1_000_000L;
                    analyzer.OnEvent(m.Request(u, SipMethod.Invite, id, from: $"sip:u{call % 500}@example.com"));
                    analyzer.OnEvent(m.Response(u + 1_000_000, 180, SipMethod.Invite, id));
                    analyzer.OnEvent(m.Response(u + 2_000_000, 200, SipMethod.Invite, id));
                    analyzer.OnEvent(m.Request(u + 3_000_000, SipMethod.Ack, id));
                    analyzer.OnEvent(m.Request(u + 4_000_000, SipMethod.Bye, id));
                    analyzer.OnEvent(m.Response(u + 5_000_000, 200, SipMethod.Bye, id));
                    for (int q = 0; q < 3; q++)
                    {
                        analyzer.OnEvent(EventMaker.Rtp(u + q * 20_000_000L, ssrc, (ushort)q, (uint)q * 160));
                        analyzer.OnEvent(EventMaker.Rtp(u + q * 20_000_000L, ssrc + 1, (ushort)q, (uint)q * 160));
                    }
                    ssrc += 2;
                }
                if (t >= floodStart && t < floodEnd)
                    for (int f = 0; f < 400; f++)
                        analyzer.OnEvent(m.Request(t + f * 2_000_000L, SipMethod.Invite, $"flood{t}-{f}", from: "sip:100@attacker.example"));
                monitor.Tick(t + 1_000_000_000);
            }
            if (hour >= 21 * 24 && h == 13) peaks.Add(monitor.LongWindow[(int)Factor.SipMessagesPerSecond]);
        }
        learner.Flush();
        var alerts = sink.Alerts.Select(x => x.TimestampNs).ToList();
        var inFlood = alerts.Where(t => t >= floodStart && t <= floodEnd + 10_000_000_000).ToList();
        var falseAlarms = alerts.Count - inFlood.Count;
        double delay = inFlood.Count > 0 ? (inFlood[0] - floodStart) / 1e9 : double.NaN;
        var (peakSlot, week) = baseline.SlotOf(T0 + 21L * 86400 * 1_000_000_000 + 13L * 3600 * 1_000_000_000);
        var (nightSlot, _) = baseline.SlotOf(T0 + 21L * 86400 * 1_000_000_000 + 3L * 3600 * 1_000_000_000);
        var peak = baseline.Stats(peakSlot, Factor.SipMessagesPerSecond, week);
        var night = baseline.Stats(nightSlot, Factor.SipMessagesPerSecond, week);
        output.WriteLine($"{alerts.Count} alert(s): {inFlood.Count} in the flood, {falseAlarms} false; detection delay {delay:0.0} s after the flood began");
        output.WriteLine($"baseline sip_messages_per_second at 13:00 {peak.Mean:0.0} +- {peak.Sigma:0.0} ({peak.Weeks} weeks), at 03:00 {night.Mean:0.0} +- {night.Sigma:0.0}; " +
                         $"slots learned {learner.SlotsLearned}, frozen {learner.SlotsFrozen}");
        Assert.Equal(3, peak.Weeks);
        Assert.InRange(peak.Mean / night.Mean, 3.5, 7);
        Assert.Single(inFlood);
        Assert.Equal(0, falseAlarms);
        Assert.InRange(delay, 0, 10);
        Assert.True(learner.SlotsFrozen >= 1, "the flooded slot must not be learned");
        var fired = Assert.Single(sink.Alerts);
        Assert.Equal(ActionKind.Drop, fired.Action); // protect
        Assert.Contains("\"invite_ratio\"", fired.Factors);
        Assert.Contains("\"static_fallback\":false", fired.Factors);
    }

    /// <summary>
    /// The signature's protect action: while it holds, a new INVITE from a source that never proved itself is dropped;
    /// known callers, calls in progress and every other method go on. Detect mode drops nothing.
    /// </summary>
    [Fact]
    public void Protection_drops_new_calls_from_unknown_sources_only()
    {
        var h = new Harness(RuleSet.Empty);
        h.CompleteCall("192.0.2.10", "198.51.100.20"); // a known caller
        string inCall = h.NewCallId();
        Assert.False(h.Send(Harness.Invite("carol", inCall), "203.0.113.5", "198.51.100.20").IsDrop);
        h.Send(Harness.Response(200, "OK", "INVITE", "sip:alice@example.com", "sip:carol@198.51.100.20", inCall), "198.51.100.20", "203.0.113.5");

        h.Shared.Protect(h.Clock.NowNs + 60_000_000_000, "invite-flood-signature");
        Assert.True(h.Send(Harness.Invite("bob", h.NewCallId()), "203.0.113.7", "198.51.100.20").IsDrop, "unknown source, new call");
        Assert.False(h.Send(Harness.Invite("bob", h.NewCallId()), "192.0.2.10", "198.51.100.20").IsDrop, "known source");
        Assert.False(h.Send(Harness.Request("ACK", "sip:carol@198.51.100.20", "sip:alice@example.com", "sip:carol@198.51.100.20", inCall, toTag: "tt1"),
            "203.0.113.5", "198.51.100.20").IsDrop, "a call in progress");
        Assert.False(h.Send(Harness.Request("REGISTER", "sip:198.51.100.20", "sip:dave@example.com", "sip:dave@example.com", h.NewCallId()),
            "203.0.113.7", "198.51.100.20").IsDrop, "not an INVITE");
        Assert.Equal(1, h.Engine.Counters.ProtectDrops);
        h.Clock.Advance(TimeSpan.FromSeconds(61));
        Assert.False(h.Send(Harness.Invite("bob", h.NewCallId()), "203.0.113.7", "198.51.100.20").IsDrop, "protection over");
        h.Shared.Protect(h.Clock.NowNs + 60_000_000_000, "invite-flood-signature");
        h.Shared.Mode = RuleMode.Detect;
        Assert.False(h.Send(Harness.Invite("bob", h.NewCallId()), "203.0.113.8", "198.51.100.20").IsDrop, "detect mode");
    }

    [Fact]
    public void The_shipped_signature_protects_and_its_alert_says_so()
    {
        var rules = RuleLoader.Parse(File.ReadAllText(Path.Combine(SipIps.Tests.Corpus.RepoRoot(), "rules", "behaviour.yaml")), "behaviour.yaml").RuleSet!.FactorRules;
        rules = [.. rules.Where(r => r.Id == "invite-flood-signature")];
        Assert.Equal(60_000_000_000, Assert.Single(rules).ProtectNs);
        var analyzer = new BehaviourAnalyzer();
        var sink = new ListSink();
        var shared = new DetectionShared(new RuleSetHolder(RuleSet.Empty), new EnforcementTable(1024), sink, new DetectionOptions());
        var monitor = new FactorMonitor(analyzer, null, sink, () => rules, shared);
        var m = new EventMaker();
        for (int s = 0; s < 12; s++)
        {
            long t = T0 + s * 1_000_000_000L;
            for (int i = 0; i < 800; i++) analyzer.OnEvent(m.Request(t + i * 1_000_000L, SipMethod.Invite, $"f{s}-{i}"));
            monitor.Tick(t + 1_000_000_000);
        }
        var alert = Assert.Single(sink.Alerts);
        Assert.Equal(ActionKind.Drop, alert.Action);
        Assert.True(alert.Enforced);
        Assert.Equal(alert.TimestampNs + 60_000_000_000, shared.ProtectUntilNs);
    }

    private static RuleSet Loaded(string yaml)
    {
        var load = RuleLoader.Parse(yaml);
        Assert.Empty(load.Errors);
        return load.RuleSet!;
    }

    /// <summary>A detection engine (for bans and limits on the packet path) and a monitor of the rule set's factor rules.</summary>
    private static (Harness H, BehaviourAnalyzer Analyzer, FactorMonitor Monitor) KeyedSetup(RuleSet rules, int keys = 64)
    {
        var h = new Harness(rules);
        var analyzer = new BehaviourAnalyzer(keysPerKind: keys);
        return (h, analyzer, new FactorMonitor(analyzer, null, h.Sink, () => rules.FactorRules, h.Shared));
    }

    /// <summary>A message between two given addresses (a response goes from <paramref name="server"/> to <paramref name="client"/>).</summary>
    private static SessionEvent Between(EventMaker m, long t, IpAddr client, IpAddr server, SipMethod method, string callId, int status = 0,
        string to = "sip:bob@example.com")
    {
        var e = m.Request(t, method, callId, to: to, source: client);
        e.Destination = server;
        if (status == 0) return e;
        e.IsRequest = false;
        e.StatusCode = (short)status;
        e.Source = server;
        e.Destination = client;
        return e;
    }

    [Fact]
    public void Factors_per_server_and_per_user_have_exact_values()
    {
        var m = new EventMaker();
        var a = Harness.Ip("198.51.100.20");
        var b = Harness.Ip("198.51.100.30");
        var analyzer = new BehaviourAnalyzer(keysPerKind: 64);
        var servers = analyzer.Keyed(KeySpec.Create([SipField.DstIp]));
        var users = analyzer.Keyed(KeySpec.Create([SipField.ToUri]));
        for (int i = 0; i < 10; i++)
        {
            long t = T0 + i * 100_000_000L;
            analyzer.OnEvent(Between(m, t, EventMaker.Client, a, SipMethod.Invite, $"i{i}", to: "sip:Bob@Example.COM;user=phone"));
            analyzer.OnEvent(Between(m, t + 1, EventMaker.Client, a, SipMethod.Invite, $"i{i}", 200, to: "sip:Bob@Example.COM;user=phone"));
            analyzer.OnEvent(Between(m, t + 2, EventMaker.Client, b, SipMethod.Register, $"r{i}", to: "sip:carol@example.com"));
            analyzer.OnEvent(Between(m, t + 3, EventMaker.Client, b, SipMethod.Register, $"r{i}", i % 2 == 0 ? 401 : 200, to: "sip:carol@example.com"));
        }
        Assert.Equal(2, servers.Count);
        var f = new double[Factors.Count];
        var byKey = new Dictionary<string, double[]>();
        for (int k = 0; k < servers.Capacity; k++)
        {
            if (!servers.IsActive(k, T0 / 1_000_000_000 - 10)) continue;
            Assert.Equal(20, servers.Evaluate(k, T0 / 1_000_000_000, 10, f));
            byKey[servers.KeyString(k)] = [.. f];
        }
        var fa = byKey["dst_ip=198.51.100.20"];
        var fb = byKey["dst_ip=198.51.100.30"];
        Assert.Equal(1.0, fa[(int)Factor.InviteRatio]);
        Assert.Equal(0.0, fa[(int)Factor.ErrorResponseRatio]);
        Assert.Equal(1.0, fa[(int)Factor.RequestResponseRatio]);
        Assert.Equal(2.0, fa[(int)Factor.SipMessagesPerSecond]);
        Assert.Equal(1.0, fb[(int)Factor.RegisterRatio]);
        Assert.Equal(0.5, fb[(int)Factor.ErrorResponseRatio]);
        Assert.True(double.IsNaN(fb[(int)Factor.CallIdSsrcRatio]), "not computed per key");

        // Per user, the key is the URI as message rules write it (host lower case, no parameters): a ban on it is theirs too.
        var userKeys = Enumerable.Range(0, users.Capacity).Where(k => users.IsActive(k, 0)).Select(users.KeyString).Order().ToArray();
        Assert.Equal(["to_uri=sip:Bob@example.com", "to_uri=sip:carol@example.com"], userKeys);
        Assert.True(KeyText.TryParse(userKeys[0], out _, out string canonical, out _, out _));
        Assert.Equal(userKeys[0], canonical);
    }

    [Fact]
    public void Per_key_factors_stay_within_their_table_under_spoofed_sources()
    {
        var m = new EventMaker();
        var analyzer = new BehaviourAnalyzer(keysPerKind: 64);
        var sources = analyzer.Keyed(KeySpec.SrcIp);
        long before = sources.MemoryBytes;
        for (int i = 0; i < 20_000; i++)
            analyzer.OnEvent(Between(m, T0 + i * 10_000L, IpAddr.FromV4(0xCB007100u + (uint)i), EventMaker.Server, SipMethod.Invite, $"s{i}"));
        Assert.Equal(64, sources.Count);
        Assert.Equal(20_000 - 64, sources.Evictions);
        Assert.Equal(before, sources.MemoryBytes);
    }

    /// <summary>
    /// A rule per source on the share of error responses: a scanner that mostly gets 404s is rate-limited at its first
    /// firing and banned when its score reaches 100 at the second; a caller whose calls succeed is never touched. The
    /// limits and the ban are enforced by the detection engine on the packet path.
    /// </summary>
    [Fact]
    public void A_rule_per_source_rate_limits_then_bans_the_scanner_and_leaves_callers_alone()
    {
        const string yaml = "rules:\n  - id: source-error-ratio\n    key: src_ip\n    window: 10s\n    min_messages: 20\n    cooldown: 5s\n    score: 60\n" +
                            "    when:\n      - factor: error_response_ratio\n        above: 0.8\n" +
                            "    actions:\n      - alert\n      - { action: rate_limit, rate: 1, burst: 1, ttl: 10m }\n      - { action: ban, at: 100, ttl: 1h }\n";
        var (h, analyzer, monitor) = KeyedSetup(Loaded(yaml));
        var m = new EventMaker();
        var scanner = Harness.Ip("203.0.113.66");
        long start = (h.Clock.NowNs / 1_000_000_000 + 1) * 1_000_000_000;
        h.Clock.Advance(TimeSpan.FromTicks((start - h.Clock.NowNs) / 100));

        void Second(int s)
        {
            long t = start + s * 1_000_000_000L;
            for (int i = 0; i < 10; i++)
            {
                long at = t + i * 50_000_000L;
                analyzer.OnEvent(Between(m, at, scanner, EventMaker.Server, SipMethod.Options, $"scan{s}-{i}"));
                analyzer.OnEvent(Between(m, at + 1_000_000, scanner, EventMaker.Server, SipMethod.Options, $"scan{s}-{i}", 404));
            }
            for (int i = 0; i < 3; i++)
            {
                long at = t + i * 300_000_000L;
                analyzer.OnEvent(Between(m, at, EventMaker.Client, EventMaker.Server, SipMethod.Invite, $"call{s}-{i}"));
                analyzer.OnEvent(Between(m, at + 1_000_000, EventMaker.Client, EventMaker.Server, SipMethod.Invite, $"call{s}-{i}", 200));
                analyzer.OnEvent(Between(m, at + 2_000_000, EventMaker.Client, EventMaker.Server, SipMethod.Ack, $"call{s}-{i}"));
            }
            monitor.Tick(t + 1_000_000_000);
        }

        Second(0);
        var first = Assert.Single(h.Sink.Alerts);
        Assert.Equal("src_ip=203.0.113.66", ListSink.Key(first));
        Assert.Equal(ActionKind.RateLimit, first.Action);
        Assert.True(first.Enforced);
        Assert.Equal(60, first.Score);
        Assert.Contains("error_response_ratio", first.Factors);

        // The limit is on the packet path: one new request per second from the scanner, callers unaffected.
        h.Clock.Advance(TimeSpan.FromSeconds(1));
        Assert.False(h.Send(Harness.Request("OPTIONS", "sip:198.51.100.20", "sip:x@example.com", "sip:x@example.com", h.NewCallId()), "203.0.113.66", "198.51.100.20").IsDrop);
        var limited = h.Send(Harness.Request("OPTIONS", "sip:198.51.100.20", "sip:x@example.com", "sip:x@example.com", h.NewCallId()), "203.0.113.66", "198.51.100.20");
        Assert.True(limited.IsDrop);
        Assert.Equal(DropReason.RateLimit, limited.Reason);
        Assert.False(h.Send(Harness.Invite("bob", h.NewCallId()), "192.0.2.10", "198.51.100.20").IsDrop);

        for (int s = 1; s < 8; s++) Second(s);
        Assert.All(h.Sink.Alerts, a => Assert.Equal("src_ip=203.0.113.66", ListSink.Key(a)));
        var second = h.Sink.Alerts[1];
        Assert.Equal(ActionKind.Ban, second.Action);
        Assert.True(second.Score >= 100);
        Assert.Contains(h.Enforcement.Snapshot(second.TimestampNs), e => e.Kind == EnforcementKind.Ban && e.Key == "src_ip=203.0.113.66" && e.RuleId == "source-error-ratio");
        h.Clock.Advance(TimeSpan.FromSeconds(8));
        var banned = h.Send(Harness.Request("OPTIONS", "sip:198.51.100.20", "sip:x@example.com", "sip:x@example.com", h.NewCallId()), "203.0.113.66", "198.51.100.20");
        Assert.Equal(DropReason.Ban, banned.Reason);
        Assert.False(h.Send(Harness.Invite("bob", h.NewCallId()), "192.0.2.10", "198.51.100.20").IsDrop);
    }

    /// <summary>
    /// The shipped per-source rule: an extension scan answered with 404s is rate-limited after a minute and banned at
    /// the second firing; a phone that registers (one 401 challenge each time) and calls is left alone.
    /// </summary>
    [Fact]
    public void The_shipped_source_error_ratio_rule_stops_a_scan_and_not_a_challenged_phone()
    {
        var load = RuleLoader.Parse(File.ReadAllText(Path.Combine(SipIps.Tests.Corpus.RepoRoot(), "rules", "behaviour.yaml")), "behaviour.yaml");
        var (h, analyzer, monitor) = KeyedSetup(new RuleSet([]) { FactorRules = [.. load.RuleSet!.FactorRules.Where(r => r.Id == "source-error-ratio")] }, keys: 256);
        var m = new EventMaker();
        var scanner = Harness.Ip("203.0.113.66");
        for (int s = 0; s < 180; s++)
        {
            long t = T0 + s * 1_000_000_000L;
            // 2 extensions a second (a slow scan), each answered 404.
            for (int i = 0; i < 2; i++)
            {
                analyzer.OnEvent(Between(m, t + i * 400_000_000L, scanner, EventMaker.Server, SipMethod.Options, $"scan{s}-{i}", to: $"sip:{s * 2 + i}@example.com"));
                analyzer.OnEvent(Between(m, t + i * 400_000_000L + 1_000_000, scanner, EventMaker.Server, SipMethod.Options, $"scan{s}-{i}", 404));
            }
            // The phone re-registers every 10 s (401 then 200) and places a call every 5 s.
            if (s % 10 == 0)
            {
                analyzer.OnEvent(Between(m, t, EventMaker.Client, EventMaker.Server, SipMethod.Register, $"reg{s}"));
                analyzer.OnEvent(Between(m, t + 1_000_000, EventMaker.Client, EventMaker.Server, SipMethod.Register, $"reg{s}", 401));
                analyzer.OnEvent(Between(m, t + 2_000_000, EventMaker.Client, EventMaker.Server, SipMethod.Register, $"reg{s}"));
                analyzer.OnEvent(Between(m, t + 3_000_000, EventMaker.Client, EventMaker.Server, SipMethod.Register, $"reg{s}", 200));
            }
            if (s % 5 == 0)
            {
                analyzer.OnEvent(Between(m, t + 500_000_000, EventMaker.Client, EventMaker.Server, SipMethod.Invite, $"c{s}"));
                analyzer.OnEvent(Between(m, t + 501_000_000, EventMaker.Client, EventMaker.Server, SipMethod.Invite, $"c{s}", 200));
                analyzer.OnEvent(Between(m, t + 502_000_000, EventMaker.Client, EventMaker.Server, SipMethod.Ack, $"c{s}"));
            }
            monitor.Tick(t + 1_000_000_000);
        }
        Assert.All(h.Sink.Alerts, a => Assert.Equal("src_ip=203.0.113.66", ListSink.Key(a)));
        Assert.True(h.Sink.Alerts.Count >= 2, $"{h.Sink.Alerts.Count} alert(s)");
        var first = h.Sink.Alerts[0];
        // 40 messages (20 failed OPTIONS) are in the window after 10 s.
        Assert.InRange(first.TimestampNs - T0, 10_000_000_000, 11_000_000_000);
        Assert.Equal(ActionKind.RateLimit, first.Action);
        var second = h.Sink.Alerts[1];
        Assert.Equal(ActionKind.Ban, second.Action);
        Assert.Equal(60_000_000_000, second.TimestampNs - first.TimestampNs);
        Assert.Contains(h.Enforcement.Snapshot(second.TimestampNs), e => e.Kind == EnforcementKind.Ban && e.Key == "src_ip=203.0.113.66");
        Assert.DoesNotContain(h.Enforcement.Snapshot(second.TimestampNs), e => e.Key.Contains("192.0.2.10"));
    }

    [Fact]
    public void A_keyed_rule_in_detect_mode_alerts_without_enforcing()
    {
        const string yaml = "rules:\n  - id: source-error-ratio\n    key: src_ip\n    mode: detect\n    window: 10s\n    min_messages: 20\n" +
                            "    when:\n      - factor: error_response_ratio\n        above: 0.8\n    actions: [{ action: ban, ttl: 1h }]\n";
        var (h, analyzer, monitor) = KeyedSetup(Loaded(yaml));
        var m = new EventMaker();
        for (int i = 0; i < 20; i++)
        {
            analyzer.OnEvent(Between(m, T0 + i * 1_000_000L, EventMaker.Client, EventMaker.Server, SipMethod.Register, $"r{i}"));
            analyzer.OnEvent(Between(m, T0 + i * 1_000_000L + 1, EventMaker.Client, EventMaker.Server, SipMethod.Register, $"r{i}", 403));
        }
        monitor.Tick(T0 + 1_000_000_000);
        var alert = Assert.Single(h.Sink.Alerts);
        Assert.Equal(ActionKind.Ban, alert.Action);
        Assert.False(alert.Enforced);
        Assert.Equal(0, h.Enforcement.Bans);
    }

    /// <summary>
    /// A sparse capture (one message every few seconds over days) ticks once per message; a lazy monitor skips the
    /// seconds no rule judges, and its forced last tick gives exactly the factors of one that computed every second.
    /// </summary>
    [Fact]
    public void A_lazy_monitor_ends_with_the_same_factors()
    {
        var m = new EventMaker();
        var rnd = new Random(5);
        var eager = new BehaviourAnalyzer();
        var lazy = new BehaviourAnalyzer();
        var rules = RuleLoader.Parse(File.ReadAllText(Path.Combine(SipIps.Tests.Corpus.RepoRoot(), "rules", "behaviour.yaml")), "behaviour.yaml").RuleSet!.FactorRules;
        var a = new FactorMonitor(eager, null, new ListSink(), () => rules);
        var b = new FactorMonitor(lazy, null, new ListSink(), () => rules) { Lazy = true };
        long t = T0;
        for (int i = 0; i < 5000; i++)
        {
            t += rnd.Next(1, 5) * 700_000_000L;
            var e = i % 3 == 2 ? m.Response(t, 200, SipMethod.Invite, $"c{i / 3}") : m.Request(t, i % 3 == 0 ? SipMethod.Invite : SipMethod.Ack, $"c{i / 3}", to: $"sip:u{i % 7}@example.com");
            eager.OnEvent(e);
            lazy.OnEvent(e);
            a.Tick(t);
            b.Tick(t);
        }
        a.Tick(t + 1_000_000_000, force: true);
        b.Tick(t + 1_000_000_000, force: true);
        Assert.Equal(a.ShortWindow, b.ShortWindow);
        Assert.Equal(a.LongWindow, b.LongWindow);
        Assert.Equal(a.LastEvaluatedSecond, b.LastEvaluatedSecond);
    }

    private static int Poisson(Random rnd, double mean)
    {
        double l = Math.Exp(-mean), p = 1;
        int k = 0;
        do
        {
            k++;
            p *= rnd.NextDouble();
        } while (p > l);
        return k - 1;
    }
}
