using SipIps.Engine.Common;
using SipIps.Engine.Sip;

namespace SipIps.Engine.Sessions;

public sealed record SessionTrackerOptions
{
    /// <summary>Sessions held at once; when full, the least recently active unanswered session is exported early.</summary>
    public int Capacity { get; init; } = 32768;
    /// <summary>A session with no message for this long is exported.</summary>
    public long IdleTimeoutNs { get; init; } = 60_000_000_000;
    /// <summary>An answered call may be silent (no re-INVITE) for much longer.</summary>
    public long CallIdleTimeoutNs { get; init; } = 3_600_000_000_000;
    /// <summary>A long session is exported every so often, and its counters start again.</summary>
    public long ActiveTimeoutNs { get; init; } = 1_800_000_000_000;
    /// <summary>How long an ended session waits for stragglers (ACK of a failure, retransmissions) before export.</summary>
    public long LingerNs { get; init; } = 2_000_000_000;
    /// <summary>Registrations (address-of-record bindings) tracked for the active-registrations gauge.</summary>
    public int Registrations { get; init; } = 65536;
}

/// <summary>Takes session events synchronously (analyze), where the live bridge uses a ring to the session thread.</summary>
public interface ISessionEventSink
{
    void OnEvent(in SessionEvent e);
}

/// <summary>Hands each event to several sinks, in order.</summary>
public sealed class SessionEventFanOut(params ISessionEventSink[] sinks) : ISessionEventSink
{
    public void OnEvent(in SessionEvent e)
    {
        foreach (var s in sinks) s.OnEvent(e);
    }
}

/// <summary>Receives finished (or timed-out) sessions.</summary>
public interface ISessionSink
{
    void OnSession(in SessionState session, SessionEndReason reason);
}

/// <summary>
/// Follows SIP sessions by Call-ID across both directions: who called whom, the milestone times, message counts,
/// the media addresses from SDP, and the RTP streams sent to them, then exports each session once it ends, idles
/// or grows old. One thread owns it (the flow exporter's, or analyze's). Memory is fixed at construction.
/// </summary>
public sealed class SessionTracker : ISessionEventSink
{
    private const int EvictionSample = 8;
    private readonly SessionTrackerOptions _options;
    private readonly ISessionSink _sink;
    private readonly SessionState[] _slots;
    // Slots in use, a bit each (bits past the last slot are set for good). A new session takes the lowest free slot,
    // so that the live sessions stay together at the front of the table and expiry touches only slots in use: the
    // table is sized for a flood (32,768 slots of about 1.2 KB), while a capture or a quiet network keeps a few
    // hundred sessions open, and spread over the whole table those cost a cache miss each.
    private readonly ulong[] _occupied;
    private int _firstFreeWord;
    private int _freeCount;
    private readonly HashIndex _index;
    private readonly HashIndex _media;
    private readonly Dictionary<ulong, long> _registrations;
    private int _cursor;
    private int _mediaCursor;
    private int _evictCursor;

    public SessionTracker(SessionTrackerOptions options, ISessionSink sink, MediaTable? media = null)
    {
        _options = options;
        _sink = sink;
        int n = Math.Max(16, options.Capacity);
        _slots = new SessionState[n];
        _occupied = new ulong[(n + 63) / 64];
        for (int i = n; i < _occupied.Length * 64; i++) _occupied[i >> 6] |= 1UL << i;
        _freeCount = n;
        _index = new HashIndex(n);
        // Each session holds at most four media addresses (audio and video, each side).
        _media = new HashIndex(n * 4);
        _registrations = new Dictionary<ulong, long>(Math.Max(16, options.Registrations));
        Media = media ?? new MediaTable(n * 4);
        PostDialDelay = new FixedHistogram(0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 8, 13, 20, 30);
    }

    public MediaTable Media { get; }
    /// <summary>Media addresses tied to open sessions (at most four per session).</summary>
    public int MediaAddresses => _media.Count;
    /// <summary>Called with each post-dial delay measured (time of the final response, seconds).</summary>
    public Action<long, double>? PostDialDelayObserved { get; set; }
    public int Capacity => _slots.Length;
    /// <summary>INVITE to the first final response, in seconds.</summary>
    public FixedHistogram PostDialDelay { get; }

