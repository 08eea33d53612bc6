using System.Runtime.CompilerServices;
using SipIps.Engine.Common;
using SipIps.Engine.Enforcement;
using SipIps.Engine.Packets;
using SipIps.Engine.Sip;

namespace SipIps.Engine.Detection;

/// <summary>Capacities and timings of the detection state. Every table is allocated whole at start.</summary>
public sealed record DetectionOptions
{
    /// <summary>Rule counters (one per rule and key).</summary>
    public int Counters { get; init; } = 131_072;
    /// <summary>Distinct-value counters (one per distinct-counting rule and key).</summary>
    public int DistinctCounters { get; init; } = 32_768;
    /// <summary>Call-IDs followed.</summary>
    public int Dialogs { get; init; } = 131_072;
    /// <summary>Key scores.</summary>
    public int Scores { get; init; } = 65_536;
    /// <summary>
    /// Addresses that proved themselves: either side of an accepted REGISTER (the client holds credentials, the
    /// server is a registrar) or of an answered and acknowledged INVITE.
    /// </summary>
    public int KnownSources { get; init; } = 65_536;
    public long KnownSourceTtlNs { get; init; } = 3600L * 1_000_000_000;
    public double ScoreHalfLifeNs { get; init; } = 300e9;
    /// <summary>Detect forces every rule to detect-only; prevent lets each rule's own mode apply.</summary>
    public RuleMode Mode { get; init; } = RuleMode.Prevent;

    /// <summary>The bytes one worker's detection state takes.</summary>
    public long MemoryBytes =>
        (long)Round(Counters) * Unsafe.SizeOf<CounterEntry>() + (long)Round(DistinctCounters) * Unsafe.SizeOf<DistinctEntry>() + Round(Dialogs) * (long)Unsafe.SizeOf<DialogEntry>()
        + Round(Scores) * (long)Unsafe.SizeOf<ScoreEntry>() + Round(KnownSources) * (long)Unsafe.SizeOf<KnownSourceEntry>()
        + SketchWidth(Counters) * 4L;

    private static int Round(int n) => (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Max(1, (n + 7) / 8)) * 8;

    internal static int SketchWidth(int counters) => (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Max(64, counters));
}

/// <summary>What every worker's detection shares: the rules, the bans and rate limits, and the alert queue.</summary>
public sealed class DetectionShared(RuleSetHolder rules, EnforcementTable enforcement, IAlertSink alerts, DetectionOptions options)
{
    private volatile RuleMode _mode = options.Mode;

    public RuleSetHolder Rules { get; } = rules;
    public EnforcementTable Enforcement { get; } = enforcement;
    public IAlertSink Alerts { get; } = alerts;
    public DetectionOptions Options { get; } = options;

    private long _protectUntilNs = long.MinValue;

    /// <summary>
    /// Until this time (packet clock), new INVITEs from sources that are not known (never registered, never completed
    /// a call) are dropped: a rule on behaviour factors saw a flood that no single key explains.
    /// </summary>
    public long ProtectUntilNs => Volatile.Read(ref _protectUntilNs);
    public string? ProtectRule { get; private set; }

    /// <summary>Starts or extends the protection (never shortens it).</summary>
    public void Protect(long untilNs, string ruleId)
    {
        long current;
        do
        {
            current = Volatile.Read(ref _protectUntilNs);
            if (untilNs <= current) return;
        } while (Interlocked.CompareExchange(ref _protectUntilNs, untilNs, current) != current);
        ProtectRule = ruleId;
    }

    /// <summary>
    /// Bans a key named by a rule on behaviour factors (from the session thread). False when the key cannot be
    /// written as a key, or is allowlisted (then nothing is enforced).
    /// </summary>
    public bool BanKey(string key, long now, long untilNs, string ruleId)
    {
        if (!KeyText.TryParse(key, out var spec, out string canonical, out ulong hash, out _) || spec.IsGlobal) return false;
        if (Rules.Current.IsAllowlistedKey(canonical)) return false;
        Enforcement.Ban(hash, spec, System.Text.Encoding.UTF8.GetBytes(canonical), now, untilNs, ruleId, EnforcementOrigin.Rule);
        return true;
    }

