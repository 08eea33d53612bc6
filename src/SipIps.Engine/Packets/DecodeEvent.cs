namespace SipIps.Engine.Packets;

/// <summary>Why a layer could not be decoded (or was refused). Each value has its own counter.</summary>
public enum DecodeEvent : byte
{
    None = 0,
    UnsupportedLinkType,
    EthernetTruncated,
    VlanTruncated,
    TooManyVlanTags,
    LinuxSllTruncated,
    LoopbackTruncated,
    LoopbackUnknownFamily,
    Ipv4Truncated,
    Ipv4BadVersion,
    Ipv4BadHeaderLength,
    Ipv4BadTotalLength,
    Ipv4BadChecksum,
    Ipv6Truncated,
    Ipv6BadVersion,
    Ipv6BadPayloadLength,
    Ipv6ExtensionTruncated,
    Ipv6TooManyExtensions,
    FragmentBadLength,
    FragmentTooLarge,
    FragmentOverlapConflict,
    FragmentTableFull,
    FragmentTimeout,
    FragmentTooMany,
    FragmentMemoryCap,
    UdpTruncated,
    UdpBadLength,
    TcpTruncated,
    TcpBadHeaderLength,
    SctpTruncated,
    SctpBadChunkLength,
    SctpFragmentedData,
    GreTruncated,
    GreUnsupportedVersion,
    TunnelTooDeep,
    VxlanTruncated,
    TcpStreamTableFull,
    TcpStreamMemoryCap,
    TcpOutOfOrderOverflow,
    TcpGap,
}

public static class DecodeEvents
{
    public const int Count = (int)DecodeEvent.TcpGap + 1;

    private static readonly string[] s_names =
    [
        "none", "unsupported_link_type", "ethernet_truncated", "vlan_truncated", "too_many_vlan_tags",
        "linux_sll_truncated", "loopback_truncated", "loopback_unknown_family", "ipv4_truncated", "ipv4_bad_version",
        "ipv4_bad_header_length", "ipv4_bad_total_length", "ipv4_bad_checksum", "ipv6_truncated", "ipv6_bad_version",
        "ipv6_bad_payload_length", "ipv6_extension_truncated", "ipv6_too_many_extensions", "fragment_bad_length",
        "fragment_too_large", "fragment_overlap_conflict", "fragment_table_full", "fragment_timeout",
        "fragment_too_many", "fragment_memory_cap", "udp_truncated", "udp_bad_length", "tcp_truncated",
        "tcp_bad_header_length", "sctp_truncated", "sctp_bad_chunk_length", "sctp_fragmented_data", "gre_truncated",
        "gre_unsupported_version", "tunnel_too_deep", "vxlan_truncated", "tcp_stream_table_full",
        "tcp_stream_memory_cap", "tcp_out_of_order_overflow", "tcp_gap",
    ];

    public static string Name(DecodeEvent e) => (uint)e < (uint)s_names.Length ? s_names[(int)e] : "unknown";
}
