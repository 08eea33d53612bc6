using System.Runtime.InteropServices;
using SipIps.Engine.Common;
using SipIps.Engine.Packets;
using SipIps.Engine.Pipeline;
using SipIps.Engine.Sip;

namespace SipIps.Engine.Analysis;

/// <summary>Report settings: how many keys each table may hold.</summary>
public sealed class ReportOptions
{
    public int MaxCalls { get; init; } = 1 << 20;
    public int MaxRegistrations { get; init; } = 1 << 18;
    /// <summary>
    /// Counters per top-talker table. Counts are exact while a table sees no more distinct keys than this (a PBX's
    /// users, say); past that, Space-Saving bounds each count's error. 4,096 costs about 0.8 MB per table.
    /// </summary>
    public int TopCapacity { get; init; } = 4096;
}

[Flags]
internal enum CallFlags : ushort
{
    None = 0,
    Invite = 1 << 0,
    Provisional = 1 << 1,
    Ringing = 1 << 2,
    Answered = 1 << 3,
    Bye = 1 << 4,
    Cancel = 1 << 5,
    Challenged = 1 << 6,
    Final = 1 << 7,
    Ack = 1 << 8,
}

internal struct CallState
{
    public long FirstNs;
    public long LastNs;
    public short FinalCode;
    public CallFlags Flags;
}

/// <summary>How the calls in a capture ended.</summary>
public sealed record CallSummary(
    long Total,
    long Answered,
    long Completed,
    long Cancelled,
    long Failed,
    long NoFinalResponse,
    long AuthChallengeOnly,
    IReadOnlyDictionary<int, long> FailuresByCode,
    long Untracked);

public sealed record RegistrationSummary(
    long Requests,
    long Accepted,
    long Challenged,
    long Failed,
    long DistinctAors,
    long RegisteredAors,
    long Untracked);

/// <summary>
/// Aggregates what <c>sipips analyze</c> reports: messages by method and status code, calls by outcome,
/// registrations, top talkers. Tables are bounded (calls, registrations) or fixed (heavy hitters).
/// </summary>
public sealed class CaptureReport : ISipObserver
{
    private readonly ReportOptions _options;
    private readonly Dictionary<ulong, CallState> _calls;
    private readonly HashSet<ulong> _aors;
    private readonly HashSet<ulong> _registeredAors;
    private long _untrackedCalls;
    private long _untrackedAors;

    public CaptureReport(ReportOptions? options = null)
    {
        _options = options ?? new ReportOptions();
        _calls = new Dictionary<ulong, CallState>(Math.Min(_options.MaxCalls, 4096));
        _aors = new HashSet<ulong>(Math.Min(_options.MaxRegistrations, 1024));
        _registeredAors = new HashSet<ulong>(Math.Min(_options.MaxRegistrations, 1024));
        Sources = new TopK(_options.TopCapacity, 48);
        FromUris = new TopK(_options.TopCapacity);
        ToUris = new TopK(_options.TopCapacity);
        UserAgents = new TopK(_options.TopCapacity);
        UnknownMethods = new TopK(32, 32);
    }

    public long SipMessages { get; private set; }
    public long Requests { get; private set; }
    public long Responses { get; private set; }
    public long Valid { get; private set; }
    public long FirstMessageNs { get; private set; } = long.MaxValue;
    public long LastMessageNs { get; private set; } = long.MinValue;

    /// <summary>Requests by <see cref="SipMethod"/>; unknown methods are also kept by name in <see cref="UnknownMethods"/>.</summary>
    public long[] RequestsByMethod { get; } = new long[SipMethods.Count];
    /// <summary>Responses by status code; index 0 holds responses whose code is not a valid 3-digit code.</summary>
    public long[] ResponsesByCode { get; } = new long[700];

    public TopK Sources { get; }
    public TopK FromUris { get; }
    public TopK ToUris { get; }
    public TopK UserAgents { get; }
    public TopK UnknownMethods { get; }

    public long RegisterRequests { get; private set; }
    public long RegisterAccepted { get; private set; }
    public long RegisterChallenged { get; private set; }
    public long RegisterFailed { get; private set; }

