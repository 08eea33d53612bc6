using System.Text;
using System.Text.Json;
using SipIps.Engine.Detection;
using SipIps.Engine.Enforcement;
using SipIps.Export.Alerts;
using Xunit;

namespace SipIps.Rules.Tests;

public class EngineBehaviourTests
{
    private const string Attacker = "203.0.113.66";
    private const string Server = "198.51.100.20";

    private const string FloodRule = """
        rules:
          - id: flood
            description: test flood
            severity: high
            match: { type: request, method: INVITE }
            key: src_ip
            window: 1s
            threshold: 20
            score: 100
            actions: [alert, { action: ban, at: 100, ttl: 10m }]
        """;

    private static int Flood(Harness h, string src, int count, double gapMs = 1)
    {
        int passed = 0;
        for (int i = 0; i < count; i++)
        {
            if (!h.Send(Harness.Invite($"u{i}", h.NewCallId()), src, Server).IsDrop) passed++;
            h.Clock.AdvanceMs(gapMs);
        }
        return passed;
    }

    [Theory]
    [InlineData("sip:alice@", "sip:bob@198.51.100.20")]          // From: a user and no host
    [InlineData("sip:alice@example.com", "sip:bob@-bad-.example")] // To: a host that is no host name
    [InlineData("sip:@example.com", "sip:bob@198.51.100.20")]    // From: '@' with no user
    public void Rules_keyed_on_uris_count_messages_whose_uri_did_not_parse(string from, string to)
    {
        // Invalid messages go through the rules too (a flood of garbage is an attack). A SIP URI whose host did not
        // parse is keyed by its text; it once read the missing host's slice and threw.
        var h = new Harness(Harness.Parse("""
            rules:
              - id: per-uri
                description: flood per URI
                severity: high
                match: { type: request }
                key: from_uri+to_uri
                window: 1s
                threshold: 5
                score: 100
                actions: [alert]
            """));
        for (int i = 0; i < 5; i++)
        {
            h.Send(Harness.Request("INVITE", "sip:bob@198.51.100.20", from, to, h.NewCallId()), Attacker, Server);
            h.Clock.AdvanceMs(1);
        }
        var alert = Assert.Single(h.Sink.Alerts);
        Assert.Contains(from.Split('@')[0], ListSink.Key(alert));
    }

    [Fact]
    public void A_reload_that_keeps_a_rule_id_keeps_its_counters()
    {
        var h = new Harness(Harness.Parse(FloodRule));
        Assert.Equal(15, Flood(h, Attacker, 15));
        h.Holder.Swap(Harness.Parse(FloodRule.Replace("test flood", "test flood, reworded")));
        Assert.Equal(4, Flood(h, Attacker, 10)); // 19 in all before the 20th fires, across the reload
        Assert.Single(h.Sink.Alerts);
        var stats = h.Engine.Counters.Rules["flood"];
        Assert.Equal(20, stats.Matched);
    }

    [Fact]
    public void A_reload_that_drops_a_rule_stops_it_at_once()
    {
        var h = new Harness(Harness.Parse(FloodRule));
        Flood(h, Attacker, 10);
        h.Holder.Swap(Harness.Parse(FloodRule.Replace("id: flood", "id: other").Replace("method: INVITE", "method: OPTIONS")));
        Assert.Equal(30, Flood(h, Attacker, 30));
        Assert.Empty(h.Sink.Alerts);
    }

    [Fact]
    public void Allowlisted_sources_raise_alerts_but_are_never_dropped_or_banned()
    {
        var h = new Harness(Harness.Parse(FloodRule + "\nallowlist:\n  ips: [203.0.113.0/24]\n"));
        Assert.Equal(100, Flood(h, Attacker, 100));
        var alert = Assert.Single(h.Sink.Alerts);
        Assert.True(alert.Allowlisted);
        Assert.False(alert.Enforced);
        Assert.Equal(0, h.Enforcement.Bans);
        Assert.Equal(100, h.Engine.Counters.Allowlisted);
    }

    [Fact]
    public void Calls_to_an_allowlisted_destination_are_never_dropped()
    {
        var h = new Harness(Harness.Parse(FloodRule + "\nallowlist:\n  uris: [\"sip:112@*\"]\n"));
        for (int i = 0; i < 50; i++) Assert.False(h.Send(Harness.Invite("112", h.NewCallId()), Attacker, Server).IsDrop);
        Assert.Equal(0, h.Enforcement.Bans);
    }

