using System.Buffers.Binary;
using SipIps.Engine.Packets;

namespace SipIps.Engine.Decode;

/// <summary>One SCTP DATA or I-DATA chunk's user data.</summary>
public readonly ref struct SctpData
{
    public readonly ReadOnlySpan<byte> UserData;
    public readonly ushort Stream;
    public readonly bool Beginning;
    public readonly bool Ending;
    public readonly uint PayloadProtocol;
    /// <summary>Transmission sequence number (for I-DATA, the fragment sequence number).</summary>
    public readonly uint Tsn;

    public SctpData(ReadOnlySpan<byte> userData, ushort stream, bool beginning, bool ending, uint ppid, uint tsn)
    {
        Tsn = tsn;
        UserData = userData;
        Stream = stream;
        Beginning = beginning;
        Ending = ending;
        PayloadProtocol = ppid;
    }

    /// <summary>True when the chunk carries a whole user message (both B and E flags).</summary>
    public bool IsComplete => Beginning && Ending;
}

/// <summary>Walks the chunks of an SCTP packet (RFC 9260 section 3.2) and yields the DATA chunks.</summary>
public ref struct SctpChunkReader
{
    private readonly ReadOnlySpan<byte> _chunks;
    private int _pos;

    public SctpChunkReader(ReadOnlySpan<byte> chunks)
    {
        _chunks = chunks;
        _pos = 0;
        Error = DecodeEvent.None;
    }

    /// <summary>Set when a chunk length is impossible; the walk stops there.</summary>
    public DecodeEvent Error { get; private set; }

    public bool TryNext(out SctpData data)
    {
        data = default;
        while (_pos + 4 <= _chunks.Length)
        {
            byte type = _chunks[_pos];
            byte flags = _chunks[_pos + 1];
            int length = BinaryPrimitives.ReadUInt16BigEndian(_chunks.Slice(_pos + 2));
            if (length < 4 || _pos + length > _chunks.Length)
            {
                Error = DecodeEvent.SctpBadChunkLength;
                _pos = _chunks.Length;
                return false;
            }
            int chunk = _pos;
            _pos += (length + 3) & ~3;
            if (type == 0 && length >= 16)
            {
                data = new SctpData(_chunks.Slice(chunk + 16, length - 16),
                    BinaryPrimitives.ReadUInt16BigEndian(_chunks.Slice(chunk + 8)),
                    (flags & 0x02) != 0, (flags & 0x01) != 0,
                    BinaryPrimitives.ReadUInt32BigEndian(_chunks.Slice(chunk + 12)),
                    BinaryPrimitives.ReadUInt32BigEndian(_chunks.Slice(chunk + 4)));
                return true;
            }
            if (type == 64 && length >= 20)
            {
                // I-DATA (RFC 8260): TSN, stream, reserved, MID, PPID/FSN, then user data.
                data = new SctpData(_chunks.Slice(chunk + 20, length - 20),
                    BinaryPrimitives.ReadUInt16BigEndian(_chunks.Slice(chunk + 8)),
                    (flags & 0x02) != 0, (flags & 0x01) != 0,
                    (flags & 0x02) != 0 ? BinaryPrimitives.ReadUInt32BigEndian(_chunks.Slice(chunk + 16)) : 0,
                    (flags & 0x02) != 0 ? 0 : BinaryPrimitives.ReadUInt32BigEndian(_chunks.Slice(chunk + 16)));
                return true;
            }
        }
        return false;
    }
}
