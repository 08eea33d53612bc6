using System.Text;
using SipIps.Engine.Common;

namespace SipIps.Engine.Analysis;

/// <summary>
/// Space-Saving heavy hitters (Metwally, Agrawal, El Abbadi 2005) over k counters. Every key whose true count is
/// above N/k is kept; a kept key's count overestimates its true count by at most its recorded error, itself at most
/// N/k. Memory is fixed: k counters and k keys of up to <see cref="MaxKeyBytes"/> bytes.
/// <para>
/// The counters are kept in the paper's Stream-Summary form: an array ordered by count, largest first, cut into runs
/// of equal counts. An increment swaps the key to the front of its run and moves the run boundary, so it costs a few
/// array writes and no search, whether the key was held or replaces the smallest counter. (A heap made a
/// replacement sift through every level, because most counters hold the minimum once distinct keys outnumber them.)
/// Keys are found by their 64-bit hash in a <see cref="HashIndex"/>.
/// </para>
/// <para>
/// Until the counters are all in use no key is ever replaced, so no order is needed: an increment is one addition,
/// and the order is built once (a sort of k counters) when the first replacement needs the smallest. A table that
/// never fills, which is the common case (a PBX's users, its user agents), never pays for the order.
/// </para>
/// </summary>
public sealed class TopK
{
    private readonly ulong[] _hash;
    private readonly long[] _count;
    private readonly long[] _error;
    private readonly byte[] _keys;
    private readonly int[] _keyLength;
    private readonly int[] _order;    // position -> slot, counts non-increasing
    private readonly int[] _position; // slot -> position
    private readonly int[] _run;      // slot -> run holding it
    private readonly int[] _runFirst; // run -> first position
    private readonly int[] _runLast;  // run -> last position
    private readonly int[] _freeRuns;
    private int _freeRunCount;
    private readonly HashIndex _index;
    private int _used;
    private bool _ordered; // _order, _position and the runs are kept; false until the first replacement

    public TopK(int capacity, int maxKeyBytes = 128)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        Capacity = capacity;
        MaxKeyBytes = maxKeyBytes;
        _hash = new ulong[capacity];
        _count = new long[capacity];
        _error = new long[capacity];
        _keys = new byte[capacity * maxKeyBytes];
        _keyLength = new int[capacity];
        _order = new int[capacity];
        _position = new int[capacity];
        _run = new int[capacity];
        _runFirst = new int[capacity];
        _runLast = new int[capacity];
        _freeRuns = new int[capacity];
        for (int i = 0; i < capacity; i++) _freeRuns[i] = capacity - 1 - i;
        _freeRunCount = capacity;
        _index = new HashIndex(capacity);
    }

    public int Capacity { get; }
    public int MaxKeyBytes { get; }
    /// <summary>Total count offered (N).</summary>
    public long Total { get; private set; }

    /// <summary>Counts one more for a key already held; false when the key is not held (then call <see cref="Insert"/>).</summary>
    public bool TryIncrement(ulong hash)
    {
        int slot = _index.Find(hash);
        if (slot < 0) return false;
        Total++;
        if (_ordered) Increment(slot);
        else _count[slot]++;
        return true;
    }

    /// <summary>Inserts a key not yet held, with a count of one, replacing the smallest counter when all are in use.</summary>
    public void Insert(ulong hash, ReadOnlySpan<byte> key)
    {
        Total++;
        int slot;
        if (_used < Capacity)
        {
            slot = _used++;
            _count[slot] = 1;
            _error[slot] = 0;
        }
        else
        {
            if (!_ordered) BuildOrder();
            // The last position holds a smallest counter: the newcomer takes it over, and its count, as its error.
            slot = _order[_used - 1];
            _index.Remove(_hash[slot]);
            _error[slot] = _count[slot];
            Increment(slot);
        }
        _hash[slot] = hash;
        int n = Math.Min(key.Length, MaxKeyBytes);
        key.Slice(0, n).CopyTo(_keys.AsSpan(slot * MaxKeyBytes, n));
        _keyLength[slot] = n;
        _index.Set(hash, slot);
    }

    public void Offer(ulong hash, ReadOnlySpan<byte> key)
    {
        if (!TryIncrement(hash)) Insert(hash, key);
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
            if (_ordered) return _count[_order[_used - 1]];
            long min = long.MaxValue;
            for (int i = 0; i < _used; i++) min = Math.Min(min, _count[i]);
            return min;
        }
    }

    /// <summary>Orders the counters (all in use) largest first and cuts them into runs of equal counts.</summary>
    private void BuildOrder()
    {
        for (int i = 0; i < _used; i++) _order[i] = i;
        var counts = _count;
        _order.AsSpan(0, _used).Sort((x, y) => counts[y].CompareTo(counts[x]));
        for (int p = 0; p < _used; p++)
        {
            int slot = _order[p];
            _position[slot] = p;
            if (p > 0 && _count[_order[p - 1]] == _count[slot])
            {
                int run = _run[_order[p - 1]];
                _runLast[run] = p;
                _run[slot] = run;
            }
            else
            {
                _run[slot] = NewRun(p);
            }
        }
        _ordered = true;
    }

    /// <summary>Adds one to a held slot: it moves to the front of its run, leaves it, and joins or opens the run before.</summary>
    private void Increment(int slot)
    {
        int run = _run[slot];
        int first = _runFirst[run];
        int p = _position[slot];
        if (p != first)
        {
            int other = _order[first];
            _order[p] = other;
            _position[other] = p;
            _order[first] = slot;
            _position[slot] = first;
        }
        if (first == _runLast[run]) FreeRun(run);
        else _runFirst[run] = first + 1;

        long c = ++_count[slot];
        if (first > 0)
        {
            int before = _run[_order[first - 1]];
            if (_count[_order[first - 1]] == c)
            {
                _runLast[before] = first;
                _run[slot] = before;
                return;
            }
        }
        _run[slot] = NewRun(first);
    }

    private int NewRun(int position)
    {
        int run = _freeRuns[--_freeRunCount];
        _runFirst[run] = position;
        _runLast[run] = position;
        return run;
    }

    private void FreeRun(int run) => _freeRuns[_freeRunCount++] = run;
}
