using SipIps.Engine.Detection;
using SipIps.Engine.Enforcement;
using Xunit;

namespace SipIps.Rules.Tests;

/// <summary>Each shipped rule, alone, against the traffic it is meant to catch and the traffic it must leave alone.</summary>
public class ShippedRuleTests
{
    private const string Attacker = "203.0.113.66";
    private const string Server = "198.51.100.20";
    private const string Phone = "192.0.2.10";

    [Fact]
    public void Every_shipped_rule_loads_and_has_a_test_here()
    {
        var ids = Harness.ShippedRules().Rules.Select(r => r.Id).ToHashSet();
        var tested = typeof(ShippedRuleTests).GetMethods().Select(m => m.Name).ToList();
        foreach (var id in ids)
            Assert.Contains(tested, name => name.StartsWith(id.Replace('-', '_') + "__", StringComparison.Ordinal));
    }

    [Fact]
    public void invite_flood_src__bans_at_the_threshold_and_drops_the_rest()
    {
        var h = new Harness(Harness.Shipped("invite-flood-src"));
        int passed = 0;
        for (int i = 0; i < 50; i++)
        {
            if (!h.Send(Harness.Invite($"u{i}", h.NewCallId()), Attacker, Server).IsDrop) passed++;
            h.Clock.AdvanceMs(2); // 500 INVITEs/s
        }
        Assert.Equal(19, passed); // the 20th INVITE crosses the threshold and is the first dropped
        var alert = Assert.Single(h.Sink.For("invite-flood-src"));
        Assert.Equal("src_ip=" + Attacker, ListSink.Key(alert));
        Assert.Equal(ActionKind.Ban, alert.Action);
        Assert.True(alert.Enforced);
        Assert.Equal(20, alert.Count, 0.01);
        // Another source is not affected.
        Assert.False(h.Send(Harness.Invite("bob", h.NewCallId()), Phone, Server).IsDrop);
        // The ban lasts 10 minutes, then lifts.
        h.Clock.Advance(TimeSpan.FromMinutes(9));
        Assert.Equal(DropReason.Ban, h.Send(Harness.Invite("x", h.NewCallId()), Attacker, Server).Reason);
        h.Clock.Advance(TimeSpan.FromMinutes(2));
        Assert.False(h.Send(Harness.Invite("x", h.NewCallId()), Attacker, Server).IsDrop);
    }

    [Fact]
    public void invite_flood_src__does_not_count_retransmissions_or_a_steady_caller()
    {
        var h = new Harness(Harness.Shipped("invite-flood-src"));
        string id = h.NewCallId();
        for (int i = 0; i < 40; i++) Assert.False(h.Send(Harness.Invite("bob", id), Phone, Server).IsDrop);
        for (int i = 0; i < 600; i++)
        {
            Assert.False(h.Send(Harness.Invite("bob", h.NewCallId()), Phone, Server).IsDrop);
            h.Clock.AdvanceMs(100); // 10 calls/s for a minute
        }
        Assert.Empty(h.Sink.Alerts);
    }

    [Fact]
    public void invite_flood_src_known__rate_limits_a_known_source_far_above_normal()
    {
        var h = new Harness(Harness.Shipped("invite-flood-src-known", "invite-flood-src"));
        h.CompleteCall(Phone, Server);
        Assert.True(h.Engine.IsKnownSource(Harness.Ip(Phone), h.Clock.NowNs));
        int dropped = 0;
        for (int i = 0; i < 400; i++)
        {
            if (h.Send(Harness.Invite($"u{i}", h.NewCallId()), Phone, Server).Reason == DropReason.RateLimit) dropped++;
            h.Clock.AdvanceMs(1);
        }
        Assert.Empty(h.Sink.For("invite-flood-src"));
        var alert = Assert.Single(h.Sink.For("invite-flood-src-known"));
        Assert.Equal(ActionKind.RateLimit, alert.Action);
        // 200 pass before the threshold; then 100/s with a burst of 100 over the remaining 0.2 s: about 120 more.
        Assert.InRange(dropped, 60, 100);
    }

