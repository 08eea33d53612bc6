namespace SipIps.Engine.Sessions;

/// <summary>
/// A bounded single-producer, single-consumer queue of values: one worker writes, one exporter thread reads. It never
/// blocks and never allocates after construction; when it is full the producer's value is dropped and counted, so a
/// slow consumer costs records, never forwarding time.
/// </summary>
public sealed class SpscRing<T> where T : struct
{
    private readonly T[] _items;
    private readonly int _mask;
    // Each side's position on its own cache lines, with its last look at the other side's: a side reads the other's
    // line only when its copy says full (producer) or empty (consumer), not for every value, so that on two cores
    // the lines move once per batch instead of twice per value.
    private RingSide _producer; // Index: tail; Other: the head last seen; Lost
    private RingSide _consumer; // Index: head; Other: the tail last seen

    public SpscRing(int capacity)
    {
        int n = 2;
        while (n < capacity) n <<= 1;
        _items = new T[n];
        _mask = n - 1;
    }

    public int Capacity => _items.Length;
    /// <summary>Values dropped because the ring was full.</summary>
    public long Lost => Volatile.Read(ref _producer.Lost);
    public long Published => Volatile.Read(ref _producer.Index);
    public int Count => (int)(Volatile.Read(ref _producer.Index) - Volatile.Read(ref _consumer.Index));

    /// <summary>
    /// The slot for the next value, or false when full (counted as lost). Fill it, then call <see cref="Publish"/>;
    /// filling in place saves copying a large value twice.
    /// </summary>
    public bool TryClaim(out int slot)
    {
        long tail = _producer.Index;
        if (tail - _producer.Other >= _items.Length)
        {
            _producer.Other = Volatile.Read(ref _consumer.Index);
            if (tail - _producer.Other >= _items.Length)
            {
                _producer.Lost++;
                slot = -1;
                return false;
            }
        }
        slot = (int)(tail & _mask);
        return true;
    }

    public ref T this[int slot] => ref _items[slot];

    public void Publish() => Volatile.Write(ref _producer.Index, _producer.Index + 1);

    public bool TryWrite(in T value)
    {
        if (!TryClaim(out int slot)) return false;
        _items[slot] = value;
        Publish();
        return true;
    }

    /// <summary>The oldest value, by reference; call <see cref="Release"/> when done with it.</summary>
    public bool TryPeek(out int slot)
    {
        long head = _consumer.Index;
        if (head == _consumer.Other)
        {
            _consumer.Other = Volatile.Read(ref _producer.Index);
            if (head == _consumer.Other)
            {
                slot = -1;
                return false;
            }
        }
        slot = (int)(head & _mask);
        return true;
    }

    public void Release() => Volatile.Write(ref _consumer.Index, _consumer.Index + 1);
}

/// <summary>
/// One side of a single-producer, single-consumer ring: the fields that side writes, alone on their cache lines
/// (128 bytes of padding on each side: adjacent-line prefetch pairs lines).
/// </summary>
[System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Explicit, Size = 320)]
internal struct RingSide
{
    /// <summary>This side's position: the producer's tail or the consumer's head. Only this side writes it.</summary>
    [System.Runtime.InteropServices.FieldOffset(128)] public long Index;
    /// <summary>This side's last read of the other side's position; refreshed only when it says full or empty.</summary>
    [System.Runtime.InteropServices.FieldOffset(136)] public long Other;
    /// <summary>The producer's records dropped because the ring was full.</summary>
    [System.Runtime.InteropServices.FieldOffset(144)] public long Lost;
    /// <summary>The producer's reservation in progress (byte rings), or -1.</summary>
    [System.Runtime.InteropServices.FieldOffset(152)] public long ReservedAt;
    /// <summary>The producer's records published (byte rings).</summary>
    [System.Runtime.InteropServices.FieldOffset(160)] public long Published;
}
