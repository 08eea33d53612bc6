using SipIps.Engine.Common;
using SipIps.Engine.Sessions;
using SipIps.Engine.Sip;

namespace SipIps.Export.NetFlow;

/// <summary>
/// The information elements of the SIP-session flow records. Standard v9 elements where they exist, ntop's SIP and RTP
/// elements (NTOP_BASE 57472 + n) where they exist, and SipIps's own in 61000..61099, outside ntop's range. Strings
/// are fixed-length and NUL-padded (v9 has no variable length): Call-ID, parties and user agents 96 bytes, as nProbe
/// pads them; tags 32. The README lists every element.
/// </summary>
public static class Ie
{
    // Standard (RFC 3954 / IANA IPFIX).
    public const ushort InBytes = 1, InPkts = 2, Protocol = 4, L4SrcPort = 7, Ipv4SrcAddr = 8, L4DstPort = 11, Ipv4DstAddr = 12;
    public const ushort LastSwitched = 21, FirstSwitched = 22, Ipv6SrcAddr = 27, Ipv6DstAddr = 28;
    public const ushort FlowActiveTimeout = 36, FlowInactiveTimeout = 37, TotalBytesExp = 40, TotalPktsExp = 41, TotalFlowsExp = 42;
    public const ushort FlowEndReason = 136;
    // ntop.
    public const ushort SipCallId = 57602, SipCallingParty = 57603, SipCalledParty = 57604;
    public const ushort SipInviteTime = 57606, SipTryingTime = 57607, SipRingingTime = 57608, SipInviteOkTime = 57609, SipInviteFailureTime = 57610;
    public const ushort SipByeTime = 57611, SipByeOkTime = 57612, SipCancelTime = 57613, SipCancelOkTime = 57614;
    public const ushort SipRtpIpv4SrcAddr = 57615, SipRtpL4SrcPort = 57616, SipRtpIpv4DstAddr = 57617, SipRtpL4DstPort = 57618;
    public const ushort SipResponseCode = 57619, SipUac = 57788, SipUas = 57789;
    public const ushort SipRegisterNumOk = 58001, SipRegisterNumOther = 58002;
    public const ushort RtpInJitter = 57626, RtpOutJitter = 57627, RtpInPktLost = 57628, RtpOutPktLost = 57629;
    public const ushort RtpOutPayloadType = 57630, RtpInPayloadType = 57633, RtpSsrc = 57909;
    // SipIps.
    public const ushort FromTag = 61000, ToTag = 61001;
    public const ushort InviteMs = 61010, TryingMs = 61011, RingingMs = 61012, InviteOkMs = 61013, AckMs = 61014, ByeMs = 61015;
    public const ushort ByeOkMs = 61016, InviteFailureMs = 61017, CancelMs = 61018;
    public const ushort InviteRequests = 61020, AckRequests = 61021, ByeRequests = 61022, CancelRequests = 61023, OtherRequests = 61024;
    public const ushort InviteResponses = 61031, ByeResponses = 61032, CancelResponses = 61033, OtherResponses = 61034, ErrorResponses = 61035;
    public const ushort ReverseSsrc = 61040, RtpInPkts = 61041, RtpOutPkts = 61042, RtpBytes = 61043, RtpSsrcCount = 61044, Authenticated = 61045;
    public const ushort Method = 61050, RequestMs = 61051, FinalMs = 61052, Requests = 61053, ResponsesTotal = 61054, Expires = 61055;
    public const ushort CallerMediaV6 = 61060, CalleeMediaV6 = 61061;
}

/// <summary>
/// The templates of SIP-session flow records, and how a <see cref="SessionState"/> fills them. Millisecond times
/// (SipIps elements) sit beside ntop's second-resolution ones; the failure and CANCEL times exist in ntop's form only,
/// and RTP bytes are inside IN_BYTES, to keep the call template within Wireshark's 60-field default.
/// </summary>
public static class SessionFlows
{
    public const ushort CallV4 = 256, CallV6 = 257, TransactionV4 = 258, TransactionV6 = 259, Exporter = 260;

