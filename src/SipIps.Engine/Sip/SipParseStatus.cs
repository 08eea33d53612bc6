namespace SipIps.Engine.Sip;

/// <summary>
/// The verdict of the SIP parser. <see cref="Ok"/> is a valid message; every other value names the first reason the
/// message is invalid. The parser keeps going after a header-level error so that the rest of the fields stay usable.
/// </summary>
public enum SipParseStatus : byte
{
    Ok = 0,
    Empty,
    TooLarge,
    NotSip,
    BadStartLine,
    BadMethod,
    BadRequestUri,
    RequestUriInAngleBrackets,
    RequestUriWithHeaders,
    BadVersion,
    UnsupportedVersion,
    ExtraWhitespaceInStartLine,
    BadStatusCode,
    BadHeaderLine,
    ControlCharacter,
    BadVia,
    BadFrom,
    BadTo,
    UnterminatedQuote,
    BadDisplayName,
    BadCallId,
    BadCSeq,
    CSeqOutOfRange,
    CSeqMethodMismatch,
    BadMaxForwards,
    BadContentLength,
    ContentLengthOutOfRange,
    ContentLengthExceedsData,
    DuplicateContentLength,
    DuplicateHeader,
    MissingRequiredHeader,
    BadContact,
    BadDate,
    BadExpires,
    BadAuthorization,
    BadRoute,
    BadContentType,
}

/// <summary>Non-fatal observations about a message. A valid message can carry several.</summary>
[Flags]
public enum SipAnomaly : ulong
{
    None = 0,
    BareLineFeed = 1UL << 0,
    LineFolding = 1UL << 1,
    NoHeaderTerminator = 1UL << 2,
    TrailingData = 1UL << 3,
    ViaCapReached = 1UL << 4,
    HeaderCapReached = 1UL << 5,
    ContactCapReached = 1UL << 6,
    RouteCapReached = 1UL << 7,
    MaxForwardsOutOfRange = 1UL << 8,
    MaxForwardsZero = 1UL << 9,
    ExpiresOutOfRange = 1UL << 10,
    ContactExpiresOutOfRange = 1UL << 11,
    MissingMaxForwards = 1UL << 12,
    MissingContentLength = 1UL << 13,
    BranchWithoutMagicCookie = 1UL << 14,
    UnknownMethod = 1UL << 15,
    UnknownRequestUriScheme = 1UL << 16,
    BodyWithoutContentType = 1UL << 17,
    SdpMalformed = 1UL << 18,
    SdpCapReached = 1UL << 19,
    LeadingWhitespace = 1UL << 20,
    MissingReasonSeparator = 1UL << 21,
    EmptyHeaderValue = 1UL << 22,
    MissingBranch = 1UL << 23,
    BroadcastVia = 1UL << 24,
    ContentLengthInStreamMissing = 1UL << 25,
    MultipartMalformed = 1UL << 26,
}

public static class SipParseStatusNames
{
    private static readonly string[] s_names = BuildNames();

