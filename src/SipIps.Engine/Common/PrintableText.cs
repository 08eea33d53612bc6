using System.Text;

namespace SipIps.Engine.Common;

/// <summary>
/// Text that came from outside (a capture, a configuration file) made safe to print on one line of a terminal or a
/// log: control characters (line breaks, and the escape sequences that move a terminal's cursor, retitle its window
/// or hide the lines above) and the Unicode controls that reorder what is displayed are written as escapes:
/// \n, \r and \t, and \uXXXX for the others. Not for the packet path: it allocates when it has something to escape.
/// </summary>
public static class PrintableText
{
    public static string Escape(string text)
    {
        if (!text.Any(IsUnsafe)) return text;
        var b = new StringBuilder(text.Length + 16);
        foreach (char c in text)
        {
            if (!IsUnsafe(c)) b.Append(c);
            else b.Append(c switch { '\n' => "\\n", '\r' => "\\r", '\t' => "\\t", _ => $"\\u{(int)c:X4}" });
        }
        return b.ToString();
    }

    private static bool IsUnsafe(char c) => char.IsControl(c) || c is >= '\u202A' and <= '\u202E' or >= '\u2066' and <= '\u2069';
}
