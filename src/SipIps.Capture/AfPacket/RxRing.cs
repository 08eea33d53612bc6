using System.Runtime.CompilerServices;
using SipIps.Capture.Interop;

namespace SipIps.Capture.AfPacket;

/// <summary>One received frame, still in the ring: valid until it is released.</summary>
public unsafe struct RxFrame
{
    public byte* Data;
    /// <summary>Bytes in the ring (snap length).</summary>
    public int Length;
    /// <summary>Length on the wire; larger than <see cref="Length"/> when the frame did not fit.</summary>
    public int WireLength;
    public long TimestampNs;
    public uint Status;
    public ushort VlanTci;
    public ushort VlanTpid;

    public readonly bool HasVlan => (Status & TpStatus.VlanValid) != 0;
    public readonly bool ChecksumNotReady => (Status & TpStatus.CsumNotReady) != 0;
    public readonly bool Truncated => Length < WireLength;
    public readonly ReadOnlySpan<byte> Span => new(Data, Length);
}

/// <summary>
/// Walks a receive ring in batches: <see cref="Fill"/> exposes frames the kernel has handed over without giving
/// them back, and <see cref="Release"/> returns the first frames of the batch once their verdict is applied
/// (forwarded or dropped). Single-threaded.
/// </summary>
public abstract unsafe class RxRing
{
    public static RxRing Create(PacketSocket socket) =>
        socket.Version == RingVersion.V3 ? new RxRingV3(socket) : new RxRingV2(socket);

    /// <summary>Fills <paramref name="frames"/> with up to its length of ready frames; returns how many.</summary>
    public abstract int Fill(Span<RxFrame> frames);

    /// <summary>Gives the first <paramref name="count"/> filled frames back to the kernel.</summary>
    public abstract void Release(int count);
}

internal sealed unsafe class RxRingV2 : RxRing
{
    private readonly byte* _ring;
    private readonly int _frameSize;
    private readonly int _frames;
    private int _index;

    public RxRingV2(PacketSocket socket)
    {
        _ring = socket.Ring;
        _frameSize = socket.FrameSize;
        _frames = socket.FrameCount;
    }

    public override int Fill(Span<RxFrame> frames)
    {
        int n = 0;
        int index = _index;
        while (n < frames.Length)
        {
            var hdr = (TPacket2Hdr*)(_ring + (nint)index * _frameSize);
            uint status = Volatile.Read(ref hdr->Status);
            if ((status & TpStatus.User) == 0) break;
            ref RxFrame f = ref frames[n++];
            f.Data = (byte*)hdr + hdr->Mac;
            f.Length = (int)hdr->SnapLen;
            f.WireLength = (int)hdr->Len;
            f.TimestampNs = hdr->Sec * 1_000_000_000L + hdr->Nsec;
            f.Status = status;
            f.VlanTci = hdr->VlanTci;
            f.VlanTpid = (status & TpStatus.VlanTpidValid) != 0 ? hdr->VlanTpid : (ushort)0x8100;
            if (++index == _frames) index = 0;
        }
        return n;
    }

    public override void Release(int count)
    {
        for (int i = 0; i < count; i++)
        {
            var hdr = (TPacket2Hdr*)(_ring + (nint)_index * _frameSize);
            Volatile.Write(ref hdr->Status, TpStatus.Kernel);
            if (++_index == _frames) _index = 0;
        }
    }
}

internal sealed unsafe class RxRingV3 : RxRing
{
    private readonly byte* _ring;
    private readonly int _blockSize;
    private readonly int _blocks;
    private int _block;
    // Within the current block: frames handed out by Fill and frames released.
    private int _filled;
    private int _released;
    private byte* _next;

    public RxRingV3(PacketSocket socket)
    {
        _ring = socket.Ring;
        _blockSize = socket.BlockSize;
        _blocks = socket.BlockCount;
    }

    private TPacketBlockDesc* Block => (TPacketBlockDesc*)(_ring + (nint)_block * _blockSize);

    public override int Fill(Span<RxFrame> frames)
    {
        var desc = Block;
        if ((Volatile.Read(ref desc->BlockStatus) & TpStatus.User) == 0) return 0;
        int total = (int)desc->PacketCount;
        if (_filled == 0) _next = (byte*)desc + desc->OffsetToFirstPacket;
        int n = 0;
        // One block per batch: a frame is released with its block, so the batch never spans two.
        while (n < frames.Length && _filled < total)
        {
            var hdr = (TPacket3Hdr*)_next;
            ref RxFrame f = ref frames[n++];
            f.Data = _next + hdr->Mac;
            f.Length = (int)hdr->SnapLen;
            f.WireLength = (int)hdr->Len;
            f.TimestampNs = hdr->Sec * 1_000_000_000L + hdr->Nsec;
            f.Status = hdr->Status;
            f.VlanTci = (ushort)hdr->VlanTci;
            f.VlanTpid = (hdr->Status & TpStatus.VlanTpidValid) != 0 ? hdr->VlanTpid : (ushort)0x8100;
            _next += hdr->NextOffset;
            _filled++;
        }
        return n;
    }

    public override void Release(int count)
    {
        _released += count;
        var desc = Block;
        if (_released >= (int)desc->PacketCount)
        {
            Volatile.Write(ref desc->BlockStatus, TpStatus.Kernel);
            _filled = _released = 0;
            if (++_block == _blocks) _block = 0;
        }
    }
}