    [Fact]
    public void invite_flood_prefix__bans_a_slash_24_whose_hosts_each_stay_below_the_per_source_threshold()
    {
        var h = new Harness(Harness.Shipped("invite-flood-prefix", "invite-flood-src"));
        int passed = 0;
        for (int round = 0; round < 5; round++)
        {
            for (int host = 1; host <= 20; host++)
                if (!h.Send(Harness.Invite($"u{round}-{host}", h.NewCallId()), $"203.0.113.{host}", Server).IsDrop) passed++;
            h.Clock.AdvanceMs(100);
        }
        Assert.Empty(h.Sink.For("invite-flood-src"));
        var alert = Assert.Single(h.Sink.For("invite-flood-prefix"));
        Assert.Equal("src_prefix=203.0.113.0/24", ListSink.Key(alert));
        Assert.Equal(59, passed);
        Assert.Equal(DropReason.Ban, h.Send(Harness.Invite("z", h.NewCallId()), "203.0.113.250", Server).Reason);
        Assert.False(h.Send(Harness.Invite("z", h.NewCallId()), "198.51.100.7", Server).IsDrop);
    }

    [Fact]
    public void invite_flood_dst__rate_limits_new_invites_to_one_uri_from_unproven_sources()
    {
        var h = new Harness(Harness.Shipped("invite-flood-dst"));
        h.CompleteCall(Phone, Server, "victim");
        int limited = 0;
        for (int i = 0; i < 100; i++)
        {
            // Each from its own /24, so no per-source or per-prefix rule could see it.
            var v = h.Send(Harness.Invite("victim", h.NewCallId()), $"10.{i}.0.1", Server);
            if (v.Reason == DropReason.RateLimit) limited++;
            h.Clock.AdvanceMs(5);
        }
        var alert = Assert.Single(h.Sink.For("invite-flood-dst"));
        Assert.Equal($"request_uri=sip:victim@{Server}", ListSink.Key(alert));
        Assert.InRange(limited, 25, 35); // 49 pass freely, then 10/s with a burst of 20 over 0.25 s: ~22 pass
        // A caller that proved itself is not counted by this rule, and nothing limits it.
        Assert.False(h.Send(Harness.Invite("victim", h.NewCallId()), Phone, Server).IsDrop);
    }

    [Fact]
    public void invite_flood_global__limits_the_sum_of_many_small_sources_but_not_known_callers()
    {
        var h = new Harness(Harness.Shipped("invite-flood-global"));
        h.CompleteCall(Phone, Server);
        int limited = 0;
        for (int i = 0; i < 600; i++)
        {
            var v = h.Send(Harness.Invite($"u{i}", h.NewCallId()), $"10.{i % 250}.{i / 250}.1", Server);
            if (v.Reason == DropReason.RateLimit) limited++;
            h.Clock.AdvanceMs(1);
            if (i % 50 == 0) Assert.False(h.Send(Harness.Invite("bob", h.NewCallId()), Phone, Server).IsDrop);
        }
        var alert = Assert.Single(h.Sink.For("invite-flood-global"));
        Assert.Equal("global=*", ListSink.Key(alert));
        Assert.InRange(limited, 150, 250);
    }

    [Fact]
    public void register_bruteforce_src__bans_the_client_that_keeps_getting_401()
    {
        var h = new Harness(Harness.Shipped("register-bruteforce-src"));
        for (int i = 0; i < 10; i++)
        {
            string id = h.NewCallId();
            Assert.False(h.Send(Harness.Request("REGISTER", $"sip:{Server}", "sip:6001@example.com", "sip:6001@example.com", id,
                auth: "Authorization: Digest username=\"6001\", realm=\"x\", nonce=\"n\", uri=\"sip:x\", response=\"r\""), Attacker, Server).IsDrop);
            h.Send(Harness.Response(401, "Unauthorized", "REGISTER", "sip:6001@example.com", "sip:6001@example.com", id), Server, Attacker);
            h.Clock.AdvanceMs(500);
        }
        var alert = Assert.Single(h.Sink.For("register-bruteforce-src"));
        Assert.Equal($"src_ip+to_user={Attacker}/6001", ListSink.Key(alert)); // the client, though the 401s came from the server
        Assert.False(alert.IsRequest);
        Assert.Equal(DropReason.Ban, h.Send(Harness.Request("REGISTER", $"sip:{Server}", "sip:6001@example.com", "sip:6001@example.com", h.NewCallId()), Attacker, Server).Reason);
    }

