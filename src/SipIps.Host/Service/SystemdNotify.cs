using System.Net.Sockets;
using System.Text;

namespace SipIps.Host.Service;

/// <summary>
/// The systemd notification protocol (sd_notify(3)) without libsystemd: datagrams of "KEY=value" lines to the
/// AF_UNIX socket named by $NOTIFY_SOCKET (a path, or an abstract name starting with '@'). READY=1 once forwarding,
/// STATUS= with a one-line summary, RELOADING=1 and READY=1 around a reload, STOPPING=1, and WATCHDOG=1 at half the
/// interval in $WATCHDOG_USEC, sent only while the bridge is healthy, so that a wedged bridge is restarted. Without
/// $NOTIFY_SOCKET every call does nothing.
/// </summary>
internal sealed class SystemdNotify : IDisposable
{
    private readonly Socket? _socket;
    private readonly UnixDomainSocketEndPoint? _endpoint;
    private readonly Action<string> _log;
    private Timer? _watchdog;
    private bool _reported;

    public SystemdNotify(Action<string> log, string? socketPath = null, string? watchdogUsec = null, string? watchdogPid = null)
    {
        _log = log;
        socketPath ??= Environment.GetEnvironmentVariable("NOTIFY_SOCKET");
        watchdogUsec ??= Environment.GetEnvironmentVariable("WATCHDOG_USEC");
        watchdogPid ??= Environment.GetEnvironmentVariable("WATCHDOG_PID");
        if (string.IsNullOrEmpty(socketPath)) return;
        // An abstract socket: '@' stands for the leading NUL byte.
        _endpoint = new UnixDomainSocketEndPoint(socketPath[0] == '@' ? "\0" + socketPath[1..] : socketPath);
        _socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        if (long.TryParse(watchdogUsec, out long usec) && usec > 0
            && (string.IsNullOrEmpty(watchdogPid) || watchdogPid == Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture)))
            WatchdogInterval = TimeSpan.FromMicroseconds(usec);
    }

    public bool Enabled => _socket is not null;
    /// <summary>The watchdog interval systemd asked for, or zero.</summary>
    public TimeSpan WatchdogInterval { get; }
    public long Sent { get; private set; }

    public void Ready(string status) => Send($"READY=1\nSTATUS={OneLine(status)}\nMAINPID={Environment.ProcessId}");
    public void Status(string status) => Send($"STATUS={OneLine(status)}");
    public void Reloading() => Send($"RELOADING=1\nMONOTONIC_USEC={MonotonicUsec()}");
    public void Stopping() => Send("STOPPING=1");

    /// <summary>Pings the watchdog at half its interval while <paramref name="healthy"/> says so.</summary>
    public void StartWatchdog(Func<bool> healthy)
    {
        if (!Enabled || WatchdogInterval <= TimeSpan.Zero) return;
        var period = WatchdogInterval / 2;
        _watchdog = new Timer(_ =>
        {
            if (healthy()) Send("WATCHDOG=1");
        }, null, TimeSpan.Zero, period);
    }

    private void Send(string message)
    {
        if (_socket is null) return;
        try
        {
            _socket.SendTo(Encoding.UTF8.GetBytes(message), SocketFlags.None, _endpoint!);
            Sent++;
        }
        catch (SocketException e)
        {
            if (_reported) return;
            _reported = true;
            _log($"warning: cannot notify systemd at {Environment.GetEnvironmentVariable("NOTIFY_SOCKET")}: {e.Message}");
        }
    }

    private static string OneLine(string s) => s.Replace('\n', ' ');

    private static long MonotonicUsec() => (long)(System.Diagnostics.Stopwatch.GetTimestamp() / (System.Diagnostics.Stopwatch.Frequency / 1_000_000.0));

    public void Dispose()
    {
        _watchdog?.Dispose();
        _socket?.Dispose();
    }
}
