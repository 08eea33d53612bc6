using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace SipIps.Engine.Common;

/// <summary>
/// A fixed-capacity map from 64-bit keys (already hashes: Call-ID, media address, URI) to small integers, for the
/// tables that index their own slot arrays. Open addressing over twice the capacity with linear probing, so that a
/// lookup usually reads one cache line; deletion shifts the rest of the run back, so no tombstones build up. The
/// arrays are allocated once: an insert past the capacity is refused, never grown. Keys are mixed with the
/// process seed before they pick an entry, so a run cannot be aimed at from outside.
/// </summary>
public sealed class HashIndex
{
    private readonly ulong[] _keys;
    private readonly int[] _values; // value + 1; 0 marks a free entry
    private readonly int _mask;
    private readonly int _shift;

    public HashIndex(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        Capacity = capacity;
        int size = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(2, capacity * 2));
        _keys = new ulong[size];
        _values = new int[size];
        _mask = size - 1;
        _shift = 64 - BitOperations.Log2((uint)size);
    }

    public int Capacity { get; }
    public int Count { get; private set; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int Home(ulong key) => (int)(((key ^ Hash64.Seed) * 0x9E3779B97F4A7C15UL) >> _shift);

    /// <summary>The value stored for <paramref name="key"/>.</summary>
    public bool TryGetValue(ulong key, out int value)
    {
        int i = Home(key);
        while (true)
        {
            int v = _values[i];
            if (v == 0)
            {
                value = -1;
                return false;
            }
            if (_keys[i] == key)
            {
                value = v - 1;
                return true;
            }
            i = (i + 1) & _mask;
        }
    }

    /// <summary>The value for <paramref name="key"/>, or -1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Find(ulong key) => TryGetValue(key, out int value) ? value : -1;

    /// <summary>Stores or replaces the value (0 or more) of <paramref name="key"/>; false when a new key finds the index full.</summary>
    public bool Set(ulong key, int value)
    {
        Debug.Assert(value >= 0);
        int i = Home(key);
        while (_values[i] != 0)
        {
            if (_keys[i] == key)
            {
                _values[i] = value + 1;
                return true;
            }
            i = (i + 1) & _mask;
        }
        if (Count >= Capacity) return false;
        _keys[i] = key;
        _values[i] = value + 1;
        Count++;
        return true;
    }

    /// <summary>Removes <paramref name="key"/>; false when it was not there.</summary>
    public bool Remove(ulong key)
    {
        int i = Home(key);
        while (true)
        {
            if (_values[i] == 0) return false;
            if (_keys[i] == key) break;
            i = (i + 1) & _mask;
        }
        // Backward shift: pull later entries of the run into the hole, unless that would put one before its home.
        int j = i;
        while (true)
        {
            j = (j + 1) & _mask;
            if (_values[j] == 0) break;
            int home = Home(_keys[j]);
            if (((j - home) & _mask) >= ((j - i) & _mask))
            {
                _keys[i] = _keys[j];
                _values[i] = _values[j];
                i = j;
            }
        }
        _values[i] = 0;
        Count--;
        return true;
    }
}