    [Fact]
    public void register_bruteforce_src__leaves_an_office_behind_one_nat_address_alone()
    {
        // 40 phones behind one address, each re-registering every 60 s (a short interval, as NAT keep-alive
        // setups use), each challenged once: 40 401s a minute from one source, all normal.
        var h = new Harness(Harness.Shipped("register-bruteforce-src", "register-failure-ratio"));
        for (int round = 0; round < 15; round++)
        {
            for (int phone = 0; phone < 40; phone++)
            {
                string user = $"sip:{2000 + phone}@example.com";
                string id = h.NewCallId();
                h.Send(Harness.Request("REGISTER", $"sip:{Server}", user, user, id), Phone, Server);
                h.Send(Harness.Response(401, "Unauthorized", "REGISTER", user, user, id), Server, Phone);
                h.Send(Harness.Request("REGISTER", $"sip:{Server}", user, user, id, cseq: 2,
                    auth: $"Authorization: Digest username=\"{2000 + phone}\", realm=\"x\", nonce=\"n\", uri=\"sip:x\", response=\"r\""), Phone, Server);
                h.Send(Harness.Response(200, "OK", "REGISTER", user, user, id, cseq: 2), Server, Phone);
                h.Clock.Advance(TimeSpan.FromSeconds(1.5));
            }
        }
        Assert.Empty(h.Sink.Alerts);
    }

    [Fact]
    public void register_bruteforce_aor__alerts_on_one_account_attacked_from_many_sources_without_banning()
    {
        var h = new Harness(Harness.Shipped("register-bruteforce-aor"));
        for (int i = 0; i < 30; i++)
        {
            string id = h.NewCallId();
            string src = $"10.{i}.1.1";
            h.Send(Harness.Request("REGISTER", $"sip:{Server}", "sip:6001@example.com", "sip:6001@example.com", id), src, Server);
            h.Send(Harness.Response(403, "Forbidden", "REGISTER", "sip:6001@example.com", "sip:6001@example.com", id), Server, src);
            h.Clock.Advance(TimeSpan.FromSeconds(5));
        }
        var alert = Assert.Single(h.Sink.For("register-bruteforce-aor"));
        Assert.Equal("to_uri=sip:6001@example.com", ListSink.Key(alert));
        Assert.Equal(ActionKind.Alert, alert.Action);
        Assert.Equal(0, h.Enforcement.Bans);
    }

    [Fact]
    public void register_failure_ratio__catches_a_brute_force_too_slow_for_the_count_rule()
    {
        var h = new Harness(Harness.Shipped("register-failure-ratio", "register-bruteforce-src"));
        for (int i = 0; i < 24; i++)
        {
            string id = h.NewCallId();
            h.Send(Harness.Request("REGISTER", $"sip:{Server}", $"sip:60{i:00}@example.com", $"sip:60{i:00}@example.com", id), Attacker, Server);
            h.Send(Harness.Response(401, "Unauthorized", "REGISTER", $"sip:60{i:00}@example.com", $"sip:60{i:00}@example.com", id), Server, Attacker);
            h.Clock.Advance(TimeSpan.FromSeconds(20));
        }
        Assert.Empty(h.Sink.For("register-bruteforce-src"));
        var alert = Assert.Single(h.Sink.For("register-failure-ratio"));
        Assert.True(alert.PerCount >= 19, $"per {alert.PerCount}");
        Assert.True(alert.Count / alert.PerCount >= 0.9);
        Assert.Equal(ActionKind.Ban, alert.Action);
    }

    [Fact]
    public void register_many_users__bans_one_unproven_source_registering_ten_accounts()
    {
        var h = new Harness(Harness.Shipped("register-many-users"));
        for (int i = 0; i < 10; i++)
        {
            h.Send(Harness.Request("REGISTER", $"sip:{Server}", $"sip:{100 + i}@example.com", $"sip:{100 + i}@example.com", h.NewCallId()), Attacker, Server);
            h.Clock.AdvanceMs(100);
        }
        var alert = Assert.Single(h.Sink.For("register-many-users"));
        Assert.True(alert.Distinct);
        Assert.Equal(10, alert.Count); // exact: small distinct counts are kept by fingerprint
    }