    // Read by metrics from another thread: whole longs, racy but never torn.
    public long Active;
    public long ActiveCalls;
    public long ActiveRegistrations;
    public long Exported;
    public long Evicted;
    public long OrphanResponses;
    public long RtpPackets;
    public long RtpUnmatched;
    public long RegistrationsUntracked;

    public void OnEvent(in SessionEvent e)
    {
        if (e.Kind == SessionEventKind.Rtp)
        {
            OnRtp(e);
            return;
        }
        if (e.Kind != SessionEventKind.Sip) return;
        ref var s = ref Find(e);
        if (System.Runtime.CompilerServices.Unsafe.IsNullRef(ref s)) return;
        Update(ref s, e);
    }

    private ref SessionState Find(in SessionEvent e)
    {
        if (_index.TryGetValue(e.CallIdHash, out int slot))
        {
            ref var found = ref _slots[slot];
            // A session that was exported at the active timeout or ended and then saw a new request goes on.
            if (found.Ended && e.IsRequest && e.Method is not (SipMethod.Ack or SipMethod.Bye or SipMethod.Cancel)) found.Ended = false;
            return ref found;
        }
        // Only requests open sessions: a stray response (or a flood of them) costs no state.
        if (!e.IsRequest)
        {
            OrphanResponses++;
            return ref System.Runtime.CompilerServices.Unsafe.NullRef<SessionState>();
        }
        if (_freeCount == 0) EvictOne(e.TimestampNs);
        slot = TakeLowestFree();
        _index.Set(e.CallIdHash, slot);
        ref var s = ref _slots[slot];
        s = default;
        s.CallIdHash = e.CallIdHash;
        s.Method = e.Method;
        s.Kind = e.Method switch
        {
            SipMethod.Invite or SipMethod.Ack or SipMethod.Bye or SipMethod.Cancel or SipMethod.Prack or SipMethod.Update => SessionKind.Call,
            SipMethod.Register => SessionKind.Registration,
            _ => SessionKind.Transaction,
        };
        s.Transport = e.Transport;
        s.Source = e.Source;
        s.Destination = e.Destination;
        s.SourcePort = e.SourcePort;
        s.DestinationPort = e.DestinationPort;
        s.FirstNs = e.TimestampNs;
        s.ExportedNs = e.TimestampNs;
        s.FinalStatus = 0;
        s.Expires = -1;
        s.CallId = e.CallId;
        s.CallIdLength = e.CallIdLength;
        s.FromUri = e.FromUri;
        s.FromLength = e.FromLength;
        s.ToUri = e.ToUri;
        s.ToLength = e.ToLength;
        s.FromTag = e.FromTag;
        s.FromTagLength = e.FromTagLength;
        Active++;
        return ref s;
    }

