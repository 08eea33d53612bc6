using SipIps.Engine.Common;
using SipIps.Engine.Decode;
using SipIps.Engine.Packets;

namespace SipIps.Engine.Reassembly;

/// <summary>
/// Joins SCTP user messages split over several DATA chunks (B ... E flags, consecutive TSNs) per association
/// direction and stream. Bounded by a small table and the shared byte cap of its buffer pool; a chunk out of TSN
/// order abandons the partial message (counted), since SIP over SCTP rarely fragments at all.
/// </summary>
public sealed class SctpReassembler
{
    private const int ProbeWindow = 4;

    private sealed class Partial
    {
        public bool InUse;
        public ulong Key;
        public uint NextTsn;
        public byte[]? Buffer;
        public int Length;
        public long LastSeenNs;
    }

    private readonly Partial[] _table;
    private readonly BufferPool _pool;
    private readonly int _maxMessage;

    public SctpReassembler(int maxPartials = 256, int maxMessage = 1 << 16, long memoryCap = 8 << 20)
    {
        int n = 1;
        while (n < maxPartials) n <<= 1;
        _table = new Partial[n];
        for (int i = 0; i < n; i++) _table[i] = new Partial();
        _maxMessage = maxMessage;
        _pool = new BufferPool(memoryCap, maxMessage);
    }

    public long Completed { get; private set; }
    public long Abandoned { get; private set; }

    /// <summary>
    /// Adds a DATA chunk that is not a whole message. Returns true with the joined message when this chunk ended
    /// it; the span is valid until the next call.
    /// </summary>
    public bool Add(in PacketInfo info, in SctpData chunk, uint tsn, out ReadOnlySpan<byte> message, out DecodeEvent error)
    {
        message = default;
        error = DecodeEvent.None;
        ulong key = Hash64.Combine(Hash64.Compute(info.Source, ((ulong)info.SourcePort << 32) | ((ulong)info.DestinationPort << 16) | chunk.Stream),
            Hash64.Compute(info.Destination));
        int mask = _table.Length - 1;
        int home = (int)(key & (ulong)mask);
        Partial? entry = null, free = null, oldest = null;
        for (int i = 0; i < ProbeWindow; i++)
        {
            var p = _table[(home + i) & mask];
            if (p.InUse && p.Key == key)
            {
                entry = p;
                break;
            }
            if (!p.InUse) free ??= p;
            else if (oldest is null || p.LastSeenNs < oldest.LastSeenNs) oldest = p;
        }

        if (chunk.Beginning)
        {
            if (entry is not null)
            {
                Abandon(entry);
            }
            entry ??= free;
            if (entry is null)
            {
                Abandon(oldest!);
                entry = oldest!;
            }
            entry.Buffer = _pool.Rent(_maxMessage);
            if (entry.Buffer is null)
            {
                error = DecodeEvent.SctpFragmentedData;
                return false;
            }
            entry.InUse = true;
            entry.Key = key;
            entry.Length = 0;
        }
        else if (entry is null || entry.NextTsn != tsn)
        {
            if (entry is not null) Abandon(entry);
            error = DecodeEvent.SctpFragmentedData;
            return false;
        }

        entry.LastSeenNs = info.TimestampNs;
        if (entry.Length + chunk.UserData.Length > _maxMessage)
        {
            Abandon(entry);
            error = DecodeEvent.SctpFragmentedData;
            return false;
        }
        chunk.UserData.CopyTo(entry.Buffer.AsSpan(entry.Length));
        entry.Length += chunk.UserData.Length;
        entry.NextTsn = tsn + 1;
        if (!chunk.Ending) return false;

        message = entry.Buffer.AsSpan(0, entry.Length);
        Completed++;
        // Back to the pool now; the bytes stay as they are until the next Add.
        _pool.Return(entry.Buffer!);
        entry.Buffer = null;
        entry.InUse = false;
        return true;
    }

    private void Abandon(Partial p)
    {
        if (!p.InUse) return;
        Abandoned++;
        if (p.Buffer is not null) _pool.Return(p.Buffer);
        p.Buffer = null;
        p.InUse = false;
    }
}
