namespace SipIps.Engine.Behaviour;

/// <summary>What the baseline says for one factor in one time-of-week slot.</summary>
public readonly record struct BaselineStats(int Weeks, double Mean, double Sigma)
{
    public bool Ready(int minWeeks) => Weeks >= minWeeks;
}

/// <summary>
/// The learned normal of every factor, per time-of-week slot (default 5 minutes: 2016 slots, the same weekday and
/// time), over a rolling window of N weeks (default 13, about 3 months, as the seed paper recommends). Each slot
/// keeps one value per week (the slot's mean of the 60 s factor values); mean and standard deviation are taken over
/// the weeks held, so a week older than N weeks drops out by itself. Slots are in local time of the configured
/// zone: when clocks go forward the skipped hour's slots get no value that week; when they go back the repeated
/// hour feeds the same slots twice (both hours in one mean). The current week's value does not count until the
/// week has moved on. Memory is fixed: slots x factors x weeks values.
/// </summary>
public sealed class Baseline
{
    public const int FormatVersion = 1;
    private static readonly byte[] s_magic = "SIPIPSBL"u8.ToArray();
    private readonly float[] _values;
    private readonly int[] _weekOf;

    public Baseline(int slotMinutes = 5, int weeks = 13, TimeZoneInfo? zone = null)
    {
        if (10080 % slotMinutes != 0) throw new ArgumentOutOfRangeException(nameof(slotMinutes), "slots must divide a week");
        SlotMinutes = slotMinutes;
        Weeks = weeks;
        Zone = zone ?? TimeZoneInfo.Utc;
        Slots = 10080 / slotMinutes;
        _values = new float[Slots * Factors.Count * weeks];
        _weekOf = new int[Slots * Factors.Count * weeks];
        Array.Fill(_weekOf, -1);
    }

    public int SlotMinutes { get; }
    public int Weeks { get; }
    public int Slots { get; }
    public TimeZoneInfo Zone { get; }

    /// <summary>The slot (0 = Monday 00:00 local) and the absolute week number of a time.</summary>
    public (int Slot, int Week) SlotOf(long utcNs)
    {
        var utc = DateTime.UnixEpoch.AddTicks(utcNs / 100);
        var local = TimeZoneInfo.ConvertTimeFromUtc(utc, Zone);
        int day = ((int)local.DayOfWeek + 6) % 7; // Monday first
        int minute = day * 1440 + local.Hour * 60 + local.Minute;
        // Weeks counted from Monday 1970-01-05 local.
        long days = (long)(local.Date - new DateTime(1970, 1, 5)).TotalDays;
        int week = (int)Math.Floor(days / 7.0);
        return (minute / SlotMinutes, week);
    }

    private int Index(int slot, Factor f, int k) => ((slot * Factors.Count) + (int)f) * Weeks + k;

    /// <summary>Stores the week's value of a factor in a slot (replacing what that ring position held).</summary>
    public void Learn(int slot, int week, Factor f, double value)
    {
        if (double.IsNaN(value) || double.IsInfinity(value)) return;
        int i = Index(slot, f, ((week % Weeks) + Weeks) % Weeks);
        _values[i] = (float)value;
        _weekOf[i] = week;
    }

    /// <summary>Mean and standard deviation over the weeks before <paramref name="currentWeek"/> still in the window.</summary>
    public BaselineStats Stats(int slot, Factor f, int currentWeek)
    {
        int n = 0;
        double sum = 0, sumSq = 0;
        for (int k = 0; k < Weeks; k++)
        {
            int i = Index(slot, f, k);
            int w = _weekOf[i];
            if (w < 0 || w >= currentWeek || w <= currentWeek - Weeks - 1) continue;
            double v = _values[i];
            n++;
            sum += v;
            sumSq += v * v;
        }
        if (n == 0) return new BaselineStats(0, double.NaN, double.NaN);
        double mean = sum / n;
        double variance = n > 1 ? Math.Max(0, (sumSq - n * mean * mean) / (n - 1)) : 0;
        return new BaselineStats(n, mean, Math.Sqrt(variance));
    }

    /// <summary>The newest week that holds any value, or -1 for an empty baseline.</summary>
    public int LatestWeek
    {
        get
        {
            int w = -1;
            foreach (int x in _weekOf) w = Math.Max(w, x);
            return w;
        }
    }

    /// <summary>Slots that hold at least one value of the factor (for status and show).</summary>
    public int SlotsLearned(Factor f)
    {
        int n = 0;
        for (int s = 0; s < Slots; s++)
            for (int k = 0; k < Weeks; k++)
                if (_weekOf[Index(s, f, k)] >= 0)
                {
                    n++;
                    break;
                }
        return n;
    }

