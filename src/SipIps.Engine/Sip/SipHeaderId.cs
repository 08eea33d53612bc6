using System.Text;

namespace SipIps.Engine.Sip;

/// <summary>Header fields the engine knows by name (long and compact forms). Others are kept opaque as <see cref="Other"/>.</summary>
public enum SipHeaderId : byte
{
    Other = 0,
    Via,
    From,
    To,
    CallId,
    CSeq,
    Contact,
    MaxForwards,
    Expires,
    UserAgent,
    Server,
    ContentType,
    ContentLength,
    Authorization,
    ProxyAuthorization,
    WwwAuthenticate,
    ProxyAuthenticate,
    Route,
    RecordRoute,
    Subject,
    Date,
    Supported,
    Require,
    ProxyRequire,
    Allow,
    Accept,
    Event,
    ReferTo,
    ReferredBy,
    AllowEvents,
    ContentEncoding,
    SessionExpires,
    Reason,
    Identity,
    PAssertedIdentity,
    MinExpires,
    RetryAfter,
    Warning,
    Path,
    Unsupported,
    ContentDisposition,
    AcceptContact,
    RejectContact,
    RequestDisposition,
    IdentityInfo,
}

/// <summary>Header-name lookup: by length, then a case-insensitive compare. Compact forms are single letters.</summary>
public static class SipHeaders
{
    public const int Count = (int)SipHeaderId.IdentityInfo + 1;

    private static readonly string[] s_canonical =
    [
        "", "Via", "From", "To", "Call-ID", "CSeq", "Contact", "Max-Forwards", "Expires", "User-Agent", "Server",
        "Content-Type", "Content-Length", "Authorization", "Proxy-Authorization", "WWW-Authenticate",
        "Proxy-Authenticate", "Route", "Record-Route", "Subject", "Date", "Supported", "Require", "Proxy-Require",
        "Allow", "Accept", "Event", "Refer-To", "Referred-By", "Allow-Events", "Content-Encoding", "Session-Expires",
        "Reason", "Identity", "P-Asserted-Identity", "Min-Expires", "Retry-After", "Warning", "Path", "Unsupported",
        "Content-Disposition", "Accept-Contact", "Reject-Contact", "Request-Disposition", "Identity-Info",
    ];

    private static readonly byte[][] s_canonicalBytes = Array.ConvertAll(s_canonical, Encoding.ASCII.GetBytes);

    /// <summary>The canonical (long) name of a known header.</summary>
    public static string CanonicalName(SipHeaderId id) => s_canonical[(int)id];

    internal static ReadOnlySpan<byte> CanonicalBytes(SipHeaderId id) => s_canonicalBytes[(int)id];

    /// <summary>Header ids whose value is a single value: a second occurrence makes the message invalid.</summary>
    public static bool IsSingleValue(SipHeaderId id) =>
        id is SipHeaderId.From or SipHeaderId.To or SipHeaderId.CallId or SipHeaderId.CSeq or SipHeaderId.MaxForwards;

