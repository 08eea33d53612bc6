using SipIps.Engine.Common;
using SipIps.Engine.Detection;
using SipIps.Engine.Sessions;
using SipIps.Engine.Sip;

namespace SipIps.Engine.Behaviour;

/// <summary>
/// Computes the behaviour factors over sliding windows of 10 s and 60 s from the session events (SIP messages and
/// RTP packets of known calls). Counts go into one-second buckets (a ring of 120 seconds, so that a 60 s window can be
/// compared with the one before it), distinct values into per-second HyperLogLog sketches, and RTP sequence and
/// jitter state into a fixed table of SSRCs. Memory is fixed at construction; one thread owns it.
/// </summary>
public sealed class BehaviourAnalyzer : ISessionEventSink
{
    public const int WindowShort = 10;
    public const int WindowLong = 60;
    internal const int Seconds = 2 * WindowLong;

    private enum C
    {
        Sip, Requests, Responses, Invite, Register, Bye, Ack, Cancel, Options, Errors, Rtp,
        RtpExpected, RtpLost, SeqPairs, SeqBreaks, JitterUsSum, JitterSamples, PddMsSum, PddCount, RegIntervalMsSum, RegIntervalCount,
        Count,
    }

    private enum D { InviteCallIds, CallIds, From, To, Ssrc, RegisterIps, RegisterAors, Count }

    private readonly long[] _counts = new long[Seconds * (int)C.Count];
    private readonly byte[] _sketches = new byte[Seconds * (int)D.Count * DistinctSketch.Registers];
    private readonly long[] _second = new long[Seconds];
    private long _now = long.MinValue;

    // RTP per SSRC (direct-mapped; a collision replaces the older stream).
    private readonly uint[] _ssrc;
    private readonly ushort[] _lastSeq;
    private readonly long[] _lastTransit;
    private readonly long[] _jitter;
    private readonly bool[] _used;
    // Accepted registrations: address of record -> last time (direct-mapped).
    private readonly ulong[] _aor;
    private readonly long[] _aorTime;

    // Per server (the address that answers): responses and error responses per second, for the most active servers.
    private readonly IpAddr[] _server;
    private readonly long[] _serverCounts; // [server, second, 2]
    private readonly long[] _serverLastSeen;
    private readonly long[] _serverSecond;

    private KeyedFactors[] _keyed = [];

    public BehaviourAnalyzer(int streams = 8192, int aors = 16384, int servers = 64, int keysPerKind = 1024)
    {
        KeysPerKind = keysPerKind;
        _server = new IpAddr[servers];
        _serverCounts = new long[servers * Seconds * 2];
        _serverLastSeen = new long[servers];
        _serverSecond = new long[servers * Seconds];
        Array.Fill(_serverSecond, long.MinValue);
        _ssrc = new uint[streams];
        _lastSeq = new ushort[streams];
        _lastTransit = new long[streams];
        _jitter = new long[streams];
        _used = new bool[streams];
        _aor = new ulong[aors];
        _aorTime = new long[aors];
        Top = new Analysis.TopK(TopUsers);
    }

    /// <summary>Heaviest users (From URI) by messages, Space-Saving: a count may be over by at most <see cref="Analysis.TopK.ErrorBound"/>.</summary>
    public Analysis.TopK Top { get; }

    /// <summary>
    /// Counters of <see cref="Top"/>: counts stay exact up to this many users (a PBX's population), as in analyze's
    /// top talkers. With 256, a PBX of 400 users read every count as nearly all error, and every request of a user
    /// not held replaced a counter.
    /// </summary>
    public const int TopUsers = 4096;
    /// <summary>Keys kept per key kind by <see cref="Keyed"/>.</summary>
    public int KeysPerKind { get; }
    /// <summary>The per-key factor tables in use (one per key kind that a factor rule named).</summary>
    public IReadOnlyList<KeyedFactors> KeyedTables => _keyed;

    /// <summary>
    /// The per-key factors for <paramref name="spec"/>, counted from the next message on (created on first use; at
    /// most one table per supported key kind).
    /// </summary>
    public KeyedFactors Keyed(KeySpec spec)
    {
        foreach (var k in _keyed)
            if (k.Spec.Equals(spec)) return k;
        var table = new KeyedFactors(spec, KeysPerKind);
        _keyed = [.. _keyed, table];
        return table;
    }
    public long LatestSecond => _now;