    [Fact]
    public void Detect_mode_alerts_with_the_action_it_would_take_and_drops_nothing()
    {
        var h = new Harness(Harness.Parse(FloodRule), new DetectionOptions { Mode = RuleMode.Detect, Counters = 1024, Dialogs = 1024 });
        Assert.Equal(100, Flood(h, Attacker, 100));
        var alert = Assert.Single(h.Sink.Alerts);
        Assert.Equal(ActionKind.Ban, alert.Action);
        Assert.False(alert.Enforced);
        Assert.Equal(0, h.Enforcement.Bans);
    }

    [Fact]
    public void A_detect_only_rule_next_to_prevent_rules_never_drops()
    {
        var h = new Harness(Harness.Parse(FloodRule.Replace("severity: high", "severity: high\n    mode: detect")));
        Assert.Equal(100, Flood(h, Attacker, 100));
        Assert.False(Assert.Single(h.Sink.Alerts).Enforced);
    }

    [Fact]
    public void A_key_printed_in_an_alert_parses_back_to_the_same_ban()
    {
        var h = new Harness(Harness.Parse(FloodRule.Replace("key: src_ip", "key: [from_user, src_ip]")));
        Flood(h, "2001:db8::66", 25);
        string key = ListSink.Key(Assert.Single(h.Sink.Alerts));
        Assert.Equal("src_ip+from_user=2001:db8::66/alice", key);
        Assert.True(KeyText.TryParse("src_ip+from_user=2001:0db8:0:0::66/alice", out var spec, out string canonical, out ulong hash, out string error), error);
        Assert.Equal(key, canonical);
        Assert.Equal("src_ip+from_user", spec.Name);
        var ban = Assert.Single(h.Enforcement.Snapshot(h.Clock.NowNs));
        Assert.Equal(key, ban.Key);
        Assert.True(h.Enforcement.Remove(hash));
        Assert.Equal(0, h.Enforcement.Bans);
        Assert.False(h.Send(Harness.Invite("x", h.NewCallId()), "2001:db8::66", Server).IsDrop);
    }

    [Theory]
    [InlineData("src_ip=999.1.1.1", "is not an IP address")]
    [InlineData("src_ip+from_user=192.0.2.1", "needs 2 values joined by '/'")]
    [InlineData("src_prefix=192.0.2.0/16", "src_prefix keys are /24 for IPv4")]
    [InlineData("colour=red", "unknown key field 'colour'")]
    [InlineData("from_user=bad user", "write spaces and non-ASCII bytes as %XX")]
    public void Bad_keys_are_refused_with_the_reason(string text, string expected)
    {
        Assert.False(KeyText.TryParse(text, out _, out _, out _, out string error));
        Assert.Contains(expected, error);
    }

    [Fact]
    public void An_operator_ban_typed_as_text_drops_the_messages_of_that_key()
    {
        var h = new Harness(Harness.Parse(FloodRule));
        Assert.True(KeyText.TryParse("src_prefix=203.0.113.0/24", out var spec, out string canonical, out ulong hash, out _));
        h.Enforcement.Ban(hash, spec, Encoding.UTF8.GetBytes(canonical), h.Clock.NowNs, long.MaxValue, null, EnforcementOrigin.Operator);
        Assert.Equal(DropReason.Ban, h.Send(Harness.Invite("bob", h.NewCallId()), "203.0.113.9", Server).Reason);
        Assert.False(h.Send(Harness.Invite("bob", h.NewCallId()), "203.0.114.9", Server).IsDrop);
        // The ban outlives any clock: it is permanent until lifted.
        h.Clock.Advance(TimeSpan.FromDays(400));
        Assert.True(h.Send(Harness.Invite("bob", h.NewCallId()), "203.0.113.9", Server).IsDrop);
    }

