using System.Net;
using System.Net.Sockets;

namespace SipIps.Export.NetFlow;

/// <summary>
/// Sends export packets to one collector over UDP, allocation-free. A failed send is counted and reported at most once
/// a minute; the next packet is tried as usual. Optional pacing sleeps a millisecond every so many packets, so that a
/// replayed capture does not overrun a collector's socket buffer.
/// </summary>
public sealed class UdpSender : IDisposable
{
    private readonly Socket _socket;
    private readonly SocketAddress _collector;
    private readonly Action<string> _log;
    private readonly int _paceEvery;
    private long _lastReport = long.MinValue;

    public UdpSender(IPEndPoint collector, Action<string> log, int paceEvery = 0)
    {
        Collector = collector;
        _socket = new Socket(collector.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        _collector = collector.Serialize();
        _log = log;
        _paceEvery = paceEvery;
    }

    public IPEndPoint Collector { get; }
    public long Packets { get; private set; }
    public long Errors { get; private set; }

    public void Send(ReadOnlySpan<byte> packet)
    {
        try
        {
            _socket.SendTo(packet, SocketFlags.None, _collector);
            Packets++;
            if (_paceEvery > 0 && Packets % _paceEvery == 0) Thread.Sleep(1);
        }
        catch (SocketException e)
        {
            Errors++;
            long now = Environment.TickCount64;
            if (now - _lastReport > 60_000 || _lastReport == long.MinValue)
            {
                _lastReport = now;
                _log($"netflow: cannot send to {Collector}: {e.Message} (counted; the next packet is tried)");
            }
        }
    }

    public void Dispose() => _socket.Dispose();
}
