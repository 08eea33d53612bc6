namespace SipIps.Engine.Common;

/// <summary>
/// A histogram with fixed upper bounds (Prometheus style: each count is of observations at most that bound, the last
/// bucket is +Inf). One thread observes; any thread may read the counts, racily but whole.
/// </summary>
public sealed class FixedHistogram
{
    private readonly double[] _bounds;
    private readonly long[] _counts;
    private double _sum;

    public FixedHistogram(params double[] bounds)
    {
        _bounds = bounds;
        _counts = new long[bounds.Length + 1];
    }

    public IReadOnlyList<double> Bounds => _bounds;
    public double Sum => Volatile.Read(ref _sum);
    public long Count
    {
        get
        {
            long n = 0;
            foreach (var c in _counts) n += Volatile.Read(in c);
            return n;
        }
    }

    public void Observe(double value)
    {
        int i = 0;
        while (i < _bounds.Length && value > _bounds[i]) i++;
        _counts[i]++;
        _sum += value;
    }

    /// <summary>Non-cumulative count of bucket <paramref name="i"/> (the last is above every bound).</summary>
    public long BucketCount(int i) => Volatile.Read(ref _counts[i]);

    /// <summary>Adds this histogram's counts into <paramref name="cumulative"/> (same bounds), for merging workers.</summary>
    public void AddTo(long[] counts, ref double sum)
    {
        for (int i = 0; i < _counts.Length; i++) counts[i] += Volatile.Read(ref _counts[i]);
        sum += Volatile.Read(ref _sum);
    }
}
