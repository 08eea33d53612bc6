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
    // Head and tail on their own cache lines, so that the two threads do not share one.
    private PaddedLong _head;
    private PaddedLong _tail;
    private long _lost;

    public SpscRing(int capacity)
    {
        int n = 2;
        while (n < capacity) n <<= 1;
        _items = new T[n];
        _mask = n - 1;
    }

    public int Capacity => _items.Length;
    /// <summary>Values dropped because the ring was full.</summary>
    public long Lost => Volatile.Read(ref _lost);
    public long Published => Volatile.Read(ref _tail.Value);
    public int Count => (int)(Volatile.Read(ref _tail.Value) - Volatile.Read(ref _head.Value));

    /// <summary>
    /// The slot for the next value, or false when full (counted as lost). Fill it, then call <see cref="Publish"/>;
    /// filling in place saves copying a large value twice.
    /// </summary>
    public bool TryClaim(out int slot)
    {
        long tail = _tail.Value;
        if (tail - Volatile.Read(ref _head.Value) >= _items.Length)
        {
            _lost++;
            slot = -1;
            return false;
        }
        slot = (int)(tail & _mask);
        return true;
    }

    public ref T this[int slot] => ref _items[slot];

    public void Publish() => Volatile.Write(ref _tail.Value, _tail.Value + 1);

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
        long head = _head.Value;
        if (head == Volatile.Read(ref _tail.Value))
        {
            slot = -1;
            return false;
        }
        slot = (int)(head & _mask);
        return true;
    }

    public void Release() => Volatile.Write(ref _head.Value, _head.Value + 1);
}

/// <summary>A long alone on its cache line (128 bytes: adjacent-line prefetch pairs lines).</summary>
[System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Explicit, Size = 128)]
internal struct PaddedLong
{
    [System.Runtime.InteropServices.FieldOffset(64)]
    public long Value;
}
