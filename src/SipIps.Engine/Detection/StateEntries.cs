using System.Numerics;
using System.Runtime.CompilerServices;

namespace SipIps.Engine.Detection;

/// <summary>256 bits for counting distinct values (linear counting).</summary>
[InlineArray(4)]
public struct Bits256
{
    private ulong _e;

    public void Set(ulong hash)
    {
        int bit = (int)(hash >> 56);
        this[bit >> 6] |= 1UL << (bit & 63);
    }

    public readonly int PopCount()
    {
        int n = 0;
        for (int i = 0; i < 4; i++) n += BitOperations.PopCount(this[i]);
        return n;
    }

    public readonly Bits256 Or(in Bits256 other)
    {
        Bits256 r = default;
        for (int i = 0; i < 4; i++) r[i] = this[i] | other[i];
        return r;
    }

    /// <summary>Linear-counting estimate of the distinct values set (good to about 10% up to 500).</summary>
    public readonly double Estimate()
    {
        const int m = 256;
        int zeros = m - PopCount();
        if (zeros == 0) return m * Math.Log(m);
        return -m * Math.Log((double)zeros / m);
    }

    public const int MaxUsefulEstimate = 500;
}

/// <summary>The window bookkeeping shared by counters and distinct sets: the current window and the last firing.</summary>
public struct WindowState
{
    public long WindowStart;
    public long WindowNs;
    public long LastFireNs;
    public bool HasFired;

    /// <summary>Moves the window forward to contain <paramref name="now"/>: 0 when it still does, 1 when the current
    /// window became the previous one, 2 when both are stale.</summary>
    public int Advance(long now, long window)
    {
        if (WindowNs == 0)
        {
            WindowNs = window;
            WindowStart = now;
            return 0;
        }
        long elapsed = now - WindowStart;
        if (elapsed < window) return 0;
        if (elapsed < 2 * window)
        {
            WindowStart += window;
            return 1;
        }
        WindowStart = now;
        return 2;
    }

    /// <summary>The weight of the previous window: the part of it still inside the sliding window.</summary>
    public readonly double PrevWeight(long now)
    {
        double f = 1.0 - (double)(now - WindowStart) / WindowNs;
        return f < 0 ? 0 : f > 1 ? 1 : f;
    }

    public readonly bool IsStale(long now) => now - WindowStart >= 2 * WindowNs;

    /// <summary>Extra eviction cost of a key that fired recently: it is being acted on.</summary>
    public readonly long FiredBonus(long now) => HasFired && now - LastFireNs < 2 * WindowNs ? 1 << 20 : 0;
}

/// <summary>A rule's sliding-window counters for one key: the current and the previous window, weighted.</summary>
public struct CounterEntry : IBoundedEntry<CounterEntry>
{
    public ulong Key { get; set; }
    public WindowState W;
    public int Cur;
    public int Prev;
    public int PerCur;
    public int PerPrev;

    public void Roll(long now, long window)
    {
        switch (W.Advance(now, window))
        {
            case 1:
                Prev = Cur;
                PerPrev = PerCur;
                Cur = PerCur = 0;
                break;
            case 2:
                Prev = PerPrev = Cur = PerCur = 0;
                break;
        }
    }

    public readonly double Count(long now) => Cur + Prev * W.PrevWeight(now);

    public readonly double PerCount(long now) => PerCur + PerPrev * W.PrevWeight(now);

    public static long EvictionCost(ref CounterEntry e, long nowNs) =>
        e.W.IsStale(nowNs) ? 0 : 1 + e.Cur + e.Prev + e.PerCur + e.PerPrev + e.W.FiredBonus(nowNs);
}

[InlineArray(DistinctSet.ExactCapacity)]
public struct Fingerprints
{
    private uint _e;
}

/// <summary>
/// The distinct values seen in one window: exactly, by 32-bit fingerprint, up to <see cref="ExactCapacity"/>
/// values (so small thresholds such as "3 From tags" are exact), then estimated by linear counting.
/// </summary>
public struct DistinctSet
{
    public const int ExactCapacity = 16;
    private Fingerprints _exact;
    private byte _count;
    private bool _overflow;
    private Bits256 _bits;

    public void Add(ulong hash)
    {
        _bits.Set(hash);
        if (_overflow) return;
        uint fp = (uint)hash | 1;
        for (int i = 0; i < _count; i++)
            if (_exact[i] == fp) return;
        if (_count < ExactCapacity) _exact[_count++] = fp;
        else _overflow = true;
    }

    public readonly int ExactCount => _count;

    /// <summary>The distinct values of two windows together.</summary>
    public static double Union(in DistinctSet a, in DistinctSet b)
    {
        if (!a._overflow && !b._overflow)
        {
            int n = a._count;
            for (int i = 0; i < b._count; i++)
            {
                bool seen = false;
                for (int j = 0; j < a._count && !seen; j++) seen = a._exact[j] == b._exact[i];
                if (!seen) n++;
            }
            return n;
        }
        // Never report fewer than the values known exactly.
        return Math.Max(a._bits.Or(b._bits).Estimate(), Math.Max(a._count, b._count) + 1);
    }
}