    /// <summary>The bucket of a second in a ring of <see cref="Seconds"/> one-second buckets (also the per-key tables').</summary>
    internal static int Slot(long second) => (int)(((second % Seconds) + Seconds) % Seconds);

    /// <summary>Moves the clock to <paramref name="second"/>, clearing the buckets of the seconds skipped.</summary>
    public void Advance(long second)
    {
        if (second > _now) _now = second;
    }

    /// <summary>
    /// Makes the bucket of <paramref name="second"/> its own before it is counted into: a bucket still holding an
    /// older second is cleared here, when it is used, not when the clock passes it (a sparse capture jumps seconds
    /// on nearly every packet). Readers skip buckets whose second is not the one they ask for.
    /// </summary>
    private void Touch(long second)
    {
        int slot = Slot(second);
        if (_second[slot] == second) return;
        _second[slot] = second;
        Array.Clear(_counts, slot * (int)C.Count, (int)C.Count);
        Array.Clear(_sketches, slot * (int)D.Count * DistinctSketch.Registers, (int)D.Count * DistinctSketch.Registers);
    }

    private ref long Count(long second, C c) => ref _counts[Slot(second) * (int)C.Count + (int)c];

    private Span<byte> Sketch(long second, D d) =>
        _sketches.AsSpan((Slot(second) * (int)D.Count + (int)d) * DistinctSketch.Registers, DistinctSketch.Registers);

    public void OnEvent(in SessionEvent e)
    {
        long second = e.TimestampNs / 1_000_000_000;
        if (_now != long.MinValue && second < _now - Seconds + 1) return; // older than the ring: ignored
        Advance(second);
        Touch(second);
        if (e.Kind == SessionEventKind.Rtp)
        {
            OnRtp(second, e);
            return;
        }
        if (e.Kind != SessionEventKind.Sip) return;
        Count(second, C.Sip)++;
        ulong from = Hash64.Compute(e.FromText), to = Hash64.Compute(e.ToText);
        DistinctSketch.Add(Sketch(second, D.CallIds), e.CallIdHash);
        DistinctSketch.Add(Sketch(second, D.From), from);
        DistinctSketch.Add(Sketch(second, D.To), to);
        foreach (var k in _keyed) k.OnSip(e, second);
        if (e.IsRequest)
        {
            Count(second, C.Requests)++;
            if (!Top.TryIncrement(from)) Top.Insert(from, e.FromText);
            switch (e.Method)
            {
                case SipMethod.Invite:
                    Count(second, C.Invite)++;
                    DistinctSketch.Add(Sketch(second, D.InviteCallIds), e.CallIdHash);
                    break;
                case SipMethod.Register:
                    Count(second, C.Register)++;
                    DistinctSketch.Add(Sketch(second, D.RegisterIps), Hash64.Combine(e.Source.Hi, e.Source.Lo));
                    DistinctSketch.Add(Sketch(second, D.RegisterAors), to);
                    break;
                case SipMethod.Bye: Count(second, C.Bye)++; break;
                case SipMethod.Ack: Count(second, C.Ack)++; break;
                case SipMethod.Cancel: Count(second, C.Cancel)++; break;
                case SipMethod.Options: Count(second, C.Options)++; break;
            }
            return;
        }
        Count(second, C.Responses)++;
        if (e.StatusCode >= 400) Count(second, C.Errors)++;
        CountServer(e.Source, second, e.StatusCode >= 400);
        if (e.CSeqMethod == SipMethod.Register && e.StatusCode is >= 200 and < 300)
        {
            int i = (int)(to % (ulong)_aor.Length);
            if (_aor[i] == to && _aorTime[i] > 0)
            {
                long interval = e.TimestampNs - _aorTime[i];
                // Retransmitted 200s and re-registrations after a challenge are not intervals.
                if (interval > 1_000_000_000)
                {
                    Count(second, C.RegIntervalMsSum) += interval / 1_000_000;
                    Count(second, C.RegIntervalCount)++;
                }
            }
            _aor[i] = to;
            _aorTime[i] = e.TimestampNs;
        }
    }

