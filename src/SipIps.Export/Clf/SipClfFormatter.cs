using SipIps.Engine.Common;
using SipIps.Engine.Packets;
using SipIps.Engine.Sip;

namespace SipIps.Export.Clf;

/// <summary>
/// Maps a parsed SIP message to a CLF record, as an inline observer: direction 'R' (observed passing), Server-Txn
/// "-", Client-Txn the top Via branch, and 'O'/'D' from a bounded seen-set of (Call-ID, branch, CSeq, status).
/// One formatter serves one thread: it keeps the text of the current second and of recent endpoints.
/// </summary>
public sealed class SipClfFormatter
{
    private readonly ulong[] _seen;
    // The timestamp text of the current second ("SSSSSSSSSS.mmm"; the milliseconds are rewritten per record).
    private readonly byte[] _timestamp = new byte[14];
    private long _second = -1;
    // Recent endpoints ("address:port") by a hash of address and port: direct-mapped caches, as most records name a
    // peer that the previous ones named too (a proxy, a trunk, a registered phone). One per side, so that a record's
    // two texts never share a slot.
    private readonly EndpointText[] _sources = new EndpointText[EndpointSlots];
    private readonly EndpointText[] _destinations = new EndpointText[EndpointSlots];
    private const int EndpointSlots = 256;

    private struct EndpointText
    {
        public IpAddr Address;
        public ushort Port;
        public byte Length;
        public EndpointBytes Text;
    }

    [System.Runtime.CompilerServices.InlineArray(EndpointMax)]
    private struct EndpointBytes
    {
        private byte _first;
    }

    /// <summary>"[" + the longest IPv6 text + "]:" + five digits.</summary>
    private const int EndpointMax = IpAddr.MaxTextLength + 8;

    /// <param name="seenCapacity">Slots of the retransmission detector (a direct-mapped cache, rounded to a power of two).</param>
    public SipClfFormatter(int seenCapacity = 1 << 16)
    {
        int n = 1;
        while (n < seenCapacity) n <<= 1;
        _seen = new ulong[n];
    }

    /// <summary>Formats the record into <paramref name="destination"/>; returns its length or -1 when it does not fit.</summary>
    public int Format(in PacketInfo packet, SipMessage m, Span<byte> destination) => Format(ClfEvent.From(packet, m), destination);

    /// <summary>Formats the record of <paramref name="e"/>; returns its length or -1 when it does not fit.</summary>
    public int Format(scoped in ClfEvent e, Span<byte> destination)
    {
        Span<byte> cseq = stackalloc byte[128];
        Span<byte> status = stackalloc byte[8];

        int cseqLength = 0;
        if (e.CSeqNumber >= 0)
        {
            cseqLength = WriteDecimal((ulong)e.CSeqNumber, cseq);
            cseq[cseqLength++] = (byte)' ';
            var method = e.CSeqMethodText;
            int k = Math.Min(method.Length, cseq.Length - cseqLength);
            method.Slice(0, k).CopyTo(cseq.Slice(cseqLength));
            cseqLength += k;
        }
        int statusLength = 0;
        if (!e.IsRequest && e.StatusCode > 0) statusLength = WriteDecimal((ulong)e.StatusCode, status);

        ulong h = Hash64.Combine(e.CallIdHash, Hash64.Compute(e.Branch));
        h = Hash64.Combine(h, ((ulong)(uint)e.CSeqNumber << 20) ^ ((ulong)(uint)e.StatusCode << 4) ^ (e.IsRequest ? 1UL : 0UL) ^ ((ulong)e.CSeqMethod << 1));
        ref ulong slot = ref _seen[(int)(h & (ulong)(_seen.Length - 1))];
        bool duplicate = slot == h;
        slot = h;

        var record = new ClfRecord
        {
            TimestampNs = e.TimestampNs,
            TimestampText = Timestamp(e.TimestampNs),
            IsRequest = e.IsRequest,
            Retransmission = duplicate ? (byte)'D' : (byte)'O',
            Direction = (byte)'R',
            Transport = e.Transport switch
            {
                L4Protocol.Tcp => (byte)'T',
                L4Protocol.Sctp => (byte)'S',
                _ => (byte)'U',
            },
            Encrypted = false,
            CSeq = cseq.Slice(0, cseqLength),
            Status = status.Slice(0, statusLength),
            RequestUri = e.IsRequest ? e.RequestUri : default,
            Destination = Endpoint(_destinations, e.Destination, e.DestinationPort),
            Source = Endpoint(_sources, e.Source, e.SourcePort),
            ToUri = e.ToUri,
            ToTag = e.ToTag,
            FromUri = e.FromUri,
            FromTag = e.FromTag,
            CallId = e.CallId,
            ServerTransaction = default,
            ClientTransaction = e.Branch,
        };
        scoped var writer = new ClfRecordWriter(destination);
        writer.WriteMandatory(record);
        return writer.Finish();
    }