    private static string[] BuildNames()
    {
        var names = new string[(int)SipParseStatus.BadContentType + 1];
        names[(int)SipParseStatus.Ok] = "ok";
        names[(int)SipParseStatus.Empty] = "empty";
        names[(int)SipParseStatus.TooLarge] = "too_large";
        names[(int)SipParseStatus.NotSip] = "not_sip";
        names[(int)SipParseStatus.BadStartLine] = "bad_start_line";
        names[(int)SipParseStatus.BadMethod] = "bad_method";
        names[(int)SipParseStatus.BadRequestUri] = "bad_request_uri";
        names[(int)SipParseStatus.RequestUriInAngleBrackets] = "request_uri_in_angle_brackets";
        names[(int)SipParseStatus.RequestUriWithHeaders] = "request_uri_with_headers";
        names[(int)SipParseStatus.BadVersion] = "bad_version";
        names[(int)SipParseStatus.UnsupportedVersion] = "unsupported_version";
        names[(int)SipParseStatus.ExtraWhitespaceInStartLine] = "extra_whitespace_in_start_line";
        names[(int)SipParseStatus.BadStatusCode] = "bad_status_code";
        names[(int)SipParseStatus.BadHeaderLine] = "bad_header_line";
        names[(int)SipParseStatus.ControlCharacter] = "control_character";
        names[(int)SipParseStatus.BadVia] = "bad_via";
        names[(int)SipParseStatus.BadFrom] = "bad_from";
        names[(int)SipParseStatus.BadTo] = "bad_to";
        names[(int)SipParseStatus.UnterminatedQuote] = "unterminated_quote";
        names[(int)SipParseStatus.BadDisplayName] = "bad_display_name";
        names[(int)SipParseStatus.BadCallId] = "bad_call_id";
        names[(int)SipParseStatus.BadCSeq] = "bad_cseq";
        names[(int)SipParseStatus.CSeqOutOfRange] = "cseq_out_of_range";
        names[(int)SipParseStatus.CSeqMethodMismatch] = "cseq_method_mismatch";
        names[(int)SipParseStatus.BadMaxForwards] = "bad_max_forwards";
        names[(int)SipParseStatus.BadContentLength] = "bad_content_length";
        names[(int)SipParseStatus.ContentLengthOutOfRange] = "content_length_out_of_range";
        names[(int)SipParseStatus.ContentLengthExceedsData] = "content_length_exceeds_data";
        names[(int)SipParseStatus.DuplicateContentLength] = "duplicate_content_length";
        names[(int)SipParseStatus.DuplicateHeader] = "duplicate_header";
        names[(int)SipParseStatus.MissingRequiredHeader] = "missing_required_header";
        names[(int)SipParseStatus.BadContact] = "bad_contact";
        names[(int)SipParseStatus.BadDate] = "bad_date";
        names[(int)SipParseStatus.BadExpires] = "bad_expires";
        names[(int)SipParseStatus.BadAuthorization] = "bad_authorization";
        names[(int)SipParseStatus.BadRoute] = "bad_route";
        names[(int)SipParseStatus.BadContentType] = "bad_content_type";
        return names;
    }

    public static int Count => s_names.Length;

    public static string Name(SipParseStatus status) => (uint)status < (uint)s_names.Length ? s_names[(int)status] : "unknown";

    public static string Name(SipAnomaly single) => single switch
    {
        SipAnomaly.BareLineFeed => "bare_line_feed",
        SipAnomaly.LineFolding => "line_folding",
        SipAnomaly.NoHeaderTerminator => "no_header_terminator",
        SipAnomaly.TrailingData => "trailing_data",
        SipAnomaly.ViaCapReached => "via_cap_reached",
        SipAnomaly.HeaderCapReached => "header_cap_reached",
        SipAnomaly.ContactCapReached => "contact_cap_reached",
        SipAnomaly.RouteCapReached => "route_cap_reached",
        SipAnomaly.MaxForwardsOutOfRange => "max_forwards_out_of_range",
        SipAnomaly.MaxForwardsZero => "max_forwards_zero",
        SipAnomaly.ExpiresOutOfRange => "expires_out_of_range",
        SipAnomaly.ContactExpiresOutOfRange => "contact_expires_out_of_range",
        SipAnomaly.MissingMaxForwards => "missing_max_forwards",
        SipAnomaly.MissingContentLength => "missing_content_length",
        SipAnomaly.BranchWithoutMagicCookie => "branch_without_magic_cookie",
        SipAnomaly.UnknownMethod => "unknown_method",
        SipAnomaly.UnknownRequestUriScheme => "unknown_request_uri_scheme",
        SipAnomaly.BodyWithoutContentType => "body_without_content_type",
        SipAnomaly.SdpMalformed => "sdp_malformed",
        SipAnomaly.SdpCapReached => "sdp_cap_reached",
        SipAnomaly.LeadingWhitespace => "leading_whitespace",
        SipAnomaly.MissingReasonSeparator => "missing_reason_separator",
        SipAnomaly.EmptyHeaderValue => "empty_header_value",
        SipAnomaly.MissingBranch => "missing_branch",
        SipAnomaly.BroadcastVia => "broadcast_via",
        SipAnomaly.ContentLengthInStreamMissing => "content_length_in_stream_missing",
        SipAnomaly.MultipartMalformed => "multipart_malformed",
        _ => "unknown",
    };

    /// <summary>Every single anomaly flag, in bit order.</summary>
    public static IEnumerable<SipAnomaly> Each(SipAnomaly flags)
    {
        for (int bit = 0; bit < 64; bit++)
        {
            var f = (SipAnomaly)(1UL << bit);
            if ((flags & f) != 0) yield return f;
        }
    }
}
