using System.Buffers.Binary;
using SipIps.Engine.Packets;

namespace SipIps.Capture;

/// <summary>Writes classic pcap files (little-endian, nanosecond timestamps by default).</summary>
public sealed class PcapWriter : IDisposable
{
    private readonly Stream _stream;
    private readonly bool _nanoseconds;
    private readonly byte[] _header = new byte[16];

    public PcapWriter(Stream stream, LinkType link, bool nanoseconds = true, int snapLength = 262144)
    {
        _stream = stream;
        _nanoseconds = nanoseconds;
        Span<byte> h = stackalloc byte[24];
        BinaryPrimitives.WriteUInt32LittleEndian(h, nanoseconds ? 0xA1B23C4Du : 0xA1B2C3D4u);
        BinaryPrimitives.WriteUInt16LittleEndian(h.Slice(4), 2);
        BinaryPrimitives.WriteUInt16LittleEndian(h.Slice(6), 4);
        BinaryPrimitives.WriteInt32LittleEndian(h.Slice(8), 0);
        BinaryPrimitives.WriteUInt32LittleEndian(h.Slice(12), 0);
        BinaryPrimitives.WriteInt32LittleEndian(h.Slice(16), snapLength);
        BinaryPrimitives.WriteUInt32LittleEndian(h.Slice(20), (uint)link);
        _stream.Write(h);
    }

    public long Records { get; private set; }

    public void Write(long timestampNs, ReadOnlySpan<byte> frame, int wireLength = -1)
    {
        long seconds = timestampNs / 1_000_000_000;
        long fraction = timestampNs % 1_000_000_000;
        if (!_nanoseconds) fraction /= 1000;
        BinaryPrimitives.WriteUInt32LittleEndian(_header, (uint)seconds);
        BinaryPrimitives.WriteUInt32LittleEndian(_header.AsSpan(4), (uint)fraction);
        BinaryPrimitives.WriteUInt32LittleEndian(_header.AsSpan(8), (uint)frame.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(_header.AsSpan(12), (uint)(wireLength < 0 ? frame.Length : wireLength));
        _stream.Write(_header);
        _stream.Write(frame);
        Records++;
    }

    public void Dispose() => _stream.Dispose();
}