    private void Update(ref SessionState s, in SessionEvent e)
    {
        long t = e.TimestampNs;
        s.LastNs = Math.Max(s.LastNs, t);
        s.Packets++;
        s.Bytes += (ulong)e.WireLength;
        // The sender is the caller when it sends from where the first request came.
        bool fromCaller = e.Source == s.Source && e.SourcePort == s.SourcePort;
        if (e.IsRequest)
        {
            s.Counts[(int)e.Method]++;
            if (s.RequestNs == 0) s.RequestNs = t;
            if (e.Authenticated) s.Authenticated = true;
            if (s.UacLength == 0 && e.AgentLength > 0 && fromCaller)
            {
                s.Uac = e.Agent;
                s.UacLength = e.AgentLength;
            }
            switch (e.Method)
            {
                case SipMethod.Invite:
                    if (s.InviteNs == 0) s.InviteNs = t;
                    if (s.Kind != SessionKind.Call) s.Kind = SessionKind.Call;
                    break;
                case SipMethod.Ack:
                    if (s.AckNs == 0 && (s.InviteOkNs != 0 || s.InviteFailureNs != 0)) s.AckNs = t;
                    break;
                case SipMethod.Bye:
                    if (s.ByeNs == 0) s.ByeNs = t;
                    break;
                case SipMethod.Cancel:
                    if (s.CancelNs == 0) s.CancelNs = t;
                    break;
                case SipMethod.Register:
                    if (e.Expires >= 0) s.Expires = e.Expires;
                    break;
            }
        }
        else
        {
            s.Counts[MessageCounts.ResponseSlot(e.StatusCode)]++;
            s.Counts[MessageCounts.ResponsesByMethod + (int)e.CSeqMethod]++;
            if (s.ToTagLength == 0 && e.ToTagLength > 0)
            {
                s.ToTag = e.ToTag;
                s.ToTagLength = e.ToTagLength;
            }
            if (s.UasLength == 0 && e.AgentLength > 0 && !fromCaller)
            {
                s.Uas = e.Agent;
                s.UasLength = e.AgentLength;
            }
            int code = e.StatusCode;
            bool final = code >= 200;
            switch (e.CSeqMethod)
            {
                case SipMethod.Invite:
                    if (code == 100 && s.TryingNs == 0) s.TryingNs = t;
                    else if (code is 180 or 183 && s.RingingNs == 0) s.RingingNs = t;
                    else if (code is >= 200 and < 300)
                    {
                        if (s.InviteOkNs == 0)
                        {
                            s.InviteOkNs = t;
                            if (s.InviteFailureNs == 0 && s.InviteNs != 0) ObservePdd(t, (t - s.InviteNs) / 1e9);
                        }
                        s.FinalStatus = (short)code;
                        if (!s.Confirmed && s.ByeNs == 0)
                        {
                            s.Confirmed = true;
                            ActiveCalls++;
                        }
                    }
                    else if (code >= 300)
                    {
                        if (s.InviteFailureNs == 0)
                        {
                            s.InviteFailureNs = t;
                            if (s.InviteOkNs == 0 && s.InviteNs != 0) ObservePdd(t, (t - s.InviteNs) / 1e9);
                        }
                        if (s.FinalStatus == 0 || s.FinalStatus >= 300) s.FinalStatus = (short)code;
                        // A failed initial INVITE ends the session; a failed re-INVITE leaves the call up.
                        if (!s.Confirmed) End(ref s, t);
                    }
                    break;
                case SipMethod.Bye:
                    if (final && s.ByeOkNs == 0) s.ByeOkNs = t;
                    if (final) End(ref s, t);
                    break;
                case SipMethod.Cancel:
                    if (final && s.CancelOkNs == 0) s.CancelOkNs = t;
                    break;
                default:
                    if (final)
                    {
                        if (s.FinalNs == 0) s.FinalNs = t;
                        s.FinalStatus = (short)code;
                        if (e.CSeqMethod == SipMethod.Register)
                        {
                            if (code is >= 200 and < 300)
                            {
                                s.RegisterOk = (byte)Math.Min(255, s.RegisterOk + 1);
                                Register(s, e, t);
                            }
                            else s.RegisterOther = (byte)Math.Min(255, s.RegisterOther + 1);
                        }
                        if (s.Kind != SessionKind.Call) End(ref s, t);
                    }
                    break;
            }
        }
        if (e.MediaAddress.IsPresent && (e.AudioPort != 0 || e.VideoPort != 0) && s.Kind == SessionKind.Call)
        {
            int slot = _index.Find(s.CallIdHash);
            // A new offer or answer replaces that side's addresses: the old ones leave both tables, so that a session
            // re-announcing media (a re-INVITE loop, or an attacker changing ports) holds at most four entries.
            if (fromCaller)
            {
                RemoveMedia(s.CallerMedia, s.CallerAudioPort, slot);
                RemoveMedia(s.CallerMedia, s.CallerVideoPort, slot);
                s.CallerMedia = e.MediaAddress;
                s.CallerAudioPort = e.AudioPort;
                s.CallerVideoPort = e.VideoPort;
            }
            else
            {
                RemoveMedia(s.CalleeMedia, s.CalleeAudioPort, slot);
                RemoveMedia(s.CalleeMedia, s.CalleeVideoPort, slot);
                s.CalleeMedia = e.MediaAddress;
                s.CalleeAudioPort = e.AudioPort;
                s.CalleeVideoPort = e.VideoPort;
            }
            long until = t + _options.CallIdleTimeoutNs;
            AddMedia(e.MediaAddress, e.AudioPort, slot, until);
            AddMedia(e.MediaAddress, e.VideoPort, slot, until);
        }
    }

