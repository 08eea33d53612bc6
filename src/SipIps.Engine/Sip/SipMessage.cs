using System.Runtime.CompilerServices;
using SipIps.Engine.Common;

namespace SipIps.Engine.Sip;

/// <summary>A range of bytes inside <see cref="SipMessage.Buffer"/>. <see cref="Start"/> is -1 when the item is absent.</summary>
public readonly struct SipSlice
{
    public readonly int Start;
    public readonly int Length;

    public SipSlice(int start, int length)
    {
        Start = start;
        Length = length;
    }

    public static SipSlice None => new(-1, 0);
    public static SipSlice FromBounds(int start, int end) => new(start, end - start);

    public bool IsPresent => Start >= 0;
    public int End => Start + Length;
}

public enum UriScheme : byte { None, Sip, Sips, Tel, Other }

public enum HostKind : byte { None, Name, IPv4, IPv6 }

public enum SipTransport : byte { Unknown, Udp, Tcp, Tls, Sctp, TlsSctp, Ws, Wss }

/// <summary>A parsed URI; every part is a slice of the message.</summary>
public struct SipUri
{
    public SipSlice Text;
    public UriScheme Scheme;
    public SipSlice User;
    public SipSlice Password;
    public SipSlice Host;
    public HostKind HostKind;
    public int Port;
    public SipSlice Params;
    public SipSlice Headers;

    internal void Clear()
    {
        Text = User = Password = Host = Params = Headers = SipSlice.None;
        Scheme = UriScheme.None;
        HostKind = HostKind.None;
        Port = -1;
    }
}

/// <summary>A From, To, Contact or Route value: optional display name, URI and header parameters.</summary>
public struct SipNameAddr
{
    public SipSlice Text;
    public SipSlice DisplayName;
    public SipUri Uri;
    public SipSlice Tag;
    public SipSlice Params;
    /// <summary>Contact expires parameter; -1 when absent or out of range.</summary>
    public long Expires;
    public SipSlice Q;

    public readonly bool IsPresent => Text.IsPresent;

    internal void Clear()
    {
        Text = DisplayName = Tag = Params = Q = SipSlice.None;
        Uri.Clear();
        Expires = -1;
    }
}

/// <summary>One Via value.</summary>
public struct SipVia
{
    public SipSlice Text;
    public SipSlice Protocol;
    public SipSlice TransportText;
    public SipTransport Transport;
    public SipSlice Host;
    public HostKind HostKind;
    public int Port;
    public SipSlice Branch;
    public SipSlice Received;
    /// <summary>-2 when absent, -1 when present without a value, else the port.</summary>
    public int RPort;
    public SipSlice Maddr;
    public SipSlice Params;
}

/// <summary>Authorization or Proxy-Authorization credentials.</summary>
public struct SipCredentials
{
    public SipSlice Scheme;
    public SipSlice Username;
    public SipSlice Realm;
    public SipSlice Nonce;
    public SipSlice Uri;
    public readonly bool IsPresent => Scheme.IsPresent;

    internal void Clear() => Scheme = Username = Realm = Nonce = Uri = SipSlice.None;
}

/// <summary>WWW-Authenticate or Proxy-Authenticate challenge.</summary>
public struct SipChallenge
{
    public SipSlice Scheme;
    public SipSlice Realm;
    public SipSlice Nonce;
    public SipSlice Algorithm;
    public readonly bool IsPresent => Scheme.IsPresent;

    internal void Clear() => Scheme = Realm = Nonce = Algorithm = SipSlice.None;
}

/// <summary>One header line as received: its id (or <see cref="SipHeaderId.Other"/>), name and trimmed value.</summary>
public struct SipHeader
{
    public SipHeaderId Id;
    public SipSlice Name;
    public SipSlice Value;
}

public enum SdpMediaKind : byte { Other, Audio, Video, Application, Text, Message, Image }

public struct SdpMedia
{
    public SipSlice Text;
    public SipSlice Media;
    public SdpMediaKind Kind;
    public int Port;
    public int PortCount;
    public SipSlice Proto;
    public SipSlice Formats;
    /// <summary>Index of the first payload type in <see cref="SipMessage.PayloadTypes"/>.</summary>
    public int PayloadStart;
    public int PayloadCount;
    public SipSlice Connection;
    public IpAddr ConnectionAddress;
}

