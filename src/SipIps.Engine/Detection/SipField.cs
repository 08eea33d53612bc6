namespace SipIps.Engine.Detection;

/// <summary>
/// A value taken from a SIP message that rules match on, count distinct values of, or key their counters by.
/// Addresses are seen from the transaction: <c>src</c> is the side that sent the request (for a response, the
/// address the response goes to) and <c>dst</c> the side that answers. So "401 responses per source" counts the
/// challenges a client received.
/// </summary>
public enum SipField : byte
{
    None = 0,
    SrcIp,
    SrcPrefix,
    DstIp,
    FromUser,
    FromHost,
    FromUri,
    FromTag,
    ToUser,
    ToHost,
    ToUri,
    RuriUser,
    RuriHost,
    RequestUri,
    CallId,
    UserAgent,
    AuthUser,
    Method,
    Global,
}

public static class SipFields
{
    public const int Count = (int)SipField.Global + 1;

    private static readonly string[] s_names =
    [
        "none", "src_ip", "src_prefix", "dst_ip", "from_user", "from_host", "from_uri", "from_tag", "to_user", "to_host",
        "to_uri", "ruri_user", "ruri_host", "request_uri", "call_id", "user_agent", "auth_user", "method", "global",
    ];

    public static string Name(SipField field) => s_names[(int)field];

    public static bool TryParse(string name, out SipField field)
    {
        int i = Array.IndexOf(s_names, name);
        // Accepted spellings that read better in some rules.
        if (i < 0)
        {
            i = name switch
            {
                "source" or "src" => (int)SipField.SrcIp,
                "destination" or "dst" or "dest_ip" => (int)SipField.DstIp,
                "ruri" => (int)SipField.RequestUri,
                "ua" => (int)SipField.UserAgent,
                _ => -1,
            };
        }
        field = i > 0 ? (SipField)i : SipField.None;
        return i > 0;
    }

    public static IEnumerable<string> Names => s_names.Skip(1);

    /// <summary>Fields whose canonical text is an address (parsed and re-formatted when read from the command line).</summary>
    public static bool IsAddress(SipField f) => f is SipField.SrcIp or SipField.DstIp;

    /// <summary>Hosts compare case-insensitively, so their canonical text is lower case.</summary>
    public static bool IsCaseInsensitive(SipField f) => f is SipField.FromHost or SipField.ToHost or SipField.RuriHost;

    /// <summary>Fields that can be the string operand of a match (exact, prefix, regex, ...).</summary>
    public static bool IsMatchable(SipField f) => f is not (SipField.None or SipField.Global or SipField.SrcPrefix);
}