    /// <summary>
    /// Puts all of a key's new requests (outside known dialogs) under a token bucket, for a rule on behaviour factors;
    /// calls in progress go on. False when the key cannot be parsed or is allowlisted.
    /// </summary>
    public bool RateLimitKey(string key, long now, long untilNs, string ruleId, double rate, double burst)
    {
        if (!KeyText.TryParse(key, out var spec, out string canonical, out ulong hash, out _)) return false;
        if (Rules.Current.IsAllowlistedKey(canonical)) return false;
        Enforcement.RateLimit(EnforcementTable.KeyWideHash(hash), spec, System.Text.Encoding.UTF8.GetBytes(canonical), now, untilNs, ruleId,
            rate, burst, keyWide: true);
        return true;
    }

    /// <summary>The global mode (detect overrides every rule); a reload may change it.</summary>
    public RuleMode Mode
    {
        get => _mode;
        set => _mode = value;
    }
}

/// <summary>
/// The ban check of one worker, done before the worker takes the shared engine's lock: under a flood from a banned
/// key, workers drop its messages in parallel and never contend. Allowlisted messages are never dropped here.
/// </summary>
public sealed class BanCheck(DetectionShared shared)
{
    private readonly MessageFields _fields = new();

    public long Drops;

    public bool IsBanned(in PacketInfo packet, SipMessage message)
    {
        var enforcement = shared.Enforcement;
        if (enforcement.BanSpecs.Length == 0) return false;
        _fields.Begin(packet, message);
        if (shared.Rules.Current.IsAllowlisted(_fields)) return false;
        if (!DetectionEngine.IsBanned(_fields, enforcement, packet.TimestampNs)) return false;
        Drops++;
        return true;
    }
}

/// <summary>Per-rule figures of one worker; they survive a reload that keeps the rule's id.</summary>
public sealed class RuleCounters
{
    public long Matched;
    public long Fired;
    public long Alerts;
    public long Dropped;
    public long RateLimited;
    public long Bans;
    public long RateLimits;
    public long KeyMissing;
    public long Untracked;
}

/// <summary>Engine-wide detection figures of one worker.</summary>
public sealed class DetectionCounters
{
    public long Messages;
    public long Allowlisted;
    public long BanDrops;
    public long RateLimitDrops;
    public long RuleDrops;
    /// <summary>New INVITEs from unknown sources dropped while a behaviour rule's protection was on.</summary>
    public long ProtectDrops;
    public long AlertsLost;
    public long DialogsUntracked;
    public readonly Dictionary<string, RuleCounters> Rules = new(StringComparer.Ordinal);
}

/// <summary>
/// The detection engine of one worker, called for every SIP message. It checks the message's keys against the
/// active bans, counts the message for each rule it meets (per key, in a sliding window), fires rules whose
/// threshold is reached (score, alert, drop, rate limit, ban), and follows dialogs by Call-ID and sources that
/// proved themselves. All state is in fixed-size tables; nothing is allocated per message.
/// </summary>
public sealed class DetectionEngine : IVerdictHook
{
    private readonly DetectionShared _shared;
    private readonly DetectionOptions _options;
    private readonly EnforcementTable _enf;
    private readonly MessageFields _fields = new();
    private readonly BoundedTable<CounterEntry> _counters;
    private readonly BoundedTable<DistinctEntry> _distinct;
    private readonly FrequencySketch _sketch;
    private readonly BoundedTable<ScoreEntry> _scores;
    private readonly BoundedTable<DialogEntry> _dialogs;
    private readonly BoundedTable<KnownSourceEntry> _known;
    private readonly byte[] _keyBuffer = new byte[EnforcementTable.MaxKeyText];
    private AlertEvent _alert;
    private RuleSet? _rules;
    private RuleCounters[] _ruleCounters = [];

    public DetectionEngine(DetectionShared shared)
    {
        _shared = shared;
        _options = shared.Options;
        _enf = shared.Enforcement;
        _counters = new BoundedTable<CounterEntry>(_options.Counters);
        _distinct = new BoundedTable<DistinctEntry>(_options.DistinctCounters);
        _sketch = new FrequencySketch(DetectionOptions.SketchWidth(_options.Counters));
        _scores = new BoundedTable<ScoreEntry>(_options.Scores);
        _dialogs = new BoundedTable<DialogEntry>(_options.Dialogs);
        _known = new BoundedTable<KnownSourceEntry>(_options.KnownSources);
    }