    [Fact]
    public void register_user_spray__bans_credentials_tried_for_many_usernames()
    {
        var h = new Harness(Harness.Shipped("register-user-spray"));
        for (int i = 0; i < 12; i++)
        {
            h.Send(Harness.Request("REGISTER", $"sip:{Server}", "sip:office@example.com", "sip:office@example.com", h.NewCallId(),
                auth: $"Authorization: Digest username=\"user{i}\", realm=\"x\", nonce=\"n\", uri=\"sip:x\", response=\"r\""), Attacker, Server);
            h.Clock.Advance(TimeSpan.FromSeconds(10));
        }
        Assert.Single(h.Sink.For("register-user-spray"));
        Assert.Equal(1, h.Enforcement.Bans);
    }

    [Theory]
    [InlineData("friendly-scanner")]
    [InlineData("sipvicious")]
    [InlineData("sipcli/v1.8")]
    [InlineData("VaxSIPUserAgent/3.1")]
    [InlineData("sipsak 0.9.6")]
    public void scanner_user_agent__bans_on_the_first_message(string ua)
    {
        var h = new Harness(Harness.Shipped("scanner-user-agent"));
        var v = h.Send(Harness.Request("OPTIONS", $"sip:100@{Server}", "sip:100@1.1.1.1", "sip:100@1.1.1.1", h.NewCallId(), ua: ua), Attacker, Server);
        Assert.True(v.IsDrop);
        Assert.True(v.Alerted);
        Assert.Single(h.Sink.For("scanner-user-agent"));
        Assert.Equal(DropReason.Ban, h.Send(Harness.Request("OPTIONS", $"sip:100@{Server}", "sip:x@y", "sip:x@y", h.NewCallId(), ua: "Polycom"), Attacker, Server).Reason);
    }

    [Theory]
    [InlineData("Linphone/5.2")]
    [InlineData("Asterisk PBX 20.1")]
    [InlineData(null)]
    public void scanner_user_agent__ignores_real_phones(string? ua)
    {
        var h = new Harness(Harness.Shipped("scanner-user-agent"));
        Assert.False(h.Send(Harness.Request("OPTIONS", $"sip:100@{Server}", "sip:a@b", "sip:a@b", h.NewCallId(), ua: ua), Phone, Server).IsDrop);
        Assert.Empty(h.Sink.Alerts);
    }

    [Fact]
    public void scan_extensions__catches_a_scan_with_an_innocent_user_agent()
    {
        var h = new Harness(Harness.Shipped("scan-extensions"));
        for (int ext = 100; ext < 120; ext++)
        {
            h.Send(Harness.Request("OPTIONS", $"sip:{ext}@{Server}", $"sip:{ext}@{Server}", $"sip:{ext}@{Server}", h.NewCallId(), ua: "Mozilla/5.0"), Attacker, Server);
            h.Clock.AdvanceMs(200);
        }
        var alert = Assert.Single(h.Sink.For("scan-extensions"));
        Assert.Equal(15, alert.Count);
        Assert.Equal(ActionKind.Ban, alert.Action);
    }

    [Fact]
    public void scan_extensions__spares_a_source_that_completed_calls()
    {
        var h = new Harness(Harness.Shipped("scan-extensions"));
        h.CompleteCall(Phone, Server);
        for (int ext = 100; ext < 130; ext++) h.Send(Harness.Invite($"{ext}", h.NewCallId()), Phone, Server);
        Assert.Empty(h.Sink.Alerts);
    }

    [Fact]
    public void scan_hosts__catches_a_sweep_over_addresses()
    {
        var h = new Harness(Harness.Shipped("scan-hosts"));
        for (int host = 1; host <= 12; host++)
        {
            h.Send(Harness.Request("OPTIONS", $"sip:100@198.51.100.{host}", "sip:100@1.1.1.1", "sip:100@1.1.1.1", h.NewCallId(), ua: "x"), Attacker, $"198.51.100.{host}");
            h.Clock.AdvanceMs(50);
        }
        Assert.Single(h.Sink.For("scan-hosts"));
    }

