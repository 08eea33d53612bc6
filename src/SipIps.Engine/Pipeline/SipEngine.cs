using SipIps.Engine.Decode;
using SipIps.Engine.Enforcement;
using SipIps.Engine.Packets;
using SipIps.Engine.Reassembly;
using SipIps.Engine.Sip;

namespace SipIps.Engine.Pipeline;

/// <summary>
/// One worker's engine: decode, reassemble (IP fragments, TCP streams, SCTP chunks), detect and parse SIP, then
/// hand each message to the observer. It does no I/O and keeps no global state, so the same engine runs behind
/// AF_PACKET rings and behind a capture file. Not thread-safe: one instance per worker.
/// </summary>
public sealed class SipEngine : ITcpMessageSink
{
    private readonly EngineOptions _options;
    private readonly ISipObserver _observer;
    private readonly IVerdictHook _hook;
    private Verdict _frameVerdict;
    private readonly IpDefragmenter _defrag;
    private readonly TcpReassembler _tcp;
    private readonly SctpReassembler _sctp = new();
    private readonly SipMessage _message;
    private readonly bool[] _sipPort = new bool[65536];
    private readonly bool[] _encryptedPort = new bool[65536];

    public SipEngine(EngineOptions options, ISipObserver observer, IVerdictHook? hook = null)
    {
        _options = options;
        _observer = observer;
        _hook = hook ?? PassAll.Instance;
        _defrag = new IpDefragmenter(options.Defrag);
        _tcp = new TcpReassembler(options.Tcp);
        _message = new SipMessage(options.Parser);
        foreach (var p in options.SipPorts) _sipPort[p] = true;
        foreach (var p in options.EncryptedSipPorts) _encryptedPort[p] = true;
    }

    public EngineCounters Counters { get; } = new();
    public IpDefragmenter Defragmenter => _defrag;
    public TcpReassembler Tcp => _tcp;

    /// <summary>Runs one frame through the pipeline and says whether to forward it.</summary>
    /// <param name="frame">The captured bytes.</param>
    /// <param name="link">Link-layer type of the capture.</param>
    /// <param name="timestampNs">Capture time, nanoseconds since the Unix epoch.</param>
    /// <param name="wireLength">Original length on the wire (larger than the frame when the capture truncated it).</param>
    /// <param name="vlanTci">An 802.1Q tag the capture took off the frame (AF_PACKET offload), or -1.</param>
    // Kept out of line: a capture loop runs once and is compiled on-stack-replaced with synthesized profile data;
    // inlined there, the whole pipeline would lose the real profile its own tier-1 compilation gets.
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    public Verdict ProcessFrame(ReadOnlySpan<byte> frame, LinkType link, long timestampNs, int wireLength, int vlanTci = -1)
    {
        var c = Counters;
        c.Frames++;
        c.Bytes += wireLength;
        if (wireLength > frame.Length) c.TruncatedFrames++;

        PacketInfo info = default;
        info.TimestampNs = timestampNs;
        info.CapturedLength = frame.Length;
        info.WireLength = wireLength;
        if (vlanTci >= 0)
        {
            info.VlanCount = 1;
            info.OuterVlan = (ushort)(vlanTci & 0x0FFF);
        }
        _frameVerdict = Verdict.Pass;

        var result = PacketDecoder.Decode(frame, link, ref info, _options.Decoder);
        if (info.BadChecksum) c.BadChecksums++;
        switch (result)
        {
            case DecodeResult.Transport:
                HandleTransport(frame, ref info);
                break;
            case DecodeResult.Fragment:
                HandleFragment(frame, ref info);
                break;
            case DecodeResult.NotIp:
                c.NotIp++;
                break;
            case DecodeResult.OtherTransport:
                c.OtherTransport++;
                break;
            default:
                c.DecodeEventCounts[(int)info.Event]++;
                break;
        }
        return _frameVerdict;
    }

    /// <summary>
    /// Expires reassembly state by time; the caller's heartbeat (or the capture clock) drives it. Each call looks at
    /// a bounded slice of each table, so it may be called often.
    /// </summary>
    public void Expire(long nowNs)
    {
        Counters.DecodeEventCounts[(int)DecodeEvent.FragmentTimeout] += _defrag.Expire(nowNs);
        _tcp.Expire(nowNs);
    }

    private void HandleFragment(ReadOnlySpan<byte> frame, ref PacketInfo info)
    {
        var c = Counters;
        c.Fragments++;
        bool complete = _defrag.Add(info, frame.Slice(info.PayloadOffset, info.PayloadLength), out var datagram, out var ev);
        if (ev != DecodeEvent.None) c.DecodeEventCounts[(int)ev]++;
        if (!complete) return;
        c.Reassembled++;
        info.Reassembled = true;
        var result = PacketDecoder.DecodeIpPayload(datagram, 0, datagram.Length, info.IpProtocol, ref info, _options.Decoder);
        switch (result)
        {
            case DecodeResult.Transport:
                HandleTransport(datagram, ref info);
                break;
            case DecodeResult.OtherTransport:
                c.OtherTransport++;
                break;
            case DecodeResult.Fragment:
                // A fragment inside a reassembled tunnel payload: nested fragmentation is not followed.
                c.DecodeEventCounts[(int)DecodeEvent.TunnelTooDeep]++;
                break;
            case DecodeResult.Malformed:
                c.DecodeEventCounts[(int)info.Event]++;
                break;
        }
    }