    private static FieldSpec F(ushort type, ushort length) => new(type, length);

    private static List<FieldSpec> Common(bool v6) =>
    [
        F(v6 ? Ie.Ipv6SrcAddr : Ie.Ipv4SrcAddr, (ushort)(v6 ? 16 : 4)), F(v6 ? Ie.Ipv6DstAddr : Ie.Ipv4DstAddr, (ushort)(v6 ? 16 : 4)),
        F(Ie.L4SrcPort, 2), F(Ie.L4DstPort, 2), F(Ie.Protocol, 1), F(Ie.InPkts, 4), F(Ie.InBytes, 8),
        F(Ie.FirstSwitched, 4), F(Ie.LastSwitched, 4), F(Ie.FlowEndReason, 1),
        F(Ie.SipCallId, 96), F(Ie.SipCallingParty, 96), F(Ie.SipCalledParty, 96), F(Ie.FromTag, 32), F(Ie.ToTag, 32),
        F(Ie.SipUac, 96), F(Ie.SipUas, 96), F(Ie.SipResponseCode, 4),
    ];

    private static NetFlowTemplate Call(bool v6)
    {
        var f = Common(v6);
        f.AddRange([
            F(Ie.SipInviteTime, 4), F(Ie.SipTryingTime, 4), F(Ie.SipRingingTime, 4), F(Ie.SipInviteOkTime, 4), F(Ie.SipInviteFailureTime, 4),
            F(Ie.SipByeTime, 4), F(Ie.SipByeOkTime, 4), F(Ie.SipCancelTime, 4), F(Ie.SipCancelOkTime, 4),
            F(Ie.InviteMs, 8), F(Ie.TryingMs, 8), F(Ie.RingingMs, 8), F(Ie.InviteOkMs, 8), F(Ie.AckMs, 8), F(Ie.ByeMs, 8), F(Ie.ByeOkMs, 8),
            F(Ie.InviteRequests, 2), F(Ie.AckRequests, 2), F(Ie.ByeRequests, 2), F(Ie.CancelRequests, 2), F(Ie.OtherRequests, 2),
            F(Ie.InviteResponses, 2), F(Ie.ByeResponses, 2), F(Ie.CancelResponses, 2), F(Ie.OtherResponses, 2), F(Ie.ErrorResponses, 2),
        ]);
        if (v6) f.AddRange([F(Ie.CallerMediaV6, 16), F(Ie.SipRtpL4SrcPort, 2), F(Ie.CalleeMediaV6, 16), F(Ie.SipRtpL4DstPort, 2)]);
        else f.AddRange([F(Ie.SipRtpIpv4SrcAddr, 4), F(Ie.SipRtpL4SrcPort, 2), F(Ie.SipRtpIpv4DstAddr, 4), F(Ie.SipRtpL4DstPort, 2)]);
        f.AddRange([
            F(Ie.RtpSsrc, 4), F(Ie.ReverseSsrc, 4), F(Ie.RtpSsrcCount, 1), F(Ie.RtpInPkts, 4), F(Ie.RtpOutPkts, 4),
            F(Ie.RtpInJitter, 4), F(Ie.RtpOutJitter, 4), F(Ie.RtpInPktLost, 4), F(Ie.RtpOutPktLost, 4),
            F(Ie.RtpInPayloadType, 1), F(Ie.RtpOutPayloadType, 1),
        ]);
        return new NetFlowTemplate(v6 ? CallV6 : CallV4, f);
    }

    private static NetFlowTemplate Transaction(bool v6)
    {
        var f = Common(v6);
        f.AddRange([
            F(Ie.Authenticated, 1), F(Ie.Method, 16), F(Ie.RequestMs, 8), F(Ie.FinalMs, 8), F(Ie.Requests, 2), F(Ie.ResponsesTotal, 2),
            F(Ie.SipRegisterNumOk, 1), F(Ie.SipRegisterNumOther, 1), F(Ie.Expires, 4),
        ]);
        return new NetFlowTemplate(v6 ? TransactionV6 : TransactionV4, f);
    }

