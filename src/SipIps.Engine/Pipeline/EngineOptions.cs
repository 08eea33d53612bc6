using SipIps.Engine.Decode;
using SipIps.Engine.Reassembly;
using SipIps.Engine.Sip;

namespace SipIps.Engine.Pipeline;

/// <summary>Everything one engine needs to know; shared read-only by all workers.</summary>
public sealed class EngineOptions
{
    public DecoderOptions Decoder { get; init; } = DecoderOptions.Default;
    public DefragOptions Defrag { get; init; } = new();
    public TcpOptions Tcp { get; init; } = new();
    public SipParserLimits Parser { get; init; } = SipParserLimits.Default;

    /// <summary>Ports on which any text payload is parsed as SIP (plus content detection on every other port).</summary>
    public IReadOnlyCollection<ushort> SipPorts { get; init; } = [5060, 5080];

    /// <summary>Ports of SIP that cannot be read (TLS, WSS): counted, never parsed.</summary>
    public IReadOnlyCollection<ushort> EncryptedSipPorts { get; init; } = [5061, 443];

    /// <summary>Parse payloads that start with a SIP start line on any port.</summary>
    public bool ContentDetection { get; init; } = true;

    public static EngineOptions Default { get; } = new();
}
