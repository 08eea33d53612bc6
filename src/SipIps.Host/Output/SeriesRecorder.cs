namespace SipIps.Host.Output;

/// <summary>
/// A time series of several channels with a fixed number of points: one point per second until the cap, then
/// neighbouring points merge (each point's width doubles) so that a capture of any length fits. Each point keeps the
/// mean of the values it covers; NaN values are left out of the mean.
/// </summary>
internal sealed class SeriesRecorder(int channels, int maxPoints = 1200)
{
    private readonly List<long> _start = [];
    private readonly List<double[]> _sum = [];
    private readonly List<int[]> _n = [];
    private long _width = 1;

    public int Channels { get; } = channels;
    public long WidthSeconds => _width;
    public int Count => _start.Count;

    public void Add(long second, ReadOnlySpan<double> values)
    {
        long start = second - ((second % _width) + _width) % _width;
        if (_start.Count == 0 || _start[^1] != start)
        {
            if (_start.Count >= maxPoints) Halve();
            start = second - ((second % _width) + _width) % _width;
            if (_start.Count == 0 || _start[^1] != start)
            {
                _start.Add(start);
                _sum.Add(new double[Channels]);
                _n.Add(new int[Channels]);
            }
        }
        var sum = _sum[^1];
        var n = _n[^1];
        for (int c = 0; c < Channels; c++)
        {
            if (double.IsNaN(values[c]) || double.IsInfinity(values[c])) continue;
            sum[c] += values[c];
            n[c]++;
        }
    }

    private void Halve()
    {
        _width *= 2;
        var start = new List<long>();
        var sum = new List<double[]>();
        var n = new List<int[]>();
        for (int i = 0; i < _start.Count; i++)
        {
            long s = _start[i] - ((_start[i] % _width) + _width) % _width;
            if (start.Count > 0 && start[^1] == s)
            {
                for (int c = 0; c < Channels; c++)
                {
                    sum[^1][c] += _sum[i][c];
                    n[^1][c] += _n[i][c];
                }
                continue;
            }
            start.Add(s);
            sum.Add((double[])_sum[i].Clone());
            n.Add((int[])_n[i].Clone());
        }
        _start.Clear();
        _start.AddRange(start);
        _sum.Clear();
        _sum.AddRange(sum);
        _n.Clear();
        _n.AddRange(n);
    }

    public long Time(int i) => _start[i];
    public double Value(int i, int channel) => _n[i][channel] == 0 ? double.NaN : _sum[i][channel] / _n[i][channel];
}
