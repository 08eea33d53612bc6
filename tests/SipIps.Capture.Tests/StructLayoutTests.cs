using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using SipIps.Capture.AfPacket;
using SipIps.Capture.Interop;
using Xunit;

namespace SipIps.Capture.Tests;

/// <summary>
/// Every interop struct against the kernel and libc headers of this machine: a C program prints sizeof and
/// offsetof for each, and the managed layout must agree byte for byte.
/// </summary>
public class StructLayoutTests
{
    // C struct and field -> managed type and field.
    private static readonly (string CStruct, Type Managed, (string CField, string Field)[] Fields)[] s_map =
    [
        ("sockaddr_ll", typeof(SockAddrLl), [("sll_family", "Family"), ("sll_protocol", "Protocol"), ("sll_ifindex", "IfIndex"), ("sll_hatype", "HaType"), ("sll_pkttype", "PktType"), ("sll_halen", "HaLen"), ("sll_addr", "Addr")]),
        ("tpacket_req", typeof(TPacketReq), [("tp_block_size", "BlockSize"), ("tp_block_nr", "BlockCount"), ("tp_frame_size", "FrameSize"), ("tp_frame_nr", "FrameCount")]),
        ("tpacket_req3", typeof(TPacketReq3), [("tp_block_size", "BlockSize"), ("tp_retire_blk_tov", "RetireBlockTimeoutMs"), ("tp_sizeof_priv", "SizeOfPriv"), ("tp_feature_req_word", "FeatureReqWord")]),
        ("tpacket2_hdr", typeof(TPacket2Hdr), [("tp_status", "Status"), ("tp_len", "Len"), ("tp_snaplen", "SnapLen"), ("tp_mac", "Mac"), ("tp_net", "Net"), ("tp_sec", "Sec"), ("tp_nsec", "Nsec"), ("tp_vlan_tci", "VlanTci"), ("tp_vlan_tpid", "VlanTpid")]),
        ("tpacket3_hdr", typeof(TPacket3Hdr), [("tp_next_offset", "NextOffset"), ("tp_sec", "Sec"), ("tp_nsec", "Nsec"), ("tp_snaplen", "SnapLen"), ("tp_len", "Len"), ("tp_status", "Status"), ("tp_mac", "Mac"), ("tp_net", "Net"), ("hv1.tp_rxhash", "RxHash"), ("hv1.tp_vlan_tci", "VlanTci"), ("hv1.tp_vlan_tpid", "VlanTpid")]),
        ("tpacket_block_desc", typeof(TPacketBlockDesc), [("version", "Version"), ("offset_to_priv", "OffsetToPriv"), ("hdr.bh1.block_status", "BlockStatus"), ("hdr.bh1.num_pkts", "PacketCount"), ("hdr.bh1.offset_to_first_pkt", "OffsetToFirstPacket"), ("hdr.bh1.blk_len", "BlockLength"), ("hdr.bh1.seq_num", "SeqNum"), ("hdr.bh1.ts_first_pkt", "FirstSec"), ("hdr.bh1.ts_last_pkt", "LastSec")]),
        ("tpacket_stats", typeof(TPacketStats), [("tp_packets", "Packets"), ("tp_drops", "Drops")]),
        ("tpacket_stats_v3", typeof(TPacketStatsV3), [("tp_packets", "Packets"), ("tp_drops", "Drops"), ("tp_freeze_q_cnt", "FreezeQueueCount")]),
        ("packet_mreq", typeof(PacketMReq), [("mr_ifindex", "IfIndex"), ("mr_type", "Type"), ("mr_alen", "ALen"), ("mr_address", "Address")]),
        ("pollfd", typeof(PollFd), [("fd", "Fd"), ("events", "Events"), ("revents", "Revents")]),
        ("iovec", typeof(IoVec), [("iov_base", "Base"), ("iov_len", "Length")]),
        ("msghdr", typeof(MsgHdr), [("msg_name", "Name"), ("msg_namelen", "NameLength"), ("msg_iov", "Iov"), ("msg_iovlen", "IovLength"), ("msg_control", "Control"), ("msg_controllen", "ControlLength"), ("msg_flags", "Flags")]),
        ("mmsghdr", typeof(MMsgHdr), [("msg_hdr", "Header"), ("msg_len", "Length")]),
        ("ifreq", typeof(IfReq), [("ifr_name", "Name"), ("ifr_flags", "Flags"), ("ifr_mtu", "Mtu"), ("ifr_data", "Data")]),
        ("ethtool_value", typeof(EthtoolValue), [("cmd", "Command"), ("data", "Data")]),
    ];

