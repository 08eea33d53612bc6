using System.Numerics;
using System.Text;

namespace SipIps.Engine.Detection;

public enum EnforcementKind : byte { None, Ban, RateLimit }

/// <summary>Who put an entry in the table.</summary>
public enum EnforcementOrigin : byte { Rule, Operator, Blocklist, Restored }

/// <summary>A copy of one entry, for status, persistence and tests.</summary>
public sealed record EnforcementInfo(
    EnforcementKind Kind,
    string Key,
    string? RuleId,
    EnforcementOrigin Origin,
    long CreatedNs,
    long ExpiresNs,
    double Rate,
    double Burst,
    long Drops)
{
    public bool IsPermanent => ExpiresNs == long.MaxValue;
}

/// <summary>
/// Active bans and rate limits, shared by every worker. The packet path reads it without locks: a lookup is one
/// hash and a probe of at most <see cref="MaxProbe"/> slots, and a rate-limit check is one compare-and-swap on the
/// key's bucket (GCRA). Writers (a rule firing, the control socket, expiry) take a lock; they are rare. The table
/// has a fixed capacity: when the probe window of a new key is full, the entry closest to expiry gives way.
/// </summary>
public sealed class EnforcementTable
{
    public const int MaxProbe = 16;
    public const int MaxKeyText = 192;
    private const ulong Tombstone = 1;

    private struct Slot
    {
        public ulong Key;
        public long ExpiresNs;
        public long CreatedNs;
        public long Tat;
        public long IntervalNs;
        public long ToleranceNs;
        public long Drops;
        public double Rate;
        public double Burst;
        public EnforcementKind Kind;
        public EnforcementOrigin Origin;
        /// <summary>A rate limit on all of a key's new requests (from a factor rule), not on one rule's messages.</summary>
        public bool KeyWide;
    }

    private readonly Slot[] _slots;
    private readonly int _mask;
    private readonly string?[] _ruleIds;
    private readonly KeySpec?[] _specs;
    private readonly byte[] _keyText;
    private readonly int[] _keyLength;
    private readonly object _lock = new();
    private readonly Dictionary<KeySpec, int> _banSpecCounts = [];
    private volatile KeySpec[] _banSpecs = [];
    private volatile int _rateLimits;
    private volatile KeySpec[] _limitSpecs = [];
    private readonly Dictionary<KeySpec, int> _limitSpecCounts = [];
    private int _bans;