    /// <summary>The timestamp field; the seconds are formatted once per second.</summary>
    private ReadOnlySpan<byte> Timestamp(long ns)
    {
        long second = Math.Clamp(ns / 1_000_000_000, 0, 9_999_999_999);
        if (second != _second)
        {
            ClfRecordWriter.WriteTimestamp(ns, _timestamp);
            _second = second;
            return _timestamp;
        }
        long millis = Math.Max(0, ns % 1_000_000_000) / 1_000_000;
        _timestamp[11] = (byte)('0' + millis / 100);
        _timestamp[12] = (byte)('0' + millis / 10 % 10);
        _timestamp[13] = (byte)('0' + millis % 10);
        return _timestamp;
    }

    /// <summary>The text of an endpoint, from the cache or formatted into it.</summary>
    private static ReadOnlySpan<byte> Endpoint(EndpointText[] cache, in IpAddr address, ushort port)
    {
        ulong h = Hash64.Compute(address, port);
        ref var slot = ref cache[(int)(h & (EndpointSlots - 1))];
        if (slot.Length == 0 || slot.Port != port || !slot.Address.Equals(address))
        {
            slot.Address = address;
            slot.Port = port;
            slot.Length = (byte)FormatEndpoint(address, port, slot.Text);
        }
        return ((ReadOnlySpan<byte>)slot.Text).Slice(0, slot.Length);
    }

    /// <summary>"a.b.c.d:port" or "[v6]:port".</summary>
    public static int FormatEndpoint(in IpAddr address, ushort port, Span<byte> destination)
    {
        int w = 0;
        if (address.IsV6) destination[w++] = (byte)'[';
        if (!address.TryFormat(destination.Slice(w), out int n)) return 0;
        w += n;
        if (address.IsV6) destination[w++] = (byte)']';
        destination[w++] = (byte)':';
        return w + WriteDecimal((uint)port, destination.Slice(w));
    }

    /// <summary>Writes <paramref name="value"/> in decimal (the destination has room for 20 digits); returns the length.</summary>
    private static int WriteDecimal(ulong value, Span<byte> destination)
    {
        if (value <= uint.MaxValue) return WriteDecimal((uint)value, destination);
        int digits = 1;
        for (ulong v = value; v >= 10; v /= 10) digits++;
        for (int i = digits - 1; i >= 0; i--)
        {
            destination[i] = (byte)('0' + value % 10);
            value /= 10;
        }
        return digits;
    }

    // Ports, status codes and CSeq numbers: 32-bit arithmetic.
    private static int WriteDecimal(uint value, Span<byte> destination)
    {
        int digits = value < 10 ? 1 : value < 100 ? 2 : value < 1000 ? 3 : value < 10000 ? 4 : value < 100000 ? 5 : 6;
        for (uint v = value / 1000000; v > 0; v /= 10) digits++;
        for (int i = digits - 1; i >= 0; i--)
        {
            destination[i] = (byte)('0' + value % 10);
            value /= 10;
        }
        return digits;
    }
}
