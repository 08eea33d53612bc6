using System.Runtime.CompilerServices;

namespace SipIps.Tests;

/// <summary>
/// Locates the external test corpus: $CORPUS when set, else ../shared/corpus next to the repository root.
/// A missing corpus fails the test with a message that says where it was looked for.
/// </summary>
public static class Corpus
{
    private static readonly Lazy<string> s_root = new(Find);

    public static string Root => s_root.Value;

    public static string Path(params string[] parts) => System.IO.Path.Combine([Root, .. parts]);

    public static string RepoRoot([CallerFilePath] string here = "")
    {
        string? dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(System.IO.Path.Combine(dir, "SipIps.sln")))
            dir = System.IO.Path.GetDirectoryName(dir);
        if (dir is not null) return dir;
        // Fallback: this source file lives in <repo>/tests/Shared.
        return System.IO.Path.GetFullPath(System.IO.Path.Combine(System.IO.Path.GetDirectoryName(here)!, "..", ".."));
    }

    private static string Find()
    {
        string? env = Environment.GetEnvironmentVariable("CORPUS");
        string candidate = !string.IsNullOrEmpty(env)
            ? System.IO.Path.GetFullPath(env)
            : System.IO.Path.GetFullPath(System.IO.Path.Combine(RepoRoot(), "..", "shared", "corpus"));
        if (!Directory.Exists(candidate))
            throw new DirectoryNotFoundException($"test corpus not found at {candidate} (set CORPUS to its path)");
        return candidate;
    }

    /// <summary>Reads a simple CSV with quoted fields (RFC 4180) into rows of columns.</summary>
    public static List<string[]> ReadCsv(string file)
    {
        var rows = new List<string[]>();
        string text = File.ReadAllText(file);
        var row = new List<string>();
        var field = new System.Text.StringBuilder();
        bool quoted = false;
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (quoted)
            {
                if (c == '"' && i + 1 < text.Length && text[i + 1] == '"') { field.Append('"'); i++; }
                else if (c == '"') quoted = false;
                else field.Append(c);
                continue;
            }
            switch (c)
            {
                case '"': quoted = true; break;
                case ',': row.Add(field.ToString()); field.Clear(); break;
                case '\r': break;
                case '\n':
                    row.Add(field.ToString()); field.Clear();
                    rows.Add(row.ToArray()); row.Clear();
                    break;
                default: field.Append(c); break;
            }
        }
        if (field.Length > 0 || row.Count > 0) { row.Add(field.ToString()); rows.Add(row.ToArray()); }
        return rows;
    }
}
