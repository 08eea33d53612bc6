namespace SipIps.Export.Clf;

/// <summary>
/// The constants of the RFC 6873 indexed-ASCII layout, in one place so that each can be checked against the RFC.
/// </summary>
public static class ClfFormat
{
    public const byte Version = (byte)'A';
    /// <summary>Offset of the 13 four-hex-digit pointers.</summary>
    public const int PointersOffset = 8;
    public const int PointerCount = 13;
    /// <summary>Offset of the timestamp; the index line ends with LF at offset 60.</summary>
    public const int TimestampOffset = 61;
    public const int FlagsOffset = 76;
    /// <summary>Offset of the first mandatory field (CSeq).</summary>
    public const int FieldsOffset = 82;
    /// <summary>Pointers are 1-based positions: the RFC example's CSeq pointer 0x0053 names 0-based offset 82.</summary>
    public const int PointerBase = 1;
    /// <summary>Longest value written for one field; longer ones are cut.</summary>
    public const int MaxFieldBytes = 4096;
    /// <summary>Pointers are four hex digits: the mandatory part must end before this offset.</summary>
    public const int MaxPointer = 0xFFFF;
    public const int MaxRecordBytes = 0xFFFFFF;
    /// <summary>Vendor-ID of IETF-defined optional tags.</summary>
    public static ReadOnlySpan<byte> IetfVendor => "00000000"u8;
}
