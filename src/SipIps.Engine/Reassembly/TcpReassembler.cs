using SipIps.Engine.Common;
using SipIps.Engine.Packets;

namespace SipIps.Engine.Reassembly;

public sealed class TcpOptions
{
    /// <summary>Directional streams tracked at once.</summary>
    public int MaxStreams { get; init; } = 16384;
    /// <summary>Bytes of stream buffers (partial messages and out-of-order segments) in all.</summary>
    public long MemoryCapBytes { get; init; } = 64L << 20;
    /// <summary>The largest SIP message framed on a stream; larger ones are skipped and counted.</summary>
    public int MaxMessageBytes { get; init; } = 1 << 20;
    /// <summary>Out-of-order segments held per stream while waiting for the gap to fill.</summary>
    public int MaxOutOfOrderSegments { get; init; } = 8;
    /// <summary>How long held segments wait for a missing one before the gap is skipped and they are delivered.</summary>
    public long OutOfOrderTimeoutNs { get; init; } = 1_000_000_000;
    public long IdleTimeoutNs { get; init; } = 600_000_000_000;
}

/// <summary>Receives the SIP messages that a TCP stream yields.</summary>
public interface ITcpMessageSink
{
    void OnStreamMessage(in PacketInfo segment, ReadOnlySpan<byte> message);
}

public struct TcpCounters
{
    public long Segments;
    public long Retransmissions;
    public long PartialOverlaps;
    public long OutOfOrder;
    public long Gaps;
    public long Messages;
    public long KeepAlives;
    public long Resyncs;
    public long OversizedMessages;
    public long FramingErrors;
    public long Evictions;
    public long MemoryCapHits;
}

/// <summary>
/// In-order delivery of SIP over TCP: per direction, sequence tracking with retransmission trimming, a few held
/// out-of-order segments, and the resumable framer. Complete messages inside one segment are framed in place
/// (no copy); only a message split across segments is buffered. Every resource is capped: the stream table by
/// count (oldest in the probe window evicted), buffers by a byte cap shared by all streams.
/// </summary>
public sealed class TcpReassembler
{
    private const int ProbeWindow = 8;

    private struct Pending
    {
        public uint Seq;
        public byte[] Data;
        public int Length;
    }

    private sealed class Stream
    {
        public bool InUse;
        public ulong Hash;
        public IpAddr Source, Destination;
        public ushort SourcePort, DestinationPort, Vlan;
        public bool HaveSeq;
        public uint NextSeq;
        public long LastSeenNs;
        public byte[]? Buffer;
        public int BufferLength;
        public SipFramerState Framer = SipFramerState.Initial;
        public long SkipRemaining;
        public bool Resync;
        public Pending[] OutOfOrder = [];
        public int OutOfOrderCount;
        public long OldestHeldNs;
    }

    private readonly TcpOptions _options;
    private readonly Stream?[] _table;
    private readonly BufferPool _pool;
    private TcpCounters _counters;

    public TcpReassembler(TcpOptions? options = null)
    {
        _options = options ?? new TcpOptions();
        int capacity = 1;
        while (capacity < _options.MaxStreams) capacity <<= 1;
        _table = new Stream?[capacity];
        _pool = new BufferPool(_options.MemoryCapBytes, Math.Max(_options.MaxMessageBytes, 4096) * 2);
    }

    public ref readonly TcpCounters Counters => ref _counters;
    public int ActiveStreams { get; private set; }
    public long BufferedBytes => _pool.InUseBytes;