    private void CountServer(in IpAddr server, long second, bool error)
    {
        // Linear scan of a small table; when full, the server idle longest gives way.
        int found = -1, idlest = 0;
        for (int i = 0; i < _server.Length; i++)
        {
            if (_serverLastSeen[i] > 0 && _server[i] == server)
            {
                found = i;
                break;
            }
            if (_serverLastSeen[i] < _serverLastSeen[idlest]) idlest = i;
        }
        if (found < 0)
        {
            found = idlest;
            _server[found] = server;
            Array.Fill(_serverSecond, long.MinValue, found * Seconds, Seconds);
        }
        _serverLastSeen[found] = Math.Max(_serverLastSeen[found], second);
        int idx = found * Seconds + Slot(second);
        if (_serverSecond[idx] != second)
        {
            _serverSecond[idx] = second;
            _serverCounts[idx * 2] = 0;
            _serverCounts[idx * 2 + 1] = 0;
        }
        _serverCounts[idx * 2]++;
        if (error) _serverCounts[idx * 2 + 1]++;
    }

    /// <summary>Per server over the last <paramref name="window"/> seconds: responses and the share of 4xx-6xx (allocates; for status and reports).</summary>
    public List<(IpAddr Server, long Responses, double ErrorRatio)> Servers(long last, int window)
    {
        var list = new List<(IpAddr, long, double)>();
        for (int i = 0; i < _server.Length; i++)
        {
            if (_serverLastSeen[i] == 0 || _serverLastSeen[i] <= last - window) continue;
            long responses = 0, errors = 0;
            for (long s = last - window + 1; s <= last; s++)
            {
                int idx = i * Seconds + Slot(s);
                if (_serverSecond[idx] != s) continue;
                responses += _serverCounts[idx * 2];
                errors += _serverCounts[idx * 2 + 1];
            }
            if (responses > 0) list.Add((_server[i], responses, (double)errors / responses));
        }
        return [.. list.OrderByDescending(x => x.Item2)];
    }

    /// <summary>A post-dial delay measured by session tracking (INVITE to first final response).</summary>
    public void OnPostDialDelay(long timestampNs, double seconds)
    {
        long second = timestampNs / 1_000_000_000;
        if (_now != long.MinValue && second < _now - Seconds + 1) return;
        Advance(second);
        Touch(second);
        Count(second, C.PddMsSum) += (long)(seconds * 1000);
        Count(second, C.PddCount)++;
    }

    private void OnRtp(long second, in SessionEvent e)
    {
        Count(second, C.Rtp)++;
        DistinctSketch.Add(Sketch(second, D.Ssrc), Hash64.Combine(e.Ssrc, 0x5352));
        int i = (int)(e.Ssrc % (uint)_ssrc.Length);
        int clock = RtpStream.ClockRateOf(e.PayloadType, video: false);
        long arrival = (long)((Int128)e.TimestampNs * clock / 1_000_000_000);
        long transit = arrival - e.RtpTimestamp;
        if (_used[i] && _ssrc[i] == e.Ssrc)
        {
            ushort delta = (ushort)(e.RtpSequence - _lastSeq[i]);
            Count(second, C.SeqPairs)++;
            if (delta != 1) Count(second, C.SeqBreaks)++;
            if (delta is > 0 and < 3000)
            {
                Count(second, C.RtpExpected) += delta;
                Count(second, C.RtpLost) += delta - 1;
                _lastSeq[i] = e.RtpSequence;
            }
            long d = Math.Abs((long)(int)(uint)(transit - _lastTransit[i]));
            _jitter[i] += d - ((_jitter[i] + 8) >> 4);
            Count(second, C.JitterUsSum) += (_jitter[i] >> 4) * 1_000_000 / clock;
            Count(second, C.JitterSamples)++;
        }
        else
        {
            _used[i] = true;
            _ssrc[i] = e.Ssrc;
            _lastSeq[i] = e.RtpSequence;
            _jitter[i] = 0;
            Count(second, C.RtpExpected)++;
        }
        _lastTransit[i] = transit;
    }

    private long Sum(C c, long last, int seconds)
    {
        long n = 0;
        for (long s = last - seconds + 1; s <= last; s++)
            if (_second[Slot(s)] == s) n += _counts[Slot(s) * (int)C.Count + (int)c];
        return n;
    }

    private double Distinct(D d, long last, int seconds, Span<byte> scratch)
    {
        scratch.Clear();
        for (long s = last - seconds + 1; s <= last; s++)
            if (_second[Slot(s)] == s) DistinctSketch.Merge(scratch, Sketch(s, d));
        return DistinctSketch.Estimate(scratch);
    }

    /// <summary>SIP messages in the <paramref name="window"/> seconds that end with <paramref name="last"/>.</summary>
    public long Messages(long last, int window) => Sum(C.Sip, last, Math.Clamp(window, 1, WindowLong));

