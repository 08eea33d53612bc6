using SipIps.Engine.Common;
using SipIps.Engine.Packets;

namespace SipIps.Engine.Reassembly;

public sealed class DefragOptions
{
    /// <summary>Datagrams under reassembly at once.</summary>
    public int MaxDatagrams { get; init; } = 1024;
    /// <summary>Bytes of reassembly buffers in all; each buffer holds one datagram of up to 64 KiB.</summary>
    public int MemoryCapBytes { get; init; } = 16 << 20;
    public int MaxFragmentsPerDatagram { get; init; } = 64;
    /// <summary>An incomplete datagram is dropped after this long (RFC 791 suggests 15 s, Linux uses 30 s).</summary>
    public long TimeoutNs { get; init; } = 30_000_000_000;
}

/// <summary>
/// IPv4 and IPv6 fragment reassembly. Bounded three ways: a fixed table of datagrams (found by a keyed hash with a
/// short probe window, the oldest in the window evicted when it is full), a memory cap on reassembly buffers, and a
/// per-datagram fragment cap. Overlapping fragments must carry identical bytes: a conflicting overlap (the classic
/// evasion in which the IPS and the host reassemble differently) drops the whole datagram with an event.
/// </summary>
public sealed class IpDefragmenter
{
    private const int ProbeWindow = 8;
    private const int MaxDatagramBytes = 65535;

    private struct Range
    {
        public int Start;
        public int End;
    }

    private sealed class Entry
    {
        public bool InUse;
        public ulong Hash;
        public IpAddr Source;
        public IpAddr Destination;
        public uint Id;
        public byte Protocol;
        public byte IpVersion;
        public ushort Vlan;
        public long FirstSeenNs;
        public int TotalLength = -1; // known once the last fragment arrived
        public int RangeCount;
        public Range[] Ranges = [];
        public byte[]? Buffer;
        public bool Poisoned;
    }

    private readonly DefragOptions _options;
    private readonly Entry[] _table;
    private readonly Stack<byte[]> _freeBuffers;
    private int _buffersAllocated;
    private readonly int _maxBuffers;

    public IpDefragmenter(DefragOptions? options = null)
    {
        _options = options ?? new DefragOptions();
        int capacity = 1;
        while (capacity < _options.MaxDatagrams) capacity <<= 1;
        _table = new Entry[capacity];
        for (int i = 0; i < capacity; i++) _table[i] = new Entry { Ranges = new Range[_options.MaxFragmentsPerDatagram] };
        _maxBuffers = Math.Max(1, _options.MemoryCapBytes / MaxDatagramBytes);
        _freeBuffers = new Stack<byte[]>(_maxBuffers);
    }

    /// <summary>Datagrams currently held.</summary>
    public int ActiveDatagrams { get; private set; }
    public long Completed { get; private set; }
    public long TimedOut { get; private set; }
    public long Evicted { get; private set; }

    /// <summary>
    /// Adds one fragment. Returns true with the reassembled transport bytes when this fragment completed its
    /// datagram; the span stays valid until the next call. Otherwise <paramref name="error"/> says why it was
    /// refused, or is <see cref="DecodeEvent.None"/> when the datagram is simply not complete yet.
    /// </summary>
    public bool Add(in PacketInfo info, ReadOnlySpan<byte> fragment, out ReadOnlySpan<byte> datagram, out DecodeEvent error)
    {
        datagram = default;
        error = DecodeEvent.None;
        long now = info.TimestampNs;
        ulong hash = Hash64.Combine(Hash64.Compute(info.Source, info.FragmentId), Hash64.Compute(info.Destination, ((ulong)info.IpProtocol << 16) | info.OuterVlan));
        int mask = _table.Length - 1;
        int home = (int)(hash & (ulong)mask);

        Entry? entry = null;
        Entry? free = null;
        Entry? oldest = null;
        for (int i = 0; i < ProbeWindow; i++)
        {
            var e = _table[(home + i) & mask];
            if (e.InUse && now - e.FirstSeenNs > _options.TimeoutNs)
            {
                Release(e);
                TimedOut++;
                if (error == DecodeEvent.None) error = DecodeEvent.FragmentTimeout;
            }
            if (!e.InUse)
            {
                free ??= e;
                continue;
            }
            if (e.Hash == hash && e.Id == info.FragmentId && e.Protocol == info.IpProtocol && e.Source == info.Source
                && e.Destination == info.Destination && e.Vlan == info.OuterVlan)
            {
                entry = e;
                break;
            }
            if (oldest is null || e.FirstSeenNs < oldest.FirstSeenNs) oldest = e;
        }
        // A timeout seen while probing is reported once; this fragment is still processed.
        DecodeEvent reported = error;
        error = DecodeEvent.None;

        if (entry is null)
        {
            if (free is null)
            {
                Release(oldest!);
                Evicted++;
                reported = DecodeEvent.FragmentTableFull;
                free = oldest!;
            }
            entry = free;
            entry.InUse = true;
            entry.Hash = hash;
            entry.Source = info.Source;
            entry.Destination = info.Destination;
            entry.Id = info.FragmentId;
            entry.Protocol = info.IpProtocol;
            entry.IpVersion = info.IpVersion;
            entry.Vlan = info.OuterVlan;
            entry.FirstSeenNs = now;
            entry.TotalLength = -1;
            entry.RangeCount = 0;
            entry.Poisoned = false;
            ActiveDatagrams++;
        }

        if (entry.Poisoned)
        {
            error = DecodeEvent.FragmentOverlapConflict;
            return false;
        }
        if (entry.Buffer is null)
        {
            entry.Buffer = RentBuffer();
            if (entry.Buffer is null)
            {
                // Out of buffers: the oldest incomplete datagram gives its buffer up, so that a flood of never
                // completed fragments cannot lock out new datagrams until the timeout.
                EvictOldestHolder(entry);
                entry.Buffer = RentBuffer();
                reported = DecodeEvent.FragmentMemoryCap;
            }
            if (entry.Buffer is null)
            {
                Release(entry);
                error = DecodeEvent.FragmentMemoryCap;
                return false;
            }
        }

        int start = info.FragmentOffset;
        int end = start + fragment.Length;
        if (end > MaxDatagramBytes)
        {
            Release(entry);
            error = DecodeEvent.FragmentTooLarge;
            return false;
        }
        if (!info.MoreFragments)
        {
            if (entry.TotalLength >= 0 && entry.TotalLength != end)
            {
                Poison(entry);
                error = DecodeEvent.FragmentOverlapConflict;
                return false;
            }
            entry.TotalLength = end;
        }
        if (entry.TotalLength >= 0 && end > entry.TotalLength)
        {
            Poison(entry);
            error = DecodeEvent.FragmentOverlapConflict;
            return false;
        }

        // Overlaps must repeat the same bytes.
        var buffer = entry.Buffer;
        for (int i = 0; i < entry.RangeCount; i++)
        {
            ref Range r = ref entry.Ranges[i];
            int os = Math.Max(r.Start, start), oe = Math.Min(r.End, end);
            if (os < oe && !fragment.Slice(os - start, oe - os).SequenceEqual(buffer.AsSpan(os, oe - os)))
            {
                Poison(entry);
                error = DecodeEvent.FragmentOverlapConflict;
                return false;
            }
        }
        if (!InsertRange(entry, start, end))
        {
            Release(entry);
            error = DecodeEvent.FragmentTooMany;
            return false;
        }
        fragment.CopyTo(buffer.AsSpan(start));

        if (entry.TotalLength >= 0 && entry.RangeCount == 1 && entry.Ranges[0].Start == 0 && entry.Ranges[0].End == entry.TotalLength)
        {
            datagram = buffer.AsSpan(0, entry.TotalLength);
            Completed++;
            // The buffer goes back to the pool now; its bytes stay untouched until the next Add.
            Release(entry);
            error = reported;
            return true;
        }
        error = reported;
        return false;
    }