    public EnforcementTable(int capacity = 65536)
    {
        int size = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(MaxProbe, capacity));
        _slots = new Slot[size];
        _mask = size - 1;
        _ruleIds = new string?[size];
        _specs = new KeySpec?[size];
        _keyText = new byte[size * MaxKeyText];
        _keyLength = new int[size];
    }

    public int Capacity => _slots.Length;
    public long MemoryBytes => (long)_slots.Length * (System.Runtime.CompilerServices.Unsafe.SizeOf<Slot>() + MaxKeyText + 4 + 16);

    /// <summary>The key specs that have at least one active ban: the engine checks only these per message.</summary>
    public KeySpec[] BanSpecs => _banSpecs;
    public bool HasRateLimits => _rateLimits > 0;
    /// <summary>The key kinds that have a key-wide rate limit (see <see cref="KeyWideHash"/>).</summary>
    public KeySpec[] LimitSpecs => _limitSpecs;

    /// <summary>The table key of a key-wide rate limit on the key <paramref name="keyHash"/> (distinct from its ban).</summary>
    public static ulong KeyWideHash(ulong keyHash) => KeyText.Finish(KeyText.Fold(keyHash, 0x4B45_5957_4944_45UL));
    public int Bans => Volatile.Read(ref _bans);
    public int RateLimits => _rateLimits;
    /// <summary>Entries that had to give way to a new one because their probe window was full.</summary>
    public long Displaced { get; private set; }

    /// <summary>Raised (under the table's lock) when an entry is added, changed or removed, for persistence.</summary>
    public long Version { get; private set; }

    // ------------------------------------------------------------------ packet path (lock-free)

    /// <summary>True when <paramref name="key"/> is banned at <paramref name="now"/>; counts the drop.</summary>
    public bool IsBanned(ulong key, long now)
    {
        int i = Find(key, EnforcementKind.Ban, now);
        if (i < 0) return false;
        Interlocked.Increment(ref _slots[i].Drops);
        return true;
    }

    /// <summary>
    /// For a key under a rate limit: takes one token and says whether the message conforms. False (and
    /// <paramref name="limited"/> false) when the key has no active rate limit.
    /// </summary>
    public bool TryRateLimit(ulong key, long now, out bool limited)
    {
        limited = false;
        int i = Find(key, EnforcementKind.RateLimit, now);
        if (i < 0) return false;
        ref Slot s = ref _slots[i];
        long interval = s.IntervalNs, tolerance = s.ToleranceNs;
        while (true)
        {
            long tat = Volatile.Read(ref s.Tat);
            long start = Math.Max(tat, now);
            if (start - now > tolerance)
            {
                limited = true;
                Interlocked.Increment(ref s.Drops);
                return true;
            }
            if (Interlocked.CompareExchange(ref s.Tat, start + interval, tat) == tat) return true;
        }
    }

    private int Find(ulong key, EnforcementKind kind, long now)
    {
        int start = (int)(key & (ulong)_mask);
        for (int p = 0; p < MaxProbe; p++)
        {
            int i = (start + p) & _mask;
            ulong k = Volatile.Read(ref _slots[i].Key);
            if (k == 0) return -1;
            if (k != key) continue;
            ref Slot s = ref _slots[i];
            bool live = s.Kind == kind && Volatile.Read(ref s.ExpiresNs) > now;
            // The slot may have been reused between the two reads: trust it only if the key is still ours.
            if (live && Volatile.Read(ref s.Key) == key) return i;
            return -1;
        }
        return -1;
    }

    // ------------------------------------------------------------------ writers (locked)

    /// <summary>Bans a key until <paramref name="expiresNs"/> (long.MaxValue: until lifted). Extends an existing ban.</summary>
    public void Ban(ulong key, KeySpec spec, ReadOnlySpan<byte> keyText, long now, long expiresNs, string? ruleId, EnforcementOrigin origin)
    {
        lock (_lock)
        {
            int i = Place(key, now);
            ref Slot s = ref _slots[i];
            bool fresh = s.Key != key;
            if (!fresh && s.Kind == EnforcementKind.Ban)
            {
                // Never shorten a ban (an operator's permanent one stays permanent); a rule refreshes its own.
                if (expiresNs > s.ExpiresNs) Volatile.Write(ref s.ExpiresNs, expiresNs);
                Version++;
                return;
            }
            if (!fresh) Release(i);
            Fill(i, key, spec, keyText, now, expiresNs, ruleId, origin, EnforcementKind.Ban, 0, 0);
        }
    }

    /// <summary>Puts a key (already combined with its rule) under a token bucket of <paramref name="rate"/>/s and <paramref name="burst"/>.</summary>
    public void RateLimit(ulong key, KeySpec spec, ReadOnlySpan<byte> keyText, long now, long expiresNs, string? ruleId, double rate, double burst,
        bool keyWide = false)
    {
        lock (_lock)
        {
            int i = Place(key, now);
            ref Slot s = ref _slots[i];
            if (s.Key == key && s.Kind == EnforcementKind.RateLimit)
            {
                if (expiresNs > s.ExpiresNs) Volatile.Write(ref s.ExpiresNs, expiresNs);
                Version++;
                return;
            }
            if (s.Key == key) Release(i);
            Fill(i, key, spec, keyText, now, expiresNs, ruleId, EnforcementOrigin.Rule, EnforcementKind.RateLimit, rate, burst, keyWide);
        }
    }

    /// <summary>Lifts a ban or rate limit; true when there was one.</summary>
    public bool Remove(ulong key)
    {
        lock (_lock)
        {
            int start = (int)(key & (ulong)_mask);
            for (int p = 0; p < MaxProbe; p++)
            {
                int i = (start + p) & _mask;
                ulong k = _slots[i].Key;
                if (k == 0) return false;
                if (k == key)
                {
                    Release(i);
                    return true;
                }
            }
            return false;
        }
    }

    /// <summary>Removes every entry the predicate selects (a blocklist reload drops the entries of the old list).</summary>
    public int RemoveWhere(Func<EnforcementInfo, bool> select)
    {
        lock (_lock)
        {
            int n = 0;
            for (int i = 0; i < _slots.Length; i++)
            {
                if (_slots[i].Key <= Tombstone) continue;
                if (select(Info(i)))
                {
                    Release(i);
                    n++;
                }
            }
            return n;
        }
    }

    /// <summary>Drops expired entries; the heartbeat calls it (lookups already ignore expired entries).</summary>
    public int Expire(long now)
    {
        lock (_lock)
        {
            int n = 0;
            for (int i = 0; i < _slots.Length; i++)
            {
                if (_slots[i].Key > Tombstone && _slots[i].ExpiresNs <= now)
                {
                    Release(i);
                    n++;
                }
            }
            return n;
        }
    }

    public List<EnforcementInfo> Snapshot(long now)
    {
        lock (_lock)
        {
            var list = new List<EnforcementInfo>();
            for (int i = 0; i < _slots.Length; i++)
                if (_slots[i].Key > Tombstone && _slots[i].ExpiresNs > now) list.Add(Info(i));
            return list;
        }
    }

    private EnforcementInfo Info(int i)
    {
        ref Slot s = ref _slots[i];
        return new EnforcementInfo(s.Kind, Encoding.UTF8.GetString(_keyText, i * MaxKeyText, _keyLength[i]), _ruleIds[i], s.Origin,
            s.CreatedNs, s.ExpiresNs, s.Rate, s.Burst, Volatile.Read(ref s.Drops));
    }

    /// <summary>The slot for a key: its own, else a free, removed or expired one in its window, else the soonest to expire.</summary>
    private int Place(ulong key, long now)
    {
        int start = (int)(key & (ulong)_mask);
        int candidate = -1;
        long soonest = long.MaxValue;
        int soonestAt = -1;
        for (int p = 0; p < MaxProbe; p++)
        {
            int i = (start + p) & _mask;
            ref Slot s = ref _slots[i];
            if (s.Key == key) return i;
            if (s.Key == 0)
            {
                if (candidate < 0) candidate = i;
                break;
            }
            if (candidate < 0 && (s.Key == Tombstone || s.ExpiresNs <= now)) candidate = i;
            if (s.ExpiresNs < soonest)
            {
                soonest = s.ExpiresNs;
                soonestAt = i;
            }
        }
        if (candidate >= 0)
        {
            if (_slots[candidate].Key > Tombstone) Release(candidate);
            return candidate;
        }
        Displaced++;
        Release(soonestAt);
        return soonestAt;
    }

    private void Fill(int i, ulong key, KeySpec spec, ReadOnlySpan<byte> keyText, long now, long expiresNs, string? ruleId,
        EnforcementOrigin origin, EnforcementKind kind, double rate, double burst, bool keyWide = false)
    {
        ref Slot s = ref _slots[i];
        s.KeyWide = keyWide;
        s.ExpiresNs = expiresNs;
        s.CreatedNs = now;
        s.Drops = 0;
        s.Kind = kind;
        s.Origin = origin;
        s.Rate = rate;
        s.Burst = burst;
        if (kind == EnforcementKind.RateLimit)
        {
            long interval = (long)(1e9 / Math.Max(rate, 1e-6));
            s.IntervalNs = interval;
            s.ToleranceNs = (long)(interval * Math.Max(0, burst - 1));
            s.Tat = now;
        }
        int n = Math.Min(keyText.Length, MaxKeyText);
        keyText[..n].CopyTo(_keyText.AsSpan(i * MaxKeyText, MaxKeyText));
        _keyLength[i] = n;
        _ruleIds[i] = ruleId;
        _specs[i] = spec;
        Volatile.Write(ref s.Key, key);
        if (kind == EnforcementKind.Ban)
        {
            _bans++;
            _banSpecCounts[spec] = _banSpecCounts.GetValueOrDefault(spec) + 1;
            if (_banSpecCounts[spec] == 1) _banSpecs = [.. _banSpecCounts.Keys];
        }
        else
        {
            _rateLimits++;
            if (keyWide) _limitSpecs = CountSpec(_limitSpecCounts, spec, +1, _limitSpecs);
        }
        Version++;
    }

    private void Release(int i)
    {
        ref Slot s = ref _slots[i];
        if (s.Key <= Tombstone) return;
        Volatile.Write(ref s.ExpiresNs, 0);
        // A removed slot keeps probe chains intact; the next insert in the window reuses it.
        Volatile.Write(ref s.Key, Tombstone);
        if (s.Kind == EnforcementKind.Ban)
        {
            _bans--;
            var spec = _specs[i]!;
            int left = _banSpecCounts[spec] - 1;
            if (left == 0)
            {
                _banSpecCounts.Remove(spec);
                _banSpecs = [.. _banSpecCounts.Keys];
            }
            else
            {
                _banSpecCounts[spec] = left;
            }
        }
        else if (s.Kind == EnforcementKind.RateLimit)
        {
            _rateLimits--;
            if (s.KeyWide) _limitSpecs = CountSpec(_limitSpecCounts, _specs[i]!, -1, _limitSpecs);
        }
        s.Kind = EnforcementKind.None;
        _ruleIds[i] = null;
        _specs[i] = null;
        Version++;
    }

    private static KeySpec[] CountSpec(Dictionary<KeySpec, int> counts, KeySpec spec, int delta, KeySpec[] list)
    {
        int n = counts.GetValueOrDefault(spec) + delta;
        if (n <= 0) counts.Remove(spec);
        else counts[spec] = n;
        return n == 0 || (n == 1 && delta > 0) ? [.. counts.Keys] : list;
    }
}
