using SipIps.Engine.Common;
using SipIps.Engine.Packets;
using SipIps.Engine.Sip;

namespace SipIps.Export.Clf;

/// <summary>
/// Maps a parsed SIP message to a CLF record, as an inline observer: direction 'R' (observed passing), Server-Txn
/// "-", Client-Txn the top Via branch, and 'O'/'D' from a bounded seen-set of (Call-ID, branch, CSeq, status).
/// </summary>
public sealed class SipClfFormatter
{
    private readonly ulong[] _seen;

    /// <param name="seenCapacity">Slots of the retransmission detector (a direct-mapped cache, rounded to a power of two).</param>
    public SipClfFormatter(int seenCapacity = 1 << 16)
    {
        int n = 1;
        while (n < seenCapacity) n <<= 1;
        _seen = new ulong[n];
    }

    /// <summary>Formats the record into <paramref name="destination"/>; returns its length or -1 when it does not fit.</summary>
    public int Format(in PacketInfo packet, SipMessage m, Span<byte> destination)
    {
        Span<byte> cseq = stackalloc byte[128];
        Span<byte> status = stackalloc byte[8];
        Span<byte> dst = stackalloc byte[64];
        Span<byte> src = stackalloc byte[64];

        int cseqLength = 0;
        if (m.CSeqNumber >= 0 && m.CSeqNumber.TryFormat(cseq, out cseqLength))
        {
            cseq[cseqLength++] = (byte)' ';
            var method = m[m.CSeqMethodText];
            int k = Math.Min(method.Length, cseq.Length - cseqLength);
            method.Slice(0, k).CopyTo(cseq.Slice(cseqLength));
            cseqLength += k;
        }
        int statusLength = 0;
        if (!m.IsRequest && m.StatusCode > 0) m.StatusCode.TryFormat(status, out statusLength);

        ulong h = Hash64.Combine(Hash64.Compute(m[m.CallId]), Hash64.Compute(m.ViaCount > 0 ? m[m.Vias[0].Branch] : default));
        h = Hash64.Combine(h, ((ulong)(uint)m.CSeqNumber << 20) ^ ((ulong)m.StatusCode << 4) ^ (m.IsRequest ? 1UL : 0UL) ^ ((ulong)m.CSeqMethod << 1));
        ref ulong slot = ref _seen[(int)(h & (ulong)(_seen.Length - 1))];
        bool duplicate = slot == h;
        slot = h;

        var record = new ClfRecord
        {
            TimestampNs = packet.TimestampNs,
            IsRequest = m.IsRequest,
            Retransmission = duplicate ? (byte)'D' : (byte)'O',
            Direction = (byte)'R',
            Transport = packet.Protocol switch
            {
                L4Protocol.Tcp => (byte)'T',
                L4Protocol.Sctp => (byte)'S',
                _ => (byte)'U',
            },
            Encrypted = false,
            CSeq = cseq.Slice(0, cseqLength),
            Status = status.Slice(0, statusLength),
            RequestUri = m.IsRequest ? m[m.RequestUri.Text] : default,
            Destination = dst.Slice(0, FormatEndpoint(packet.Destination, packet.DestinationPort, dst)),
            Source = src.Slice(0, FormatEndpoint(packet.Source, packet.SourcePort, src)),
            ToUri = m[m.To.Uri.Text],
            ToTag = m[m.To.Tag],
            FromUri = m[m.From.Uri.Text],
            FromTag = m[m.From.Tag],
            CallId = m[m.CallId],
            ServerTransaction = default,
            ClientTransaction = m.ViaCount > 0 ? m[m.Vias[0].Branch] : default,
        };
        var writer = new ClfRecordWriter(destination);
        writer.WriteMandatory(record);
        return writer.Finish();
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
        port.TryFormat(destination.Slice(w), out n);
        return w + n;
    }
}