    [Fact]
    public void scan_hosts__spares_a_registrar_pinging_its_phones()
    {
        var h = new Harness(Harness.Shipped("scan-hosts"));
        for (int phone = 1; phone <= 30; phone++)
        {
            string ip = $"192.0.2.{100 + phone}", user = $"sip:{2000 + phone}@example.com", id = h.NewCallId();
            h.Send(Harness.Request("REGISTER", $"sip:{Server}", user, user, id), ip, Server);
            h.Send(Harness.Response(200, "OK", "REGISTER", user, user, id), Server, ip);
        }
        for (int phone = 1; phone <= 30; phone++)
        {
            h.Send(Harness.Request("OPTIONS", $"sip:{2000 + phone}@192.0.2.{100 + phone}", $"sip:pbx@{Server}", $"sip:{2000 + phone}@example.com", h.NewCallId()),
                Server, $"192.0.2.{100 + phone}");
            h.Clock.AdvanceMs(100);
        }
        Assert.Empty(h.Sink.Alerts);
    }

    [Fact]
    public void options_flood__drops_options_past_the_threshold_without_banning()
    {
        var h = new Harness(Harness.Shipped("options-flood"));
        int dropped = 0;
        for (int i = 0; i < 150; i++)
        {
            if (h.Send(Harness.Request("OPTIONS", $"sip:{Server}", "sip:a@b", "sip:a@b", h.NewCallId()), Attacker, Server).Reason == DropReason.Rule) dropped++;
            h.Clock.AdvanceMs(20);
        }
        Assert.Single(h.Sink.For("options-flood"));
        Assert.Equal(51, dropped);
        Assert.Equal(0, h.Enforcement.Bans);
    }

    [Fact]
    public void toll_fraud_international__bans_unauthenticated_international_calls_from_unknown_sources()
    {
        var h = new Harness(Harness.Shipped("toll-fraud-international"));
        Assert.False(h.Send(Harness.Invite("011972599501806", h.NewCallId()), Attacker, Server).IsDrop);
        Assert.False(h.Send(Harness.Invite("+442071234567", h.NewCallId()), Attacker, Server).IsDrop);
        var v = h.Send(Harness.Invite("0033142685300", h.NewCallId()), Attacker, Server);
        Assert.Equal(DropReason.Ban, v.Reason);
        var alert = Assert.Single(h.Sink.For("toll-fraud-international"));
        Assert.Equal(Severity.Critical, alert.Severity);
    }

    [Theory]
    [InlineData("2125551234", false, false)]   // domestic
    [InlineData("0201234567", false, false)]   // national with a trunk 0
    [InlineData("011972599501806", true, false)] // credentials
    [InlineData("011972599501806", false, true)] // a source that completed calls
    public void toll_fraud_international__leaves_domestic_authenticated_and_known_callers_alone(string number, bool auth, bool known)
    {
        var h = new Harness(Harness.Shipped("toll-fraud-international"));
        if (known) h.CompleteCall(Phone, Server);
        string? credentials = auth ? "Proxy-Authorization: Digest username=\"200\", realm=\"x\", nonce=\"n\", uri=\"sip:x\", response=\"r\"" : null;
        for (int i = 0; i < 5; i++) Assert.False(h.Send(Harness.Invite(number, h.NewCallId(), auth: credentials), Phone, Server).IsDrop);
        Assert.Empty(h.Sink.Alerts);
    }

    [Fact]
    public void toll_fraud_dial_probe__catches_one_number_behind_many_prefixes()
    {
        var h = new Harness(Harness.Shipped("toll-fraud-dial-probe"));
        string[] dialled = ["011972599501806", "1010333011972599501806", "1010555011972599501806", "9011972599501806", "1010222011972599501806"];
        string? credentials = "Proxy-Authorization: Digest username=\"200\", realm=\"x\", nonce=\"n\", uri=\"sip:x\", response=\"r\"";
        foreach (var d in dialled)
        {
            h.Send(Harness.Invite(d, h.NewCallId(), auth: credentials), Attacker, Server);
            h.Clock.Advance(TimeSpan.FromSeconds(1));
        }
        Assert.Single(h.Sink.For("toll-fraud-dial-probe"));
    }

