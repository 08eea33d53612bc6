using System.Text;

namespace SipIps.Engine.Analysis;

/// <summary>
/// Space-Saving heavy hitters (Metwally, Agrawal, El Abbadi 2005) over k counters. Every key whose true count is
/// above N/k is kept; a kept key's count overestimates its true count by at most its recorded error, itself at most
/// N/k. Memory is fixed: k counters and k keys of up to <see cref="MaxKeyBytes"/> bytes. The counters form an
/// indexed min-heap, so replacing the smallest one costs O(log k) instead of a scan, and an increment usually
/// costs one comparison.
/// </summary>
public sealed class TopK
{
    private readonly ulong[] _hash;
    private readonly long[] _count;
    private readonly long[] _error;
    private readonly byte[] _keys;
    private readonly int[] _keyLength;
    private readonly int[] _heap;     // heap position -> slot
    private readonly int[] _position; // slot -> heap position
    private readonly Dictionary<ulong, int> _index;
    private int _used;

    public TopK(int capacity, int maxKeyBytes = 128)
    {
        Capacity = capacity;
        MaxKeyBytes = maxKeyBytes;
        _hash = new ulong[capacity];
        _count = new long[capacity];
        _error = new long[capacity];
        _keys = new byte[capacity * maxKeyBytes];
        _keyLength = new int[capacity];
        _heap = new int[capacity];
        _position = new int[capacity];
        _index = new Dictionary<ulong, int>(capacity);
    }

    public int Capacity { get; }
    public int MaxKeyBytes { get; }
    /// <summary>Total weight offered (N).</summary>
    public long Total { get; private set; }

    /// <summary>Adds weight to a key already held; false when the key is not held (then call <see cref="Insert"/>).</summary>
    public bool TryIncrement(ulong hash, long weight = 1)
    {
        if (!_index.TryGetValue(hash, out int slot)) return false;
        _count[slot] += weight;
        Total += weight;
        SiftDown(_position[slot]);
        return true;
    }

    /// <summary>Inserts a key not yet held, replacing the smallest counter when all are in use.</summary>
    public void Insert(ulong hash, ReadOnlySpan<byte> key, long weight = 1)
    {
        Total += weight;
        int slot;
        long baseCount = 0;
        if (_used < Capacity)
        {
            slot = _used;
            _heap[_used] = slot;
            _position[slot] = _used;
            _used++;
        }
        else
        {
            slot = _heap[0];
            _index.Remove(_hash[slot]);
            baseCount = _count[slot];
        }
        _hash[slot] = hash;
        _count[slot] = baseCount + weight;
        _error[slot] = baseCount;
        int n = Math.Min(key.Length, MaxKeyBytes);
        key.Slice(0, n).CopyTo(_keys.AsSpan(slot * MaxKeyBytes, n));
        _keyLength[slot] = n;
        _index[hash] = slot;
        if (baseCount == 0) SiftUp(_position[slot]);
        else SiftDown(_position[slot]);
    }

    public void Offer(ulong hash, ReadOnlySpan<byte> key, long weight = 1)
    {
        if (!TryIncrement(hash, weight)) Insert(hash, key, weight);
    }

    public readonly record struct Item(string Key, long Count, long Error);

    /// <summary>The heaviest keys, largest first (allocates: for reports).</summary>
    public IReadOnlyList<Item> Top(int n)
    {
        var order = Enumerable.Range(0, _used).OrderByDescending(i => _count[i]).ThenBy(i => _error[i]).Take(n);
        return order.Select(i => new Item(Encoding.UTF8.GetString(_keys, i * MaxKeyBytes, _keyLength[i]), _count[i], _error[i])).ToList();
    }

    /// <summary>The largest possible overestimate of any reported count: the smallest counter when all are in use.</summary>
    public long ErrorBound => _used < Capacity ? 0 : _count[_heap[0]];

    private void SiftDown(int i)
    {
        int slot = _heap[i];
        long c = _count[slot];
        while (true)
        {
            int l = 2 * i + 1;
            if (l >= _used) break;
            int r = l + 1;
            int child = r < _used && _count[_heap[r]] < _count[_heap[l]] ? r : l;
            if (_count[_heap[child]] >= c) break;
            _heap[i] = _heap[child];
            _position[_heap[i]] = i;
            i = child;
        }
        _heap[i] = slot;
        _position[slot] = i;
    }

    private void SiftUp(int i)
    {
        int slot = _heap[i];
        long c = _count[slot];
        while (i > 0)
        {
            int parent = (i - 1) / 2;
            if (_count[_heap[parent]] <= c) break;
            _heap[i] = _heap[parent];
            _position[_heap[i]] = i;
            i = parent;
        }
        _heap[i] = slot;
        _position[slot] = i;
    }
}
