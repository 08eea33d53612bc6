using SipIps.Engine.Detection;
using Xunit;

namespace SipIps.Rules.Tests;

public class RuleLoaderTests
{
    private const string Valid = """
        rules:
          - id: r1
            match: { method: INVITE }
            key: src_ip
            window: 1s
            threshold: 10
        """;

    private static string Error(string yaml, string file = "t.yaml")
    {
        var result = RuleLoader.Parse(yaml, file);
        Assert.False(result.Ok);
        Assert.Null(result.RuleSet);
        return string.Join("\n", result.Errors.Select(e => e.ToString()));
    }

    [Fact]
    public void A_valid_rule_compiles_with_defaults()
    {
        var set = Harness.Parse(Valid);
        var r = Assert.Single(set.Rules);
        Assert.Equal("r1", r.Id);
        Assert.Equal(RuleMode.Prevent, r.Mode);
        Assert.Equal(Severity.Medium, r.Severity);
        Assert.Equal(1_000_000_000, r.WindowNs);
        Assert.Equal(ActionKind.Alert, Assert.Single(r.Actions).Kind);
        Assert.Equal("src_ip", r.Key.Name);
    }

    [Theory]
    [InlineData("    colour: red\n", "t.yaml:7:5: unknown key 'colour' in a rule")]
    [InlineData("    match: { method: INVITE, tpye: request }\n", "unknown key 'tpye' in match")]
    [InlineData("    key: src_ip+nonsense\n", "unknown key field 'nonsense'")]
    [InlineData("    severity: apocalyptic\n", "severity must be one of info, low, medium, high, critical")]
    [InlineData("    window: fortnight\n", "window must be a duration")]
    public void Unknown_or_bad_values_are_errors_with_their_place(string extra, string expected)
    {
        // Replace a line of the valid rule, or add one, and expect the message.
        string yaml = extra.StartsWith("    key:", StringComparison.Ordinal) ? Valid.Replace("    key: src_ip\n", extra)
            : extra.StartsWith("    match:", StringComparison.Ordinal) ? Valid.Replace("    match: { method: INVITE }\n", extra)
            : extra.StartsWith("    window:", StringComparison.Ordinal) ? Valid.Replace("    window: 1s\n", extra)
            : Valid + "\n" + extra;
        Assert.Contains(expected, Error(yaml));
    }

    [Fact]
    public void A_bad_regex_is_an_error_at_the_pattern()
    {
        string yaml = Valid.Replace("match: { method: INVITE }", "match:\n      user_agent: { regex: \"(unclosed\" }");
        string e = Error(yaml);
        Assert.Contains("t.yaml:4:", e);
        Assert.Contains("bad regex '(unclosed'", e);
    }

    [Fact]
    public void A_backtracking_only_regex_is_refused_with_the_reason()
    {
        string yaml = Valid.Replace("match: { method: INVITE }", "match:\n      user_agent: { regex: \"(a)\\\\1\" }");
        Assert.Contains("linear-time engine", Error(yaml));
    }

    [Theory]
    [InlineData("threshold: 0", "a count threshold must be at least 1")]
    [InlineData("threshold: 0.5", "a count threshold must be at least 1")]
    [InlineData("threshold: 10\n    min_count: 3", "min_count applies only to a ratio")]
    [InlineData("threshold: 600\n    distinct: to_user", "distinct values are counted up to 500")]
    [InlineData("threshold: 3\n    distinct: src_ip", "counting distinct src_ip per key src_ip is always 1")]
    public void Thresholds_that_can_never_be_reached_are_errors(string replacement, string expected)
    {
        Assert.Contains(expected, Error(Valid.Replace("threshold: 10", replacement)));
    }

    [Fact]
    public void Duplicate_ids_are_errors_that_name_both_places()
    {
        var result = RuleLoader.Parse([(Valid, "a.yaml"), (Valid, "b.yaml")]);
        var e = Assert.Single(result.Errors);
        Assert.Equal("b.yaml", e.File);
        Assert.Equal(2, e.Line);
        Assert.Contains("duplicate rule id 'r1' (first defined at a.yaml:2)", e.Message);
    }

    [Fact]
    public void Banning_the_global_key_is_refused()
    {
        string yaml = Valid.Replace("key: src_ip", "key: global") + "\n    actions: [{ action: ban, ttl: 1m }]\n";
        Assert.Contains("a ban on the global key would block every SIP message", Error(yaml));
    }

    [Theory]
    [InlineData("[{ action: rate_limit, ttl: 1m }]", "rate_limit needs a rate")]
    [InlineData("[{ action: ban }]", "ban needs a ttl")]
    [InlineData("[ban]", "'ban' needs settings")]
    [InlineData("[{ action: alert, ttl: 1m }]", "alert has no ttl")]
    [InlineData("[{ action: ban, ttl: 1m, rate: 3 }]", "rate and burst apply only to rate_limit")]
    [InlineData("[explode]", "unknown action 'explode'")]
    public void Bad_actions_are_errors(string actions, string expected)
    {
        Assert.Contains(expected, Error(Valid + "\n    actions: " + actions + "\n"));
    }

    [Fact]
    public void A_status_on_a_request_rule_is_a_contradiction()
    {
        Assert.Contains("a status code matches responses, but type is request",
            Error(Valid.Replace("match: { method: INVITE }", "match: { type: request, status: 401 }")));
    }

    [Fact]
    public void Every_error_in_every_file_is_reported_and_nothing_is_loaded()
    {
        var result = RuleLoader.Parse([
            (Valid.Replace("threshold: 10", "threshold: -1"), "a.yaml"),
            ("rules:\n  - id: Bad Id\n", "b.yaml"),
            ("rules: [\n", "c.yaml"),
        ]);
        Assert.Null(result.RuleSet);
        Assert.Equal(3, result.Errors.Count);
        Assert.All(result.Errors, e => Assert.True(e.Line > 0, e.ToString()));
    }

    [Fact]
    public void Allowlists_parse_addresses_prefixes_and_uris()
    {
        var set = Harness.Parse(Valid + """

            allowlist:
              ips: [192.0.2.1, 198.51.100.0/24, "2001:db8::/32"]
              uris: ["sip:112@*", "sip:Emergency@EXAMPLE.net"]
            """);
        Assert.True(set.Allowlist.Addresses.Contains(Harness.Ip("198.51.100.77")));
        Assert.True(set.Allowlist.Addresses.Contains(Harness.Ip("2001:db8:1::5")));
        Assert.False(set.Allowlist.Addresses.Contains(Harness.Ip("192.0.2.2")));
        Assert.Contains("112", set.Allowlist.Users);
        Assert.Contains("sip:Emergency@example.net", set.Allowlist.Uris);
        Assert.Contains("did you mean 198.51.100.0/24", Error(Valid + "\nallowlist: { ips: [198.51.100.7/24] }\n"));
    }

    [Fact]
    public void The_shipped_rules_directory_loads_cleanly()
    {
        var set = Harness.ShippedRules();
        Assert.True(set.Rules.Count >= 15);
        Assert.All(set.Rules, r => Assert.False(string.IsNullOrEmpty(r.Description), r.Id));
    }
}
