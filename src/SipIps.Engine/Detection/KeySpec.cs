using SipIps.Engine.Common;

namespace SipIps.Engine.Detection;

/// <summary>
/// What a rule counts by: one field or a combination, always written in the same order
/// (<c>src_ip+from_user</c>), whatever order the rule listed them in. A key's text is its spec, '=' and the
/// canonical value of each field joined by '/': <c>src_ip+from_user=203.0.113.7/alice</c>. That text is what
/// alerts, <c>status</c>, <c>ban</c> and <c>unban</c> show and accept.
/// </summary>
public sealed class KeySpec : IEquatable<KeySpec>
{
    private KeySpec(SipField[] fields)
    {
        Fields = fields;
        Name = string.Join('+', fields.Select(SipFields.Name));
        Tag = Hash64.Compute(System.Text.Encoding.ASCII.GetBytes(Name), 0x5EED_4B45_5953UL);
    }

    /// <summary>The fields in canonical (enum) order.</summary>
    public SipField[] Fields { get; }

    public string Name { get; }

    /// <summary>A fixed per-spec value mixed into every key hash, so equal values under different specs differ.</summary>
    public ulong Tag { get; }

    public bool IsGlobal => Fields.Length == 1 && Fields[0] == SipField.Global;

    public static KeySpec Global { get; } = new([SipField.Global]);

    public static KeySpec SrcIp { get; } = new([SipField.SrcIp]);

    public static KeySpec Create(IEnumerable<SipField> fields)
    {
        var sorted = fields.Distinct().OrderBy(f => (int)f).ToArray();
        if (sorted.Length == 0) throw new ArgumentException("a key needs at least one field");
        if (sorted.Contains(SipField.Global) && sorted.Length > 1) throw new ArgumentException("'global' cannot be combined with other fields");
        if (sorted.Length == 1 && sorted[0] == SipField.Global) return Global;
        if (sorted.Length == 1 && sorted[0] == SipField.SrcIp) return SrcIp;
        return new KeySpec(sorted);
    }

    /// <summary>Parses "src_ip+from_user"; on failure says why.</summary>
    public static bool TryParse(string text, out KeySpec spec, out string error)
    {
        spec = Global;
        var fields = new List<SipField>();
        foreach (var part in text.Split('+'))
        {
            if (!SipFields.TryParse(part.Trim(), out var f))
            {
                error = $"unknown key field '{part.Trim()}' (known: {string.Join(", ", SipFields.Names.Where(n => n != "method"))})";
                return false;
            }
            if (f == SipField.Method)
            {
                error = "'method' cannot be a key field: match on it instead";
                return false;
            }
            fields.Add(f);
        }
        try
        {
            spec = Create(fields);
        }
        catch (ArgumentException e)
        {
            error = e.Message;
            return false;
        }
        error = "";
        return true;
    }

    public bool Equals(KeySpec? other) => other is not null && other.Name == Name;
    public override bool Equals(object? obj) => Equals(obj as KeySpec);
    public override int GetHashCode() => Name.GetHashCode(StringComparison.Ordinal);
    public override string ToString() => Name;
}