    /// <summary>
    /// Feeds one TCP segment. Messages go to <paramref name="sink"/>; a resource problem is returned as an event.
    /// With <paramref name="create"/> false only an existing stream is followed.
    /// </summary>
    public DecodeEvent Process(in PacketInfo info, ReadOnlySpan<byte> payload, ITcpMessageSink sink, bool create = true)
    {
        _counters.Segments++;
        var flags = info.TcpFlags;
        var s = Find(info, create && (payload.Length > 0 || (flags & TcpFlags.Syn) != 0), out DecodeEvent ev);
        if (s is null) return ev;
        s.LastSeenNs = info.TimestampNs;

        if ((flags & TcpFlags.Rst) != 0)
        {
            Release(s);
            return ev;
        }
        if ((flags & TcpFlags.Syn) != 0)
        {
            // A new connection on this tuple starts clean.
            ResetData(s);
            s.HaveSeq = true;
            s.NextSeq = info.TcpSequence + 1;
            s.Resync = false;
        }

        if (payload.Length > 0)
        {
            uint seq = info.TcpSequence;
            if (!s.HaveSeq)
            {
                // Picked up mid-stream: start at this segment, at the next message boundary.
                s.HaveSeq = true;
                s.NextSeq = seq;
                s.Resync = true;
            }
            int d = (int)(seq - s.NextSeq);
            if (d + payload.Length <= 0)
            {
                _counters.Retransmissions++;
            }
            else
            {
                if (d < 0)
                {
                    _counters.PartialOverlaps++;
                    payload = payload.Slice(-d);
                    d = 0;
                }
                if (d > 0)
                {
                    bool held = HoldOutOfOrder(s, seq, payload, info.TimestampNs);
                    if (!held || info.TimestampNs - s.OldestHeldNs > _options.OutOfOrderTimeoutNs)
                    {
                        // The missing bytes are not coming (a capture gap, or too much held): skip the gap and
                        // deliver what was held from its first byte, at the next message boundary.
                        SkipGap(s, info, sink, ref ev);
                        if (!held) DeliverAt(s, info, seq, payload, sink, ref ev);
                    }
                }
                else
                {
                    Deliver(s, info, payload, sink, ref ev);
                    s.NextSeq += (uint)payload.Length;
                    DrainOutOfOrder(s, info, sink, ref ev);
                }
            }
        }

        if ((flags & TcpFlags.Fin) != 0 && s.OutOfOrderCount == 0)
        {
            if (s.BufferLength > 0) _counters.FramingErrors++;
            Release(s);
        }
        return ev;
    }

    private void SkipGap(Stream s, in PacketInfo info, ITcpMessageSink sink, ref DecodeEvent ev)
    {
        _counters.Gaps++;
        if (ev == DecodeEvent.None) ev = DecodeEvent.TcpGap;
        // What was buffered before the gap can never complete.
        s.Framer = SipFramerState.Initial;
        s.SkipRemaining = 0;
        s.BufferLength = 0;
        ReturnBuffer(s);
        s.Resync = true;
        if (s.OutOfOrderCount == 0) return;
        uint lowest = s.OutOfOrder[0].Seq;
        for (int i = 1; i < s.OutOfOrderCount; i++)
            if ((int)(s.OutOfOrder[i].Seq - lowest) < 0) lowest = s.OutOfOrder[i].Seq;
        s.NextSeq = lowest;
        DrainOutOfOrder(s, info, sink, ref ev);
    }

    /// <summary>Delivers a segment relative to the current next sequence number after a skipped gap.</summary>
    private void DeliverAt(Stream s, in PacketInfo info, uint seq, ReadOnlySpan<byte> payload, ITcpMessageSink sink, ref DecodeEvent ev)
    {
        int d = (int)(seq - s.NextSeq);
        if (d + payload.Length <= 0) return;
        if (d < 0)
        {
            payload = payload.Slice(-d);
        }
        else if (d > 0)
        {
            // Still ahead: everything held was older; carry on from this segment.
            ResetData(s);
            s.Resync = true;
            s.NextSeq = seq;
        }
        Deliver(s, info, payload, sink, ref ev);
        s.NextSeq += (uint)payload.Length;
        DrainOutOfOrder(s, info, sink, ref ev);
    }

    private int _sweep;

    /// <summary>
    /// Drops streams idle for longer than the timeout, looking at no more than <paramref name="budget"/> slots per
    /// call (round-robin). Lookups also drop idle streams they meet, so the sweep only has to catch the quiet ones.
    /// </summary>
    public int Expire(long nowNs, int budget = 1024)
    {
        int n = 0;
        for (int i = 0; i < budget && i < _table.Length; i++)
        {
            var s = _table[_sweep];
            _sweep = (_sweep + 1) & (_table.Length - 1);
            if (s is { InUse: true } && nowNs - s.LastSeenNs > _options.IdleTimeoutNs)
            {
                Release(s);
                n++;
            }
        }
        return n;
    }

