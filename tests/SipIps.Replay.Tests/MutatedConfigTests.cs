using System.Text;
using System.Text.RegularExpressions;
using FsCheck;
using FsCheck.Fluent;
using SipIps.Tests;
using Xunit;

namespace SipIps.Replay.Tests;

/// <summary>
/// The shipped configuration and rule files with an operator's slips and worse: characters dropped or inserted
/// (YAML's own among them), lines deleted, repeated, swapped and re-indented, numbers made huge, negative or not
/// numbers at all, values replaced. <c>sipips check-config</c> and <c>sipips rules check</c> must accept the file
/// (exit 0) or name each error with its file:line:column on one line (exit 1): never an internal error, never a
/// stack trace.
/// </summary>
public partial class MutatedConfigTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sipips-mutated-config-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly string[] s_inserted =
        [":", "-", "- ", "[", "]", "{", "}", "\"", "'", "#", "&a", "*a", "!!int ", "|", ">", "%", "@", "`", " ", "\t", "\n", ",", "?", "~", "\\", "\u00e9", "\0"];

    private static readonly string[] s_numbers = ["99999999999999999999", "-1", "0", "1e9", "0x10", "1.5", ".", "NaN", "-0", "2147483648", ""];


    private static readonly UTF8Encoding s_utf8 = new(encoderShouldEmitUTF8Identifier: false);

    [GeneratedRegex(@"\d+")]
    private static partial Regex Number();

    private static string Mutate(string text, int seed)
    {
        var rnd = new Random(seed);
        var lines = text.Split('\n').ToList();
        int edits = 1 + rnd.Next(3);
        for (int e = 0; e < edits; e++)
        {
            int i = rnd.Next(lines.Count);
            string line = lines[i];
            switch (rnd.Next(8))
            {
                case 0 when line.Length > 0:
                    lines[i] = line.Remove(rnd.Next(line.Length), 1);
                    break;
                case 1:
                    lines[i] = line.Insert(rnd.Next(line.Length + 1), s_inserted[rnd.Next(s_inserted.Length)]);
                    break;
                case 2:
                    lines.Insert(i, line);
                    break;
                case 3 when lines.Count > 1:
                    lines.RemoveAt(i);
                    break;
                case 4:
                    int j = rnd.Next(lines.Count);
                    (lines[i], lines[j]) = (lines[j], lines[i]);
                    break;
                case 5:
                    lines[i] = rnd.Next(2) == 0 ? "  " + line : line.TrimStart().PadLeft(line.TrimStart().Length + rnd.Next(3));
                    break;
                case 6:
                    var numbers = Number().Matches(line);
                    if (numbers.Count == 0) goto case 1;
                    var m = numbers[rnd.Next(numbers.Count)];
                    lines[i] = line[..m.Index] + s_numbers[rnd.Next(s_numbers.Length)] + line[(m.Index + m.Length)..];
                    break;
                default:
                    int colon = line.IndexOf(": ", StringComparison.Ordinal);
                    if (colon < 0) goto case 1;
                    lines[i] = line[..(colon + 2)] + s_inserted[rnd.Next(s_inserted.Length)] + new string('x', rnd.Next(4));
                    break;
            }
        }
        return string.Join('\n', lines);
    }

    /// <summary>Exit 0, or exit 1 with every error line naming the file, a line and a column.</summary>
    private static void AssertAcceptedOrPlaced(string path, (int Code, string Stdout, string Stderr) r, string what)
    {
        string? problem = Problem(path, r);
        if (problem is not null) FuzzCampaign.Keep(path);
        Assert.True(problem is null, $"{what}: {problem}");
    }

    private static string? Problem(string path, (int Code, string Stdout, string Stderr) r)
    {
        if (r.Code is not (0 or 1)) return $"exit {r.Code}: {r.Stderr}";
        if (r.Code == 0) return null;
        // Each error on its own line with its place; rules check ends with a count of them.
        var errors = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var placed = new Regex("^sipips: " + Regex.Escape(path) + @":\d+:\d+: \S");
        var summary = new Regex(@"^sipips: \d+ error\(s\); nothing was loaded$");
        foreach (var error in errors)
            if (!placed.IsMatch(error) && !summary.IsMatch(error)) return $"not placed: {error}";
        return errors.Any(e => placed.IsMatch(e)) ? null : "exit 1 without a placed error";
    }

    [Fact]
    public void Check_config_places_every_error_in_a_rewritten_configuration()
    {
        string original = File.ReadAllText(Path.Combine(Corpus.RepoRoot(), "packaging", "sipips.yaml"));
        string path = Path.Combine(_dir, "sipips.yaml");
        Prop.ForAll(Arb.From(Gen.Choose(0, int.MaxValue)), seed =>
        {
            File.WriteAllText(path, Mutate(original, seed), s_utf8);
            AssertAcceptedOrPlaced(path, CliTests.RunCli("check-config", path), $"seed {seed}");
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(FuzzCampaign.Cases(300)));
    }

    [Fact]
    public void Rules_check_places_every_error_in_a_rewritten_rule_file()
    {
        var files = Directory.GetFiles(Path.Combine(Corpus.RepoRoot(), "rules"), "*.yaml").Order(StringComparer.Ordinal).ToArray();
        var texts = files.Select(File.ReadAllText).ToArray();
        var cases = Gen.Choose(0, files.Length - 1).SelectMany(f => Gen.Choose(0, int.MaxValue).Select(seed => (f, seed)));
        Prop.ForAll(Arb.From(cases), ((int File, int Seed) c) =>
        {
            string dir = Path.Combine(_dir, $"rules{c.File}-{c.Seed}");
            Directory.CreateDirectory(dir);
            string path = Path.Combine(dir, Path.GetFileName(files[c.File]));
            System.IO.File.WriteAllText(path, Mutate(texts[c.File], c.Seed), s_utf8);
            AssertAcceptedOrPlaced(path, CliTests.RunCli("rules", "check", dir), $"{Path.GetFileName(path)}, seed {c.Seed}");
            Directory.Delete(dir, true);
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(FuzzCampaign.Cases(300)));
    }
}