    [Fact]
    public void An_alert_is_one_eve_json_line_with_the_fields_that_explain_it()
    {
        var h = new Harness(Harness.Parse(FloodRule));
        Flood(h, Attacker, 20);
        var json = EveAlert.ToJson(Assert.Single(h.Sink.Alerts));
        Assert.DoesNotContain('\n', json);
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        Assert.Equal("alert", root.GetProperty("event_type").GetString());
        Assert.Equal("flood", root.GetProperty("rule_id").GetString());
        Assert.Equal($"src_ip={Attacker}", root.GetProperty("key").GetString());
        Assert.Equal(100, root.GetProperty("score").GetDouble());
        Assert.Equal(20, root.GetProperty("counters").GetProperty("count").GetDouble(), 2);
        Assert.Equal(20, root.GetProperty("counters").GetProperty("threshold").GetDouble());
        Assert.Equal(1, root.GetProperty("counters").GetProperty("window_s").GetDouble());
        Assert.Equal("ban", root.GetProperty("action").GetString());
        Assert.True(root.GetProperty("blocked").GetBoolean());
        Assert.Equal(600, root.GetProperty("ttl_s").GetDouble());
        Assert.Equal(Attacker, root.GetProperty("src_ip").GetString());
        Assert.Equal(Server, root.GetProperty("dest_ip").GetString());
        var sip = root.GetProperty("sip");
        Assert.Equal("INVITE", sip.GetProperty("method").GetString());
        Assert.StartsWith("call-", sip.GetProperty("call_id").GetString());
        Assert.Equal("sip:alice@example.com", sip.GetProperty("from").GetString());
        Assert.Equal($"sip:u19@{Server}", sip.GetProperty("to").GetString());
        Assert.Equal("TestPhone/1.0", sip.GetProperty("user_agent").GetString());
        Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+0000$", root.GetProperty("timestamp").GetString());
    }

    [Fact]
    public void Hostile_field_values_are_escaped_in_keys_and_safe_in_json()
    {
        var h = new Harness(Harness.Parse(FloodRule.Replace("key: src_ip", "key: user_agent")));
        for (int i = 0; i < 20; i++) h.Send(Harness.Invite($"u{i}", h.NewCallId(), ua: "evil/1.0 \"quote\" %2F <x>"), Attacker, Server);
        var alert = Assert.Single(h.Sink.Alerts);
        Assert.Equal("user_agent=evil%2F1.0%20\"quote\"%20%252F%20<x>", ListSink.Key(alert));
        Assert.True(KeyText.TryParse(ListSink.Key(alert), out _, out _, out ulong hash, out _));
        Assert.True(h.Enforcement.Remove(hash));
        JsonDocument.Parse(EveAlert.ToJson(alert)).Dispose();
    }

    [Fact]
    public void The_engine_allocates_nothing_per_message_with_the_shipped_rules()
    {
        var h = new Harness(Harness.ShippedRules());
        var messages = new List<(string Sip, string Src)>();
        for (int i = 0; i < 64; i++)
        {
            string id = $"c{i}@x";
            messages.Add((Harness.Invite($"u{i % 7}", id, ua: i % 9 == 0 ? "friendly-scanner" : "Phone"), $"192.0.2.{i % 50}"));
            messages.Add((Harness.Response(401, "Unauthorized", "REGISTER", "sip:a@b", "sip:a@b", id), Server));
            messages.Add((Harness.Request("BYE", "sip:x@y", "sip:a@b", "sip:c@d", id, toTag: "t"), $"198.51.100.{i % 9}"));
        }
        // Warm up every path (first sight of keys, table inserts, bans, alerts).
        for (int round = 0; round < 3; round++)
            foreach (var (sip, src) in messages) h.Send(sip, src, Server);
        var bytes = messages.Select(m => (Encoding.UTF8.GetBytes(m.Sip.ReplaceLineEndings("\r\n")), Harness.Ip(m.Src))).ToList();
        var message = new Engine.Sip.SipMessage();
        var server = Harness.Ip(Server);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int round = 0; round < 50; round++)
        {
            foreach (var (b, src) in bytes)
            {
                Engine.Sip.SipParser.Parse(b, message);
                Engine.Packets.PacketInfo p = default;
                p.TimestampNs = h.Clock.NowNs;
                p.Source = src;
                p.Destination = server;
                p.Protocol = Engine.Packets.L4Protocol.Udp;
                h.Engine.OnSipMessage(p, message);
                h.Clock.AdvanceMs(3);
            }
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        // Alerts are copied into the test's list (a List<T> that grows); everything else must be free.
        Assert.True(allocated < 64 * 1024, $"{allocated} bytes allocated over {bytes.Count * 50} messages");
    }
}
