using System.Globalization;
using System.Text;

namespace SipIps.Export.Metrics;

/// <summary>
/// Writes the Prometheus text exposition format (version 0.0.4): a HELP and TYPE line per family, then its samples.
/// Label values are escaped (backslash, double quote, newline). Families must be written whole, one after another.
/// </summary>
public sealed class PromText
{
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";
    private readonly StringBuilder _sb = new(16 * 1024);
    private readonly HashSet<string> _families = new(StringComparer.Ordinal);

    public void Family(string name, string type, string help)
    {
        if (!_families.Add(name)) throw new InvalidOperationException($"metric family {name} written twice");
        _sb.Append("# HELP ").Append(name).Append(' ').Append(help.Replace("\\", "\\\\").Replace("\n", "\\n")).Append('\n');
        _sb.Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');
    }

    public void Sample(string name, double value, params (string Name, string Value)[] labels)
    {
        _sb.Append(name);
        if (labels.Length > 0)
        {
            _sb.Append('{');
            for (int i = 0; i < labels.Length; i++)
            {
                if (i > 0) _sb.Append(',');
                _sb.Append(labels[i].Name).Append("=\"");
                foreach (char c in labels[i].Value)
                {
                    switch (c)
                    {
                        case '\\': _sb.Append("\\\\"); break;
                        case '"': _sb.Append("\\\""); break;
                        case '\n': _sb.Append("\\n"); break;
                        default: _sb.Append(c); break;
                    }
                }
                _sb.Append('"');
            }
            _sb.Append('}');
        }
        _sb.Append(' ').Append(Format(value)).Append('\n');
    }

    /// <summary>A counter or gauge family with one unlabelled sample.</summary>
    public void Single(string name, string type, string help, double value)
    {
        Family(name, type, help);
        Sample(name, value);
    }

    /// <summary>A histogram family from non-cumulative bucket counts (the last is +Inf).</summary>
    public void Histogram(string name, string help, IReadOnlyList<double> bounds, IReadOnlyList<long> counts, double sum)
    {
        Family(name, "histogram", help);
        long cumulative = 0;
        for (int i = 0; i < bounds.Count; i++)
        {
            cumulative += counts[i];
            Sample(name + "_bucket", cumulative, ("le", Format(bounds[i])));
        }
        cumulative += counts[bounds.Count];
        Sample(name + "_bucket", cumulative, ("le", "+Inf"));
        Sample(name + "_sum", sum);
        Sample(name + "_count", cumulative);
    }

    private static string Format(double v) =>
        double.IsPositiveInfinity(v) ? "+Inf" : double.IsNegativeInfinity(v) ? "-Inf" : double.IsNaN(v) ? "NaN" : v.ToString("R", CultureInfo.InvariantCulture);

    public override string ToString() => _sb.ToString();
}