    [Fact]
    public void Managed_layouts_match_the_c_headers()
    {
        var c = CLayouts();
        int compared = 0;
        foreach (var (cStruct, managed, fields) in s_map)
        {
            Assert.True(c.TryGetValue($"size {cStruct}", out long size), $"no C size for {cStruct}");
            Assert.Equal(size, (long)Marshal.SizeOf(managed));
            foreach (var (cField, field) in fields)
            {
                Assert.True(c.TryGetValue($"offset {cStruct}.{cField}", out long offset), $"no C offset for {cStruct}.{cField}");
                Assert.True(offset == (long)Marshal.OffsetOf(managed, field), $"{cStruct}.{cField}: C {offset}, managed {Marshal.OffsetOf(managed, field)}");
                compared++;
            }
        }
        Assert.True(compared > 50);
        var constants = new (string Name, long Managed)[]
        {
            ("TPACKET2_HDRLEN", RingGeometry.TPacket2HeaderLength),
            ("TPACKET3_HDRLEN", RingGeometry.TPacket3HeaderLength),
            ("PACKET_IGNORE_OUTGOING", PacketOption.IgnoreOutgoing),
            ("PACKET_QDISC_BYPASS", PacketOption.QdiscBypass),
            ("PACKET_FANOUT", PacketOption.Fanout),
            ("SIOCETHTOOL", Interop.Ioctl.SiocEthtool),
            ("TP_STATUS_VLAN_TPID_VALID", TpStatus.VlanTpidValid),
        };
        foreach (var (name, managed) in constants) Assert.True(c["const " + name] == managed, $"{name}: C {c["const " + name]}, managed {managed}");
    }

    private static Dictionary<string, long> CLayouts()
    {
        string dir = Directory.CreateTempSubdirectory("sipips-layout-").FullName;
        try
        {
            string src = Path.Combine(dir, "layout.c");
            var sb = new System.Text.StringBuilder();
            sb.AppendLine("#define _GNU_SOURCE\n#include <stdio.h>\n#include <stddef.h>\n#include <sys/socket.h>\n#include <sys/uio.h>\n#include <net/if.h>\n#include <poll.h>\n#include <linux/if_packet.h>\n#include <linux/ethtool.h>\n#include <linux/sockios.h>");
            sb.AppendLine("int main(void) {");
            foreach (var (cStruct, _, fields) in s_map)
            {
                sb.AppendLine($"printf(\"size {cStruct} %zu\\n\", sizeof(struct {cStruct}));");
                foreach (var (cField, _) in fields)
                    sb.AppendLine($"printf(\"offset {cStruct}.{cField} %zu\\n\", offsetof(struct {cStruct}, {cField}));");
            }
            foreach (var k in new[] { "TPACKET2_HDRLEN", "TPACKET3_HDRLEN", "PACKET_IGNORE_OUTGOING", "PACKET_QDISC_BYPASS", "PACKET_FANOUT", "SIOCETHTOOL", "TP_STATUS_VLAN_TPID_VALID" })
                sb.AppendLine($"printf(\"const {k} %ld\\n\", (long)({k}));");
            sb.AppendLine("return 0; }");
            File.WriteAllText(src, sb.ToString());
            string exe = Path.Combine(dir, "layout");
            Run("cc", "-o", exe, src);
            var output = Run(exe);
            return output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Select(l => l.Split(' '))
                .ToDictionary(p => p[0] + " " + p[1], p => long.Parse(p[2]));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    private static string Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {file} (a C compiler is required: apt-get install gcc libc6-dev)");
        string stdout = p.StandardOutput.ReadToEnd();
        string stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"{file} failed: {stderr}");
        return stdout;
    }
}
