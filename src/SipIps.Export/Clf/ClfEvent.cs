using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using SipIps.Engine.Common;
using SipIps.Engine.Packets;
using SipIps.Engine.Sip;

namespace SipIps.Export.Clf;

/// <summary>
/// The raw values of one CLF record: numbers, addresses and the SIP strings as they are in the message. A bridge
/// worker copies them into its ring (<see cref="WriteTo"/>: a fixed header and the strings, no formatting), and the
/// CLF thread reads them back (<see cref="TryRead"/>) and formats the record there, so that the text formatting
/// and the file's memory traffic stay off the packet path. <c>analyze --clf</c> formats the same values directly.
/// </summary>
public ref struct ClfEvent
{
    public long TimestampNs;
    public bool IsRequest;
    public L4Protocol Transport;
    public IpAddr Source;
    public IpAddr Destination;
    public ushort SourcePort;
    public ushort DestinationPort;
    /// <summary>The CSeq number, or -1 when the message has none.</summary>
    public long CSeqNumber;
    public SipMethod CSeqMethod;
    /// <summary>The status code of a response; 0 for a request.</summary>
    public int StatusCode;
    /// <summary><see cref="SipMessage.CallIdHash"/>, computed once by the worker.</summary>
    public ulong CallIdHash;
    public ReadOnlySpan<byte> CSeqMethodText;
    public ReadOnlySpan<byte> RequestUri;
    public ReadOnlySpan<byte> ToUri;
    public ReadOnlySpan<byte> ToTag;
    public ReadOnlySpan<byte> FromUri;
    public ReadOnlySpan<byte> FromTag;
    public ReadOnlySpan<byte> CallId;
    /// <summary>The branch of the top Via (the client transaction).</summary>
    public ReadOnlySpan<byte> Branch;

    internal const int StringCount = 8;

    /// <summary>The values of a parsed message seen in <paramref name="packet"/>; the spans point into the message.</summary>
    public static ClfEvent From(in PacketInfo packet, SipMessage m) => new()
    {
        TimestampNs = packet.TimestampNs,
        IsRequest = m.IsRequest,
        Transport = packet.Protocol,
        Source = packet.Source,
        Destination = packet.Destination,
        SourcePort = packet.SourcePort,
        DestinationPort = packet.DestinationPort,
        CSeqNumber = m.CSeqNumber,
        CSeqMethod = m.CSeqMethod,
        StatusCode = m.IsRequest ? 0 : m.StatusCode,
        CallIdHash = m.CallIdHash,
        CSeqMethodText = m[m.CSeqMethodText],
        RequestUri = m.IsRequest ? m[m.RequestUri.Text] : default,
        ToUri = m[m.To.Uri.Text],
        ToTag = m[m.To.Tag],
        FromUri = m[m.From.Uri.Text],
        FromTag = m[m.From.Tag],
        CallId = m[m.CallId],
        Branch = m.ViaCount > 0 ? m[m.Vias[0].Branch] : default,
    };

    /// <summary>
    /// Copies the event into <paramref name="destination"/>: the fixed header, then the strings, each cut at
    /// <see cref="ClfFormat.MaxFieldBytes"/> as the record would cut it. Returns the length, or -1 when it does not fit.
    /// </summary>
    public readonly int WriteTo(Span<byte> destination)
    {
        int size = Unsafe.SizeOf<Header>();
        if (destination.Length < size) return -1;
        var h = new Header
        {
            TimestampNs = TimestampNs,
            CallIdHash = CallIdHash,
            CSeqNumber = CSeqNumber,
            Source = Source,
            Destination = Destination,
            StatusCode = StatusCode,
            SourcePort = SourcePort,
            DestinationPort = DestinationPort,
            IsRequest = IsRequest ? (byte)1 : (byte)0,
            Transport = (byte)Transport,
            CSeqMethod = (byte)CSeqMethod,
        };
        int at = size;
        if (!Append(destination, ref at, CSeqMethodText, ref h.Lengths[0])
            || !Append(destination, ref at, RequestUri, ref h.Lengths[1])
            || !Append(destination, ref at, ToUri, ref h.Lengths[2])
            || !Append(destination, ref at, ToTag, ref h.Lengths[3])
            || !Append(destination, ref at, FromUri, ref h.Lengths[4])
            || !Append(destination, ref at, FromTag, ref h.Lengths[5])
            || !Append(destination, ref at, CallId, ref h.Lengths[6])
            || !Append(destination, ref at, Branch, ref h.Lengths[7]))
            return -1;
        MemoryMarshal.Write(destination, in h);
        return at;
    }

    /// <summary>Reads an event written by <see cref="WriteTo"/>; the spans point into <paramref name="source"/>.</summary>
    public static bool TryRead(ReadOnlySpan<byte> source, out ClfEvent e)
    {
        e = default;
        if (!TryView(source, out var h, out var strings)) return false;
        int at = 0;
        e.TimestampNs = h.TimestampNs;
        e.CallIdHash = h.CallIdHash;
        e.CSeqNumber = h.CSeqNumber;
        e.Source = h.Source;
        e.Destination = h.Destination;
        e.StatusCode = h.StatusCode;
        e.SourcePort = h.SourcePort;
        e.DestinationPort = h.DestinationPort;
        e.IsRequest = h.IsRequest != 0;
        e.Transport = (L4Protocol)h.Transport;
        e.CSeqMethod = (SipMethod)h.CSeqMethod;
        e.CSeqMethodText = Next(strings, ref at, h.Lengths[0]);
        e.RequestUri = Next(strings, ref at, h.Lengths[1]);
        e.ToUri = Next(strings, ref at, h.Lengths[2]);
        e.ToTag = Next(strings, ref at, h.Lengths[3]);
        e.FromUri = Next(strings, ref at, h.Lengths[4]);
        e.FromTag = Next(strings, ref at, h.Lengths[5]);
        e.CallId = Next(strings, ref at, h.Lengths[6]);
        e.Branch = Next(strings, ref at, h.Lengths[7]);
        return true;
    }

    /// <summary>
    /// The fixed part of an event written by <see cref="WriteTo"/>, and its strings in their order (CSeq method,
    /// Request-URI, To URI, To tag, From URI, From tag, Call-ID, branch), back to back; false when the bytes are too
    /// short for what the fixed part announces.
    /// </summary>
    internal static bool TryView(ReadOnlySpan<byte> source, out Header header, out ReadOnlySpan<byte> strings)
    {
        int size = Unsafe.SizeOf<Header>();
        strings = default;
        if (source.Length < size)
        {
            header = default;
            return false;
        }
        header = MemoryMarshal.Read<Header>(source);
        int total = 0;
        for (int i = 0; i < StringCount; i++) total += header.Lengths[i];
        if (total > source.Length - size) return false;
        strings = source.Slice(size, total);
        return true;
    }

    /// <summary>The most bytes an event can take: the fixed part and every string at its longest.</summary>
    public static int MaxBytes => Unsafe.SizeOf<Header>() + StringCount * ClfFormat.MaxFieldBytes;

    private static bool Append(Span<byte> destination, ref int at, ReadOnlySpan<byte> value, ref ushort length)
    {
        if (value.Length > ClfFormat.MaxFieldBytes) value = value.Slice(0, ClfFormat.MaxFieldBytes);
        if (destination.Length - at < value.Length) return false;
        SmallCopy.To(value, destination.Slice(at));
        at += value.Length;
        length = (ushort)value.Length;
        return true;
    }

    private static ReadOnlySpan<byte> Next(ReadOnlySpan<byte> source, scoped ref int at, int length)
    {
        var s = source.Slice(at, length);
        at += length;
        return s;
    }

    [InlineArray(StringCount)]
    internal struct StringLengths
    {
        private ushort _first;
    }

    /// <summary>The fixed part as it sits in the ring (host byte order: the ring never leaves the process).</summary>
    internal struct Header
    {
        public long TimestampNs;
        public ulong CallIdHash;
        public long CSeqNumber;
        public IpAddr Source;
        public IpAddr Destination;
        public int StatusCode;
        public ushort SourcePort;
        public ushort DestinationPort;
        public byte IsRequest;
        public byte Transport;
        public byte CSeqMethod;
        public StringLengths Lengths;
    }
}