    private void ObservePdd(long t, double seconds)
    {
        PostDialDelay.Observe(seconds);
        PostDialDelayObserved?.Invoke(t, seconds);
    }

    private void AddMedia(in IpAddr address, ushort port, int slot, long until)
    {
        if (port == 0) return;
        ulong key = MediaTable.Key(address, port);
        _media.Set(key, slot);
        Media.Add(key, until);
    }

    /// <summary>A 2xx to REGISTER: the address of record is bound until its expiry (0 removes it).</summary>
    private void Register(in SessionState s, in SessionEvent e, long t)
    {
        ulong aor = Hash64.Compute(e.ToText);
        int expires = e.Expires >= 0 ? e.Expires : s.Expires >= 0 ? s.Expires : 3600;
        if (expires == 0)
        {
            if (_registrations.Remove(aor)) ActiveRegistrations = _registrations.Count;
            return;
        }
        if (!_registrations.ContainsKey(aor) && _registrations.Count >= _options.Registrations)
        {
            RegistrationsUntracked++;
            return;
        }
        _registrations[aor] = t + expires * 1_000_000_000L;
        ActiveRegistrations = _registrations.Count;
    }

    private void End(ref SessionState s, long t)
    {
        if (s.Ended) return;
        s.Ended = true;
        s.EndedNs = t;
        if (s.Confirmed) ActiveCalls--;
    }

    private void OnRtp(in SessionEvent e)
    {
        ulong key = MediaTable.Key(e.Destination, e.DestinationPort);
        if (!_media.TryGetValue(key, out int slot))
        {
            RtpUnmatched++;
            return;
        }
        ref var s = ref _slots[slot];
        bool toCallee = e.Destination == s.CalleeMedia && (e.DestinationPort == s.CalleeAudioPort || e.DestinationPort == s.CalleeVideoPort);
        bool toCaller = e.Destination == s.CallerMedia && (e.DestinationPort == s.CallerAudioPort || e.DestinationPort == s.CallerVideoPort);
        if (!toCallee && !toCaller)
        {
            // The slot was reused by another session since the media was announced.
            _media.Remove(key);
            RtpUnmatched++;
            return;
        }
        RtpPackets++;
        s.RtpPackets++;
        s.RtpBytes += (ulong)e.WireLength;
        s.LastNs = Math.Max(s.LastNs, e.TimestampNs);
        bool video = toCallee ? e.DestinationPort == s.CalleeVideoPort : e.DestinationPort == s.CallerVideoPort;
        ref var stream = ref toCallee ? ref s.Forward : ref s.Reverse;
        stream.Add(e.Ssrc, e.RtpSequence, e.RtpTimestamp, e.PayloadType, e.WireLength, e.TimestampNs, RtpStream.ClockRateOf(e.PayloadType, video));
    }