    public void OnSipMessage(in PacketInfo packet, SipMessage m)
    {
        SipMessages++;
        if (m.IsValid) Valid++;
        if (packet.TimestampNs < FirstMessageNs) FirstMessageNs = packet.TimestampNs;
        if (packet.TimestampNs > LastMessageNs) LastMessageNs = packet.TimestampNs;

        if (m.IsRequest)
        {
            Requests++;
            RequestsByMethod[(int)m.Method]++;
            if (m.Method == SipMethod.Unknown)
            {
                var name = m[m.MethodText];
                UnknownMethods.Offer(Hash64.Compute(name), name);
            }
        }
        else if (m.StatusCode > 0)
        {
            Responses++;
            int code = m.StatusCode;
            ResponsesByCode[code is >= 100 and <= 699 ? code : 0]++;
        }
        else
        {
            return; // no start line to speak of: counted by the engine as a parse error only
        }

        CountTalkers(packet, m);
        if (m.CallId.IsPresent) TrackCall(packet, m);
        if (m.TransactionMethod == SipMethod.Register) TrackRegistration(m);
    }

    private void CountTalkers(in PacketInfo packet, SipMessage m)
    {
        ulong h = Hash64.Compute(packet.Source);
        if (!Sources.TryIncrement(h))
        {
            Span<byte> text = stackalloc byte[IpAddr.MaxTextLength];
            if (packet.Source.TryFormat(text, out int n)) Sources.Insert(h, text.Slice(0, n));
        }
        if (m.From.IsPresent) OfferUri(FromUris, m, m.From.Uri);
        if (m.To.IsPresent) OfferUri(ToUris, m, m.To.Uri);
        var ua = m.IsRequest ? m.UserAgent : (m.Server.IsPresent ? m.Server : m.UserAgent);
        if (ua.IsPresent && ua.Length > 0)
        {
            var text = m[ua];
            UserAgents.Offer(Hash64.Compute(text), text);
        }
    }

    /// <summary>
    /// The identity a URI names, as <see cref="FormatAddress"/> writes it: the URI's own text when that is already
    /// "sip:user@host" (lower-case scheme, no password, port, parameters or headers: the usual From and To), else
    /// the address written into <paramref name="scratch"/>.
    /// </summary>
    public static ReadOnlySpan<byte> Address(SipMessage m, in SipUri uri, Span<byte> scratch)
    {
        if (uri.Scheme is UriScheme.Sip or UriScheme.Sips && uri.Port < 0 && uri.Host.IsPresent
            && !uri.Password.IsPresent && !uri.Params.IsPresent && !uri.Headers.IsPresent)
        {
            var text = m[uri.Text];
            var prefix = uri.Scheme == UriScheme.Sips ? "sips:"u8 : "sip:"u8;
            int hostStart = uri.Text.Start + prefix.Length + (uri.User.IsPresent ? uri.User.Length + 1 : 0);
            if (text.StartsWith(prefix) && uri.Host.Start == hostStart && uri.Host.End == uri.Text.End
                && (!uri.User.IsPresent || uri.User.Start == uri.Text.Start + prefix.Length))
                return text;
        }
        return scratch.Slice(0, FormatAddress(m, uri, scratch));
    }

    /// <summary>Writes "scheme:user@host[:port]" (no parameters): the identity a URI names.</summary>
    public static int FormatAddress(SipMessage m, in SipUri uri, Span<byte> destination)
    {
        if (uri.Scheme is not (UriScheme.Sip or UriScheme.Sips))
        {
            var t = m[uri.Text];
            int k = Math.Min(t.Length, destination.Length);
            t.Slice(0, k).CopyTo(destination);
            return k;
        }
        int w = 0;
        Append(uri.Scheme == UriScheme.Sips ? "sips:"u8 : "sip:"u8, destination, ref w);
        if (uri.User.IsPresent)
        {
            Append(m[uri.User], destination, ref w);
            Append("@"u8, destination, ref w);
        }
        Append(m[uri.Host], destination, ref w);
        if (uri.Port >= 0 && w + 6 < destination.Length)
        {
            destination[w++] = (byte)':';
            uri.Port.TryFormat(destination.Slice(w), out int pn);
            w += pn;
        }
        return w;

        static void Append(ReadOnlySpan<byte> s, Span<byte> d, ref int w)
        {
            int k = Math.Min(s.Length, d.Length - w);
            s.Slice(0, k).CopyTo(d.Slice(w));
            w += k;
        }
    }

    private static void OfferUri(TopK top, SipMessage m, in SipUri uri)
    {
        if (!uri.Text.IsPresent) return;
        Span<byte> scratch = stackalloc byte[256];
        var key = Address(m, uri, scratch);
        if (key.IsEmpty) return;
        top.Offer(Hash64.Compute(key), key);
    }

