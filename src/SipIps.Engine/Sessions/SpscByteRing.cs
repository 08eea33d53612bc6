using System.Buffers.Binary;

namespace SipIps.Engine.Sessions;

/// <summary>
/// A bounded single-producer, single-consumer queue of variable-length records in one byte buffer (a record is a
/// length word and its bytes, 4-byte aligned; a record never wraps: a marker skips the tail end instead). One worker
/// writes formatted log records in place, one writer thread drains them. Nothing blocks or allocates; a record that
/// does not fit is dropped and counted.
/// </summary>
public sealed class SpscByteRing
{
    private const int Skip = -1;
    private readonly byte[] _buffer;
    private readonly long _mask;
    // As in SpscRing: each side's fields on their own cache lines, and each side's copy of the other's position.
    private RingSide _producer; // Index: tail; Other: the head last seen; Lost, ReservedAt, Published
    private RingSide _consumer; // Index: head; Other: the tail last seen

    public SpscByteRing(int capacityBytes)
    {
        int n = 4096;
        while (n < capacityBytes) n <<= 1;
        _buffer = new byte[n];
        _mask = n - 1;
        _producer.ReservedAt = -1;
    }

    public int Capacity => _buffer.Length;
    public long Lost => Volatile.Read(ref _producer.Lost);
    public long Published => Volatile.Read(ref _producer.Published);

    /// <summary>
    /// Room for a record of up to <paramref name="maxLength"/> bytes, or an empty span when the ring is full (counted
    /// as lost). Write into it, then <see cref="Commit"/> the length actually used.
    /// </summary>
    public Span<byte> Reserve(int maxLength)
    {
        int need = 4 + Align(maxLength);
        if (need > _buffer.Length / 2)
        {
            _producer.Lost++;
            return default;
        }
        long tail = _producer.Index;
        int pos = (int)(tail & _mask);
        int contiguous = _buffer.Length - pos;
        long required = contiguous < need ? contiguous + need : need;
        // The consumer's position is read again only when the copy of it leaves too little room.
        if (_buffer.Length - (tail - _producer.Other) < required) _producer.Other = Volatile.Read(ref _consumer.Index);
        long free = _buffer.Length - (tail - _producer.Other);
        if (contiguous < need)
        {
            if (free < required)
            {
                _producer.Lost++;
                return default;
            }
            BinaryPrimitives.WriteInt32LittleEndian(_buffer.AsSpan(pos), Skip);
            tail += contiguous;
            pos = 0;
            // The skip marker becomes visible with the record's commit.
        }
        else if (free < need)
        {
            _producer.Lost++;
            return default;
        }
        _producer.ReservedAt = tail;
        return _buffer.AsSpan(pos + 4, maxLength);
    }

    /// <summary>Publishes the reserved record with its real length; a length of 0 or less discards it.</summary>
    public void Commit(int length)
    {
        long at = _producer.ReservedAt;
        _producer.ReservedAt = -1;
        if (at < 0) return;
        if (length <= 0)
        {
            // Nothing written: a skip marker already placed stays harmless (the next reservation rewrites it).
            if (at != _producer.Index) Volatile.Write(ref _producer.Index, at);
            return;
        }
        int pos = (int)(at & _mask);
        BinaryPrimitives.WriteInt32LittleEndian(_buffer.AsSpan(pos), length);
        _producer.Published++;
        Volatile.Write(ref _producer.Index, at + 4 + Align(length));
    }

    /// <summary>The oldest record, if any; call <see cref="Release"/> when done with it.</summary>
    public bool TryRead(out ReadOnlySpan<byte> record)
    {
        while (true)
        {
            long head = _consumer.Index;
            if (head == _consumer.Other)
            {
                _consumer.Other = Volatile.Read(ref _producer.Index);
                if (head == _consumer.Other)
                {
                    record = default;
                    return false;
                }
            }
            int pos = (int)(head & _mask);
            int length = BinaryPrimitives.ReadInt32LittleEndian(_buffer.AsSpan(pos));
            if (length == Skip)
            {
                Volatile.Write(ref _consumer.Index, head + (_buffer.Length - pos));
                continue;
            }
            record = _buffer.AsSpan(pos + 4, length);
            return true;
        }
    }

    public void Release()
    {
        long head = _consumer.Index;
        int length = BinaryPrimitives.ReadInt32LittleEndian(_buffer.AsSpan((int)(head & _mask)));
        Volatile.Write(ref _consumer.Index, head + 4 + Align(length));
    }

    private static int Align(int n) => (n + 3) & ~3;
}