    /// <summary>
    /// The factors over the <paramref name="window"/> seconds that end with second <paramref name="last"/> (use a
    /// complete second: the current one is still filling). Undefined ratios (nothing to divide by) are NaN.
    /// Also returns the number of SIP messages in the window, for rules that need a minimum volume.
    /// </summary>
    public long Evaluate(long last, int window, Span<double> factors)
    {
        Span<byte> scratch = stackalloc byte[DistinctSketch.Registers];
        window = Math.Clamp(window, 1, WindowLong);
        long sip = Sum(C.Sip, last, window), requests = Sum(C.Requests, last, window), responses = Sum(C.Responses, last, window);
        long rtp = Sum(C.Rtp, last, window);
        long sipBefore = Sum(C.Sip, last - window, window), rtpBefore = Sum(C.Rtp, last - window, window);
        factors[(int)Factor.SipMessagesPerSecond] = (double)sip / window;
        factors[(int)Factor.RtpPacketsPerSecond] = (double)rtp / window;
        factors[(int)Factor.SipVolumeChange] = Ratio(sip, sipBefore);
        factors[(int)Factor.RtpVolumeChange] = Ratio(rtp, rtpBefore);
        factors[(int)Factor.InviteRatio] = Ratio(Sum(C.Invite, last, window), requests);
        factors[(int)Factor.RegisterRatio] = Ratio(Sum(C.Register, last, window), requests);
        factors[(int)Factor.ByeRatio] = Ratio(Sum(C.Bye, last, window), requests);
        factors[(int)Factor.AckRatio] = Ratio(Sum(C.Ack, last, window), requests);
        factors[(int)Factor.CancelRatio] = Ratio(Sum(C.Cancel, last, window), requests);
        factors[(int)Factor.OptionsRatio] = Ratio(Sum(C.Options, last, window), requests);
        // Unanswered requests (a flood at a server that gave up) must not make the ratio undefined: at least one response.
        factors[(int)Factor.RequestResponseRatio] = requests == 0 ? double.NaN : (double)requests / Math.Max(1, responses);
        long invites = Sum(C.Invite, last, window);
        // Distinct counts are estimated; with nothing counted, the ratio is undefined, not 0/0 noise.
        double inviteCalls = invites == 0 ? 0 : Distinct(D.InviteCallIds, last, window, scratch);
        double ssrcs = rtp == 0 ? 0 : Distinct(D.Ssrc, last, window, scratch);
        factors[(int)Factor.CallIdSsrcRatio] = invites == 0 ? double.NaN : inviteCalls / Math.Max(1, ssrcs);
        long registers = Sum(C.Register, last, window);
        factors[(int)Factor.RegisterIpUriRatio] = registers == 0 ? double.NaN
            : Distinct(D.RegisterIps, last, window, scratch) / Math.Max(1, Distinct(D.RegisterAors, last, window, scratch));
        factors[(int)Factor.RtpSeqDisorder] = Ratio(Sum(C.SeqBreaks, last, window), Sum(C.SeqPairs, last, window));
        double calls = sip == 0 ? 0 : Distinct(D.CallIds, last, window, scratch);
        factors[(int)Factor.FromCallIdRatio] = sip == 0 ? double.NaN : Distinct(D.From, last, window, scratch) / Math.Max(1, calls);
        factors[(int)Factor.ToCallIdRatio] = sip == 0 ? double.NaN : Distinct(D.To, last, window, scratch) / Math.Max(1, calls);
        factors[(int)Factor.RegisterIntervalSeconds] = Ratio(Sum(C.RegIntervalMsSum, last, window), Sum(C.RegIntervalCount, last, window)) / 1000;
        factors[(int)Factor.ErrorResponseRatio] = Ratio(Sum(C.Errors, last, window), responses);
        factors[(int)Factor.RtpLossRatio] = Ratio(Sum(C.RtpLost, last, window), Sum(C.RtpExpected, last, window));
        factors[(int)Factor.RtpJitterMs] = Ratio(Sum(C.JitterUsSum, last, window), Sum(C.JitterSamples, last, window)) / 1000;
        factors[(int)Factor.PostDialDelaySeconds] = Ratio(Sum(C.PddMsSum, last, window), Sum(C.PddCount, last, window)) / 1000;
        return sip;
    }

    internal static double Ratio(long a, long b) => b == 0 ? double.NaN : (double)a / b;
}