/// <summary>A rule's distinct-value counting for one key, over the current and the previous window.</summary>
public struct DistinctEntry : IBoundedEntry<DistinctEntry>
{
    public ulong Key { get; set; }
    public WindowState W;
    public int PerCur;
    public int PerPrev;
    public DistinctSet Cur;
    public DistinctSet Prev;

    public void Roll(long now, long window)
    {
        switch (W.Advance(now, window))
        {
            case 1:
                Prev = Cur;
                PerPrev = PerCur;
                Cur = default;
                PerCur = 0;
                break;
            case 2:
                Prev = Cur = default;
                PerPrev = PerCur = 0;
                break;
        }
    }

    /// <summary>Distinct values seen in the current and the previous window.</summary>
    public readonly double Count() => DistinctSet.Union(Cur, Prev);

    public readonly double PerCount(long now) => PerCur + PerPrev * W.PrevWeight(now);

    public static long EvictionCost(ref DistinctEntry e, long nowNs) =>
        e.W.IsStale(nowNs) ? 0 : 1 + (long)e.Count() + e.PerCur + e.PerPrev + e.W.FiredBonus(nowNs);
}

/// <summary>A key's score, decaying exponentially with the configured half-life.</summary>
public struct ScoreEntry : IBoundedEntry<ScoreEntry>
{
    public ulong Key { get; set; }
    public double Score;
    public long UpdatedNs;

    /// <summary>Used only to rank entries for eviction; the engine decays with its configured half-life.</summary>
    public const double DefaultHalfLifeNs = 300e9;

    public readonly double Current(long now, double halfLifeNs)
    {
        if (Score <= 0) return 0;
        double dt = now - UpdatedNs;
        return dt <= 0 ? Score : Score * Math.Pow(2, -dt / halfLifeNs);
    }

    public static long EvictionCost(ref ScoreEntry e, long nowNs)
    {
        double s = e.Current(nowNs, DefaultHalfLifeNs);
        return s < 0.01 ? 0 : 1 + (long)(s * 1000);
    }
}

public enum DialogState : byte { None, Early, Confirmed, Terminated }

/// <summary>
/// What the engine remembers of one Call-ID: its state, its From tag and the addresses that took part (the
/// "hops": whoever sent or received its messages). Confirmed dialogs are never evicted by new ones.
/// </summary>
public struct DialogEntry : IBoundedEntry<DialogEntry>
{
    public ulong Key { get; set; }
    public ulong FromTag;
    public long CreatedNs;
    public long LastNs;
    public DialogState State;
    /// <summary>The INVITE that opened the dialog carried credentials.</summary>
    public bool Authenticated;
    public byte HopCount;
    public bool HopOverflow;
    public uint Hop0, Hop1, Hop2, Hop3;

    public const int MaxHops = 4;
    /// <summary>An INVITE transaction that got no 2xx is over after 3 minutes (Timer C).</summary>
    public const long EarlyTimeoutNs = 180_000_000_000;
    /// <summary>A confirmed dialog with no message for 12 hours is presumed gone (no BYE was seen).</summary>
    public const long ConfirmedIdleNs = 12 * 3600_000_000_000L;
    /// <summary>After BYE or a failure, the dialog is kept 32 s (Timer J/K) for retransmissions.</summary>
    public const long TerminatedLingerNs = 32_000_000_000;

    /// <summary>The admission level of a new dialog: it may displace terminated and early dialogs, never confirmed ones.</summary>
    public const long NewDialogAdmission = 3L << 50;

    public readonly bool HasHop(uint hop)
    {
        if (HopOverflow) return true; // more hops than we keep: do not accuse anyone
        return (HopCount > 0 && Hop0 == hop) || (HopCount > 1 && Hop1 == hop) || (HopCount > 2 && Hop2 == hop) || (HopCount > 3 && Hop3 == hop);
    }

    public void AddHop(uint hop)
    {
        if (HasHop(hop)) return;
        switch (HopCount)
        {
            case 0: Hop0 = hop; break;
            case 1: Hop1 = hop; break;
            case 2: Hop2 = hop; break;
            case 3: Hop3 = hop; break;
            default:
                HopOverflow = true;
                return;
        }
        HopCount++;
    }

    public readonly bool IsLive(long now) => State switch
    {
        DialogState.Early => now - LastNs < EarlyTimeoutNs,
        DialogState.Confirmed => now - LastNs < ConfirmedIdleNs,
        DialogState.Terminated => now - LastNs < TerminatedLingerNs,
        _ => false,
    };

    public static long EvictionCost(ref DialogEntry e, long nowNs)
    {
        if (!e.IsLive(nowNs)) return 0;
        long age = Math.Clamp(e.LastNs / 1_000_000, 0, (1L << 50) - 1);
        return e.State switch
        {
            DialogState.Terminated => 1 + age,
            DialogState.Early => (1L << 50) + age,
            _ => long.MaxValue,
        };
    }
}

/// <summary>A source that recently got a 2xx to a REGISTER or an INVITE: it has shown it can authenticate.</summary>
public struct KnownSourceEntry : IBoundedEntry<KnownSourceEntry>
{
    public ulong Key { get; set; }
    public long ExpiresNs;

    public static long EvictionCost(ref KnownSourceEntry e, long nowNs) =>
        e.ExpiresNs <= nowNs ? 0 : 1 + e.ExpiresNs / 1_000_000;
}