    public DetectionCounters Counters { get; } = new();
    public BoundedTable<CounterEntry> CounterTable => _counters;
    public BoundedTable<DistinctEntry> DistinctTable => _distinct;
    public BoundedTable<DialogEntry> DialogTable => _dialogs;
    public BoundedTable<ScoreEntry> ScoreTable => _scores;
    public BoundedTable<KnownSourceEntry> KnownSourceTable => _known;

    public long MemoryBytes => _counters.MemoryBytes + _distinct.MemoryBytes + _sketch.MemoryBytes + _scores.MemoryBytes + _dialogs.MemoryBytes + _known.MemoryBytes;

    /// <summary>The current score of a key (for tests and status).</summary>
    public double ScoreOf(ulong keyHash, long now)
    {
        ref var s = ref _scores.Find(keyHash);
        return Unsafe.IsNullRef(ref s) ? 0 : s.Current(now, _options.ScoreHalfLifeNs);
    }

    public bool IsKnownSource(in IpAddr address, long now)
    {
        ref var k = ref _known.Find(SourceKey(address));
        return !Unsafe.IsNullRef(ref k) && k.ExpiresNs > now;
    }

    public Verdict OnSipMessage(in PacketInfo packet, SipMessage message)
    {
        var rules = _shared.Rules.Current;
        if (!ReferenceEquals(rules, _rules)) Bind(rules);
        var f = _fields;
        f.Begin(packet, message);
        Counters.Messages++;
        long now = packet.TimestampNs;

        bool haveCallId = f.TryHash(SipField.CallId, out ulong callIdHash);
        if (haveCallId)
        {
            ref var d = ref _dialogs.Find(callIdHash);
            if (!Unsafe.IsNullRef(ref d) && d.IsLive(now))
            {
                f.DialogKnown = true;
                f.DialogConfirmed = d.State == DialogState.Confirmed;
                f.FromHop = d.HasHop(HopOf(packet.Source));
            }
        }
        if (f.Client.IsPresent)
        {
            ref var k = ref _known.Find(SourceKey(f.Client));
            f.SourceKnown = !Unsafe.IsNullRef(ref k) && k.ExpiresNs > now;
        }

        bool allow = rules.IsAllowlisted(f);
        if (allow) Counters.Allowlisted++;
        var verdict = Verdict.Pass;

        // A banned key's messages are not counted again: the ban is already the answer.
        if (!allow && IsBanned(f, _enf, now))
        {
            Counters.BanDrops++;
            return Verdict.Drop(DropReason.Ban);
        }

        // A key-wide rate limit (a behaviour rule on this key): its requests outside known dialogs take a token each.
        if (!allow && message.IsRequest && !f.DialogKnown && _enf.LimitSpecs.Length > 0 && IsKeyLimited(f, _enf, now))
        {
            Counters.RateLimitDrops++;
            return Verdict.Drop(DropReason.RateLimit);
        }

        // Protection (a behaviour rule saw a flood): a new call from a source that never proved itself waits.
        if (!allow && message.IsRequest && message.Method == SipMethod.Invite && !f.DialogKnown && !f.SourceKnown
            && now < _shared.ProtectUntilNs && _shared.Mode == RuleMode.Prevent)
        {
            Counters.ProtectDrops++;
            return Verdict.Drop(DropReason.Rule);
        }

        var list = rules.For(message);
        for (int i = 0; i < list.Length; i++) verdict = verdict.Combine(Evaluate(list[i], f, allow, now));

        if (!verdict.IsDrop && haveCallId) UpdateSession(f, callIdHash, now);
        return verdict;
    }

    /// <summary>
    /// True when one of the message's keys is banned: one hash probe per key kind that has bans. Lock-free, so a
    /// worker can drop a banned key's messages before it takes any lock (see <see cref="BanCheck"/>).
    /// </summary>
    public static bool IsBanned(MessageFields f, EnforcementTable enforcement, long now)
    {
        var banSpecs = enforcement.BanSpecs;
        for (int i = 0; i < banSpecs.Length; i++)
            if (f.TryKeyHash(banSpecs[i], out ulong h) && enforcement.IsBanned(h, now)) return true;
        return false;
    }

