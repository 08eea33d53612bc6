using System.Diagnostics;
using SipIps.Tests;
using Xunit;
using Xunit.Abstractions;

namespace SipIps.Replay.Tests;

/// <summary>
/// SIP message counts against tshark on the Zeek, nDPI, attack and transport captures. tshark counts frames that
/// hold SIP; SipIps counts messages. Every difference is accounted for, each by a tshark query of its own:
/// frames that hold several messages, ICMP errors that quote a SIP packet (not SIP on the wire), and text on a SIP
/// port that tshark labels a SIP "continuation" although it has no start line (HTTP on 5060).
/// </summary>
public class TsharkComparisonTests(ITestOutputHelper output)
{
    public static IEnumerable<object[]> Captures() =>
    [
        ["zeek-sip/traces/wireshark.pcap"],
        ["zeek-sip/traces/sip-junk-before-request.pcap"],
        ["ndpi/pcap/sip.pcap"],
        ["ndpi/pcap/sip_hello.pcapng"],
        ["ndpi/pcap/http_on_sip_port.pcap"],
        ["ndpi/pcap/rtp.pcapng"],
        ["suricata-verify-sip/sip-method/sip.pcap"],
        ["suricata-verify-sip/sip-body-frames/public-cloudshark-sip-s0.pcap"],
        ["suricata-verify-sip/sip-tcp-method/sip-tcp.pcap"],
        ["sip-attacks-initconf/traces/BadUserAgent-sipvicious.pcap"],
        ["sip-attacks-initconf/traces/SIP-3700-unauthorized-401.pcap"],
        ["sip-attacks-cesnet/sip.pcap"],
        ["transport-edge-cases/heplify/sip_ipv4_tcp.pcap"],
        ["transport-edge-cases/heplify/sip_ipv6_udp.pcap"],
        ["transport-edge-cases/heplify/sip_sctp.pcap"],
        ["transport-edge-cases/sngrep/ipip.pcap"],
    ];

    [Theory]
    [MemberData(nameof(Captures))]
    public void Sip_message_count_matches_tshark(string relative)
    {
        string file = Corpus.Path(relative.Split('/'));
        var replay = Replay.Run(file);
        long ours = replay.Messages.Count;

        long frames = Count(file, "sip");
        long icmpQuoted = Count(file, "sip && (icmp || icmpv6)");
        long continuations = Count(file, "sip && !icmp && !icmpv6 && !sip.Request-Line && !sip.Status-Line");
        long messages = Messages(file, "sip && !icmp && !icmpv6");
        long messageFrames = frames - icmpQuoted - continuations;
        long multi = messages - messageFrames;

        output.WriteLine($"{relative}: ours {ours}; tshark {frames} frames = {messages} messages in {messageFrames} frames " +
                         $"(+{multi} from frames with several messages), {icmpQuoted} ICMP-quoted, {continuations} continuations");
        Assert.Equal(frames - icmpQuoted - continuations + multi, ours);
    }

    private static long Count(string file, string filter) => Tshark(file, filter, "frame.number").Count;

    private static long Messages(string file, string filter) =>
        Tshark(file, filter, "sip.Request-Line", "sip.Status-Line")
            .Sum(line => line.Split(['\t', '|'], StringSplitOptions.RemoveEmptyEntries).Length);

    private static List<string> Tshark(string file, string filter, params string[] fields)
    {
        var args = new List<string> { "-r", file, "-Y", filter, "-T", "fields", "-E", "aggregator=|", "-E", "occurrence=a" };
        foreach (var f in fields) { args.Add("-e"); args.Add(f); }
        var psi = new ProcessStartInfo("tshark", args) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("tshark is required");
        var lines = p.StandardOutput.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries).ToList();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"tshark failed on {file}: {p.StandardError.ReadToEnd()}");
        return lines;
    }
}
