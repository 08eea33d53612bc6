using System.Diagnostics;

namespace SipIps.Host.Output;

/// <summary>A one-line progress bar on standard error, for long runs on a terminal.</summary>
internal sealed class ProgressBar(TextWriter output, long total)
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private long _lastDrawMs = -1000;
    private bool _drawn;

    public void Update(long done, long packets)
    {
        long now = _clock.ElapsedMilliseconds;
        if (now - _lastDrawMs < 200) return;
        _lastDrawMs = now;
        double fraction = total > 0 ? Math.Clamp(done / (double)total, 0, 1) : 0;
        int width = 30;
        int filled = (int)(fraction * width);
        double seconds = Math.Max(0.001, now / 1000.0);
        output.Write($"\r[{new string('#', filled)}{new string('.', width - filled)}] {fraction * 100,5:0.0}%  {packets:N0} packets  {packets / seconds:N0}/s ");
        output.Flush();
        _drawn = true;
    }

    public void Clear()
    {
        if (!_drawn) return;
        output.Write("\r" + new string(' ', 90) + "\r");
        output.Flush();
    }
}
