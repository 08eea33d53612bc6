using System.Text;
using SipIps.Engine.Common;
using SipIps.Engine.Detection;
using SipIps.Engine.Enforcement;
using SipIps.Engine.Packets;
using SipIps.Engine.Sip;
using SipIps.Rules;
using Xunit;

namespace SipIps.Rules.Tests;

/// <summary>A test clock: packet timestamps that only move when the test says so.</summary>
public sealed class FakeClock
{
    public long NowNs { get; private set; } = 1_767_225_600_000_000_000; // 2026-01-01T00:00:00Z

    public void Advance(TimeSpan by) => NowNs += by.Ticks * 100;
    public void AdvanceMs(double ms) => NowNs += (long)(ms * 1_000_000);
}

/// <summary>Collects alerts in memory.</summary>
public sealed class ListSink : IAlertSink
{
    public List<AlertEvent> Alerts { get; } = [];

    public bool Publish(in AlertEvent alert)
    {
        Alerts.Add(alert);
        return true;
    }

    public IEnumerable<AlertEvent> For(string rule) => Alerts.Where(a => a.RuleId == rule);

    public static string Key(in AlertEvent a) => Encoding.UTF8.GetString(a.Text(AlertTextField.Key));
}

/// <summary>
/// Runs SIP messages through one worker's detection engine as they would arrive on the wire, with a fake clock.
/// </summary>
public sealed class Harness
{
    private readonly SipMessage _message = new();
    private int _seq;

    public Harness(RuleSet rules, DetectionOptions? options = null)
    {
        Holder = new RuleSetHolder(rules);
        Enforcement = new EnforcementTable(4096);
        Shared = new DetectionShared(Holder, Enforcement, Sink, options ?? new DetectionOptions { Counters = 8192, Dialogs = 8192, Scores = 4096, KnownSources = 4096 });
        Engine = new DetectionEngine(Shared);
    }

    /// <summary>The shipped rules, from the repository's rules/ directory.</summary>
    public static RuleSet ShippedRules()
    {
        var result = RuleLoader.Load([Path.Combine(SipIps.Tests.Corpus.RepoRoot(), "rules")]);
        Assert.True(result.Ok, string.Join("\n", result.Errors));
        return result.RuleSet!;
    }

    /// <summary>Only the named shipped rules (to test one without the others interfering).</summary>
    public static RuleSet Shipped(params string[] ids) => new(ShippedRules().Rules.Where(r => ids.Contains(r.Id)).ToList().Select(Clone).ToList());

    private static Rule Clone(Rule r) => new()
    {
        Id = r.Id, Description = r.Description, Severity = r.Severity, Mode = r.Mode, Match = r.Match, Key = r.Key, WindowNs = r.WindowNs,
        Threshold = r.Threshold, Distinct = r.Distinct, Per = r.Per, MinCount = r.MinCount, Score = r.Score, Actions = r.Actions, Origin = r.Origin,
    };

    public static RuleSet Parse(string yaml)
    {
        var result = RuleLoader.Parse(yaml);
        Assert.True(result.Ok, string.Join("\n", result.Errors));
        return result.RuleSet!;
    }

    public FakeClock Clock { get; } = new();
    public ListSink Sink { get; } = new();
    public RuleSetHolder Holder { get; }
    public EnforcementTable Enforcement { get; }
    public DetectionShared Shared { get; }
    public DetectionEngine Engine { get; }

    public Verdict Send(string sip, string src, string dst, L4Protocol transport = L4Protocol.Udp)
    {
        var bytes = Encoding.UTF8.GetBytes(sip.ReplaceLineEndings("\r\n"));
        SipParser.Parse(bytes, _message);
        PacketInfo p = default;
        p.TimestampNs = Clock.NowNs;
        p.Source = Ip(src);
        p.Destination = Ip(dst);
        p.SourcePort = 5060;
        p.DestinationPort = 5060;
        p.Protocol = transport;
        return Engine.OnSipMessage(p, _message);
    }

    public static IpAddr Ip(string text)
    {
        Assert.True(IpAddr.TryParse(Encoding.ASCII.GetBytes(text), out var ip), text);
        return ip;
    }

    public string NewCallId() => $"call-{++_seq}-{Guid.NewGuid():N}@test";

    // ------------------------------------------------------------------ message builders

    public static string Request(string method, string ruri, string from, string to, string callId, int cseq = 1,
        string fromTag = "ft1", string? toTag = null, string? ua = "TestPhone/1.0", string? auth = null, string? body = null,
        string via = "192.0.2.10")
    {
        var sb = new StringBuilder();
        sb.Append($"{method} {ruri} SIP/2.0\n");
        sb.Append($"Via: SIP/2.0/UDP {via}:5060;branch=z9hG4bK{Guid.NewGuid():N}\n");
        sb.Append("Max-Forwards: 70\n");
        sb.Append($"From: <{from}>;tag={fromTag}\n");
        sb.Append($"To: <{to}>{(toTag is null ? "" : ";tag=" + toTag)}\n");
        sb.Append($"Call-ID: {callId}\n");
        sb.Append($"CSeq: {cseq} {method}\n");
        sb.Append($"Contact: <{from}>\n");
        if (ua is not null) sb.Append($"User-Agent: {ua}\n");
        if (auth is not null) sb.Append($"{auth}\n");
        if (body is not null)
        {
            sb.Append("Content-Type: application/sdp\n");
            sb.Append($"Content-Length: {Encoding.UTF8.GetByteCount(body.ReplaceLineEndings("\r\n"))}\n\n{body}");
        }
        else
        {
            sb.Append("Content-Length: 0\n\n");
        }
        return sb.ToString();
    }

    public static string Response(int code, string reason, string method, string from, string to, string callId, int cseq = 1,
        string fromTag = "ft1", string? toTag = "tt1", string via = "192.0.2.10")
    {
        return $"SIP/2.0 {code} {reason}\nVia: SIP/2.0/UDP {via}:5060;branch=z9hG4bK1\nFrom: <{from}>;tag={fromTag}\n" +
               $"To: <{to}>{(toTag is null ? "" : ";tag=" + toTag)}\nCall-ID: {callId}\nCSeq: {cseq} {method}\nContent-Length: 0\n\n";
    }

    public static string Invite(string toUser, string callId, string fromUser = "alice", string fromTag = "ft1", string? ua = "TestPhone/1.0",
        string? auth = null, string host = "198.51.100.20") =>
        Request("INVITE", $"sip:{toUser}@{host}", $"sip:{fromUser}@example.com", $"sip:{toUser}@{host}", callId, fromTag: fromTag, ua: ua, auth: auth);

    /// <summary>A full call: INVITE, 200, ACK (the caller becomes a known source).</summary>
    public void CompleteCall(string caller, string callee, string toUser = "bob")
    {
        string id = NewCallId();
        Send(Invite(toUser, id), caller, callee);
        Send(Response(200, "OK", "INVITE", "sip:alice@example.com", $"sip:{toUser}@198.51.100.20", id), callee, caller);
        Send(Request("ACK", $"sip:{toUser}@198.51.100.20", "sip:alice@example.com", $"sip:{toUser}@198.51.100.20", id, toTag: "tt1"), caller, callee);
    }
}
