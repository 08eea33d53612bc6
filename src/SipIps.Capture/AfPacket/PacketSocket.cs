using SipIps.Capture.Interop;

namespace SipIps.Capture.AfPacket;

/// <summary>Ring format of a receive socket.</summary>
public enum RingVersion
{
    V2 = 2,
    V3 = 3,
}

/// <summary>How a receive socket is set up.</summary>
public sealed record RxOptions
{
    public RingVersion Version { get; init; } = RingVersion.V2;
    /// <summary>Frames in the ring (V2) or, for V3, frames' worth of blocks; 0 sizes the ring by <see cref="RingGeometry.DefaultFrames"/>.</summary>
    public int Frames { get; init; }
    public int Mtu { get; init; } = 1500;
    /// <summary>PACKET_FANOUT group id, shared by the sockets of one port; 0 for none.</summary>
    public int FanoutGroup { get; init; }
    /// <summary>V3 block retire timeout: a partly filled block is handed over after this long.</summary>
    public int BlockTimeoutMs { get; init; } = 1;
    public bool Promiscuous { get; init; } = true;
}

/// <summary>
/// An AF_PACKET socket bound to one interface: either a receive socket with a memory-mapped ring (promiscuous,
/// ignoring our own outgoing frames, optionally in a fanout group), or a send-only socket that bypasses the qdisc.
/// Setup errors throw <see cref="CaptureException"/>; nothing on the packet path throws.
/// </summary>
public sealed unsafe class PacketSocket : IDisposable
{
    private int _fd;
    private byte* _ring;
    private nuint _ringBytes;

    private PacketSocket(int fd, string interfaceName, int ifIndex)
    {
        _fd = fd;
        InterfaceName = interfaceName;
        IfIndex = ifIndex;
    }

    public string InterfaceName { get; }
    public int IfIndex { get; }
    public int Fd => _fd;
    public byte* Ring => _ring;
    public RingVersion Version { get; private set; }
    public int FrameSize { get; private set; }
    public int FrameCount { get; private set; }
    public int BlockSize { get; private set; }
    public int BlockCount { get; private set; }

    public static int InterfaceIndex(string name)
    {
        uint index = Libc.IfNameToIndex(name);
        if (index == 0) throw new CaptureException($"interface {name} does not exist", Libc.LastError);
        return (int)index;
    }

    /// <summary>A receive socket with its ring mapped.</summary>
    public static PacketSocket OpenReceive(string interfaceName, RxOptions options)
    {
        int ifIndex = InterfaceIndex(interfaceName);
        int fd = Libc.Socket(Af.Packet, SocketType.Raw, EtherProtocol.AllNetworkOrder);
        if (fd < 0) throw Fail(interfaceName, "socket(AF_PACKET)", Libc.LastError);
        var s = new PacketSocket(fd, interfaceName, ifIndex);
        try
        {
            int version = options.Version == RingVersion.V3 ? PacketOption.TPacketV3 : PacketOption.TPacketV2;
            s.SetInt(PacketOption.SolPacket, PacketOption.Version, version, "PACKET_VERSION");
            // Frames we send out of this port must not come back in as if they had arrived on it.
            s.SetInt(PacketOption.SolPacket, PacketOption.IgnoreOutgoing, 1, "PACKET_IGNORE_OUTGOING");
            s.SetupRing(options);
            s.Bind(EtherProtocol.AllNetworkOrder);
            if (options.Promiscuous)
            {
                var mreq = new PacketMReq { IfIndex = ifIndex, Type = PacketOption.MrPromisc };
                if (Libc.SetSockOpt(fd, PacketOption.SolPacket, PacketOption.AddMembership, &mreq, sizeof(PacketMReq)) != 0)
                    throw Fail(interfaceName, "PACKET_ADD_MEMBERSHIP (promiscuous)", Libc.LastError);
            }
            if (options.FanoutGroup != 0)
            {
                int fanout = (options.FanoutGroup & 0xFFFF) | ((PacketOption.FanoutHash | PacketOption.FanoutFlagDefrag) << 16);
                s.SetInt(PacketOption.SolPacket, PacketOption.Fanout, fanout, "PACKET_FANOUT");
            }
            return s;
        }
        catch
        {
            s.Dispose();
            throw;
        }
    }

    /// <summary>A send-only socket (protocol 0 receives nothing) that skips the qdisc, as a bridge port wants.</summary>
    public static PacketSocket OpenSend(string interfaceName, bool qdiscBypass = true)
    {
        int ifIndex = InterfaceIndex(interfaceName);
        int fd = Libc.Socket(Af.Packet, SocketType.Raw, 0);
        if (fd < 0) throw Fail(interfaceName, "socket(AF_PACKET)", Libc.LastError);
        var s = new PacketSocket(fd, interfaceName, ifIndex);
        try
        {
            s.Bind(0);
            if (qdiscBypass) s.SetInt(PacketOption.SolPacket, PacketOption.QdiscBypass, 1, "PACKET_QDISC_BYPASS");
            return s;
        }
        catch
        {
            s.Dispose();
            throw;
        }
    }

