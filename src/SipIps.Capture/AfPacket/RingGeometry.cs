namespace SipIps.Capture.AfPacket;

/// <summary>Ring sizes derived from the MTU, as the kernel lays frames out (net/packet/af_packet.c tpacket_rcv).</summary>
public static class RingGeometry
{
    public const int Alignment = 16;
    /// <summary>TPACKET2_HDRLEN: the aligned v2 header plus a sockaddr_ll.</summary>
    public const int TPacket2HeaderLength = 32 + 20;
    /// <summary>TPACKET3_HDRLEN: the aligned v3 header plus a sockaddr_ll.</summary>
    public const int TPacket3HeaderLength = 48 + 20;

    /// <summary>Receive-ring memory when the configuration names no frame count: 32 MiB.</summary>
    public const int DefaultRingBytes = 32 << 20;
    /// <summary>The fewest frames a default ring holds, whatever the MTU.</summary>
    public const int MinDefaultFrames = 4096;

    /// <summary>
    /// Frames of a ring sized by <see cref="DefaultRingBytes"/>: 16,384 at a 1500-byte MTU, 4,096 for jumbo frames.
    /// The ring is what carries traffic while the worker waits to be scheduled: at 300k frames/s in the lab, 4,096
    /// frames (14 ms) overflowed during the worker's longest waits and lost 0.2-0.7% of the frames, while 16,384 lost
    /// none up to 420k frames/s.
    /// </summary>
    public static int DefaultFrames(int frameSize) => Math.Max(MinDefaultFrames, DefaultRingBytes / Math.Max(1, frameSize));

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