    /// <summary>Exporter description: scope System (the source id), then timeouts and export totals.</summary>
    public static readonly NetFlowTemplate ExporterOptions = new(Exporter,
        [F(Ie.FlowActiveTimeout, 2), F(Ie.FlowInactiveTimeout, 2), F(Ie.TotalBytesExp, 8), F(Ie.TotalPktsExp, 8), F(Ie.TotalFlowsExp, 8)],
        [F(1, 4)]);

    public static readonly NetFlowTemplate[] All = [Call(false), Call(true), Transaction(false), Transaction(true), ExporterOptions];

    /// <summary>Wireshark decodes templates of at most 60 fields by default (cflow.max_template_fields); ours stay within.</summary>
    public const int MaxFields = 60;

    public static NetFlowTemplate TemplateFor(in SessionState s) =>
        All[(s.Kind == SessionKind.Call ? 0 : 2) + (s.Source.IsV6 ? 1 : 0)];

    /// <summary>Writes one record for the session into the writer's current packet.</summary>
    public static void Write(NetFlowV9Writer writer, in SessionState s, SessionEndReason reason, long nowNs)
    {
        var t = TemplateFor(s);
        var w = new FieldWriter(writer.BeginRecord(t, nowNs));
        Span<byte> address = stackalloc byte[16];
        foreach (var f in t.Fields)
        {
            int n = f.Length;
            switch (f.Type)
            {
                case Ie.Ipv4SrcAddr or Ie.Ipv6SrcAddr: w.Bytes(address[..s.Source.WriteBytes(address)], n); break;
                case Ie.Ipv4DstAddr or Ie.Ipv6DstAddr: w.Bytes(address[..s.Destination.WriteBytes(address)], n); break;
                case Ie.L4SrcPort: w.Unsigned(s.SourcePort, n); break;
                case Ie.L4DstPort: w.Unsigned(s.DestinationPort, n); break;
                case Ie.Protocol: w.Unsigned((byte)s.Transport, n); break;
                case Ie.InPkts: w.Unsigned(s.Packets + s.RtpPackets, n); break;
                case Ie.InBytes: w.Unsigned(s.Bytes + s.RtpBytes, n); break;
                case Ie.FirstSwitched: w.Unsigned(writer.Uptime(s.FirstNs), n); break;
                case Ie.LastSwitched: w.Unsigned(writer.Uptime(Math.Max(s.FirstNs, s.LastNs)), n); break;
                case Ie.FlowEndReason: w.Unsigned((byte)reason, n); break;
                case Ie.SipCallId: w.Bytes(s.CallIdText, n); break;
                case Ie.SipCallingParty: w.Bytes(s.FromText, n); break;
                case Ie.SipCalledParty: w.Bytes(s.ToText, n); break;
                case Ie.FromTag: w.Bytes(s.FromTagText, n); break;
                case Ie.ToTag: w.Bytes(s.ToTagText, n); break;
                case Ie.SipUac: w.Bytes(s.UacText, n); break;
                case Ie.SipUas: w.Bytes(s.UasText, n); break;
                case Ie.SipResponseCode: w.Unsigned((ulong)Math.Max((short)0, s.FinalStatus), n); break;
                case Ie.Authenticated: w.Unsigned(s.Authenticated ? 1UL : 0UL, n); break;
                case Ie.SipInviteTime: w.Unsigned(Seconds(s.InviteNs), n); break;
                case Ie.SipTryingTime: w.Unsigned(Seconds(s.TryingNs), n); break;
                case Ie.SipRingingTime: w.Unsigned(Seconds(s.RingingNs), n); break;
                case Ie.SipInviteOkTime: w.Unsigned(Seconds(s.InviteOkNs), n); break;
                case Ie.SipInviteFailureTime: w.Unsigned(Seconds(s.InviteFailureNs), n); break;
                case Ie.SipByeTime: w.Unsigned(Seconds(s.ByeNs), n); break;
                case Ie.SipByeOkTime: w.Unsigned(Seconds(s.ByeOkNs), n); break;
                case Ie.SipCancelTime: w.Unsigned(Seconds(s.CancelNs), n); break;
                case Ie.SipCancelOkTime: w.Unsigned(Seconds(s.CancelOkNs), n); break;
                case Ie.InviteMs: w.Unsigned(Millis(s.InviteNs), n); break;
                case Ie.TryingMs: w.Unsigned(Millis(s.TryingNs), n); break;
                case Ie.RingingMs: w.Unsigned(Millis(s.RingingNs), n); break;
                case Ie.InviteOkMs: w.Unsigned(Millis(s.InviteOkNs), n); break;
                case Ie.InviteFailureMs: w.Unsigned(Millis(s.InviteFailureNs), n); break;
                case Ie.AckMs: w.Unsigned(Millis(s.AckNs), n); break;
                case Ie.ByeMs: w.Unsigned(Millis(s.ByeNs), n); break;
                case Ie.ByeOkMs: w.Unsigned(Millis(s.ByeOkNs), n); break;
                case Ie.CancelMs: w.Unsigned(Millis(s.CancelNs), n); break;
                case Ie.RequestMs: w.Unsigned(Millis(s.RequestNs), n); break;
                case Ie.FinalMs: w.Unsigned(Millis(s.FinalNs), n); break;
                case Ie.InviteRequests: w.Unsigned(Cap16(s.Requests(SipMethod.Invite)), n); break;
                case Ie.AckRequests: w.Unsigned(Cap16(s.Requests(SipMethod.Ack)), n); break;
                case Ie.ByeRequests: w.Unsigned(Cap16(s.Requests(SipMethod.Bye)), n); break;
                case Ie.CancelRequests: w.Unsigned(Cap16(s.Requests(SipMethod.Cancel)), n); break;
                case Ie.OtherRequests:
                    w.Unsigned(Cap16(s.RequestTotal - s.Requests(SipMethod.Invite) - s.Requests(SipMethod.Ack) - s.Requests(SipMethod.Bye) - s.Requests(SipMethod.Cancel)), n);
                    break;
                case Ie.InviteResponses: w.Unsigned(Cap16(s.ResponsesTo(SipMethod.Invite)), n); break;
                case Ie.ByeResponses: w.Unsigned(Cap16(s.ResponsesTo(SipMethod.Bye)), n); break;
                case Ie.CancelResponses: w.Unsigned(Cap16(s.ResponsesTo(SipMethod.Cancel)), n); break;
                case Ie.OtherResponses:
                    w.Unsigned(Cap16(s.ResponseTotal - s.ResponsesTo(SipMethod.Invite) - s.ResponsesTo(SipMethod.Bye) - s.ResponsesTo(SipMethod.Cancel)), n);
                    break;
                case Ie.ErrorResponses: w.Unsigned(Cap16(s.Responses(4) + s.Responses(5) + s.Responses(6)), n); break;
                case Ie.Requests: w.Unsigned(Cap16(s.RequestTotal), n); break;
                case Ie.ResponsesTotal: w.Unsigned(Cap16(s.ResponseTotal), n); break;
                case Ie.SipRtpIpv4SrcAddr or Ie.CallerMediaV6: w.Bytes(address[..s.CallerMedia.WriteBytes(address)], n); break;
                case Ie.SipRtpL4SrcPort: w.Unsigned(s.CallerAudioPort, n); break;
                case Ie.SipRtpIpv4DstAddr or Ie.CalleeMediaV6: w.Bytes(address[..s.CalleeMedia.WriteBytes(address)], n); break;
                case Ie.SipRtpL4DstPort: w.Unsigned(s.CalleeAudioPort, n); break;
                case Ie.RtpSsrc: w.Unsigned(s.Forward.Ssrc, n); break;
                case Ie.ReverseSsrc: w.Unsigned(s.Reverse.Ssrc, n); break;
                case Ie.RtpSsrcCount: w.Unsigned((ulong)Math.Min(255, s.Forward.SsrcCount + s.Reverse.SsrcCount), n); break;
                case Ie.RtpInPkts: w.Unsigned(s.Forward.Packets, n); break;
                case Ie.RtpOutPkts: w.Unsigned(s.Reverse.Packets, n); break;
                case Ie.RtpBytes: w.Unsigned(s.RtpBytes, n); break;
                case Ie.RtpInJitter: w.Unsigned((ulong)(s.Forward.JitterMs * 1000), n); break;
                case Ie.RtpOutJitter: w.Unsigned((ulong)(s.Reverse.JitterMs * 1000), n); break;
                case Ie.RtpInPktLost: w.Unsigned((ulong)Math.Max(0, s.Forward.Lost), n); break;
                case Ie.RtpOutPktLost: w.Unsigned((ulong)Math.Max(0, s.Reverse.Lost), n); break;
                case Ie.RtpInPayloadType: w.Unsigned(s.Forward.Packets > 0 ? s.Forward.PayloadType : 255UL, n); break;
                case Ie.RtpOutPayloadType: w.Unsigned(s.Reverse.Packets > 0 ? s.Reverse.PayloadType : 255UL, n); break;
                case Ie.Method: w.Bytes(MethodName(s.Method), n); break;
                case Ie.SipRegisterNumOk: w.Unsigned(s.RegisterOk, n); break;
                case Ie.SipRegisterNumOther: w.Unsigned(s.RegisterOther, n); break;
                case Ie.Expires: w.Unsigned((uint)Math.Max(0, s.Expires), n); break;
                default: w.Skip(n); break;
            }
        }
    }

