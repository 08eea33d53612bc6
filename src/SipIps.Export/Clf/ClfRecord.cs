namespace SipIps.Export.Clf;

/// <summary>
/// The fields of one SIP CLF record (RFC 6872 section 8, RFC 6873 indexed-ASCII form). Values are raw bytes;
/// the writer applies the escaping rules. An empty value is written as "-".
/// </summary>
public ref struct ClfRecord
{
    public long TimestampNs;
    /// <summary>The timestamp as written ("SSSSSSSSSS.mmm", 14 bytes), when the caller has it; else it is formatted from <see cref="TimestampNs"/>.</summary>
    public ReadOnlySpan<byte> TimestampText;
    /// <summary>'R' for a request, 'r' for a response.</summary>
    public bool IsRequest;
    /// <summary>'O' original, 'D' duplicate (retransmission), 'S' stateless (not detected).</summary>
    public byte Retransmission;
    /// <summary>'S' sent or 'R' received. An inline observer writes 'R'.</summary>
    public byte Direction;
    /// <summary>'U' UDP, 'T' TCP, 'S' SCTP, 'W' WebSocket.</summary>
    public byte Transport;
    public bool Encrypted;

    /// <summary>"number SP method".</summary>
    public ReadOnlySpan<byte> CSeq;
    /// <summary>The status code of a response; "-" for a request.</summary>
    public ReadOnlySpan<byte> Status;
    public ReadOnlySpan<byte> RequestUri;
    /// <summary>"address:port" ("[v6]:port" for IPv6).</summary>
    public ReadOnlySpan<byte> Destination;
    public ReadOnlySpan<byte> Source;
    public ReadOnlySpan<byte> ToUri;
    public ReadOnlySpan<byte> ToTag;
    public ReadOnlySpan<byte> FromUri;
    public ReadOnlySpan<byte> FromTag;
    public ReadOnlySpan<byte> CallId;
    public ReadOnlySpan<byte> ServerTransaction;
    public ReadOnlySpan<byte> ClientTransaction;
}

/// <summary>An optional field (RFC 6873 section 4.3): tag, vendor, and a text or base64 value.</summary>
public readonly ref struct ClfOptionalField
{
    public readonly ReadOnlySpan<byte> Tag;
    public readonly ReadOnlySpan<byte> Vendor;
    public readonly bool Binary;
    public readonly ReadOnlySpan<byte> Value;

    public ClfOptionalField(ReadOnlySpan<byte> tag, ReadOnlySpan<byte> value, ReadOnlySpan<byte> vendor = default, bool binary = false)
    {
        Tag = tag;
        Value = value;
        Vendor = vendor;
        Binary = binary;
    }
}