    /// <summary>
    /// Writes the baseline atomically (a temporary file beside it, flushed, then renamed): a crash leaves the old file
    /// or the new one, never half of one. Versioned, with the factor names, so that an upgrade that adds factors
    /// still reads an older file.
    /// </summary>
    public void Save(string path)
    {
        string tmp = path + ".tmp";
        using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None))
        using (var w = new BinaryWriter(fs))
        {
            w.Write(s_magic);
            w.Write(FormatVersion);
            w.Write(SlotMinutes);
            w.Write(Weeks);
            w.Write(Zone.Id);
            w.Write(Factors.Count);
            foreach (var name in Factors.Names) w.Write(name);
            for (int s = 0; s < Slots; s++)
                for (int f = 0; f < Factors.Count; f++)
                    for (int k = 0; k < Weeks; k++)
                    {
                        int i = Index(s, (Factor)f, k);
                        w.Write(_weekOf[i]);
                        w.Write(_values[i]);
                    }
            w.Flush();
            fs.Flush(flushToDisk: true);
        }
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>Reads a saved baseline; throws <see cref="InvalidDataException"/> with a reason when it is not one.</summary>
    public static Baseline Load(string path)
    {
        using var fs = File.OpenRead(path);
        using var r = new BinaryReader(fs);
        try
        {
            if (!r.ReadBytes(8).AsSpan().SequenceEqual(s_magic)) throw new InvalidDataException($"{path} is not a SipIps baseline");
            int version = r.ReadInt32();
            if (version != FormatVersion) throw new InvalidDataException($"{path}: baseline format {version}, this version reads {FormatVersion}");
            int slotMinutes = r.ReadInt32(), weeks = r.ReadInt32();
            string zoneId = r.ReadString();
            TimeZoneInfo zone;
            try
            {
                zone = TimeZoneInfo.FindSystemTimeZoneById(zoneId);
            }
            catch (TimeZoneNotFoundException)
            {
                throw new InvalidDataException($"{path}: unknown time zone {zoneId}");
            }
            var b = new Baseline(slotMinutes, weeks, zone);
            int count = r.ReadInt32();
            var map = new int[count];
            for (int f = 0; f < count; f++) map[f] = Factors.TryParse(r.ReadString(), out var known) ? (int)known : -1;
            for (int s = 0; s < b.Slots; s++)
                for (int f = 0; f < count; f++)
                    for (int k = 0; k < weeks; k++)
                    {
                        int week = r.ReadInt32();
                        float value = r.ReadSingle();
                        if (map[f] < 0) continue; // a factor this version no longer has
                        int i = b.Index(s, (Factor)map[f], k);
                        b._weekOf[i] = week;
                        b._values[i] = value;
                    }
            return b;
        }
        catch (EndOfStreamException)
        {
            throw new InvalidDataException($"{path} is cut short");
        }
    }
}

/// <summary>
/// Feeds a <see cref="Baseline"/> from the 60 s factor values sampled once a second: the mean over each slot is
/// learned when the slot ends, unless the slot was alarmed (an attack must not become the normal).
/// </summary>
public sealed class BaselineLearner(Baseline baseline)
{
    private readonly double[] _sum = new double[Factors.Count];
    private readonly int[] _n = new int[Factors.Count];
    private int _slot = -1, _week;
    private bool _alarmed;

    public Baseline Baseline { get; } = baseline;
    public long SlotsLearned { get; private set; }
    public long SlotsFrozen { get; private set; }

    /// <summary>Marks the current slot as alarmed: it will not be learned.</summary>
    public void Alarm() => _alarmed = true;

    public void Sample(long utcNs, ReadOnlySpan<double> factors)
    {
        var (slot, week) = Baseline.SlotOf(utcNs);
        if (slot != _slot || week != _week) Close(slot, week);
        for (int f = 0; f < Factors.Count; f++)
        {
            double v = factors[f];
            if (double.IsNaN(v) || double.IsInfinity(v)) continue;
            _sum[f] += v;
            _n[f]++;
        }
    }

    /// <summary>Learns the slot in progress (at the end of a capture or at shutdown, if it saw enough).</summary>
    public void Flush() => Close(-1, 0);

    private void Close(int nextSlot, int nextWeek)
    {
        if (_slot >= 0)
        {
            if (_alarmed) SlotsFrozen++;
            else
            {
                for (int f = 0; f < Factors.Count; f++)
                    if (_n[f] > 0) Baseline.Learn(_slot, _week, (Factor)f, _sum[f] / _n[f]);
                SlotsLearned++;
            }
        }
        Array.Clear(_sum);
        Array.Clear(_n);
        _alarmed = false;
        _slot = nextSlot;
        _week = nextWeek;
    }
}