    private static bool IsKeyLimited(MessageFields f, EnforcementTable enforcement, long now)
    {
        var specs = enforcement.LimitSpecs;
        for (int i = 0; i < specs.Length; i++)
            if (f.TryKeyHash(specs[i], out ulong h) && enforcement.TryRateLimit(EnforcementTable.KeyWideHash(h), now, out bool limited) && limited)
                return true;
        return false;
    }

    private void Bind(RuleSet rules)
    {
        _rules = rules;
        var counters = new RuleCounters[rules.Rules.Count];
        for (int i = 0; i < counters.Length; i++)
        {
            string id = rules.Rules[i].Id;
            if (!Counters.Rules.TryGetValue(id, out var c)) Counters.Rules[id] = c = new RuleCounters();
            counters[i] = c;
        }
        _ruleCounters = counters;
    }

    private Verdict Evaluate(Rule r, MessageFields f, bool allow, long now)
    {
        bool counted = r.Match.Matches(f);
        bool per = r.Per is not null && r.Per.Matches(f);
        if (!counted && !per) return Verdict.Pass;
        var stats = _ruleCounters[r.Index];
        if (!f.TryKeyHash(r.Key, out ulong keyHash))
        {
            stats.KeyMissing++;
            return Verdict.Pass;
        }
        ulong ck = KeyText.Finish(Hash64.Combine(r.IdHash, keyHash));
        bool enforce = !allow && r.Mode == RuleMode.Prevent && _shared.Mode == RuleMode.Prevent;
        var verdict = Verdict.Pass;

        if (counted && _enf.HasRateLimits && _enf.TryRateLimit(ck, now, out bool limited) && limited)
        {
            stats.RateLimited++;
            Counters.RateLimitDrops++;
            verdict = Verdict.Drop(DropReason.RateLimit);
        }

        // The frequency sketch is consulted only for keys not in the table: it decides whether a newcomer may take
        // the place of a tracked key (one-off random keys may not), and a tracked key needs no second opinion.
        double value, perValue = -1;
        ref WindowState w = ref Unsafe.NullRef<WindowState>();
        if (r.IsDistinct)
        {
            ref var d = ref _distinct.Find(ck);
            if (Unsafe.IsNullRef(ref d)) d = ref _distinct.FindOrAdd(ck, now, out _, _sketch.Add(ck));
            if (Unsafe.IsNullRef(ref d))
            {
                stats.Untracked++;
                return verdict;
            }
            d.Roll(now, r.WindowNs);
            if (per) d.PerCur++;
            if (!counted) return verdict;
            stats.Matched++;
            if (!DistinctHash(r, f, out ulong dh)) return verdict;
            d.Cur.Add(dh);
            value = d.Count();
            if (r.IsRatio) perValue = d.PerCount(now);
            w = ref d.W;
        }
        else
        {
            ref var e = ref _counters.Find(ck);
            if (Unsafe.IsNullRef(ref e)) e = ref _counters.FindOrAdd(ck, now, out _, _sketch.Add(ck));
            if (Unsafe.IsNullRef(ref e))
            {
                stats.Untracked++;
                return verdict;
            }
            e.Roll(now, r.WindowNs);
            if (per) e.PerCur++;
            if (!counted) return verdict;
            stats.Matched++;
            e.Cur++;
            value = e.Count(now);
            if (r.IsRatio) perValue = e.PerCount(now);
            w = ref e.W;
        }
        bool over = r.IsRatio
            ? value >= r.MinCount && value / Math.Max(perValue, 1) >= r.Threshold
            : value >= r.Threshold;
        if (!over) return verdict;

        double score;
        if (!w.HasFired || now - w.LastFireNs >= r.WindowNs)
        {
            w.HasFired = true;
            w.LastFireNs = now;
            verdict = verdict.Combine(Fire(r, stats, f, keyHash, ck, value, perValue, enforce, allow, now, out score));
        }
        else
        {
            ref var s = ref _scores.Find(keyHash);
            score = Unsafe.IsNullRef(ref s) ? 0 : s.Current(now, _options.ScoreHalfLifeNs);
        }

        // "drop": while over the threshold, the rule's messages are dropped once the key's score reaches the level.
        if (enforce && !verdict.IsDrop)
        {
            foreach (var a in r.Actions)
            {
                if (a.Kind == ActionKind.Drop && score >= a.At)
                {
                    stats.Dropped++;
                    Counters.RuleDrops++;
                    verdict = verdict.Combine(Verdict.Drop(DropReason.Rule));
                    break;
                }
            }
        }
        return verdict;
    }

