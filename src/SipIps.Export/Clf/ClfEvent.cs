using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using SipIps.Engine.Common;
using SipIps.Engine.Packets;
using SipIps.Engine.Sip;

namespace SipIps.Export.Clf;

/// <summary>
/// The raw values of one CLF record: numbers, addresses and the SIP strings as they are in the message. A bridge
/// worker copies them into its ring (<see cref="Write"/>: a fixed header and the strings, no formatting), and the
/// CLF thread formats the record from those bytes (<see cref="SipClfFormatter.Format(ReadOnlySpan{byte}, Span{byte})"/>),
/// so that the text formatting and the file's memory traffic stay off the packet path. <c>analyze --clf</c> queues
/// each message's values into a buffer of its own and formats them the same way.
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

    /// <summary>
    /// Copies the event into <paramref name="destination"/>: the fixed header, then the strings, each cut at
    /// <see cref="ClfFormat.MaxFieldBytes"/> as the record would cut it. Returns the length, or -1 when it does not fit.
    /// (A worker queues a parsed message with <see cref="Write"/>; this writes an event built field by field.)
    /// </summary>
    public readonly int WriteTo(Span<byte> destination)
    {
        if (!Fits(destination, CSeqMethodText, RequestUri, ToUri, ToTag, FromUri, FromTag, CallId, Branch)) return -1;
        ref Header h = ref HeaderIn(destination);
        h.TimestampNs = TimestampNs;
        h.CallIdHash = CallIdHash;
        h.CSeqNumber = CSeqNumber;
        h.Source = Source;
        h.Destination = Destination;
        h.StatusCode = StatusCode;
        h.SourcePort = SourcePort;
        h.DestinationPort = DestinationPort;
        h.IsRequest = IsRequest ? (byte)1 : (byte)0;
        h.Transport = (byte)Transport;
        h.CSeqMethod = (byte)CSeqMethod;
        return WriteStrings(ref h, destination, CSeqMethodText, RequestUri, ToUri, ToTag, FromUri, FromTag, CallId, Branch);
    }

    /// <summary>
    /// Queues the values of a parsed message seen in <paramref name="packet"/>, as <see cref="WriteTo"/> lays them out
    /// (the Request-URI only for a request, the branch of the top Via); a worker queues every message this way. The
    /// fixed part is written in place: built apart and copied, its narrow stores stalled the copy's wide loads (about
    /// a third of the 34 ns this took).
    /// </summary>
    public static int Write(in PacketInfo packet, SipMessage m, Span<byte> destination)
    {
        bool request = m.IsRequest;
        var cseqMethod = m[m.CSeqMethodText];
        var requestUri = request ? m[m.RequestUri.Text] : default;
        var toUri = m[m.To.Uri.Text];
        var toTag = m[m.To.Tag];
        var fromUri = m[m.From.Uri.Text];
        var fromTag = m[m.From.Tag];
        var callId = m[m.CallId];
        var branch = m.ViaCount > 0 ? m[m.Vias[0].Branch] : default;
        if (!Fits(destination, cseqMethod, requestUri, toUri, toTag, fromUri, fromTag, callId, branch)) return -1;
        ref Header h = ref HeaderIn(destination);
        h.TimestampNs = packet.TimestampNs;
        h.CallIdHash = m.CallIdHash;
        h.CSeqNumber = m.CSeqNumber;
        h.Source = packet.Source;
        h.Destination = packet.Destination;
        h.StatusCode = request ? 0 : m.StatusCode;
        h.SourcePort = packet.SourcePort;
        h.DestinationPort = packet.DestinationPort;
        h.IsRequest = request ? (byte)1 : (byte)0;
        h.Transport = (byte)packet.Protocol;
        h.CSeqMethod = (byte)m.CSeqMethod;
        return WriteStrings(ref h, destination, cseqMethod, requestUri, toUri, toTag, fromUri, fromTag, callId, branch);
    }

    /// <summary>Whether the fixed part and the strings (cut) fit in <paramref name="destination"/>.</summary>
    private static bool Fits(Span<byte> destination, ReadOnlySpan<byte> cseqMethod, ReadOnlySpan<byte> requestUri,
        ReadOnlySpan<byte> toUri, ReadOnlySpan<byte> toTag, ReadOnlySpan<byte> fromUri, ReadOnlySpan<byte> fromTag,
        ReadOnlySpan<byte> callId, ReadOnlySpan<byte> branch) =>
        destination.Length >= (long)Unsafe.SizeOf<Header>() + Cut(cseqMethod) + Cut(requestUri) + Cut(toUri) + Cut(toTag)
            + Cut(fromUri) + Cut(fromTag) + Cut(callId) + Cut(branch);

    /// <summary>The fixed part at the start of <paramref name="destination"/> (host byte order; the ring never leaves the process).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ref Header HeaderIn(Span<byte> destination) => ref Unsafe.As<byte, Header>(ref MemoryMarshal.GetReference(destination));

    /// <summary>The strings after the fixed part, their lengths into it; the caller checked the room (<see cref="Fits"/>).</summary>
    private static int WriteStrings(ref Header h, Span<byte> destination, ReadOnlySpan<byte> cseqMethod, ReadOnlySpan<byte> requestUri,
        ReadOnlySpan<byte> toUri, ReadOnlySpan<byte> toTag, ReadOnlySpan<byte> fromUri, ReadOnlySpan<byte> fromTag,
        ReadOnlySpan<byte> callId, ReadOnlySpan<byte> branch)
    {
        int at = Unsafe.SizeOf<Header>();
        Append(destination, ref at, cseqMethod, ref h.Lengths[0]);
        Append(destination, ref at, requestUri, ref h.Lengths[1]);
        Append(destination, ref at, toUri, ref h.Lengths[2]);
        Append(destination, ref at, toTag, ref h.Lengths[3]);
        Append(destination, ref at, fromUri, ref h.Lengths[4]);
        Append(destination, ref at, fromTag, ref h.Lengths[5]);
        Append(destination, ref at, callId, ref h.Lengths[6]);
        Append(destination, ref at, branch, ref h.Lengths[7]);
        return at;
    }

    /// <summary>The bytes of a value that an event keeps.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Cut(ReadOnlySpan<byte> value) => Math.Min(value.Length, ClfFormat.MaxFieldBytes);

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

    /// <summary>Copies a value (cut) at <paramref name="at"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Append(Span<byte> destination, ref int at, ReadOnlySpan<byte> value, ref ushort length)
    {
        int n = Cut(value);
        SmallCopy.To(value.Slice(0, n), destination.Slice(at, n));
        at += n;
        length = (ushort)n;
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