    [Fact]
    public void malformed_flood__drops_then_bans_a_source_of_garbage()
    {
        var h = new Harness(Harness.Shipped("malformed-flood"));
        string bad = "INVITE sip:bob@198.51.100.20 SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\nFrom: <sip:a@b>;tag=1\nTo: <sip:bob@c>\nCall-ID: x\nCSeq: banana INVITE\nContent-Length: 0\n\n";
        int dropped = 0;
        for (int i = 0; i < 40; i++)
        {
            var v = h.Send(bad, Attacker, Server);
            if (v.IsDrop) dropped++;
            h.Clock.AdvanceMs(100);
        }
        Assert.Equal(21, dropped); // from the 20th on
        Assert.Single(h.Sink.For("malformed-flood"));
        // A second window over the threshold raises the score to the ban level.
        h.Clock.Advance(TimeSpan.FromSeconds(10));
        for (int i = 0; i < 20; i++) h.Send(bad, Attacker, Server);
        Assert.Equal(2, h.Sink.For("malformed-flood").Count());
        Assert.Equal(ActionKind.Ban, h.Sink.For("malformed-flood").Last().Action);
        // Valid messages from a good source are untouched.
        Assert.False(h.Send(Harness.Invite("bob", h.NewCallId()), Phone, Server).IsDrop);
    }

    [Fact]
    public void spoofed_teardown__drops_a_bye_from_outside_the_dialog_and_keeps_the_call()
    {
        var h = new Harness(Harness.Shipped("spoofed-teardown"));
        string id = h.NewCallId();
        h.Send(Harness.Invite("bob", id), Phone, Server);
        h.Send(Harness.Response(200, "OK", "INVITE", "sip:alice@example.com", $"sip:bob@{Server}", id), Server, Phone);
        h.Send(Harness.Request("ACK", $"sip:bob@{Server}", "sip:alice@example.com", $"sip:bob@{Server}", id, toTag: "tt1"), Phone, Server);
        string bye = Harness.Request("BYE", "sip:alice@192.0.2.10", $"sip:bob@{Server}", "sip:alice@example.com", id, cseq: 1, fromTag: "tt1", toTag: "ft1");
        var forged = h.Send(bye, Attacker, Phone);
        Assert.Equal(DropReason.Rule, forged.Reason);
        Assert.Single(h.Sink.For("spoofed-teardown"));
        // The genuine BYE from the callee passes.
        Assert.False(h.Send(bye, Server, Phone).IsDrop);
        Assert.Single(h.Sink.Alerts);
    }

    [Fact]
    public void callid_reuse__drops_invites_that_reuse_a_call_id_with_new_from_tags()
    {
        var h = new Harness(Harness.Shipped("callid-reuse"));
        string id = h.NewCallId();
        Assert.False(h.Send(Harness.Invite("bob", id, fromTag: "a"), Phone, Server).IsDrop);
        Assert.False(h.Send(Harness.Invite("bob", id, fromTag: "a"), Phone, Server).IsDrop); // retransmission
        Assert.False(h.Send(Harness.Invite("alice", id, fromTag: "b"), Server, Phone).IsDrop); // the callee's re-INVITE
        Assert.True(h.Send(Harness.Invite("bob", id, fromTag: "c"), Attacker, Server).IsDrop);
        var alert = Assert.Single(h.Sink.For("callid-reuse"));
        Assert.StartsWith("call_id=call-", ListSink.Key(alert));
    }

    [Fact]
    public void teardown_flood_unknown__drops_byes_for_dialogs_that_never_existed()
    {
        var h = new Harness(Harness.Shipped("teardown-flood-unknown"));
        int dropped = 0;
        for (int i = 0; i < 50; i++)
        {
            if (h.Send(Harness.Request("BYE", $"sip:bob@{Server}", "sip:a@b", "sip:bob@c", h.NewCallId(), toTag: "x"), Attacker, Server).IsDrop) dropped++;
            h.Clock.AdvanceMs(50);
        }
        Assert.Equal(21, dropped);
        Assert.Single(h.Sink.For("teardown-flood-unknown"));
        // A BYE for a real call from a good source is fine.
        string id = h.NewCallId();
        h.Send(Harness.Invite("bob", id), Phone, Server);
        h.Send(Harness.Response(200, "OK", "INVITE", "sip:alice@example.com", $"sip:bob@{Server}", id), Server, Phone);
        Assert.False(h.Send(Harness.Request("BYE", $"sip:bob@{Server}", "sip:alice@example.com", $"sip:bob@{Server}", id, cseq: 2, toTag: "tt1"), Phone, Server).IsDrop);
    }
}
