using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Unicode;

namespace SipIps.Host.Output;

/// <summary>JSON output helpers: readable (unescaped non-ASCII) and safe with bytes that are not UTF-8.</summary>
internal static class Json
{
    public static readonly JsonWriterOptions Indented = new()
    {
        Indented = true,
        Encoder = JavaScriptEncoder.Create(UnicodeRanges.All),
    };

    public static readonly JsonWriterOptions Compact = new()
    {
        Indented = false,
        Encoder = JavaScriptEncoder.Create(UnicodeRanges.All),
    };

    /// <summary>The behaviour factors of both windows as <c>window_10s</c> and <c>window_60s</c> objects (undefined ones as null).</summary>
    public static void WriteFactorWindows(this Utf8JsonWriter w, IReadOnlyList<double> shortWindow, IReadOnlyList<double> longWindow)
    {
        foreach (var (name, values) in new[] { ("window_10s", shortWindow), ("window_60s", longWindow) })
        {
            w.WriteStartObject(name);
            for (int f = 0; f < values.Count; f++)
            {
                string factor = Engine.Behaviour.Factors.Name((Engine.Behaviour.Factor)f);
                if (double.IsNaN(values[f]) || double.IsInfinity(values[f])) w.WriteNull(factor);
                else w.WriteNumber(factor, Math.Round(values[f], 6));
            }
            w.WriteEndObject();
        }
    }

    /// <summary>Writes bytes from the wire as a string; invalid UTF-8 becomes U+FFFD rather than an exception.</summary>
    public static void WriteBytes(this Utf8JsonWriter w, string name, ReadOnlySpan<byte> value)
    {
        if (Utf8.IsValid(value)) w.WriteString(name, value);
        else w.WriteString(name, Encoding.UTF8.GetString(value));
    }

    public static void WriteBytesValue(this Utf8JsonWriter w, ReadOnlySpan<byte> value)
    {
        if (Utf8.IsValid(value)) w.WriteStringValue(value);
        else w.WriteStringValue(Encoding.UTF8.GetString(value));
    }
}
