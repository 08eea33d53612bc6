using SipIps.Capture.AfPacket;
using Xunit;

namespace SipIps.Capture.Tests;

public class RingSizeTests
{
    [Fact]
    public void A_default_ring_holds_32_mib_and_never_fewer_than_4096_frames()
    {
        int v2Standard = RingGeometry.FrameSize(1500, RingGeometry.TPacket2HeaderLength);
        int v2Jumbo = RingGeometry.FrameSize(9000, RingGeometry.TPacket2HeaderLength);
        Assert.Equal(2048, v2Standard);
        Assert.Equal(16384, RingGeometry.DefaultFrames(v2Standard));
        Assert.Equal(16384, v2Jumbo);
        // 32 MiB of 16 KiB frames would be 2,048: the floor keeps the old default's 4,096.
        Assert.Equal(4096, RingGeometry.DefaultFrames(v2Jumbo));
        Assert.Equal(4096, RingGeometry.DefaultFrames(1 << 20));
    }
}
