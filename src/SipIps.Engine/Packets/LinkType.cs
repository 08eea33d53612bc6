namespace SipIps.Engine.Packets;

/// <summary>Link-layer header types (tcpdump.org LINKTYPE_* values) that the decoder understands.</summary>
public enum LinkType : ushort
{
    /// <summary>BSD loopback: a 4-byte address family in host byte order.</summary>
    Null = 0,
    Ethernet = 1,
    /// <summary>Raw IPv4 or IPv6, told apart by the version nibble.</summary>
    Raw = 101,
    /// <summary>OpenBSD loopback: a 4-byte address family in network byte order.</summary>
    Loop = 108,
    LinuxSll = 113,
    Ipv4 = 228,
    Ipv6 = 229,
    LinuxSll2 = 276,
}

public static class LinkTypes
{
    /// <summary>Maps a capture file's link type (including the DLT_RAW aliases 12 and 14) to a supported one.</summary>
    public static bool TryMap(uint fileLinkType, out LinkType linkType)
    {
        switch (fileLinkType)
        {
            case 0: linkType = LinkType.Null; return true;
            case 1: linkType = LinkType.Ethernet; return true;
            case 12:
            case 14:
            case 101: linkType = LinkType.Raw; return true;
            case 108: linkType = LinkType.Loop; return true;
            case 113: linkType = LinkType.LinuxSll; return true;
            case 228: linkType = LinkType.Ipv4; return true;
            case 229: linkType = LinkType.Ipv6; return true;
            case 276: linkType = LinkType.LinuxSll2; return true;
            default: linkType = default; return false;
        }
    }
}
