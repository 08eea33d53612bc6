using SipIps.Engine.Common;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace SipIps.Rules.Yaml;

/// <summary>
/// A configuration error with its place: rendered "file:line:column: message", on one line (control characters a
/// quoted value carries into the message are escaped).
/// </summary>
public sealed class ConfigException(string file, int line, int column, string message) : Exception(PrintableText.Escape(message))
{
    public string File { get; } = file;
    public int Line { get; } = line;
    public int Column { get; } = column;

    public override string ToString() => Line > 0 ? $"{File}:{Line}:{Column}: {Message}" : $"{File}: {Message}";
}

/// <summary>A YAML node with the place it came from.</summary>
public abstract record YNode(string File, int Line, int Column)
{
    public ConfigException Error(string message) => new(File, Line, Column, message);
}

public sealed record YScalar(string File, int Line, int Column, string Value, bool Quoted) : YNode(File, Line, Column);

public sealed record YSequence(string File, int Line, int Column, IReadOnlyList<YNode> Items) : YNode(File, Line, Column);

public sealed record YMapping(string File, int Line, int Column, IReadOnlyList<(YScalar Key, YNode Value)> Entries) : YNode(File, Line, Column);

/// <summary>
/// Reads YAML with YamlDotNet's event parser (no reflection, so trimming keeps it) into a small tree that keeps
/// line and column for every node. Aliases are refused; duplicate keys are errors.
/// </summary>
public static class YamlTree
{
    public static YNode? Load(string text, string file)
    {
        var parser = new Parser(new StringReader(text));
        try
        {
            parser.Consume<StreamStart>();
            if (parser.TryConsume<StreamEnd>(out _)) return null;
            parser.Consume<DocumentStart>();
            YNode? root = parser.Accept<DocumentEnd>(out _) ? null : Read(parser, file);
            parser.Consume<DocumentEnd>();
            if (!parser.Accept<StreamEnd>(out _))
            {
                var e = parser.Current!;
                throw new ConfigException(file, (int)e.Start.Line, (int)e.Start.Column, "only one YAML document is allowed");
            }
            return root;
        }
        catch (YamlException e)
        {
            throw new ConfigException(file, (int)e.Start.Line, (int)e.Start.Column, Clean(e.Message));
        }
        catch (InvalidOperationException)
        {
            // The YAML library's scanner fails some malformed input (an unclosed flow mapping before a comment, say)
            // with no position of its own: the place is then the end of the last thing it read.
            var last = parser.Current?.End;
            throw new ConfigException(file, (int)(last?.Line ?? 1), (int)(last?.Column ?? 1), "the YAML cannot be read after this point (an unclosed { or [ ?)");
        }
    }

    private static string Clean(string message)
    {
        // YamlDotNet prefixes messages with "(Line: x, Col: y, Idx: z) - (Line: ...): "; the place is given apart.
        int i = message.LastIndexOf("): ", StringComparison.Ordinal);
        return i >= 0 ? message[(i + 3)..] : message;
    }

    private static YNode Read(IParser parser, string file)
    {
        var current = parser.Current ?? throw new ConfigException(file, 0, 0, "unexpected end of the document");
        int line = (int)current.Start.Line, col = (int)current.Start.Column;
        switch (current)
        {
            case AnchorAlias:
                throw new ConfigException(file, line, col, "aliases are not supported here");
            case Scalar s:
                parser.MoveNext();
                return new YScalar(file, line, col, s.Value, s.Style is ScalarStyle.SingleQuoted or ScalarStyle.DoubleQuoted);
            case SequenceStart:
            {
                parser.MoveNext();
                var items = new List<YNode>();
                while (!parser.TryConsume<SequenceEnd>(out _)) items.Add(Read(parser, file));
                return new YSequence(file, line, col, items);
            }
            case MappingStart:
            {
                parser.MoveNext();
                var entries = new List<(YScalar, YNode)>();
                var keys = new HashSet<string>();
                while (!parser.TryConsume<MappingEnd>(out _))
                {
                    if (Read(parser, file) is not YScalar key) throw new ConfigException(file, line, col, "mapping keys must be plain words");
                    if (!keys.Add(key.Value)) throw key.Error($"duplicate key '{key.Value}'");
                    entries.Add((key, Read(parser, file)));
                }
                return new YMapping(file, line, col, entries);
            }
            default:
                throw new ConfigException(file, line, col, $"unexpected {current.GetType().Name}");
        }
    }

    // ------------------------------------------------------------------ typed access with precise errors

    public static YMapping Mapping(YNode node, string what) =>
        node as YMapping ?? throw node.Error($"{what} must be a mapping (key: value lines)");