public struct SdpSession
{
    public bool Present;
    public SipSlice Text;
    public SipSlice Version;
    public SipSlice Origin;
    public SipSlice OriginUsername;
    public SipSlice OriginSessionId;
    public SipSlice OriginVersion;
    public SipSlice OriginAddress;
    public SipSlice SessionName;
    public SipSlice Connection;
    public IpAddr ConnectionAddress;
}

/// <summary>Caps that bound the work and the memory spent on one message. Every cap is counted when hit.</summary>
public sealed class SipParserLimits
{
    public int MaxMessageSize { get; init; } = 1 << 20;
    public int MaxStoredHeaders { get; init; } = 128;
    public int MaxStoredVias { get; init; } = 32;
    public int MaxStoredContacts { get; init; } = 8;
    public int MaxStoredRoutes { get; init; } = 8;
    public int MaxSdpMedia { get; init; } = 8;
    public int MaxPayloadTypes { get; init; } = 64;

    public static SipParserLimits Default { get; } = new();
}

/// <summary>
/// A parsed SIP message. One instance per worker is reused for every message: it owns a copy of the bytes and
/// preallocated arrays, and every field is a slice into <see cref="Buffer"/>. Nothing is allocated per message.
/// </summary>
public sealed class SipMessage
{
    public SipParserLimits Limits { get; }

    /// <summary>A copy of the message bytes; folded header lines have their CR LF replaced by spaces.</summary>
    public readonly byte[] Buffer;
    public int Length;

    public SipParseStatus Status;
    public SipAnomaly Anomalies;
    /// <summary>Byte offset where the first error was found, or -1.</summary>
    public int ErrorOffset;
    /// <summary>The header in which the first error was found (<see cref="SipHeaderId.Other"/> for the start line or unknown headers).</summary>
    public SipHeaderId ErrorHeader;

    public bool IsRequest;
    public bool IsResponse => !IsRequest && StatusCode > 0;
    public SipMethod Method;
    public SipSlice MethodText;
    public SipUri RequestUri;
    public SipSlice Version;
    public int StatusCode;
    public SipSlice Reason;
    public SipSlice StartLine;

    public readonly SipVia[] Vias;
    public int ViaCount;
    public int ViaTotal;

    public SipNameAddr From;
    public SipNameAddr To;
    public SipSlice CallId;
    private ulong _callIdHash;
    private bool _callIdHashed;

    /// <summary>
    /// <see cref="Hash64"/> of the Call-ID text, computed on first use and kept for the message: detection, session
    /// tracking, the CLF formatter and the report all key on it.
    /// </summary>
    public ulong CallIdHash
    {
        get
        {
            if (!_callIdHashed)
            {
                _callIdHash = Hash64.Compute(this[CallId]);
                _callIdHashed = true;
            }
            return _callIdHash;
        }
    }
    public long CSeqNumber;
    public SipMethod CSeqMethod;
    public SipSlice CSeqMethodText;

    public readonly SipNameAddr[] Contacts;
    public int ContactCount;
    public int ContactTotal;
    public bool ContactStar;

    public readonly SipNameAddr[] Routes;
    public int RouteCount;
    public int RouteTotal;
    public readonly SipNameAddr[] RecordRoutes;
    public int RecordRouteCount;
    public int RecordRouteTotal;

    public int MaxForwards;
    public long Expires;
    public SipSlice UserAgent;
    public SipSlice Server;
    public SipSlice ContentType;
    public SipSlice Subject;
    public SipSlice Date;
    public int ContentLength;

    public SipCredentials Authorization;
    public SipCredentials ProxyAuthorization;
    public SipChallenge WwwAuthenticate;
    public SipChallenge ProxyAuthenticate;

    public readonly SipHeader[] Headers;
    public int HeaderCount;
    public int HeaderTotal;

    /// <summary>Offset of the first body byte (just past the empty line).</summary>
    public int BodyStart;
    public SipSlice Body;
    /// <summary>Bytes that belong to this message: the start line through the end of the body.</summary>
    public int MessageLength;

    public SdpSession Sdp;
    public readonly SdpMedia[] Media;
    public int MediaCount;
    public readonly byte[] PayloadTypes;
    public int PayloadTypeCount;

    internal ulong SeenHeaders;
    /// <summary>Where values past a storage cap are parsed (validated and counted, not kept).</summary>
    internal SipVia ScratchVia;
    internal SipNameAddr ScratchNameAddr;

