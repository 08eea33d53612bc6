using System.Numerics;
using System.Runtime.CompilerServices;

namespace SipIps.Engine.Detection;

/// <summary>An entry of a <see cref="BoundedTable{T}"/>: a 64-bit key (0 marks a free slot) and an eviction cost.</summary>
public interface IBoundedEntry<T> where T : struct, IBoundedEntry<T>
{
    ulong Key { get; set; }

    /// <summary>
    /// How much it costs to lose this entry now: the table evicts the cheapest one in a full bucket. 0 for an
    /// entry that is stale; <see cref="long.MaxValue"/> for one that must never be evicted.
    /// </summary>
    static abstract long EvictionCost(ref T entry, long nowNs);
}

/// <summary>
/// A fixed-capacity, set-associative table: a key hashes to one bucket of <see cref="Ways"/> slots, so a lookup
/// reads one or two cache lines and never probes further, whatever an attacker sends. When a bucket is full the
/// cheapest entry is evicted, unless the newcomer is worth less than it (see <c>admission</c> in
/// <see cref="FindOrAdd"/>); then the newcomer is not tracked and <see cref="Refused"/> counts it. The memory is
/// allocated once, at construction.
/// </summary>
public sealed class BoundedTable<T> where T : struct, IBoundedEntry<T>
{
    public const int Ways = 8;

    private readonly T[] _slots;
    private readonly int _bucketMask;
    private T _scratch;

    public BoundedTable(int capacity)
    {
        int buckets = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(1, (capacity + Ways - 1) / Ways));
        _slots = new T[buckets * Ways];
        _bucketMask = buckets - 1;
    }

    public int Capacity => _slots.Length;
    public int Count { get; private set; }
    public long Evictions { get; private set; }
    public long Refused { get; private set; }
    public long Inserts { get; private set; }

    /// <summary>Bytes held by the slots (the table's whole footprint bar a few fields).</summary>
    public long MemoryBytes => (long)_slots.Length * Unsafe.SizeOf<T>();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int BucketStart(ulong key) => (int)((key >> 20 ^ key) & (ulong)_bucketMask) * Ways;

    /// <summary>The entry for <paramref name="key"/>, or a null reference (test with <see cref="Unsafe.IsNullRef{T}(ref readonly T)"/>).</summary>
    public ref T Find(ulong key)
    {
        int b = BucketStart(key);
        for (int i = 0; i < Ways; i++)
        {
            ref T e = ref _slots[b + i];
            if (e.Key == key) return ref e;
        }
        return ref Unsafe.NullRef<T>();
    }

    /// <summary>
    /// The entry for <paramref name="key"/>, adding it (zeroed, with its key set) when absent. A full bucket gives
    /// up its cheapest entry if that entry's cost is below <paramref name="admission"/>; otherwise the key is not
    /// tracked and the result is a null reference.
    /// </summary>
    public ref T FindOrAdd(ulong key, long nowNs, out bool added, long admission = long.MaxValue)
    {
        int b = BucketStart(key);
        int free = -1, victim = -1;
        long victimCost = long.MaxValue;
        for (int i = 0; i < Ways; i++)
        {
            ref T e = ref _slots[b + i];
            ulong k = e.Key;
            if (k == key)
            {
                added = false;
                return ref e;
            }
            if (k == 0)
            {
                if (free < 0) free = b + i;
                continue;
            }
            if (free < 0)
            {
                long cost = T.EvictionCost(ref e, nowNs);
                if (cost < victimCost)
                {
                    victimCost = cost;
                    victim = b + i;
                }
            }
        }
        int slot = free;
        if (slot < 0)
        {
            // A stale entry (cost 0) always goes; a live one only for a newcomer worth more.
            if (victim < 0 || (victimCost > 0 && victimCost >= admission) || victimCost == long.MaxValue)
            {
                Refused++;
                added = false;
                return ref Unsafe.NullRef<T>();
            }
            slot = victim;
            Evictions++;
            Count--;
        }
        ref T s = ref _slots[slot];
        s = default;
        s.Key = key;
        Count++;
        Inserts++;
        added = true;
        return ref s;
    }

    public void Remove(ref T entry)
    {
        if (entry.Key == 0) return;
        entry = default;
        Count--;
    }

    /// <summary>Visits every live entry (for status and tests; not for the packet path).</summary>
    public void ForEach(Action<T> visit)
    {
        foreach (var e in _slots)
            if (e.Key != 0) visit(e);
    }

    /// <summary>A writable slot for callers that got a null reference and want to carry on without branching.</summary>
    public ref T Scratch => ref _scratch;
}

/// <summary>
/// A Count-Min sketch of recent key frequencies with periodic halving (so it tracks the present, not all time).
/// Tables use it to admit a newcomer only when it has been seen more often than the entry it would evict: a
/// flood of one-off random keys then cannot flush the entries that matter.
/// </summary>
public sealed class FrequencySketch
{
    private const int Rows = 4;
    private readonly byte[] _counts;
    private readonly int _mask;
    private readonly int _width;
    private readonly long _resetAfter;
    private long _additions;

    public FrequencySketch(int width)
    {
        _width = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(64, width));
        _mask = _width - 1;
        _counts = new byte[_width * Rows];
        _resetAfter = _width * 8L;
    }

    public long MemoryBytes => _counts.Length;

    /// <summary>Counts one occurrence and returns the estimate including it.</summary>
    public int Add(ulong key)
    {
        int min = int.MaxValue;
        ulong h = key;
        for (int r = 0; r < Rows; r++)
        {
            h = h * 0x9E3779B97F4A7C15UL + (ulong)r;
            int i = r * _width + (int)((h >> 32) & (uint)_mask);
            int c = _counts[i];
            if (c < 255) _counts[i] = (byte)++c;
            if (c < min) min = c;
        }
        if (++_additions >= _resetAfter) Halve();
        return min;
    }

    public int Estimate(ulong key)
    {
        int min = int.MaxValue;
        ulong h = key;
        for (int r = 0; r < Rows; r++)
        {
            h = h * 0x9E3779B97F4A7C15UL + (ulong)r;
            int c = _counts[r * _width + (int)((h >> 32) & (uint)_mask)];
            if (c < min) min = c;
        }
        return min;
    }

    private void Halve()
    {
        _additions = 0;
        for (int i = 0; i < _counts.Length; i++) _counts[i] >>= 1;
    }
}
