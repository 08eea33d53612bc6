using System.Globalization;
using System.Text;
using System.Text.Json;
using SipIps.Engine.Common;
using SipIps.Engine.Detection;
using SipIps.Rules.Yaml;

namespace SipIps.Host.Detection;

/// <summary>
/// Bans that outlive the process, and the operator's blocklist. Bans are saved to a JSON file whenever they change
/// (written to a temporary file and renamed, so a crash never leaves half a file) and restored at start, expired
/// ones skipped. The blocklist is a text file of keys, one per line, loaded at start and on SIGHUP.
/// </summary>
internal static class BanStore
{
    public static void Save(string path, EnforcementTable table, long nowNs)
    {
        var bans = table.Snapshot(nowNs).Where(b => b.Kind == EnforcementKind.Ban && b.Origin != EnforcementOrigin.Blocklist).ToList();
        string? dir = Path.GetDirectoryName(path);
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        string temp = path + ".tmp";
        using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write))
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteNumber("version", 1);
            w.WriteStartArray("bans");
            foreach (var b in bans)
            {
                w.WriteStartObject();
                w.WriteString("key", b.Key);
                if (b.RuleId is not null) w.WriteString("rule_id", b.RuleId);
                w.WriteString("origin", b.Origin.ToString().ToLowerInvariant());
                w.WriteString("created", Iso(b.CreatedNs));
                if (b.IsPermanent) w.WriteNull("expires");
                else w.WriteString("expires", Iso(b.ExpiresNs));
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        File.Move(temp, path, overwrite: true);
    }

    /// <summary>Restores saved bans; returns how many. A damaged file is reported and skipped, never fatal.</summary>
    public static int Restore(string path, EnforcementTable table, long nowNs, Action<string> log)
    {
        if (!File.Exists(path)) return 0;
        int restored = 0;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
            foreach (var e in doc.RootElement.GetProperty("bans").EnumerateArray())
            {
                string key = e.GetProperty("key").GetString() ?? "";
                long expires = long.MaxValue;
                if (e.TryGetProperty("expires", out var x) && x.ValueKind == JsonValueKind.String)
                    expires = ParseIso(x.GetString()!);
                if (expires <= nowNs) continue;
                if (!KeyText.TryParse(key, out var spec, out string canonical, out ulong hash, out string error))
                {
                    log($"{path}: skipped saved ban '{key}': {error}");
                    continue;
                }
                string? rule = e.TryGetProperty("rule_id", out var r) ? r.GetString() : null;
                var origin = e.TryGetProperty("origin", out var o) && o.GetString() == "operator" ? EnforcementOrigin.Operator : EnforcementOrigin.Restored;
                table.Ban(hash, spec, Encoding.UTF8.GetBytes(canonical), nowNs, expires, rule, origin);
                restored++;
            }
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException or IOException)
        {
            log($"{path}: saved bans not restored ({e.Message}); the file is left as it is");
        }
        return restored;
    }

    public sealed record BlocklistEntry(KeySpec Spec, string Canonical, ulong Hash, long TtlNs);

    /// <summary>
    /// Parses a blocklist: one entry per line, "KEY [TTL]" where KEY is a key as status shows it
    /// (src_ip=203.0.113.7) or a bare address or /24 (/64) prefix; '#' starts a comment. Throws with file:line.
    /// </summary>
    public static List<BlocklistEntry> ParseBlocklist(string path)
    {
        string[] lines;
        try
        {
            lines = File.ReadAllLines(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ConfigException(path, 0, 0, $"cannot read the blocklist: {e.Message}");
        }
        var list = new List<BlocklistEntry>();
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i];
            int hash = line.IndexOf('#');
            if (hash >= 0) line = line[..hash];
            var parts = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 0) continue;
            if (parts.Length > 2) throw new ConfigException(path, i + 1, 1, "each line is a key and, optionally, a TTL (like 'src_ip=203.0.113.7 1d')");
            string key = parts[0];
            if (!key.Contains('='))
            {
                // A bare address, or a prefix of the size src_prefix keys use.
                key = key.Contains('/') ? "src_prefix=" + key : "src_ip=" + key;
            }
            if (!KeyText.TryParse(key, out var spec, out string canonical, out ulong h, out string error))
                throw new ConfigException(path, i + 1, 1, error);
            if (spec.IsGlobal) throw new ConfigException(path, i + 1, 1, "the global key would block everything");
            long ttl = long.MaxValue;
            if (parts.Length == 2)
            {
                if (!YamlTree.TryParseDuration(parts[1], out ttl) || ttl <= 0)
                    throw new ConfigException(path, i + 1, line.IndexOf(parts[1], StringComparison.Ordinal) + 1, $"'{parts[1]}' is not a duration like 10m, 1h or 7d");
            }
            list.Add(new BlocklistEntry(spec, canonical, h, ttl));
        }
        return list;
    }

    /// <summary>Replaces the blocklist's entries in the table with <paramref name="entries"/>.</summary>
    public static void ApplyBlocklist(EnforcementTable table, IReadOnlyList<BlocklistEntry> entries, long nowNs)
    {
        table.RemoveWhere(e => e.Origin == EnforcementOrigin.Blocklist);
        foreach (var e in entries)
        {
            long expires = e.TtlNs == long.MaxValue ? long.MaxValue : nowNs + e.TtlNs;
            table.Ban(e.Hash, e.Spec, Encoding.UTF8.GetBytes(e.Canonical), nowNs, expires, null, EnforcementOrigin.Blocklist);
        }
    }

    public static string Iso(long ns) =>
        DateTime.UnixEpoch.AddTicks(ns / 100).ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    private static long ParseIso(string text) =>
        (DateTime.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal) - DateTime.UnixEpoch).Ticks * 100;

    public static long NowNs() => (DateTime.UtcNow - DateTime.UnixEpoch).Ticks * 100;

    /// <summary>"9m 58s", "2h 03m", "permanent".</summary>
    public static string Remaining(long expiresNs, long nowNs)
    {
        if (expiresNs == long.MaxValue) return "permanent";
        long s = Math.Max(0, (expiresNs - nowNs) / 1_000_000_000);
        return s >= 86400 ? $"{s / 86400}d {s % 86400 / 3600:00}h" : s >= 3600 ? $"{s / 3600}h {s % 3600 / 60:00}m" : s >= 60 ? $"{s / 60}m {s % 60:00}s" : $"{s}s";
    }
}
