using SipIps.Engine.Common;
using SipIps.Engine.Enforcement;
using SipIps.Engine.Packets;
using SipIps.Engine.Pipeline;

namespace SipIps.Capture.Bridge;

/// <summary>
/// Runs a frame through the engine under the exception policy: an internal error on one frame is counted,
/// logged (the first, then at most one every 10 s) and decided by the policy, and never reaches the loop.
/// </summary>
public sealed class FrameInspector(SipEngine engine, WorkerCounters counters, Action<string> log, string name)
{
    private readonly FaultLimiter _faults = new();

    public SipEngine Engine { get; } = engine;
    public volatile ExceptionPolicy Policy;
    public long Logged => _faults.Logged;

    public Verdict Inspect(ReadOnlySpan<byte> frame, long timestampNs, int wireLength, int vlanTci)
    {
        try
        {
            return Engine.ProcessFrame(frame, LinkType.Ethernet, timestampNs, wireLength, vlanTci);
        }
        catch (Exception e)
        {
            counters.Exceptions++;
            if (_faults.Note())
            {
                log($"worker {name}: internal error on a frame ({e.GetType().Name}: {e.Message}); exception policy {(Policy == ExceptionPolicy.FailOpen ? "fail-open: forwarded" : "fail-closed: dropped")}");
            }
            return Policy == ExceptionPolicy.FailOpen ? Verdict.Pass : Verdict.Drop(DropReason.ExceptionPolicy);
        }
    }
}