    /// <summary>
    /// Exports what is due: ended sessions past their linger, idle ones, and old ones (a partial record, the session
    /// goes on). Looks at <paramref name="budget"/> slots per call from a rotating cursor, so it may be called often.
    /// </summary>
    public void Expire(long nowNs, int budget = 4096)
    {
        int n = _slots.Length;
        budget = Math.Min(budget, n);
        bool wrapped = false;
        for (int k = 0; k < budget; k++)
        {
            _cursor = _cursor + 1 == n ? 0 : _cursor + 1;
            if (_cursor == 0) wrapped = true;
            if (!InUse(_cursor)) continue;
            ref var s = ref _slots[_cursor];
            // A slot in use holds its session's Call-ID hash, and the index maps that hash to the slot.
            if (s.Ended)
            {
                if (nowNs - s.EndedNs >= _options.LingerNs) Release(_cursor, SessionEndReason.EndOfSession);
                continue;
            }
            long idle = s.Confirmed ? _options.CallIdleTimeoutNs : _options.IdleTimeoutNs;
            if (nowNs - s.LastNs >= idle)
            {
                Release(_cursor, SessionEndReason.IdleTimeout);
                continue;
            }
            if (nowNs - s.ExportedNs >= _options.ActiveTimeoutNs)
            {
                _sink.OnSession(s, SessionEndReason.ActiveTimeout);
                Exported++;
                // The next record covers what follows.
                s.ExportedNs = nowNs;
                s.FirstNs = nowNs;
                s.Packets = 0;
                s.Bytes = 0;
                s.Counts = default;
                s.RtpPackets = 0;
                s.RtpBytes = 0;
            }
        }
        Media.Expire(nowNs, ref _mediaCursor, Math.Min(budget, Media.Capacity));
        if (wrapped && _registrations.Count > 0)
        {
            foreach (var (aor, until) in _registrations)
                if (until <= nowNs) _registrations.Remove(aor);
            ActiveRegistrations = _registrations.Count;
        }
    }

    /// <summary>Exports every session (end of a capture, or shutdown).</summary>
    public void Flush()
    {
        for (int i = 0; i < _slots.Length; i++)
        {
            if (!InUse(i)) continue;
            ref var s = ref _slots[i];
            Release(i, s.Ended ? SessionEndReason.EndOfSession : SessionEndReason.ForcedEnd);
        }
    }

    private void EvictOne(long nowNs)
    {
        // Sampled LRU: of a few slots, the one idle longest; an answered call counts as an hour younger, so a flood
        // of new Call-IDs pushes out other half-open sessions before live calls.
        int best = -1;
        long bestScore = long.MaxValue;
        int n = _slots.Length;
        for (int k = 0; k < EvictionSample; k++)
        {
            _evictCursor = (_evictCursor + 7919) % n;
            ref var s = ref _slots[_evictCursor];
            long score = s.LastNs + (s.Confirmed && !s.Ended ? 3_600_000_000_000 : 0);
            if (score < bestScore)
            {
                bestScore = score;
                best = _evictCursor;
            }
        }
        Evicted++;
        Release(best, SessionEndReason.LackOfResources);
    }

    private void Release(int slot, SessionEndReason reason)
    {
        ref var s = ref _slots[slot];
        _sink.OnSession(s, reason);
        Exported++;
        _index.Remove(s.CallIdHash);
        RemoveMedia(s.CallerMedia, s.CallerAudioPort, slot);
        RemoveMedia(s.CallerMedia, s.CallerVideoPort, slot);
        RemoveMedia(s.CalleeMedia, s.CalleeAudioPort, slot);
        RemoveMedia(s.CalleeMedia, s.CalleeVideoPort, slot);
        if (s.Confirmed && !s.Ended) ActiveCalls--;
        s.CallIdHash = 0;
        _occupied[slot >> 6] &= ~(1UL << slot);
        _firstFreeWord = Math.Min(_firstFreeWord, slot >> 6);
        _freeCount++;
        Active--;
    }

    private bool InUse(int slot) => (_occupied[slot >> 6] & (1UL << slot)) != 0;

    /// <summary>Marks the lowest free slot used and returns it (the caller made sure one is free).</summary>
    private int TakeLowestFree()
    {
        for (int w = _firstFreeWord; w < _occupied.Length; w++)
        {
            ulong free = ~_occupied[w];
            if (free == 0) continue;
            int bit = System.Numerics.BitOperations.TrailingZeroCount(free);
            _occupied[w] |= 1UL << bit;
            _firstFreeWord = w;
            _freeCount--;
            return w * 64 + bit;
        }
        throw new InvalidOperationException("no free session slot");
    }

    private void RemoveMedia(in IpAddr address, ushort port, int slot)
    {
        if (port == 0) return;
        ulong key = MediaTable.Key(address, port);
        if (_media.TryGetValue(key, out int owner) && owner == slot)
        {
            _media.Remove(key);
            Media.Remove(key);
        }
    }
}
