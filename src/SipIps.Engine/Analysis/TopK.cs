using System.Text;

namespace SipIps.Engine.Analysis;

/// <summary>
/// Space-Saving heavy hitters (Metwally, Agrawal, El Abbadi 2005) over k counters. Every key whose true count is
/// above N/k is kept; a kept key's count overestimates its true count by at most its recorded error, itself at most
/// N/k. Memory is fixed: k counters and k keys of up to <see cref="MaxKeyBytes"/> bytes.
/// </summary>
public sealed class TopK
{
    private readonly ulong[] _hash;
    private readonly long[] _count;
    private readonly long[] _error;
    private readonly byte[] _keys;
    private readonly int[] _keyLength;
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
        _index = new Dictionary<ulong, int>(capacity);
    }

    public int Capacity { get; }
    public int MaxKeyBytes { get; }
    /// <summary>Total weight offered (N).</summary>
    public long Total { get; private set; }

    /// <summary>Adds weight to a key already held; false when the key is not held (then call <see cref="Insert"/>).</summary>
    public bool TryIncrement(ulong hash, long weight = 1)
    {
        if (!_index.TryGetValue(hash, out int i)) return false;
        _count[i] += weight;
        Total += weight;
        return true;
    }

    /// <summary>Inserts a key not yet held, replacing the smallest counter when all are in use.</summary>
    public void Insert(ulong hash, ReadOnlySpan<byte> key, long weight = 1)
    {
        Total += weight;
        int i;
        long baseCount = 0;
        if (_used < Capacity)
        {
            i = _used++;
        }
        else
        {
            i = 0;
            for (int j = 1; j < Capacity; j++)
                if (_count[j] < _count[i]) i = j;
            _index.Remove(_hash[i]);
            baseCount = _count[i];
        }
        _hash[i] = hash;
        _count[i] = baseCount + weight;
        _error[i] = baseCount;
        int n = Math.Min(key.Length, MaxKeyBytes);
        key.Slice(0, n).CopyTo(_keys.AsSpan(i * MaxKeyBytes, n));
        _keyLength[i] = n;
        _index[hash] = i;
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
    public long ErrorBound
    {
        get
        {
            if (_used < Capacity) return 0;
            long min = long.MaxValue;
            for (int i = 0; i < _used; i++) min = Math.Min(min, _count[i]);
            return min;
        }
    }
}
