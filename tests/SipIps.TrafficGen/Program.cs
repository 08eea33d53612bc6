using SipIps.TrafficGen;

// sipips-trafficgen OUT.pcap [--sip-packets N] [--seed S] [--rtp N] [--attacks]
// sipips-trafficgen blast DEVICE DST-MAC FRAME-BYTES RATE SECONDS
if (args.Length == 6 && args[0] == "blast")
    return Blaster.Run(args[1], args[2], int.Parse(args[3]), long.Parse(args[4]), double.Parse(args[5], System.Globalization.CultureInfo.InvariantCulture));
// sipips-trafficgen send-frames DEVICE HEX-FILE
if (args.Length == 3 && args[0] == "send-frames")
    return Blaster.SendFrames(args[1], args[2]);
// sipips-trafficgen stall-probe SECONDS THRESHOLD-US [GAP-LOG]
if (args.Length is 3 or 4 && args[0] == "stall-probe")
    return StallProbe.Run(double.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture), int.Parse(args[2]),
        args.Length == 4 ? args[3] : null);
// sipips-trafficgen sip-flood --to IP:PORT --from IP[,...] [--rate R] [--count N] [--seconds S]
if (args.Length > 0 && args[0] == "sip-flood")
    return SipFlood.Run(args);
if (args.Length == 0 || args[0].StartsWith('-'))
{
    Console.Error.WriteLine("usage: sipips-trafficgen OUT.pcap [--sip-packets N] [--seed S] [--rtp N] [--attacks]");
    return 2;
}
var options = new GeneratorOptions();
for (int i = 1; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--sip-packets": options = options with { SipPackets = long.Parse(args[++i]) }; break;
        case "--seed": options = options with { Seed = int.Parse(args[++i]) }; break;
        case "--rtp": options = options with { RtpPerCall = int.Parse(args[++i]) }; break;
        case "--attacks": options = options with { Attacks = true }; break;
        default:
            Console.Error.WriteLine($"unknown option {args[i]}");
            return 2;
    }
}
using var file = new BufferedStream(File.Create(args[0]), 1 << 20);
var gen = new TrafficGenerator(options, file);
var clock = System.Diagnostics.Stopwatch.StartNew();
gen.Run();
Console.Error.WriteLine($"wrote {gen.PacketsWritten:N0} packets ({gen.SipPacketsWritten:N0} SIP messages) to {args[0]} in {clock.Elapsed.TotalSeconds:0.0} s");
return 0;
