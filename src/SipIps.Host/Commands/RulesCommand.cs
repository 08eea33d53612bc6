using SipIps.Engine.Detection;
using SipIps.Rules;

namespace SipIps.Host.Commands;

/// <summary><c>sipips rules check PATH...</c>: compile the rules and report every error, or a summary.</summary>
internal static class RulesCommand
{
    public static int Check(IReadOnlyList<string> paths, TextWriter stdout, TextWriter stderr)
    {
        var result = RuleLoader.Load(paths);
        if (!result.Ok)
        {
            foreach (var e in result.Errors) stderr.WriteLine($"sipips: {e}");
            stderr.WriteLine($"sipips: {result.Errors.Count} error(s); nothing was loaded");
            bool onlyMissing = result.Errors.All(e => e.Line == 0 && e.Message.StartsWith("no such", StringComparison.Ordinal));
            return onlyMissing ? ExitCodes.UsageOrIo : ExitCodes.InvalidInput;
        }
        var set = result.RuleSet!;
        if (result.Files.Count == 0)
        {
            stderr.WriteLine($"sipips: no rule files (*.yaml, *.yml) in {string.Join(", ", paths)}");
            return ExitCodes.UsageOrIo;
        }
        stdout.WriteLine($"ok: {set.Rules.Count} rule(s) in {result.Files.Count} file(s)");
        foreach (var r in set.Rules)
        {
            string mode = r.Mode == RuleMode.Detect ? " (detect-only)" : "";
            string actions = string.Join(", ", r.Actions.Select(a => ActionKinds.Name(a.Kind) + (a.At > 0 ? $"@{a.At:0.##}" : "")));
            stdout.WriteLine($"  {r.Id,-30} {r.Severity.ToString().ToLowerInvariant(),-8} key {r.Key.Name,-20} {actions}{mode}");
        }
        if (set.FactorRules.Count > 0) stdout.WriteLine($"  and {set.FactorRules.Count} rule(s) on behaviour factors:");
        foreach (var r in set.FactorRules)
            stdout.WriteLine($"  {r.Id,-30} {r.Severity.ToString().ToLowerInvariant(),-8} {r.WindowSeconds}s: {string.Join(" and ", r.When.Select(c => c.Describe()))}");
        var a = set.Allowlist;
        if (!a.IsEmpty) stdout.WriteLine($"  allowlist: {a.Addresses.Entries.Count} address(es), {a.Uris.Count + a.Users.Count} URI(s)");
        return ExitCodes.Success;
    }
}