    private void HandleTransport(ReadOnlySpan<byte> buffer, ref PacketInfo info)
    {
        var c = Counters;
        var payload = buffer.Slice(info.PayloadOffset, info.PayloadLength);
        bool sipPort = _sipPort[info.SourcePort] || _sipPort[info.DestinationPort];
        bool encrypted = _encryptedPort[info.SourcePort] || _encryptedPort[info.DestinationPort];
        switch (info.Protocol)
        {
            case L4Protocol.Udp:
                c.UdpDatagrams++;
                if (payload.IsEmpty) return;
                if (encrypted && !sipPort)
                {
                    c.EncryptedSip++;
                    return;
                }
                Inspect(payload, sipPort, SipParseMode.Datagram, info);
                return;

            case L4Protocol.Tcp:
                c.TcpSegments++;
                if (encrypted && !sipPort)
                {
                    if (!payload.IsEmpty) c.EncryptedSip++;
                    return;
                }
                // Streams start on a SIP port or where a segment opens with a SIP start line; other TCP costs no
                // stream state.
                bool create = sipPort || (_options.ContentDetection && !payload.IsEmpty
                                          && SipDetector.Classify(payload, onSipPort: false) == PayloadClass.Sip);
                if (create || _tcp.ActiveStreams > 0)
                {
                    var ev = _tcp.Process(info, payload, this, create);
                    if (ev != DecodeEvent.None) c.DecodeEventCounts[(int)ev]++;
                }
                return;

            case L4Protocol.Sctp:
                c.SctpPackets++;
                var reader = new SctpChunkReader(payload);
                while (reader.TryNext(out var data))
                {
                    if (data.IsComplete)
                    {
                        Inspect(data.UserData, sipPort, SipParseMode.Datagram, info);
                        continue;
                    }
                    bool joined = _sctp.Add(info, data, data.Tsn, out var message, out var sctpError);
                    if (sctpError != DecodeEvent.None) c.DecodeEventCounts[(int)sctpError]++;
                    if (joined) Inspect(message, sipPort, SipParseMode.Datagram, info);
                }
                if (reader.Error != DecodeEvent.None) c.DecodeEventCounts[(int)reader.Error]++;
                return;
        }
    }

    private void Inspect(ReadOnlySpan<byte> payload, bool sipPort, SipParseMode mode, in PacketInfo info)
    {
        switch (SipDetector.Classify(payload, sipPort))
        {
            case PayloadClass.Sip:
                Parse(payload, mode, info);
                break;
            case PayloadClass.KeepAlive:
                Counters.KeepAlives++;
                break;
            default:
                if (sipPort) NotSip(info);
                else if (mode == SipParseMode.Datagram && info.Protocol == L4Protocol.Udp) _observer.OnOtherUdp(info, payload);
                break;
        }
    }

    /// <summary>
    /// Something that is not SIP arrived on a SIP port: counted, and shown to the verdict hook as a message with
    /// status <see cref="SipParseStatus.NotSip"/> (garbage floods at a SIP server are an attack too). The observer,
    /// which reports SIP traffic, does not see it.
    /// </summary>
    private void NotSip(in PacketInfo info)
    {
        Counters.NonSipOnSipPort++;
        if (ReferenceEquals(_hook, PassAll.Instance)) return;
        _message.Reset();
        _message.Status = SipParseStatus.NotSip;
        _message.ErrorOffset = 0;
        _frameVerdict = _frameVerdict.Combine(_hook.OnSipMessage(info, _message));
    }

    void ITcpMessageSink.OnStreamMessage(in PacketInfo segment, ReadOnlySpan<byte> message)
    {
        // A stream on a SIP port can carry something else (HTTP, say): framed alike, but not SIP.
        if (SipDetector.Classify(message, onSipPort: true) != PayloadClass.Sip)
        {
            NotSip(segment);
            return;
        }
        Parse(message, SipParseMode.Stream, segment);
    }

    private void Parse(ReadOnlySpan<byte> data, SipParseMode mode, in PacketInfo info)
    {
        var c = Counters;
        c.SipMessages++;
        switch (info.Protocol)
        {
            case L4Protocol.Udp: c.SipUdp++; break;
            case L4Protocol.Tcp: c.SipTcp++; break;
            case L4Protocol.Sctp: c.SipSctp++; break;
        }
        var status = SipParser.Parse(data, _message, mode);
        c.ParseStatusCounts[(int)status]++;
        if (_message.Anomalies != SipAnomaly.None) c.CountAnomalies(_message.Anomalies);
        _frameVerdict = _frameVerdict.Combine(_hook.OnSipMessage(info, _message));
        _observer.OnSipMessage(info, _message);
    }
}
