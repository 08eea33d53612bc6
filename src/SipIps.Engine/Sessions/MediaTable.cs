using SipIps.Engine.Common;

namespace SipIps.Engine.Sessions;

/// <summary>
/// The media addresses that SIP sessions announced in SDP (address and port), so that workers can tell RTP for a
/// known call from any other UDP with one lookup. One thread (session tracking) writes; every worker reads without
/// a lock. The table is 8-way set-associative with a fixed size: when a set is full the oldest entry is replaced. A
/// reader racing a writer may miss a packet or take one stray packet for media; both only shift RTP counts.
/// </summary>
public sealed class MediaTable
{
    private const int Ways = 8;
    private readonly ulong[] _keys;
    private readonly long[] _expires; // written and read by the writer only
    private readonly int _setMask;
    private int _count;

    public MediaTable(int capacity)
    {
        int sets = 1;
        while (sets * Ways < capacity) sets <<= 1;
        _keys = new ulong[sets * Ways];
        _expires = new long[sets * Ways];
        _setMask = sets - 1;
    }

    public int Capacity => _keys.Length;
    /// <summary>Entries in use (read by metrics).</summary>
    public int Count => Volatile.Read(ref _count);
    public long Replaced { get; private set; }

    public static ulong Key(in IpAddr address, ushort port)
    {
        ulong k = Hash64.Combine(Hash64.Combine(address.Hi, address.Lo), ((ulong)address.Family << 16) | port);
        return k == 0 ? 1 : k;
    }

    /// <summary>Whether packets to this address and port are media of a known session (any thread).</summary>
    public bool Contains(ulong key)
    {
        if (Volatile.Read(ref _count) == 0) return false;
        int start = (int)(key & (ulong)_setMask) * Ways;
        var set = _keys.AsSpan(start, Ways);
        for (int i = 0; i < set.Length; i++)
            if (set[i] == key) return true;
        return false;
    }

    /// <summary>Adds or refreshes an entry (writer thread only).</summary>
    public void Add(ulong key, long expiresNs)
    {
        int start = (int)(key & (ulong)_setMask) * Ways;
        int free = -1, oldest = start;
        for (int i = start; i < start + Ways; i++)
        {
            ulong k = _keys[i];
            if (k == key)
            {
                _expires[i] = Math.Max(_expires[i], expiresNs);
                return;
            }
            if (k == 0 && free < 0) free = i;
            if (_expires[i] < _expires[oldest]) oldest = i;
        }
        int slot = free;
        if (slot < 0)
        {
            slot = oldest;
            Replaced++;
        }
        else
        {
            Volatile.Write(ref _count, _count + 1);
        }
        _expires[slot] = expiresNs;
        Volatile.Write(ref _keys[slot], key);
    }

    /// <summary>Removes an entry (writer thread only).</summary>
    public void Remove(ulong key)
    {
        int start = (int)(key & (ulong)_setMask) * Ways;
        for (int i = start; i < start + Ways; i++)
        {
            if (_keys[i] != key) continue;
            Volatile.Write(ref _keys[i], 0UL);
            _expires[i] = 0;
            Volatile.Write(ref _count, _count - 1);
            return;
        }
    }

    /// <summary>Drops entries past their expiry, looking at <paramref name="budget"/> slots from a rotating cursor.</summary>
    public void Expire(long nowNs, ref int cursor, int budget)
    {
        for (int n = 0; n < budget; n++)
        {
            cursor = (cursor + 1) & (_keys.Length - 1);
            if (_keys[cursor] != 0 && _expires[cursor] < nowNs)
            {
                Volatile.Write(ref _keys[cursor], 0UL);
                Volatile.Write(ref _count, _count - 1);
            }
        }
    }
}
