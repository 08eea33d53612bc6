using System.Globalization;
using System.Text;

namespace SipIps.Export.Clf;

/// <summary>A parsed SIP CLF record (allocating: for tools and tests).</summary>
public sealed record ClfEntry(
    string Timestamp,
    string Flags,
    string CSeq,
    string Status,
    string RequestUri,
    string Destination,
    string Source,
    string ToUri,
    string ToTag,
    string FromUri,
    string FromTag,
    string CallId,
    string ServerTransaction,
    string ClientTransaction,
    IReadOnlyList<(string Tag, string Vendor, bool Binary, string Value)> Optional);

/// <summary>Reads RFC 6873 records back, checking the length, the pointers and the separators.</summary>
public static class ClfReader
{
    /// <summary>Parses the record at the start of <paramref name="data"/>; returns its length, or -1 with an error.</summary>
    public static int TryParse(ReadOnlySpan<byte> data, out ClfEntry? entry, out string? error)
    {
        entry = null;
        error = null;
        if (data.Length < ClfFormat.FieldsOffset + 1) return Fail("record shorter than the fixed part", out error);
        if (data[0] != ClfFormat.Version) return Fail($"version byte 0x{data[0]:x2}, expected 'A'", out error);
        if (!TryHex(data.Slice(1, 6), out int length)) return Fail("record length is not hex", out error);
        if (length > data.Length) return Fail($"record length {length} past the data ({data.Length})", out error);
        if (data[7] != ',' || data[60] != '\n' || data[75] != '\t' || data[81] != '\t')
            return Fail("separators of the fixed part are wrong", out error);
        if (data[length - 1] != '\n') return Fail("record does not end with LF", out error);

        Span<int> ptr = stackalloc int[ClfFormat.PointerCount];
        for (int i = 0; i < ClfFormat.PointerCount; i++)
        {
            if (!TryHex(data.Slice(ClfFormat.PointersOffset + 4 * i, 4), out int p)) return Fail($"pointer {i + 1} is not hex", out error);
            ptr[i] = p - ClfFormat.PointerBase;
            if (ptr[i] < ClfFormat.FieldsOffset || ptr[i] >= length || (i > 0 && ptr[i] <= ptr[i - 1]))
                return Fail($"pointer {i + 1} ({p}) out of order or out of the record", out error);
        }
        if (ptr[0] != ClfFormat.FieldsOffset) return Fail("first pointer does not name the CSeq field", out error);

        var fields = new string[12];
        for (int i = 0; i < 12; i++)
        {
            int start = ptr[i];
            int end = ptr[i + 1] - (i < 11 ? 1 : 0);
            if (i < 11 && data[end] != '\t') return Fail($"field {i + 1} is not followed by TAB", out error);
            if (i == 11)
            {
                // The last mandatory field ends at the optional part (a TAB) or the final LF.
                end = ptr[12];
            }
            fields[i] = Encoding.UTF8.GetString(data.Slice(start, end - start));
        }

        var optional = new List<(string, string, bool, string)>();
        int pos = ptr[12];
        while (pos < length - 1)
        {
            if (data[pos] != '\t' || pos + 21 > length) return Fail($"malformed optional field at {pos}", out error);
            var tag = Encoding.ASCII.GetString(data.Slice(pos + 1, 2));
            if (data[pos + 3] != '@' || data[pos + 12] != ',' || data[pos + 17] != ',' || data[pos + 20] != ',')
                return Fail($"malformed optional field at {pos}", out error);
            var vendor = Encoding.ASCII.GetString(data.Slice(pos + 4, 8));
            if (!TryHex(data.Slice(pos + 13, 4), out int vlen)) return Fail($"optional field length at {pos} is not hex", out error);
            bool binary = data[pos + 19] == '1';
            int vs = pos + 21;
            if (vs + vlen > length - 1) return Fail($"optional field at {pos} runs past the record", out error);
            optional.Add((tag, vendor, binary, Encoding.UTF8.GetString(data.Slice(vs, vlen))));
            pos = vs + vlen;
        }

        entry = new ClfEntry(
            Encoding.ASCII.GetString(data.Slice(ClfFormat.TimestampOffset, 14)),
            Encoding.ASCII.GetString(data.Slice(ClfFormat.FlagsOffset, 5)),
            fields[0], fields[1], fields[2], fields[3], fields[4], fields[5], fields[6], fields[7], fields[8],
            fields[9], fields[10], fields[11], optional);
        return length;
    }

    /// <summary>Undoes the writer's escaping of a field ("-" empty, %2D, %3F, %0D, %0A).</summary>
    public static string Unescape(string field) => field switch
    {
        "-" => "",
        "%2D" => "-",
        "%3F" => "?",
        _ => field.Replace("%0D", "\r", StringComparison.Ordinal).Replace("%0A", "\n", StringComparison.Ordinal),
    };

    private static bool TryHex(ReadOnlySpan<byte> s, out int value) =>
        int.TryParse(Encoding.ASCII.GetString(s), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value);

    private static int Fail(string message, out string? error)
    {
        error = message;
        return -1;
    }
}