    private static bool DistinctHash(Rule r, MessageFields f, out ulong hash)
    {
        ulong acc = 0x6469_7374_696E_6374UL;
        foreach (var field in r.Distinct)
        {
            if (!f.TryHash(field, out ulong h))
            {
                hash = 0;
                return false;
            }
            acc = Hash64.Combine(acc, h);
        }
        hash = acc;
        return true;
    }

    private Verdict Fire(Rule r, RuleCounters stats, MessageFields f, ulong keyHash, ulong ck, double value, double perValue,
        bool enforce, bool allow, long now, out double score)
    {
        stats.Fired++;
        ref var s = ref _scores.FindOrAdd(keyHash, now, out _);
        if (Unsafe.IsNullRef(ref s))
        {
            score = r.Score;
        }
        else
        {
            score = s.Current(now, _options.ScoreHalfLifeNs) + r.Score;
            s.Score = score;
            s.UpdatedNs = now;
        }

        var verdict = Verdict.Pass;
        bool reached = false;
        var strongest = ActionKind.Alert;
        RuleAction taken = default;
        int keyLength = -1;
        foreach (var a in r.Actions)
        {
            if (score < a.At) continue;
            if (!reached || a.Kind > strongest)
            {
                strongest = a.Kind;
                taken = a;
            }
            reached = true;
            if (!enforce) continue;
            switch (a.Kind)
            {
                case ActionKind.Ban:
                    if (r.Key.IsGlobal) break; // refused by the loader; never ban everyone
                    if (keyLength < 0) keyLength = f.FormatKey(r.Key, _keyBuffer);
                    _enf.Ban(keyHash, r.Key, _keyBuffer.AsSpan(0, keyLength), now, now + a.TtlNs, r.Id, EnforcementOrigin.Rule);
                    stats.Bans++;
                    verdict = verdict.Combine(Verdict.Drop(DropReason.Ban));
                    break;
                case ActionKind.RateLimit:
                    if (keyLength < 0) keyLength = f.FormatKey(r.Key, _keyBuffer);
                    _enf.RateLimit(ck, r.Key, _keyBuffer.AsSpan(0, keyLength), now, now + a.TtlNs, r.Id, a.Rate, a.Burst);
                    stats.RateLimits++;
                    // The message that tipped the key over takes the first token.
                    if (_enf.TryRateLimit(ck, now, out bool limited) && limited)
                    {
                        stats.RateLimited++;
                        Counters.RateLimitDrops++;
                        verdict = verdict.Combine(Verdict.Drop(DropReason.RateLimit));
                    }
                    break;
            }
        }
        if (!reached) return verdict;
        stats.Alerts++;
        Publish(r, f, value, perValue, score, taken, enforce, allow, now);
        return verdict.WithAlert();
    }

