using System.Diagnostics;
using System.Net;
using System.Runtime.InteropServices;
using System.Text;
using SipIps.Capture.AfPacket;
using SipIps.Tests;

namespace SipIps.TrafficGen;

/// <summary>
/// Sends SIP frames of one size out of an interface at a fixed rate for a bounded time, with sendmmsg batches
/// paced against the clock. Frames are OPTIONS requests padded to size, from 64 source ports so that fanout has
/// flows to spread. Prints "sent N" at the end.
/// </summary>
public static unsafe class Blaster
{
    public static int Run(string device, string dstMac, int frameSize, long rate, double seconds)
    {
        var a = IPAddress.Parse("192.0.2.10");
        var b = IPAddress.Parse("192.0.2.20");
        var dst = Convert.FromHexString(dstMac.Replace(":", ""));
        const int distinct = 64;
        var frames = new List<byte[]>();
        for (int i = 0; i < distinct; i++)
        {
            string head = $"OPTIONS sip:bench@192.0.2.20 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:{6000 + i};branch=z9hG4bKb{i:x4}\r\n" +
                          $"From: <sip:load@192.0.2.10>;tag={i}\r\nTo: <sip:bench@192.0.2.20>\r\nCall-ID: bench{i}@192.0.2.10\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n";
            int overhead = 14 + 20 + 8;
            int pad = Math.Max(0, frameSize - overhead - head.Length - "Content-Length: 0\r\n\r\n".Length - "X-Pad: \r\n".Length);
            string msg = head + (pad > 0 ? "X-Pad: " + new string('x', pad) + "\r\n" : "") + "Content-Length: 0\r\n\r\n";
            var frame = PacketBuilder.Ethernet(PacketBuilder.Udp(a, b, (ushort)(6000 + i), 5060, Encoding.ASCII.GetBytes(msg)));
            dst.CopyTo(frame, 0);
            frames.Add(frame);
        }
        // Frames live in native memory for the sender's pointers.
        var native = new List<nint>();
        var rx = new RxFrame[distinct];
        for (int i = 0; i < distinct; i++)
        {
            nint p = (nint)NativeMemory.Alloc((nuint)frames[i].Length);
            frames[i].CopyTo(new Span<byte>((void*)p, frames[i].Length));
            native.Add(p);
            rx[i] = new RxFrame { Data = (byte*)p, Length = frames[i].Length, WireLength = frames[i].Length };
        }
        using var socket = PacketSocket.OpenSend(device);
        const int batch = 32;
        using var sender = new FrameSender(socket, SendMode.SendMmsg, batch);
        long total = (long)(rate * seconds);
        var clock = Stopwatch.StartNew();
        long sent = 0;
        int k = 0;
        while (sent < total)
        {
            // Pace like a wire: send what is due now (one frame at a time at low rates, whole batches only when the
            // sender has fallen behind its schedule), so that the path sees a steady stream rather than bursts.
            long due = (long)(clock.Elapsed.TotalSeconds * rate) + 1;
            if (sent >= due)
            {
                Thread.SpinWait(20);
                continue;
            }
            int n = (int)Math.Min(Math.Min(batch, due - sent), total - sent);
            for (int i = 0; i < n; i++) sender.Add(in rx[k++ & (distinct - 1)]);
            sender.Flush();
            sent += n;
        }
        Console.WriteLine($"sent {sender.Counters.Frames} errors {sender.Counters.Errors} seconds {clock.Elapsed.TotalSeconds:F3}");
        foreach (var p in native) NativeMemory.Free((void*)p);
        return 0;
    }

    /// <summary>Sends each frame of a file of hex lines once, in order (tests that need exact frames on the wire).</summary>
    public static int SendFrames(string device, string hexFile)
    {
        using var socket = PacketSocket.OpenSend(device);
        using var sender = new FrameSender(socket, SendMode.SendTo, 1);
        int n = 0;
        foreach (var line in File.ReadLines(hexFile))
        {
            if (line.Length == 0) continue;
            var bytes = Convert.FromHexString(line.Trim());
            fixed (byte* p = bytes)
            {
                var f = new RxFrame { Data = p, Length = bytes.Length, WireLength = bytes.Length };
                sender.Add(in f);
            }
            n++;
            Thread.Sleep(5);
        }
        Console.WriteLine($"sent {sender.Counters.Frames} errors {sender.Counters.Errors}");
        return sender.Counters.Frames == n ? 0 : 1;
    }
}
