namespace SipIps.Engine.Reassembly;

/// <summary>
/// Power-of-two byte buffers under a global byte cap, reused without returning them to the GC. Renting past the
/// cap fails (the caller counts it and sheds state) instead of growing memory.
/// </summary>
public sealed class BufferPool
{
    private const int MinShift = 11; // 2 KiB
    private readonly Stack<byte[]>[] _free;
    private readonly int _maxShift;

    public BufferPool(long capBytes, int maxBufferBytes)
    {
        CapBytes = capBytes;
        int shift = MinShift;
        while ((1 << shift) < maxBufferBytes) shift++;
        _maxShift = shift;
        _free = new Stack<byte[]>[_maxShift - MinShift + 1];
        for (int i = 0; i < _free.Length; i++) _free[i] = new Stack<byte[]>();
    }

    public long CapBytes { get; }
    /// <summary>Bytes currently lent out.</summary>
    public long InUseBytes { get; private set; }
    /// <summary>Bytes allocated over the pool's life (lent out or waiting in a free list).</summary>
    public long AllocatedBytes { get; private set; }
    public int MaxBufferBytes => 1 << _maxShift;

    /// <summary>A buffer of at least <paramref name="size"/> bytes, or null when that would pass the cap.</summary>
    public byte[]? Rent(int size)
    {
        if (size > MaxBufferBytes) return null;
        int shift = MinShift;
        while ((1 << shift) < size) shift++;
        int bytes = 1 << shift;
        if (InUseBytes + bytes > CapBytes) return null;
        var stack = _free[shift - MinShift];
        if (!stack.TryPop(out var buffer))
        {
            // Free buffers of other sizes count against the cap too: release them before growing.
            if (AllocatedBytes + bytes > CapBytes) TrimFree(AllocatedBytes + bytes - CapBytes);
            if (AllocatedBytes + bytes > CapBytes) return null;
            buffer = GC.AllocateUninitializedArray<byte>(bytes);
            AllocatedBytes += bytes;
        }
        InUseBytes += bytes;
        return buffer;
    }

    public void Return(byte[] buffer)
    {
        InUseBytes -= buffer.Length;
        int shift = MinShift;
        while ((1 << shift) < buffer.Length) shift++;
        _free[shift - MinShift].Push(buffer);
    }

    private void TrimFree(long needed)
    {
        for (int i = _free.Length - 1; i >= 0 && needed > 0; i--)
        {
            var stack = _free[i];
            while (needed > 0 && stack.TryPop(out var b))
            {
                AllocatedBytes -= b.Length;
                needed -= b.Length;
            }
        }
    }
}