    private void Publish(Rule r, MessageFields f, double value, double perValue, double score, RuleAction action, bool enforce, bool allow, long now)
    {
        ref var a = ref _alert;
        var m = f.Message;
        ref readonly var p = ref f.Packet;
        a.TimestampNs = now;
        a.RuleId = r.Id;
        a.Description = r.Description;
        a.Severity = r.Severity;
        a.Score = score;
        a.Count = value;
        a.PerCount = perValue;
        a.Threshold = r.Threshold;
        a.WindowNs = r.WindowNs;
        a.Distinct = r.IsDistinct;
        a.Action = action.Kind;
        a.Enforced = enforce && action.Kind != ActionKind.Alert;
        a.Allowlisted = allow;
        a.TtlNs = action.Kind is ActionKind.Ban or ActionKind.RateLimit ? action.TtlNs : 0;
        a.Rate = action.Rate;
        a.Burst = action.Burst;
        a.Source = p.Source;
        a.Destination = p.Destination;
        a.SourcePort = p.SourcePort;
        a.DestinationPort = p.DestinationPort;
        a.Transport = p.Protocol;
        a.IsRequest = m.IsRequest;
        a.StatusCode = m.StatusCode;
        a.ClearText();
        int n = f.FormatKey(r.Key, _keyBuffer);
        a.SetText(AlertTextField.Key, _keyBuffer.AsSpan(0, n));
        a.SetText(AlertTextField.Method, f.Raw(SipField.Method, out _));
        a.SetText(AlertTextField.CallId, m[m.CallId]);
        a.SetText(AlertTextField.From, m[m.From.Uri.Text]);
        a.SetText(AlertTextField.To, m[m.To.Uri.Text]);
        a.SetText(AlertTextField.UserAgent, m[m.UserAgent.IsPresent ? m.UserAgent : m.Server]);
        a.SetText(AlertTextField.RequestUri, m.IsRequest ? m[m.RequestUri.Text] : default);
        if (!_shared.Alerts.Publish(in a)) Counters.AlertsLost++;
    }

    private void UpdateSession(MessageFields f, ulong callIdHash, long now)
    {
        var m = f.Message;
        ref readonly var p = ref f.Packet;
        ref var d = ref _dialogs.Find(callIdHash);
        bool exists = !Unsafe.IsNullRef(ref d);
        if (m.IsRequest)
        {
            if (m.Method == SipMethod.Invite && !m.To.Tag.IsPresent && (!exists || !d.IsLive(now)))
            {
                d = ref _dialogs.FindOrAdd(callIdHash, now, out _, DialogEntry.NewDialogAdmission);
                if (Unsafe.IsNullRef(ref d))
                {
                    Counters.DialogsUntracked++;
                    return;
                }
                d = default;
                d.Key = callIdHash;
                d.State = DialogState.Early;
                d.CreatedNs = d.LastNs = now;
                f.TryHash(SipField.FromTag, out d.FromTag);
                exists = true;
            }
            // A message for a dialog that is over (or never was) does not bring it back.
            if (!exists || !d.IsLive(now)) return;
            if (m.Method == SipMethod.Invite && (m.Authorization.IsPresent || m.ProxyAuthorization.IsPresent)) d.Authenticated = true;
            if (m.Method == SipMethod.Bye || (m.Method == SipMethod.Cancel && d.State == DialogState.Early)) d.State = DialogState.Terminated;
            // An acknowledged 2xx: both sides completed a call.
            if (m.Method == SipMethod.Ack && d.State == DialogState.Confirmed)
            {
                MarkKnown(p.Source, now);
                MarkKnown(p.Destination, now);
            }
        }
        else
        {
            int code = m.StatusCode;
            // A registration accepted: the client holds credentials, and the server is a registrar.
            if (code >= 200 && code < 300 && m.CSeqMethod == SipMethod.Register)
            {
                MarkKnown(f.Client, now);
                MarkKnown(f.Server, now);
            }
            if (!exists || !d.IsLive(now)) return;
            if (m.CSeqMethod == SipMethod.Invite)
            {
                if (code >= 200 && code < 300) d.State = DialogState.Confirmed;
                else if (code >= 300 && d.State == DialogState.Early) d.State = DialogState.Terminated;
            }
        }
        d.LastNs = now;
        d.AddHop(HopOf(p.Source));
        d.AddHop(HopOf(p.Destination));
    }

    private void MarkKnown(in IpAddr address, long now)
    {
        if (!address.IsPresent) return;
        ref var k = ref _known.FindOrAdd(SourceKey(address), now, out _);
        if (Unsafe.IsNullRef(ref k)) return;
        k.ExpiresNs = now + _options.KnownSourceTtlNs;
    }

    private static ulong SourceKey(in IpAddr a) => KeyText.Finish(Hash64.Compute(a, 0x4B4E_4F57_4Eu));

    private static uint HopOf(in IpAddr a) => (uint)Hash64.Compute(a, 0x484F_50u) | 1u;
}