    private Stream? Find(in PacketInfo info, bool create, out DecodeEvent ev)
    {
        ev = DecodeEvent.None;
        ulong hash = Hash64.Combine(Hash64.Compute(info.Source, ((ulong)info.SourcePort << 16) | info.OuterVlan),
            Hash64.Compute(info.Destination, info.DestinationPort));
        int mask = _table.Length - 1;
        int home = (int)(hash & (ulong)mask);
        int freeSlot = -1;
        Stream? oldest = null;
        for (int i = 0; i < ProbeWindow; i++)
        {
            int slot = (home + i) & mask;
            var s = _table[slot];
            if (s is null || !s.InUse)
            {
                if (freeSlot < 0) freeSlot = slot;
                continue;
            }
            if (s.Hash == hash && s.SourcePort == info.SourcePort && s.DestinationPort == info.DestinationPort
                && s.Vlan == info.OuterVlan && s.Source == info.Source && s.Destination == info.Destination)
                return s;
            if (info.TimestampNs - s.LastSeenNs > _options.IdleTimeoutNs)
            {
                Release(s);
                if (freeSlot < 0) freeSlot = slot;
                continue;
            }
            if (oldest is null || s.LastSeenNs < oldest.LastSeenNs) oldest = s;
        }
        if (!create) return null;
        Stream stream;
        if (freeSlot >= 0)
        {
            stream = _table[freeSlot] ??= new Stream { OutOfOrder = new Pending[_options.MaxOutOfOrderSegments] };
        }
        else
        {
            // Full: the least recently seen stream in the window makes room.
            Release(oldest!);
            _counters.Evictions++;
            ev = DecodeEvent.TcpStreamTableFull;
            stream = oldest!;
        }
        stream.InUse = true;
        stream.Hash = hash;
        stream.Source = info.Source;
        stream.Destination = info.Destination;
        stream.SourcePort = info.SourcePort;
        stream.DestinationPort = info.DestinationPort;
        stream.Vlan = info.OuterVlan;
        stream.HaveSeq = false;
        stream.Resync = false;
        ActiveStreams++;
        return stream;
    }

    private void Deliver(Stream s, in PacketInfo info, ReadOnlySpan<byte> data, ITcpMessageSink sink, ref DecodeEvent ev)
    {
        if (s.SkipRemaining > 0)
        {
            int k = (int)Math.Min(s.SkipRemaining, data.Length);
            s.SkipRemaining -= k;
            data = data.Slice(k);
            if (data.IsEmpty) return;
        }
        if (s.Resync)
        {
            int start = SipStreamFramer.FindMessageStart(data);
            if (start < 0) return;
            _counters.Resyncs++;
            s.Resync = false;
            data = data.Slice(start);
        }

        if (s.BufferLength == 0)
        {
            // Fast path: frame straight out of the segment.
            int consumed = FrameAll(s, info, data, sink);
            if (consumed < 0) return;
            data = data.Slice(consumed);
            if (data.IsEmpty) return;
            Append(s, data, ref ev);
            return;
        }

        if (!Append(s, data, ref ev)) return;
        int used = FrameAll(s, info, s.Buffer.AsSpan(0, s.BufferLength), sink);
        if (used < 0) return;
        if (used > 0)
        {
            int left = s.BufferLength - used;
            if (left > 0) Buffer.BlockCopy(s.Buffer!, used, s.Buffer!, 0, left);
            s.BufferLength = left;
        }
        if (s.BufferLength == 0) ReturnBuffer(s);
    }

    /// <summary>Frames every complete message at the start of <paramref name="data"/>; returns the bytes used, or -1
    /// when the stream was reset (the rest of the data is then dropped).</summary>
    private int FrameAll(Stream s, in PacketInfo info, ReadOnlySpan<byte> data, ITcpMessageSink sink)
    {
        int used = 0;
        while (used < data.Length)
        {
            var status = SipStreamFramer.TryFrame(data.Slice(used), ref s.Framer, _options.MaxMessageBytes, out int length);
            switch (status)
            {
                case FrameStatus.Complete:
                    _counters.Messages++;
                    sink.OnStreamMessage(info, data.Slice(used, length));
                    used += length;
                    break;
                case FrameStatus.KeepAlive:
                    _counters.KeepAlives++;
                    used += length;
                    break;
                case FrameStatus.NeedMore:
                    return used;
                case FrameStatus.TooLarge:
                    _counters.OversizedMessages++;
                    if (length > 0)
                    {
                        // Known length: skip the rest of it without buffering.
                        int here = Math.Min(length, data.Length - used);
                        s.SkipRemaining = length - here;
                        used += here;
                        s.Framer = SipFramerState.Initial;
                        break;
                    }
                    ResetData(s);
                    s.Resync = true;
                    return -1;
                default:
                    // Unframeable (conflicting or unreadable Content-Length, a smuggling vector): drop what is
                    // buffered and pick the stream up again at the next start line.
                    _counters.FramingErrors++;
                    ResetData(s);
                    s.Resync = true;
                    return -1;
            }
        }
        return used;
    }

