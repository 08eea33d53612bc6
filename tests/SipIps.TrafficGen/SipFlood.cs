using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace SipIps.TrafficGen;

/// <summary>
/// An INVITE flood for the lab: new Call-IDs, sent over UDP from one or more local source addresses, paced to a
/// rate, and bounded both in count and in time. It only ever sends to the address it is given (a lab namespace).
/// </summary>
public static class SipFlood
{
    public static int Run(string[] args)
    {
        IPEndPoint? target = null;
        var sources = new List<IPAddress>();
        double rate = 1000, seconds = 10;
        long count = 10_000;
        string user = "service";
        for (int i = 1; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--to": target = IPEndPoint.Parse(args[++i]); break;
                case "--from": sources.AddRange(args[++i].Split(',').SelectMany(Expand)); break;
                case "--rate": rate = double.Parse(args[++i], System.Globalization.CultureInfo.InvariantCulture); break;
                case "--count": count = long.Parse(args[++i]); break;
                case "--seconds": seconds = double.Parse(args[++i], System.Globalization.CultureInfo.InvariantCulture); break;
                case "--user": user = args[++i]; break;
                default:
                    Console.Error.WriteLine($"unknown option {args[i]}");
                    return 2;
            }
        }
        if (target is null || sources.Count == 0)
        {
            Console.Error.WriteLine("usage: sipips-trafficgen sip-flood --to IP:PORT --from IP[,IP|A.B.C.X-Y...] [--rate R] [--count N] [--seconds S] [--user U]");
            return 2;
        }
        if (count > 1_000_000 || seconds > 120 || rate > 200_000)
        {
            Console.Error.WriteLine("sip-flood: bounded to 1,000,000 messages, 120 s and 200,000/s");
            return 2;
        }
        var sockets = sources.Select(s =>
        {
            var sock = new Socket(s.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
            sock.Bind(new IPEndPoint(s, 0));
            return sock;
        }).ToArray();
        long sent = 0, errors = 0;
        var buffer = new byte[2048];
        var rng = new Random();
        // Warm up (format and send once, to the discard port on this namespace's own loopback) before the clock
        // starts, so that start-up work does not turn the first milliseconds into a burst.
        using (var warm = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp))
        {
            var discard = new IPEndPoint(IPAddress.Loopback, 9);
            int w = Invite(buffer, new IPEndPoint(IPAddress.Loopback, 5060), discard, user, rng);
            for (int i = 0; i < 3; i++) warm.SendTo(buffer.AsSpan(0, w), SocketFlags.None, discard);
        }
        var clock = Stopwatch.StartNew();
        while (sent < count && clock.Elapsed.TotalSeconds < seconds)
        {
            long due = (long)(clock.Elapsed.TotalSeconds * rate) + 1;
            if (sent >= due)
            {
                Thread.Sleep(1);
                continue;
            }
            while (sent < due && sent < count)
            {
                var sock = sockets[sent % sockets.Length];
                var local = (IPEndPoint)sock.LocalEndPoint!;
                int n = Invite(buffer, local, target, user, rng);
                try
                {
                    sock.SendTo(buffer.AsSpan(0, n), SocketFlags.None, target);
                }
                catch (SocketException)
                {
                    errors++;
                }
                sent++;
            }
        }
        foreach (var s in sockets) s.Dispose();
        Console.WriteLine($"sent {sent} INVITEs from {sockets.Length} source(s) in {clock.Elapsed.TotalSeconds:0.000} s ({errors} send errors)");
        return 0;
    }

    /// <summary>"192.0.2.66", or "203.0.113.1-100" for a range of the last octet.</summary>
    private static IEnumerable<IPAddress> Expand(string text)
    {
        int dash = text.LastIndexOf('-');
        int dot = text.LastIndexOf('.');
        if (dash > dot && dot > 0)
        {
            string head = text[..(dot + 1)];
            int from = int.Parse(text[(dot + 1)..dash]), to = int.Parse(text[(dash + 1)..]);
            for (int i = from; i <= to; i++) yield return IPAddress.Parse(head + i);
            yield break;
        }
        yield return IPAddress.Parse(text);
    }

    private static int Invite(byte[] buffer, IPEndPoint local, IPEndPoint target, string user, Random rng)
    {
        string host = target.Address.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{target.Address}]" : target.Address.ToString();
        string me = local.Address.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{local.Address}]" : local.Address.ToString();
        string id = $"{rng.NextInt64():x16}{rng.NextInt64():x16}";
        string sip =
            $"INVITE sip:{user}@{host}:{target.Port} SIP/2.0\r\n" +
            $"Via: SIP/2.0/UDP {me}:{local.Port};branch=z9hG4bK{id[..12]}\r\n" +
            "Max-Forwards: 70\r\n" +
            $"From: <sip:flood@{me}>;tag={id[..8]}\r\n" +
            $"To: <sip:{user}@{host}>\r\n" +
            $"Call-ID: {id}@{me}\r\n" +
            "CSeq: 1 INVITE\r\n" +
            $"Contact: <sip:flood@{me}:{local.Port}>\r\n" +
            "User-Agent: Generic/1.0\r\n" +
            "Content-Length: 0\r\n\r\n";
        return Encoding.ASCII.GetBytes(sip, buffer);
    }
}
