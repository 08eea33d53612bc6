using System.Buffers;
using System.Runtime.CompilerServices;

namespace SipIps.Engine.Sip;

/// <summary>RFC 3261 section 25.1 character classes as one 256-entry flag table.</summary>
internal static class SipChars
{
    [Flags]
    private enum C : ushort
    {
        None = 0,
        Token = 1 << 0,      // alphanum - . ! % * _ + ` ' ~
        Digit = 1 << 1,
        Alpha = 1 << 2,
        Lws = 1 << 3,        // SP HT
        Word = 1 << 4,       // Call-ID word
        Host = 1 << 6,       // alphanum - .
        UriParam = 1 << 7,   // paramchar plus '=' (name=value)
        UriHeader = 1 << 8,  // hnv-unreserved / unreserved / '%' / '=' / '&'
        HeaderParam = 1 << 9, // gen-value without quotes: token / host
        Scheme = 1 << 10,
    }

    private static readonly C[] s_table = Build();

    /// <summary>Bytes that may not appear raw in a header section: controls other than HT, CR and LF, and DEL.</summary>
    internal static readonly SearchValues<byte> HeaderControls = SearchValues.Create(
    [
        0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x0B, 0x0C, 0x0E, 0x0F, 0x10, 0x11, 0x12, 0x13,
        0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1A, 0x1B, 0x1C, 0x1D, 0x1E, 0x1F, 0x7F,
    ]);

    /// <summary>word characters plus '@' (RFC 3261 callid = word [ "@" word ]).</summary>
    internal static readonly AsciiSet CallIdChars = new(
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~()<>:\\\"/[]?{}@"u8);

    /// <summary>Characters of a hostname (alphanumerics, '-' and '.').</summary>
    internal static readonly AsciiSet HostChars = new(
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-."u8);

    /// <summary>
    /// Characters of a URI's user part (RFC 3261 section 25.1: user = 1*( unreserved / escaped / user-unreserved ),
    /// unreserved = alphanum / mark, the '%' of an escape taken as it is).
    /// </summary>
    internal static readonly AsciiSet UserChars = new(
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.!~*'()%&=+$,;?/"u8);

    /// <summary>Characters of a URI's password: unreserved, '%' and "&amp;=+$," (no colon: only the first one separates).</summary>
    internal static readonly AsciiSet PasswordChars = new(
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.!~*'()%&=+$,"u8);

    private static C[] Build()
    {
        var t = new C[256];
        for (int c = 'a'; c <= 'z'; c++) t[c] |= C.Alpha;
        for (int c = 'A'; c <= 'Z'; c++) t[c] |= C.Alpha;
        for (int c = '0'; c <= '9'; c++) t[c] |= C.Digit;
        for (int c = 0; c < 128; c++)
        {
            if ((t[c] & (C.Alpha | C.Digit)) != 0)
                t[c] |= C.Token | C.Word | C.Host | C.UriParam | C.UriHeader | C.HeaderParam | C.Scheme;
        }
        foreach (char c in "-.!%*_+`'~") t[c] |= C.Token | C.Word | C.HeaderParam;
        foreach (char c in "()<>:\\\"/[]?{}") t[c] |= C.Word;
        foreach (char c in "-.") t[c] |= C.Host;
        // uri-parameter = pname [ "=" pvalue ]; paramchar = param-unreserved / unreserved / escaped
        foreach (char c in "[]/:&+$-_.!~*'()%=") t[c] |= C.UriParam;
        foreach (char c in "[]/?:+$-_.!~*'()%=&") t[c] |= C.UriHeader;
        foreach (char c in ":[]") t[c] |= C.HeaderParam;
        foreach (char c in "+-.") t[c] |= C.Scheme;
        t[' '] |= C.Lws;
        t['\t'] |= C.Lws;
        // UTF-8 continuation and lead bytes are allowed inside the user part of tel-style and IRI-like values.
        return t;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool IsToken(byte c) => (s_table[c] & C.Token) != 0;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool IsDigit(byte c) => (uint)(c - '0') <= 9;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool IsAlpha(byte c) => (s_table[c] & C.Alpha) != 0;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool IsLws(byte c) => c == ' ' || c == '\t';
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool IsWord(byte c) => (s_table[c] & C.Word) != 0;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool IsHost(byte c) => (s_table[c] & C.Host) != 0;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool IsUriParam(byte c) => (s_table[c] & C.UriParam) != 0;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool IsUriHeader(byte c) => (s_table[c] & C.UriHeader) != 0;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool IsHeaderParam(byte c) => (s_table[c] & C.HeaderParam) != 0;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool IsScheme(byte c) => (s_table[c] & C.Scheme) != 0;

    /// <summary>Skips SP and HT (folded line breaks were already turned into spaces).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int SkipLws(ReadOnlySpan<byte> b, int pos, int end)
    {
        while (pos < end && (b[pos] == ' ' || b[pos] == '\t')) pos++;
        return pos;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int TrimEnd(ReadOnlySpan<byte> b, int start, int end)
    {
        while (end > start && (b[end - 1] == ' ' || b[end - 1] == '\t')) end--;
        return end;
    }

    /// <summary>token characters (RFC 3261 section 25.1).</summary>
    internal static readonly AsciiSet TokenChars = new(
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~"u8);

    /// <summary>gen-value characters without quotes: token / host (with ':' '[' ']' for IPv6).</summary>
    internal static readonly AsciiSet HeaderParamChars = new(
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~:[]"u8);

    /// <summary>Skips token characters.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int SkipToken(ReadOnlySpan<byte> b, int pos, int end) => TokenChars.Skip(b, pos, end);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int SkipHeaderParam(ReadOnlySpan<byte> b, int pos, int end) => HeaderParamChars.Skip(b, pos, end);

    /// <summary>
    /// Given the index of an opening double quote, returns the index just past the closing quote, or -1 when the
    /// quoted string does not end before <paramref name="end"/>. Backslash escapes one following byte.
    /// </summary>
    public static int SkipQuoted(ReadOnlySpan<byte> b, int pos, int end)
    {
        pos++;
        while (pos < end)
        {
            byte c = b[pos];
            if (c == '"') return pos + 1;
            if (c == '\\')
            {
                if (pos + 1 >= end) return -1;
                pos += 2;
                continue;
            }
            pos++;
        }
        return -1;
    }

    /// <summary>
    /// Reads the decimal digits at <paramref name="pos"/>; returns the position after them (equal to
    /// <paramref name="pos"/> when there is none). A value past <paramref name="max"/> sets <paramref name="overflow"/>.
    /// The position is returned, not passed by reference, so that callers keep theirs in a register.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int ParseDecimal(ReadOnlySpan<byte> b, int pos, int end, ulong max, out ulong value, out bool overflow)
    {
        ulong v = 0;
        bool over = false;
        while (pos < end)
        {
            uint d = (uint)(b[pos] - '0');
            if (d > 9) break;
            if (!over)
            {
                ulong next = v * 10 + d;
                if (v > (ulong.MaxValue - 9) / 10 || next > max) over = true;
                else v = next;
            }
            pos++;
        }
        value = v;
        overflow = over;
        return pos;
    }
}
