using System.Runtime.InteropServices;

namespace SipIps.Capture.Interop;

// Layouts of linux/if_packet.h, net/if.h, poll.h, sys/socket.h and linux/ethtool.h for x86_64 and arm64 (LP64).
// A test compiles a C program against the installed headers and compares every size and offset.

internal static class Af
{
    public const int Packet = 17;
    public const int Unix = 1;
    public const int Inet = 2;
}

internal static class SocketType
{
    public const int Raw = 3;
    public const int Dgram = 2;
}

internal static class EtherProtocol
{
    /// <summary>ETH_P_ALL in network byte order, as socket() and sockaddr_ll want it.</summary>
    public const ushort AllNetworkOrder = 0x0300;
}

internal static class PacketOption
{
    public const int SolPacket = 263;
    public const int AddMembership = 1;
    public const int RxRing = 5;
    public const int Statistics = 6;
    public const int Version = 10;
    public const int TxRing = 13;
    public const int Loss = 14;
    public const int Fanout = 18;
    public const int QdiscBypass = 20;
    public const int IgnoreOutgoing = 23;

    public const int MrPromisc = 1;
    public const int FanoutHash = 0;
    public const int FanoutFlagDefrag = 0x8000;

    public const int TPacketV2 = 1;
    public const int TPacketV3 = 2;
}

internal static class TpStatus
{
    public const uint Kernel = 0;
    public const uint User = 1;
    public const uint Copy = 1 << 1;
    public const uint Losing = 1 << 2;
    public const uint CsumNotReady = 1 << 3;
    public const uint VlanValid = 1 << 4;
    public const uint BlockTimeout = 1 << 5;
    public const uint VlanTpidValid = 1 << 6;
    public const uint CsumValid = 1 << 7;
    public const uint SendRequest = 1;
    public const uint Available = 0;
    public const uint Wrong = 1 << 2;
}

internal static class Mmap
{
    public const int ProtRead = 1;
    public const int ProtWrite = 2;
    public const int MapShared = 1;
    public const int MapLocked = 0x2000;
    public const int MapPopulate = 0x8000;
}

internal static class Ioctl
{
    public const uint SiocGIfFlags = 0x8913;
    public const uint SiocSIfFlags = 0x8914;
    public const uint SiocGIfMtu = 0x8921;
    public const uint SiocEthtool = 0x8946;
    public const uint SiocBrDelBr = 0x89a1;
    public const short IffUp = 0x1;
    public const short IffRunning = 0x40;
    public const short IffPromisc = 0x100;
}

internal static class PollEvents
{
    public const short In = 0x001;
    public const short Err = 0x008;
    public const short Hup = 0x010;
    public const short Nval = 0x020;
}

internal static class Errno
{
    public const int EINTR = 4;
    public const int EAGAIN = 11;
    public const int ENOBUFS = 105;
    public const int EPERM = 1;
    public const int ENODEV = 19;
    public const int ENXIO = 6;
    public const int ENETDOWN = 100;
    public const int EMSGSIZE = 90;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct SockAddrLl
{
    public ushort Family;
    public ushort Protocol;
    public int IfIndex;
    public ushort HaType;
    public byte PktType;
    public byte HaLen;
    public fixed byte Addr[8];
}

[StructLayout(LayoutKind.Sequential)]
internal struct TPacketReq
{
    public uint BlockSize;
    public uint BlockCount;
    public uint FrameSize;
    public uint FrameCount;
}

[StructLayout(LayoutKind.Sequential)]
internal struct TPacketReq3
{
    public uint BlockSize;
    public uint BlockCount;
    public uint FrameSize;
    public uint FrameCount;
    public uint RetireBlockTimeoutMs;
    public uint SizeOfPriv;
    public uint FeatureReqWord;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct TPacket2Hdr
{
    public uint Status;
    public uint Len;
    public uint SnapLen;
    public ushort Mac;
    public ushort Net;
    public uint Sec;
    public uint Nsec;
    public ushort VlanTci;
    public ushort VlanTpid;
    public fixed byte Padding[4];
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct TPacket3Hdr
{
    public uint NextOffset;
    public uint Sec;
    public uint Nsec;
    public uint SnapLen;
    public uint Len;
    public uint Status;
    public ushort Mac;
    public ushort Net;
    public uint RxHash;
    public uint VlanTci;
    public ushort VlanTpid;
    public ushort Padding1;
    public fixed byte Padding[8];
}

/// <summary>tpacket_block_desc with the v1 block header (offsets 0..47).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct TPacketBlockDesc
{
    public uint Version;
    public uint OffsetToPriv;
    public uint BlockStatus;
    public uint PacketCount;
    public uint OffsetToFirstPacket;
    public uint BlockLength;
    public ulong SeqNum;
    public uint FirstSec;
    public uint FirstNsec;
    public uint LastSec;
    public uint LastNsec;
}

[StructLayout(LayoutKind.Sequential)]
internal struct TPacketStats
{
    public uint Packets;
    public uint Drops;
}

[StructLayout(LayoutKind.Sequential)]
internal struct TPacketStatsV3
{
    public uint Packets;
    public uint Drops;
    public uint FreezeQueueCount;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct PacketMReq
{
    public int IfIndex;
    public ushort Type;
    public ushort ALen;
    public fixed byte Address[8];
}

[StructLayout(LayoutKind.Sequential)]
internal struct PollFd
{
    public int Fd;
    public short Events;
    public short Revents;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct IoVec
{
    public void* Base;
    public nuint Length;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct MsgHdr
{
    public void* Name;
    public uint NameLength;
    public IoVec* Iov;
    public nuint IovLength;
    public void* Control;
    public nuint ControlLength;
    public int Flags;
}

[StructLayout(LayoutKind.Sequential)]
internal struct MMsgHdr
{
    public MsgHdr Header;
    public uint Length;
}

/// <summary>struct ifreq: a 16-byte name and a 24-byte union (flags, MTU or a data pointer).</summary>
[StructLayout(LayoutKind.Explicit, Size = 40)]
internal unsafe struct IfReq
{
    [FieldOffset(0)] public fixed byte Name[16];
    [FieldOffset(16)] public short Flags;
    [FieldOffset(16)] public int Mtu;
    [FieldOffset(16)] public void* Data;
}

[StructLayout(LayoutKind.Sequential)]
internal struct EthtoolValue
{
    public uint Command;
    public uint Data;
}