    /// <summary>The options data record that follows each template refresh.</summary>
    public static void WriteExporter(NetFlowV9Writer writer, long nowNs, SessionTrackerOptions options, long flows)
    {
        var w = new FieldWriter(writer.BeginRecord(ExporterOptions, nowNs));
        w.Unsigned(writer.SourceId, 4);
        w.Unsigned((ulong)Math.Min(ushort.MaxValue, options.ActiveTimeoutNs / 1_000_000_000), 2);
        w.Unsigned((ulong)Math.Min(ushort.MaxValue, options.IdleTimeoutNs / 1_000_000_000), 2);
        w.Unsigned((ulong)writer.BytesSent, 8);
        w.Unsigned(writer.Sequence, 8);
        w.Unsigned((ulong)flows, 8);
    }

    private static ulong Seconds(long ns) => ns <= 0 ? 0 : (ulong)(ns / 1_000_000_000);
    private static ulong Millis(long ns) => ns <= 0 ? 0 : (ulong)(ns / 1_000_000);
    private static ulong Cap16(uint n) => Math.Min(n, 65535u);

    private static ReadOnlySpan<byte> MethodName(SipMethod m) => m switch
    {
        SipMethod.Register => "REGISTER"u8,
        SipMethod.Options => "OPTIONS"u8,
        SipMethod.Subscribe => "SUBSCRIBE"u8,
        SipMethod.Notify => "NOTIFY"u8,
        SipMethod.Publish => "PUBLISH"u8,
        SipMethod.Message => "MESSAGE"u8,
        SipMethod.Info => "INFO"u8,
        SipMethod.Refer => "REFER"u8,
        SipMethod.Invite => "INVITE"u8,
        SipMethod.Bye => "BYE"u8,
        SipMethod.Cancel => "CANCEL"u8,
        SipMethod.Ack => "ACK"u8,
        SipMethod.Prack => "PRACK"u8,
        SipMethod.Update => "UPDATE"u8,
        _ => "OTHER"u8,
    };
}