    private void TrackCall(in PacketInfo packet, SipMessage m)
    {
        var method = m.TransactionMethod;
        bool inviteDialog = method is SipMethod.Invite or SipMethod.Ack or SipMethod.Bye or SipMethod.Cancel;
        if (!inviteDialog) return;
        ulong key = m.CallIdHash;
        ref CallState call = ref CollectionsMarshal.GetValueRefOrNullRef(_calls, key);
        if (System.Runtime.CompilerServices.Unsafe.IsNullRef(ref call))
        {
            // Only an INVITE (or its response) opens a call; a stray BYE or CANCEL does not.
            if (method != SipMethod.Invite) return;
            if (_calls.Count >= _options.MaxCalls)
            {
                _untrackedCalls++;
                return;
            }
            call = ref CollectionsMarshal.GetValueRefOrAddDefault(_calls, key, out _);
            call.FirstNs = packet.TimestampNs;
        }
        call.LastNs = packet.TimestampNs;

        if (m.IsRequest)
        {
            switch (m.Method)
            {
                case SipMethod.Invite: call.Flags |= CallFlags.Invite; break;
                case SipMethod.Ack: call.Flags |= CallFlags.Ack; break;
                case SipMethod.Bye: call.Flags |= CallFlags.Bye; break;
                case SipMethod.Cancel: call.Flags |= CallFlags.Cancel; break;
            }
            return;
        }
        if (method != SipMethod.Invite) return;
        int code = m.StatusCode;
        if (code < 200)
        {
            call.Flags |= CallFlags.Provisional;
            if (code is 180 or 183) call.Flags |= CallFlags.Ringing;
            return;
        }
        call.Flags |= CallFlags.Final;
        if (code < 300)
        {
            call.Flags |= CallFlags.Answered;
            call.FinalCode = (short)code;
        }
        else if (code is 401 or 407)
        {
            call.Flags |= CallFlags.Challenged;
            if ((call.Flags & CallFlags.Answered) == 0 && call.FinalCode == 0) call.FinalCode = (short)code;
        }
        else if ((call.Flags & CallFlags.Answered) == 0)
        {
            call.FinalCode = (short)code;
        }
    }

    private void TrackRegistration(SipMessage m)
    {
        if (!m.To.IsPresent) return;
        Span<byte> scratch = stackalloc byte[256];
        ulong aor = Hash64.Compute(Address(m, m.To.Uri, scratch));
        if (m.IsRequest)
        {
            RegisterRequests++;
            if (_aors.Count < _options.MaxRegistrations) _aors.Add(aor);
            else if (!_aors.Contains(aor)) _untrackedAors++;
            return;
        }
        int code = m.StatusCode;
        if (code < 200) return;
        if (code < 300)
        {
            RegisterAccepted++;
            if (_registeredAors.Count < _options.MaxRegistrations) _registeredAors.Add(aor);
        }
        else if (code is 401 or 407) RegisterChallenged++;
        else RegisterFailed++;
    }

    public CallSummary SummarizeCalls()
    {
        long answered = 0, completed = 0, cancelled = 0, failed = 0, noFinal = 0, challengeOnly = 0;
        var byCode = new SortedDictionary<int, long>();
        foreach (var call in _calls.Values)
        {
            var f = call.Flags;
            if ((f & CallFlags.Answered) != 0)
            {
                answered++;
                if ((f & CallFlags.Bye) != 0) completed++;
            }
            else if (call.FinalCode == 487 || (f & CallFlags.Cancel) != 0)
            {
                cancelled++;
            }
            else if (call.FinalCode is 401 or 407)
            {
                challengeOnly++;
            }
            else if (call.FinalCode >= 300)
            {
                failed++;
                byCode[call.FinalCode] = byCode.GetValueOrDefault(call.FinalCode) + 1;
            }
            else
            {
                noFinal++;
            }
        }
        return new CallSummary(_calls.Count, answered, completed, cancelled, failed, noFinal, challengeOnly, byCode, _untrackedCalls);
    }

    public RegistrationSummary SummarizeRegistrations() =>
        new(RegisterRequests, RegisterAccepted, RegisterChallenged, RegisterFailed, _aors.Count, _registeredAors.Count, _untrackedAors);
}