    private bool Append(Stream s, ReadOnlySpan<byte> data, ref DecodeEvent ev)
    {
        int need = s.BufferLength + data.Length;
        if (need > _options.MaxMessageBytes + 4096)
        {
            _counters.OversizedMessages++;
            ResetData(s);
            s.Resync = true;
            return false;
        }
        if (s.Buffer is null || s.Buffer.Length < need)
        {
            var bigger = _pool.Rent(Math.Max(need, 2048));
            if (bigger is null)
            {
                _counters.MemoryCapHits++;
                if (ev == DecodeEvent.None) ev = DecodeEvent.TcpStreamMemoryCap;
                ResetData(s);
                s.Resync = true;
                return false;
            }
            if (s.Buffer is not null)
            {
                Buffer.BlockCopy(s.Buffer, 0, bigger, 0, s.BufferLength);
                _pool.Return(s.Buffer);
            }
            s.Buffer = bigger;
        }
        data.CopyTo(s.Buffer.AsSpan(s.BufferLength));
        s.BufferLength = need;
        return true;
    }

    private bool HoldOutOfOrder(Stream s, uint seq, ReadOnlySpan<byte> payload, long nowNs)
    {
        if (s.OutOfOrderCount >= s.OutOfOrder.Length || (int)(seq - s.NextSeq) > _options.MaxMessageBytes) return false;
        for (int i = 0; i < s.OutOfOrderCount; i++)
        {
            if (s.OutOfOrder[i].Seq == seq && s.OutOfOrder[i].Length >= payload.Length)
            {
                _counters.Retransmissions++;
                return true;
            }
        }
        var copy = _pool.Rent(payload.Length);
        if (copy is null)
        {
            _counters.MemoryCapHits++;
            return false;
        }
        payload.CopyTo(copy);
        if (s.OutOfOrderCount == 0) s.OldestHeldNs = nowNs;
        s.OutOfOrder[s.OutOfOrderCount++] = new Pending { Seq = seq, Data = copy, Length = payload.Length };
        _counters.OutOfOrder++;
        return true;
    }

    private void DrainOutOfOrder(Stream s, in PacketInfo info, ITcpMessageSink sink, ref DecodeEvent ev)
    {
        bool progress = true;
        while (progress && s.OutOfOrderCount > 0)
        {
            progress = false;
            for (int i = 0; i < s.OutOfOrderCount; i++)
            {
                ref Pending p = ref s.OutOfOrder[i];
                int d = (int)(p.Seq - s.NextSeq);
                if (d > 0) continue;
                var held = p.Data;
                int len = p.Length;
                // Remove it first: delivery may reset the stream.
                s.OutOfOrder[i] = s.OutOfOrder[--s.OutOfOrderCount];
                s.OutOfOrder[s.OutOfOrderCount] = default;
                if (d + len > 0)
                {
                    Deliver(s, info, held.AsSpan(-d, len + d), sink, ref ev);
                    s.NextSeq += (uint)(len + d);
                }
                _pool.Return(held);
                progress = true;
                break;
            }
        }
    }

    private void ResetData(Stream s)
    {
        s.Framer = SipFramerState.Initial;
        s.SkipRemaining = 0;
        s.BufferLength = 0;
        ReturnBuffer(s);
        for (int i = 0; i < s.OutOfOrderCount; i++)
        {
            _pool.Return(s.OutOfOrder[i].Data);
            s.OutOfOrder[i] = default;
        }
        s.OutOfOrderCount = 0;
    }

    private void ReturnBuffer(Stream s)
    {
        if (s.Buffer is not null)
        {
            _pool.Return(s.Buffer);
            s.Buffer = null;
        }
    }

    private void Release(Stream s)
    {
        if (!s.InUse) return;
        ResetData(s);
        s.InUse = false;
        ActiveStreams--;
    }
}
