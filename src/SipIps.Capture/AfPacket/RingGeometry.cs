namespace SipIps.Capture.AfPacket;

/// <summary>Ring sizes derived from the MTU, as the kernel lays frames out (net/packet/af_packet.c tpacket_rcv).</summary>
public static class RingGeometry
{
    public const int Alignment = 16;
    /// <summary>TPACKET2_HDRLEN: the aligned v2 header plus a sockaddr_ll.</summary>
    public const int TPacket2HeaderLength = 32 + 20;
    /// <summary>TPACKET3_HDRLEN: the aligned v3 header plus a sockaddr_ll.</summary>
    public const int TPacket3HeaderLength = 48 + 20;

    public static int Align(int n) => (n + Alignment - 1) & ~(Alignment - 1);

    /// <summary>
    /// The smallest power-of-two frame that holds a whole frame of <paramref name="mtu"/> bytes: the kernel puts the
    /// network header at TPACKET_ALIGN(hdrlen + 16) and the MAC header 14 bytes before it; a VLAN tag that is not
    /// offloaded adds 4 more.
    /// </summary>
    public static int FrameSize(int mtu, int headerLength)
    {
        int network = Align(headerLength + 16);
        int needed = network + mtu + 4 + 64;
        int size = 2048;
        while (size < needed) size <<= 1;
        return size;
    }
}