    /// <summary>
    /// Bytes the buffer holds past the largest message, so that the parser can read whole 64-byte blocks up to the
    /// message's last byte. What they hold is never reported.
    /// </summary>
    internal const int BufferPadding = 64;

    public SipMessage() : this(SipParserLimits.Default)
    {
    }

    public SipMessage(SipParserLimits limits)
    {
        Limits = limits;
        Buffer = GC.AllocateUninitializedArray<byte>(limits.MaxMessageSize + BufferPadding);
        Vias = new SipVia[limits.MaxStoredVias];
        Contacts = new SipNameAddr[limits.MaxStoredContacts];
        Routes = new SipNameAddr[limits.MaxStoredRoutes];
        RecordRoutes = new SipNameAddr[limits.MaxStoredRoutes];
        Headers = new SipHeader[limits.MaxStoredHeaders];
        Media = new SdpMedia[limits.MaxSdpMedia];
        PayloadTypes = new byte[limits.MaxPayloadTypes];
        Reset();
    }

    public bool IsValid => Status == SipParseStatus.Ok;

    /// <summary>The bytes of a slice; empty when the slice is absent.</summary>
    public ReadOnlySpan<byte> this[SipSlice slice]
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => slice.Start >= 0 ? new ReadOnlySpan<byte>(Buffer, slice.Start, slice.Length) : default;
    }

    public ReadOnlySpan<byte> Span => new(Buffer, 0, Length);

    /// <summary>The top (first) Via, or a default value when there is none.</summary>
    public ref readonly SipVia TopVia => ref Vias[0];

    /// <summary>The method this message belongs to: the request method, or the CSeq method of a response.</summary>
    public SipMethod TransactionMethod => IsRequest ? Method : CSeqMethod;

    /// <summary>Gets the text of a slice as a string (allocates; for reports and tests, not for the packet path).</summary>
    public string? GetString(SipSlice slice) =>
        slice.IsPresent ? System.Text.Encoding.UTF8.GetString(Buffer, slice.Start, slice.Length) : null;

    public ReadOnlySpan<byte> GetPayloadTypes(in SdpMedia media) => new(PayloadTypes, media.PayloadStart, media.PayloadCount);

    internal void Reset()
    {
        Length = 0;
        Status = SipParseStatus.Ok;
        Anomalies = SipAnomaly.None;
        ErrorOffset = -1;
        ErrorHeader = SipHeaderId.Other;
        IsRequest = false;
        Method = SipMethod.Unknown;
        MethodText = Version = Reason = StartLine = SipSlice.None;
        RequestUri.Clear();
        StatusCode = 0;
        ViaCount = ViaTotal = 0;
        Vias[0] = default;
        From.Clear();
        To.Clear();
        CallId = SipSlice.None;
        _callIdHashed = false;
        CSeqNumber = -1;
        CSeqMethod = SipMethod.Unknown;
        CSeqMethodText = SipSlice.None;
        ContactCount = ContactTotal = 0;
        ContactStar = false;
        RouteCount = RouteTotal = RecordRouteCount = RecordRouteTotal = 0;
        MaxForwards = -1;
        Expires = -1;
        UserAgent = Server = ContentType = Subject = Date = SipSlice.None;
        ContentLength = -1;
        Authorization.Clear();
        ProxyAuthorization.Clear();
        WwwAuthenticate.Clear();
        ProxyAuthenticate.Clear();
        HeaderCount = HeaderTotal = 0;
        BodyStart = -1;
        Body = SipSlice.None;
        MessageLength = 0;
        Sdp = default;
        Sdp.Text = Sdp.Version = Sdp.Origin = Sdp.OriginUsername = Sdp.OriginSessionId = Sdp.OriginVersion =
            Sdp.OriginAddress = Sdp.SessionName = Sdp.Connection = SipSlice.None;
        MediaCount = 0;
        PayloadTypeCount = 0;
        SeenHeaders = 0;
    }

    /// <summary>Records an error; only the first one becomes the status.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void Fail(SipParseStatus status, int offset, SipHeaderId header = SipHeaderId.Other)
    {
        if (Status == SipParseStatus.Ok)
        {
            Status = status;
            ErrorOffset = offset;
            ErrorHeader = header;
        }
    }
}
