using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
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

    /// <summary>Records of queued events that took the checked writer (a value to escape, a tight buffer).</summary>
    internal long CheckedRecords { get; private set; }

    // The values of one message in their queued form (ClfEvent.WriteTo), for the direct path.
    private readonly byte[] _scratch = new byte[ClfEvent.MaxBytes];

    /// <summary>Formats the record of a message seen in <paramref name="packet"/>; returns its length or -1 when it does not fit.</summary>
    /// <remarks>The values go through their queued form, so that a record from <c>analyze</c> and one from the live bridge
    /// come from the same code.</remarks>
    public int Format(in PacketInfo packet, SipMessage m, Span<byte> destination)
    {
        int length = ClfEvent.Write(packet, m, _scratch);
        return length < 0 ? -1 : Format(_scratch.AsSpan(0, length), destination);
    }

    /// <summary>
    /// Formats the record of an event queued by a worker (<see cref="ClfEvent.WriteTo"/>); returns its length or -1
    /// when the bytes are no event or the record does not fit.
    /// </summary>
    /// <remarks>
    /// Nearly every record needs no escaping and has room: its values are then copied from the queued bytes
    /// straight into the record, and the pointers follow from their lengths. Other records take the checked writer
    /// (<see cref="FormatChecked"/>); both give the same bytes.
    /// </remarks>
    public int Format(ReadOnlySpan<byte> queued, Span<byte> destination)
    {
        if (!ClfEvent.TryView(queued, out var h, out var strings)) return -1;
        // Room for the values, the endpoints, the numbers (30 bytes), a separator and a '-' per field (24), the final LF,
        // and the overshoot of the 32-byte stores (31).
        if (destination.Length < ClfFormat.FieldsOffset + strings.Length + 2 * EndpointMax + 96 || NeedsEscaping(h, strings))
        {
            CheckedRecords++;
            return ClfEvent.TryRead(queued, out var e) ? FormatChecked(e, destination) : -1;
        }

        ref byte d = ref MemoryMarshal.GetReference(destination);
        IndexLine.CopyTo(destination);
        Timestamp(h.TimestampNs).CopyTo(destination.Slice(ClfFormat.TimestampOffset, 14));
        bool isRequest = h.IsRequest != 0;
        ref byte flags = ref Unsafe.Add(ref d, ClfFormat.FlagsOffset);
        flags = isRequest ? (byte)'R' : (byte)'r';
        Unsafe.Add(ref flags, 1) = Seen(h.CallIdHash, strings.Slice(strings.Length - h.Lengths[7]), h.CSeqNumber, h.StatusCode, isRequest, h.CSeqMethod) ? (byte)'D' : (byte)'O';
        Unsafe.Add(ref flags, 3) = TransportFlag((L4Protocol)h.Transport);

        ref byte s = ref MemoryMarshal.GetReference(strings);
        int available = strings.Length; // bytes of the strings from the current one to their end
        int pos = ClfFormat.FieldsOffset;

        // CSeq: "number method", cut at 128 bytes as the checked path cuts it.
        Pointer(ref d, 0, pos);
        int method = h.Lengths[0];
        if (h.CSeqNumber >= 0)
        {
            int digits = WriteDecimal((ulong)h.CSeqNumber, destination.Slice(pos));
            pos += digits;
            Unsafe.Add(ref d, pos++) = (byte)' ';
            int k = Math.Min(method, CSeqMax - digits - 1);
            Copy(ref s, k, available, ref Unsafe.Add(ref d, pos));
            pos += k;
        }
        else
        {
            Unsafe.Add(ref d, pos++) = (byte)'-';
        }
        s = ref Unsafe.Add(ref s, method);
        available -= method;

        Unsafe.Add(ref d, pos++) = (byte)'\t';
        Pointer(ref d, 1, pos);
        if (!isRequest && h.StatusCode > 0) pos += WriteDecimal((uint)h.StatusCode, destination.Slice(pos));
        else Unsafe.Add(ref d, pos++) = (byte)'-';

        // The Request-URI is logged for requests only.
        int uri = h.Lengths[1];
        pos = Value(ref d, pos, 2, ref s, isRequest ? uri : 0, available);
        s = ref Unsafe.Add(ref s, uri);
        available -= uri;

        pos = Text(ref d, pos, 3, Endpoint(_destinations, h.Destination, h.DestinationPort));
        pos = Text(ref d, pos, 4, Endpoint(_sources, h.Source, h.SourcePort));
        for (int i = 2; i < 7; i++)
        {
            // To URI, To tag, From URI, From tag, Call-ID: fields 5 to 9, in the order the event holds them.
            int n = h.Lengths[i];
            pos = Value(ref d, pos, i + 3, ref s, n, available);
            s = ref Unsafe.Add(ref s, n);
            available -= n;
        }
        Unsafe.Add(ref d, pos++) = (byte)'\t';
        Pointer(ref d, 10, pos);
        Unsafe.Add(ref d, pos++) = (byte)'-';
        pos = Value(ref d, pos, 11, ref s, h.Lengths[7], available);

        // No optional fields: their pointer names the end.
        Pointer(ref d, 12, pos);
        Unsafe.Add(ref d, pos++) = (byte)'\n';
        ClfRecordWriter.WriteHex(pos, destination.Slice(1, 6));
        return pos;
    }

    /// <summary>
    /// True when a value holds TAB, CR or LF, or is exactly "-" or "?" (the checked writer escapes those), or is longer
    /// than a field may be (the checked writer cuts it; <see cref="ClfEvent.WriteTo"/> never queues one).
    /// </summary>
    private static bool NeedsEscaping(in ClfEvent.Header h, ReadOnlySpan<byte> strings)
    {
        if (strings.IndexOfAny((byte)'\t', (byte)'\r', (byte)'\n') >= 0) return true;
        int at = 0;
        for (int i = 0; i < ClfEvent.StringCount; i++)
        {
            int n = h.Lengths[i];
            if (n > ClfFormat.MaxFieldBytes) return true;
            // The CSeq method is only part of its field ("1 -" needs no escape).
            if (i > 0 && n == 1 && strings[at] is (byte)'-' or (byte)'?') return true;
            at += n;
        }
        return false;
    }

    /// <summary>The index line with every pointer and the length still zero: "A000000," 13 pointers, LF, then TAB flags TAB around the timestamp.</summary>
    private static ReadOnlySpan<byte> IndexLine => "A000000,0000000000000000000000000000000000000000000000000000\n00000000000000\tRORUU\t"u8;

    /// <summary>Longest CSeq field the formatter writes ("number method").</summary>
    private const int CSeqMax = 128;

    private static byte TransportFlag(L4Protocol transport) => transport switch
    {
        L4Protocol.Tcp => (byte)'T',
        L4Protocol.Sctp => (byte)'S',
        _ => (byte)'U',
    };

    /// <summary>
    /// Whether the retransmission detector saw this transaction's message already (Call-ID, branch, CSeq, status,
    /// direction), and notes it as seen.
    /// </summary>
    private bool Seen(ulong callIdHash, ReadOnlySpan<byte> branch, long cseq, int status, bool isRequest, byte cseqMethod)
    {
        ulong h = Hash64.Combine(callIdHash, Hash64.Compute(branch));
        h = Hash64.Combine(h, ((ulong)(uint)cseq << 20) ^ ((ulong)(uint)status << 4) ^ (isRequest ? 1UL : 0UL) ^ ((ulong)cseqMethod << 1));
        ref ulong slot = ref _seen[(int)(h & (ulong)(_seen.Length - 1))];
        bool duplicate = slot == h;
        slot = h;
        return duplicate;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Pointer(ref byte d, int index, int pos) =>
        ClfRecordWriter.WritePointer(ref Unsafe.Add(ref d, ClfFormat.PointersOffset + index * 4), pos + ClfFormat.PointerBase);

    /// <summary>A separator, the field's pointer, and the value (or "-" when empty); returns the new position.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Value(ref byte d, int pos, int index, ref byte value, int length, int available)
    {
        Unsafe.Add(ref d, pos++) = (byte)'\t';
        Pointer(ref d, index, pos);
        if (length == 0)
        {
            Unsafe.Add(ref d, pos) = (byte)'-';
            return pos + 1;
        }
        Copy(ref value, length, available, ref Unsafe.Add(ref d, pos));
        return pos + length;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Text(ref byte d, int pos, int index, ReadOnlySpan<byte> text) =>
        Value(ref d, pos, index, ref MemoryMarshal.GetReference(text), text.Length, text.Length);

    /// <summary>
    /// Copies <paramref name="length"/> bytes to a destination with 32 bytes of room past them: one or two 32-byte
    /// stores when the source has that many bytes readable (<paramref name="available"/>), whatever the length.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Copy(ref byte source, int length, int available, ref byte destination)
    {
        if (Vector256.IsHardwareAccelerated && length <= 64 && available >= 64)
        {
            Vector256.LoadUnsafe(ref source).StoreUnsafe(ref destination);
            if (length > 32) Vector256.LoadUnsafe(ref source, 32).StoreUnsafe(ref destination, 32);
            return;
        }
        SmallCopy.To(MemoryMarshal.CreateReadOnlySpan(ref source, length), MemoryMarshal.CreateSpan(ref destination, length));
    }

    /// <summary>Formats the record of <paramref name="e"/> with the checked writer; returns its length or -1 when it does not fit.</summary>
    internal int FormatChecked(scoped in ClfEvent e, Span<byte> destination)
    {
        Span<byte> cseq = stackalloc byte[CSeqMax];
        Span<byte> status = stackalloc byte[16];

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

        var record = new ClfRecord
        {
            TimestampNs = e.TimestampNs,
            TimestampText = Timestamp(e.TimestampNs),
            IsRequest = e.IsRequest,
            Retransmission = Seen(e.CallIdHash, e.Branch, e.CSeqNumber, e.StatusCode, e.IsRequest, (byte)e.CSeqMethod) ? (byte)'D' : (byte)'O',
            Direction = (byte)'R',
            Transport = TransportFlag(e.Transport),
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
