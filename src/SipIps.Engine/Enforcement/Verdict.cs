using SipIps.Engine.Packets;
using SipIps.Engine.Sip;

namespace SipIps.Engine.Enforcement;

/// <summary>Why a frame was not forwarded. Each value has its own counter per port.</summary>
public enum DropReason : byte
{
    None = 0,
    /// <summary>A rule said drop.</summary>
    Rule,
    /// <summary>The key is over its rate limit.</summary>
    RateLimit,
    /// <summary>The key is banned.</summary>
    Ban,
    /// <summary>Malformed and the policy drops malformed SIP.</summary>
    Malformed,
    /// <summary>An internal error on this frame and the exception policy is fail-closed.</summary>
    ExceptionPolicy,
    /// <summary>The frame did not fit the ring frame (offloads not disabled): it cannot be forwarded intact.</summary>
    Truncated,
}

public static class DropReasons
{
    public const int Count = (int)DropReason.Truncated + 1;

    private static readonly string[] s_names = ["none", "rule", "rate_limit", "ban", "malformed", "exception_policy", "truncated"];

    public static string Name(DropReason r) => (uint)r < (uint)s_names.Length ? s_names[(int)r] : "unknown";
}

/// <summary>
/// What happens to a frame at release: forwarded, or dropped for a reason; and whether it raised an alert (the
/// frame is then kept as evidence even when it is forwarded).
/// </summary>
public readonly struct Verdict
{
    public readonly DropReason Reason;
    public readonly bool Alerted;

    private Verdict(DropReason reason, bool alerted)
    {
        Reason = reason;
        Alerted = alerted;
    }

    public static Verdict Pass => default;
    public static Verdict PassAlerted => new(DropReason.None, true);
    public static Verdict Drop(DropReason reason) => new(reason, false);

    public bool IsDrop => Reason != DropReason.None;

    /// <summary>A drop beats a pass and the first drop keeps its reason; an alert on either side is kept.</summary>
    public Verdict Combine(Verdict other) => new(IsDrop ? Reason : other.Reason, Alerted | other.Alerted);

    public Verdict WithAlert() => new(Reason, true);
}

/// <summary>
/// Decides each SIP message's verdict on the worker thread. The detection engine implements it; until then every
/// message passes.
/// </summary>
public interface IVerdictHook
{
    Verdict OnSipMessage(in PacketInfo packet, SipMessage message);
}

public sealed class PassAll : IVerdictHook
{
    public static PassAll Instance { get; } = new();

    public Verdict OnSipMessage(in PacketInfo packet, SipMessage message) => Verdict.Pass;
}