    private void SetupRing(RxOptions o)
    {
        int page = Libc.GetPageSize();
        if (o.Version == RingVersion.V3)
        {
            int frame = RingGeometry.FrameSize(o.Mtu, RingGeometry.TPacket3HeaderLength);
            int frames = o.Frames > 0 ? o.Frames : RingGeometry.DefaultFrames(frame);
            // Many small blocks: a block is handed over whole, so few large ones leave the kernel nowhere to write
            // while user space works through one.
            int block = Math.Max(1 << 18, frame * 4);
            int blocks = Math.Max(64, (int)((long)frames * frame / block));
            var req = new TPacketReq3
            {
                BlockSize = (uint)block,
                BlockCount = (uint)blocks,
                FrameSize = (uint)frame,
                FrameCount = (uint)(block / frame * blocks),
                RetireBlockTimeoutMs = (uint)Math.Max(1, o.BlockTimeoutMs),
            };
            if (Libc.SetSockOpt(_fd, PacketOption.SolPacket, PacketOption.RxRing, &req, sizeof(TPacketReq3)) != 0)
                throw Fail(InterfaceName, "PACKET_RX_RING (v3)", Libc.LastError);
            Version = RingVersion.V3;
            FrameSize = frame;
            BlockSize = block;
            BlockCount = blocks;
            FrameCount = (int)req.FrameCount;
        }
        else
        {
            int frame = RingGeometry.FrameSize(o.Mtu, RingGeometry.TPacket2HeaderLength);
            int frames = o.Frames > 0 ? o.Frames : RingGeometry.DefaultFrames(frame);
            int block = Math.Max(page, frame) * 16;
            int perBlock = block / frame;
            int blocks = Math.Max(1, (frames + perBlock - 1) / perBlock);
            var req = new TPacketReq
            {
                BlockSize = (uint)block,
                BlockCount = (uint)blocks,
                FrameSize = (uint)frame,
                FrameCount = (uint)(perBlock * blocks),
            };
            if (Libc.SetSockOpt(_fd, PacketOption.SolPacket, PacketOption.RxRing, &req, sizeof(TPacketReq)) != 0)
                throw Fail(InterfaceName, "PACKET_RX_RING (v2)", Libc.LastError);
            Version = RingVersion.V2;
            FrameSize = frame;
            BlockSize = block;
            BlockCount = blocks;
            FrameCount = (int)req.FrameCount;
        }
        _ringBytes = (nuint)BlockSize * (nuint)BlockCount;
        void* map = Libc.Mmap(null, _ringBytes, Interop.Mmap.ProtRead | Interop.Mmap.ProtWrite, Interop.Mmap.MapShared | Interop.Mmap.MapPopulate, _fd, 0);
        if (map == (void*)-1) throw Fail(InterfaceName, $"mmap of the {_ringBytes >> 20} MiB ring", Libc.LastError);
        _ring = (byte*)map;
    }

    private void Bind(ushort protocolNetworkOrder)
    {
        var addr = new SockAddrLl { Family = Af.Packet, Protocol = protocolNetworkOrder, IfIndex = IfIndex };
        if (Libc.Bind(_fd, &addr, sizeof(SockAddrLl)) != 0) throw Fail(InterfaceName, "bind", Libc.LastError);
    }

    private void SetInt(int level, int option, int value, string what)
    {
        if (Libc.SetSockOpt(_fd, level, option, &value, sizeof(int)) != 0) throw Fail(InterfaceName, what, Libc.LastError);
    }

    /// <summary>Kernel counters since the last call (PACKET_STATISTICS resets them when read).</summary>
    public (long Packets, long Drops) ReadStatistics()
    {
        if (Version == RingVersion.V3)
        {
            TPacketStatsV3 s3;
            int len3 = sizeof(TPacketStatsV3);
            return Libc.GetSockOpt(_fd, PacketOption.SolPacket, PacketOption.Statistics, &s3, &len3) == 0 ? (s3.Packets, s3.Drops) : (0, 0);
        }
        TPacketStats s;
        int len = sizeof(TPacketStats);
        return Libc.GetSockOpt(_fd, PacketOption.SolPacket, PacketOption.Statistics, &s, &len) == 0 ? (s.Packets, s.Drops) : (0, 0);
    }

    internal static CaptureException Fail(string interfaceName, string what, int errno)
    {
        string hint = errno == Errno.EPERM ? " (needs CAP_NET_RAW and CAP_NET_ADMIN)" : "";
        return new CaptureException($"{interfaceName}: {what} failed: {Libc.ErrorText(errno)}{hint}", errno);
    }

    public void Dispose()
    {
        if (_ring is not null)
        {
            Libc.Munmap(_ring, _ringBytes);
            _ring = null;
        }
        if (_fd >= 0)
        {
            Libc.Close(_fd);
            _fd = -1;
        }
    }
}