    public static SipHeaderId Lookup(ReadOnlySpan<byte> name)
    {
        switch (name.Length)
        {
            case 1:
                return Compact((byte)(name[0] | 0x20));
            case 2:
                if (Eq(name, "to"u8)) return SipHeaderId.To;
                break;
            case 3:
                if (Eq(name, "via"u8)) return SipHeaderId.Via;
                break;
            case 4:
                switch (name[0] | 0x20)
                {
                    case 'f': if (Eq(name, "from"u8)) return SipHeaderId.From; break;
                    case 'c': if (Eq(name, "cseq"u8)) return SipHeaderId.CSeq; break;
                    case 'd': if (Eq(name, "date"u8)) return SipHeaderId.Date; break;
                    case 'p': if (Eq(name, "path"u8)) return SipHeaderId.Path; break;
                }
                break;
            case 5:
                switch (name[0] | 0x20)
                {
                    case 'r': if (Eq(name, "route"u8)) return SipHeaderId.Route; break;
                    case 'a': if (Eq(name, "allow"u8)) return SipHeaderId.Allow; break;
                    case 'e': if (Eq(name, "event"u8)) return SipHeaderId.Event; break;
                }
                break;
            case 6:
                switch (name[0] | 0x20)
                {
                    case 's': if (Eq(name, "server"u8)) return SipHeaderId.Server; break;
                    case 'a': if (Eq(name, "accept"u8)) return SipHeaderId.Accept; break;
                    case 'r': if (Eq(name, "reason"u8)) return SipHeaderId.Reason; break;
                }
                break;
            case 7:
                switch (name[0] | 0x20)
                {
                    case 'c':
                        if (Eq(name, "call-id"u8)) return SipHeaderId.CallId;
                        if (Eq(name, "contact"u8)) return SipHeaderId.Contact;
                        break;
                    case 'e': if (Eq(name, "expires"u8)) return SipHeaderId.Expires; break;
                    case 's': if (Eq(name, "subject"u8)) return SipHeaderId.Subject; break;
                    case 'r': if (Eq(name, "require"u8)) return SipHeaderId.Require; break;
                    case 'w': if (Eq(name, "warning"u8)) return SipHeaderId.Warning; break;
                }
                break;
            case 8:
                switch (name[0] | 0x20)
                {
                    case 'r': if (Eq(name, "refer-to"u8)) return SipHeaderId.ReferTo; break;
                    case 'i': if (Eq(name, "identity"u8)) return SipHeaderId.Identity; break;
                }
                break;
            case 9:
                if (Eq(name, "supported"u8)) return SipHeaderId.Supported;
                break;
            case 10:
                if (Eq(name, "user-agent"u8)) return SipHeaderId.UserAgent;
                break;
            case 11:
                switch (name[0] | 0x20)
                {
                    case 'r':
                        if (Eq(name, "referred-by"u8)) return SipHeaderId.ReferredBy;
                        if (Eq(name, "retry-after"u8)) return SipHeaderId.RetryAfter;
                        break;
                    case 'm': if (Eq(name, "min-expires"u8)) return SipHeaderId.MinExpires; break;
                    case 'u': if (Eq(name, "unsupported"u8)) return SipHeaderId.Unsupported; break;
                }
                break;
            case 12:
                switch (name[0] | 0x20)
                {
                    case 'm': if (Eq(name, "max-forwards"u8)) return SipHeaderId.MaxForwards; break;
                    case 'c': if (Eq(name, "content-type"u8)) return SipHeaderId.ContentType; break;
                    case 'r': if (Eq(name, "record-route"u8)) return SipHeaderId.RecordRoute; break;
                    case 'a': if (Eq(name, "allow-events"u8)) return SipHeaderId.AllowEvents; break;
                }
                break;
            case 13:
                switch (name[0] | 0x20)
                {
                    case 'a': if (Eq(name, "authorization"u8)) return SipHeaderId.Authorization; break;
                    case 'p': if (Eq(name, "proxy-require"u8)) return SipHeaderId.ProxyRequire; break;
                    case 'i': if (Eq(name, "identity-info"u8)) return SipHeaderId.IdentityInfo; break;
                }
                break;
            case 14:
                switch (name[0] | 0x20)
                {
                    case 'c': if (Eq(name, "content-length"u8)) return SipHeaderId.ContentLength; break;
                    case 'r': if (Eq(name, "reject-contact"u8)) return SipHeaderId.RejectContact; break;
                    case 'a': if (Eq(name, "accept-contact"u8)) return SipHeaderId.AcceptContact; break;
                }
                break;
            case 15:
                if (Eq(name, "session-expires"u8)) return SipHeaderId.SessionExpires;
                break;
            case 16:
                switch (name[0] | 0x20)
                {
                    case 'w': if (Eq(name, "www-authenticate"u8)) return SipHeaderId.WwwAuthenticate; break;
                    case 'c': if (Eq(name, "content-encoding"u8)) return SipHeaderId.ContentEncoding; break;
                }
                break;
            case 18:
                if (Eq(name, "proxy-authenticate"u8)) return SipHeaderId.ProxyAuthenticate;
                break;
            case 19:
                switch (name[0] | 0x20)
                {
                    case 'p':
                        if (Eq(name, "proxy-authorization"u8)) return SipHeaderId.ProxyAuthorization;
                        if (Eq(name, "p-asserted-identity"u8)) return SipHeaderId.PAssertedIdentity;
                        break;
                    case 'c': if (Eq(name, "content-disposition"u8)) return SipHeaderId.ContentDisposition; break;
                    case 'r': if (Eq(name, "request-disposition"u8)) return SipHeaderId.RequestDisposition; break;
                }
                break;
        }
        return SipHeaderId.Other;
    }

    // RFC 3261 section 7.3.3 and the IANA registry of compact forms.
    internal static SipHeaderId Compact(byte lower) => lower switch
    {
        (byte)'a' => SipHeaderId.AcceptContact,
        (byte)'b' => SipHeaderId.ReferredBy,
        (byte)'c' => SipHeaderId.ContentType,
        (byte)'d' => SipHeaderId.RequestDisposition,
        (byte)'e' => SipHeaderId.ContentEncoding,
        (byte)'f' => SipHeaderId.From,
        (byte)'i' => SipHeaderId.CallId,
        (byte)'j' => SipHeaderId.RejectContact,
        (byte)'k' => SipHeaderId.Supported,
        (byte)'l' => SipHeaderId.ContentLength,
        (byte)'m' => SipHeaderId.Contact,
        (byte)'n' => SipHeaderId.IdentityInfo,
        (byte)'o' => SipHeaderId.Event,
        (byte)'r' => SipHeaderId.ReferTo,
        (byte)'s' => SipHeaderId.Subject,
        (byte)'t' => SipHeaderId.To,
        (byte)'u' => SipHeaderId.AllowEvents,
        (byte)'v' => SipHeaderId.Via,
        (byte)'x' => SipHeaderId.SessionExpires,
        (byte)'y' => SipHeaderId.Identity,
        _ => SipHeaderId.Other,
    };

    private static bool Eq(ReadOnlySpan<byte> a, ReadOnlySpan<byte> lower) => AsciiCase.EqualsLower(a, lower);
}