    public static YSequence Sequence(YNode node, string what) =>
        node as YSequence ?? throw node.Error($"{what} must be a list");

    public static string String(YNode node, string what) =>
        node is YScalar s && s.Value.Length > 0 ? s.Value : throw node.Error($"{what} must be a non-empty value");

    public static int Int(YNode node, string what, int min, int max)
    {
        if (node is YScalar s && int.TryParse(s.Value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int v))
        {
            if (v < min || v > max) throw node.Error($"{what} must be between {min} and {max}, not {v}");
            return v;
        }
        throw node.Error($"{what} must be a whole number");
    }

    public static double Double(YNode node, string what, double min, double max)
    {
        if (node is YScalar s && double.TryParse(s.Value, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double v)
            && double.IsFinite(v))
        {
            if (v < min || v > max) throw node.Error($"{what} must be between {min.ToString(System.Globalization.CultureInfo.InvariantCulture)} and {max.ToString(System.Globalization.CultureInfo.InvariantCulture)}, not {s.Value}");
            return v;
        }
        throw node.Error($"{what} must be a number");
    }

    /// <summary>A duration: "500ms", "10s", "5m", "2h", "1d", or a bare number of seconds. Returns nanoseconds.</summary>
    public static long Duration(YNode node, string what, long minNs, long maxNs)
    {
        if (node is YScalar s && TryParseDuration(s.Value, out long ns))
        {
            if (ns < minNs || ns > maxNs) throw node.Error($"{what} must be between {FormatDuration(minNs)} and {FormatDuration(maxNs)}, not {s.Value}");
            return ns;
        }
        throw node.Error($"{what} must be a duration like 500ms, 10s, 5m, 2h or 1d");
    }

    public static bool TryParseDuration(string text, out long ns)
    {
        ns = 0;
        text = text.Trim();
        (string unit, double scale) = text.EndsWith("ms", StringComparison.Ordinal) ? ("ms", 1e6)
            : text.EndsWith('s') ? ("s", 1e9)
            : text.EndsWith('m') ? ("m", 60e9)
            : text.EndsWith('h') ? ("h", 3600e9)
            : text.EndsWith('d') ? ("d", 86400e9)
            : ("", 1e9);
        string number = text[..^unit.Length];
        if (!double.TryParse(number, System.Globalization.NumberStyles.AllowDecimalPoint, System.Globalization.CultureInfo.InvariantCulture, out double v)) return false;
        double total = v * scale;
        if (!double.IsFinite(total) || total > long.MaxValue / 2) return false;
        ns = (long)total;
        return true;
    }

    public static string FormatDuration(long ns) => ns switch
    {
        _ when ns % 86_400_000_000_000 == 0 && ns > 0 => $"{ns / 86_400_000_000_000}d",
        _ when ns % 3_600_000_000_000 == 0 && ns > 0 => $"{ns / 3_600_000_000_000}h",
        _ when ns % 60_000_000_000 == 0 && ns > 0 => $"{ns / 60_000_000_000}m",
        _ when ns % 1_000_000_000 == 0 => $"{ns / 1_000_000_000}s",
        _ => $"{ns / 1_000_000}ms",
    };

    /// <summary>A scalar or a list of scalars, as strings.</summary>
    public static List<(string Value, YNode Node)> Strings(YNode node, string what)
    {
        if (node is YScalar s) return [(String(s, what), s)];
        var list = new List<(string, YNode)>();
        foreach (var item in Sequence(node, what).Items) list.Add((String(item, $"each of {what}"), item));
        if (list.Count == 0) throw node.Error($"{what} must not be an empty list");
        return list;
    }

    public static bool Bool(YNode node, string what) => node is YScalar s
        ? s.Value switch
        {
            "true" or "yes" or "on" => true,
            "false" or "no" or "off" => false,
            _ => throw node.Error($"{what} must be true or false, not '{s.Value}'"),
        }
        : throw node.Error($"{what} must be true or false");

    public static string OneOf(YNode node, string what, params string[] allowed)
    {
        string v = String(node, what);
        return Array.IndexOf(allowed, v) >= 0 ? v : throw node.Error($"{what} must be one of {string.Join(", ", allowed)}, not '{v}'");
    }

    /// <summary>Visits the entries of a mapping; a key not in <paramref name="handlers"/> is an error that lists the known ones.</summary>
    public static void Each(YMapping map, string what, IReadOnlyDictionary<string, Action<YNode>> handlers)
    {
        foreach (var (key, value) in map.Entries)
        {
            if (!handlers.TryGetValue(key.Value, out var handle))
                throw key.Error($"unknown key '{key.Value}' in {what} (known: {string.Join(", ", handlers.Keys)})");
            handle(value);
        }
    }
}
