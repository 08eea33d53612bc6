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