    private int _sweep;

    /// <summary>
    /// Drops datagrams older than the timeout, looking at no more than <paramref name="budget"/> slots per call
    /// (round-robin), so that the cost of a call is bounded whatever the table size.
    /// </summary>
    public int Expire(long nowNs, int budget = 256)
    {
        int n = 0;
        for (int i = 0; i < budget && i < _table.Length; i++)
        {
            var e = _table[_sweep];
            _sweep = (_sweep + 1) & (_table.Length - 1);
            if (e.InUse && nowNs - e.FirstSeenNs > _options.TimeoutNs)
            {
                Release(e);
                TimedOut++;
                n++;
            }
        }
        return n;
    }

    private static bool InsertRange(Entry e, int start, int end)
    {
        // Keep ranges sorted and merged, so completion is "one range from 0 to the total".
        int i = 0;
        while (i < e.RangeCount && e.Ranges[i].End < start) i++;
        int j = i;
        while (j < e.RangeCount && e.Ranges[j].Start <= end)
        {
            start = Math.Min(start, e.Ranges[j].Start);
            end = Math.Max(end, e.Ranges[j].End);
            j++;
        }
        int removed = j - i;
        if (removed == 0)
        {
            if (e.RangeCount == e.Ranges.Length) return false;
            Array.Copy(e.Ranges, i, e.Ranges, i + 1, e.RangeCount - i);
            e.RangeCount++;
        }
        else if (removed > 1)
        {
            Array.Copy(e.Ranges, j, e.Ranges, i + 1, e.RangeCount - j);
            e.RangeCount -= removed - 1;
        }
        e.Ranges[i].Start = start;
        e.Ranges[i].End = end;
        return true;
    }

    private void EvictOldestHolder(Entry except)
    {
        Entry? oldest = null;
        foreach (var e in _table)
        {
            if (e.InUse && e.Buffer is not null && e != except && (oldest is null || e.FirstSeenNs < oldest.FirstSeenNs)) oldest = e;
        }
        if (oldest is null) return;
        Release(oldest);
        Evicted++;
    }

    private void Poison(Entry e)
    {
        // Keep the entry (without its buffer) so that later fragments of the same datagram are refused too.
        e.Poisoned = true;
        if (e.Buffer is not null)
        {
            _freeBuffers.Push(e.Buffer);
            e.Buffer = null;
        }
    }

    private byte[]? RentBuffer()
    {
        if (_freeBuffers.TryPop(out var b)) return b;
        if (_buffersAllocated >= _maxBuffers) return null;
        _buffersAllocated++;
        return GC.AllocateUninitializedArray<byte>(MaxDatagramBytes);
    }

    private void Release(Entry e)
    {
        if (!e.InUse) return;
        e.InUse = false;
        ActiveDatagrams--;
        if (e.Buffer is not null)
        {
            _freeBuffers.Push(e.Buffer);
            e.Buffer = null;
        }
    }
}
