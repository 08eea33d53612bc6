namespace SipIps.Engine.Behaviour;

/// <summary>
/// The SIP traffic behaviour factors (the seed paper's Table 2), by the one name that rules, metrics, reports and
/// baselines use. Each is computed over a sliding window (10 s and 60 s) from what crossed the bridge.
/// </summary>
public enum Factor
{
    // Server and network behaviour: volume and its change.
    SipMessagesPerSecond,
    RtpPacketsPerSecond,
    SipVolumeChange,
    RtpVolumeChange,
    // Call behaviour.
    InviteRatio,
    RegisterRatio,
    ByeRatio,
    AckRatio,
    CancelRatio,
    OptionsRatio,
    RequestResponseRatio,
    CallIdSsrcRatio,
    RegisterIpUriRatio,
    RtpSeqDisorder,
    // User behaviour.
    FromCallIdRatio,
    ToCallIdRatio,
    RegisterIntervalSeconds,
    // Server status and QoS.
    ErrorResponseRatio,
    RtpLossRatio,
    RtpJitterMs,
    PostDialDelaySeconds,
}

public static class Factors
{
    public const int Count = (int)Factor.PostDialDelaySeconds + 1;

    private static readonly string[] s_names =
    [
        "sip_messages_per_second", "rtp_packets_per_second", "sip_volume_change", "rtp_volume_change",
        "invite_ratio", "register_ratio", "bye_ratio", "ack_ratio", "cancel_ratio", "options_ratio",
        "request_response_ratio", "call_id_ssrc_ratio", "register_ip_uri_ratio", "rtp_seq_disorder",
        "from_call_id_ratio", "to_call_id_ratio", "register_interval_seconds",
        "error_response_ratio", "rtp_loss_ratio", "rtp_jitter_ms", "post_dial_delay_seconds",
    ];

    private static readonly string[] s_help =
    [
        "SIP messages per second.",
        "RTP packets per second (media of calls known from their SDP).",
        "SIP messages per second in this window over the window before it (1 is steady).",
        "RTP packets per second in this window over the window before it.",
        "INVITE requests over all SIP requests.",
        "REGISTER requests over all SIP requests.",
        "BYE requests over all SIP requests.",
        "ACK requests over all SIP requests.",
        "CANCEL requests over all SIP requests.",
        "OPTIONS requests over all SIP requests.",
        "SIP requests over SIP responses (about 1 to 2 in normal traffic; a flood pushes it up).",
        "Distinct INVITE Call-IDs over distinct RTP SSRCs (calls that never carry media push it up).",
        "Distinct source addresses over distinct addresses of record in REGISTER requests.",
        "Share of consecutive RTP packets of one SSRC whose sequence number does not advance by one (0 for a real stream, near 1 for forged or replayed packets).",
        "Distinct From URIs over distinct Call-IDs.",
        "Distinct To URIs over distinct Call-IDs.",
        "Mean interval between two REGISTERs of one address of record, in seconds.",
        "4xx, 5xx and 6xx responses over all responses.",
        "RTP packets lost (RFC 3550) over packets expected.",
        "RTP interarrival jitter (RFC 3550), mean over streams, in milliseconds.",
        "Time from an INVITE to its first final response, mean, in seconds.",
    ];

    public static string Name(Factor f) => s_names[(int)f];
    public static string Help(Factor f) => s_help[(int)f];
    public static IReadOnlyList<string> Names => s_names;

    public static bool TryParse(string name, out Factor factor)
    {
        int i = Array.IndexOf(s_names, name);
        factor = (Factor)Math.Max(0, i);
        return i >= 0;
    }
}
