using System.Buffers.Binary;
using System.Net;
using System.Text;
using SipIps.Capture;
using SipIps.Engine.Decode;
using SipIps.Engine.Packets;
using SipIps.Engine.Pipeline;
using SipIps.Engine.Sessions;
using SipIps.Export.Live;
using SipIps.Export.NetFlow;
using SipIps.Tests;
using Xunit;
using Xunit.Abstractions;

namespace SipIps.Export.Tests;

public class NetFlowTests(ITestOutputHelper output)
{
    /// <summary>The UDP payloads of a capture, in order.</summary>
    internal static List<byte[]> UdpPayloads(string pcap)
    {
        var list = new List<byte[]>();
        using var reader = CaptureFileReader.Open(pcap);
        while (reader.TryReadNext(out var frame))
        {
            PacketInfo info = default;
            if (PacketDecoder.Decode(frame.Data, frame.Link, ref info, new DecoderOptions { Ipv4Checksum = ChecksumPolicy.Ignore }) != DecodeResult.Transport) continue;
            if (info.Protocol != L4Protocol.Udp) continue;
            list.Add(frame.Data.Slice(info.PayloadOffset, info.PayloadLength).ToArray());
        }
        return list;
    }

    public static IEnumerable<object[]> CorpusCaptures() =>
        Directory.EnumerateFiles(Corpus.Path("netflow-v9"), "*.pcap", SearchOption.AllDirectories).Order().Select(f => new object[] { Path.GetRelativePath(Corpus.Path("netflow-v9"), f) });

    /// <summary>
    /// Real v9 exports from other vendors: every packet decodes, every data record whose template was seen is
    /// read, and writing the same templates and records with our writer gives packets that decode to the same
    /// templates and the same field bytes.
    /// </summary>
    [Theory]
    [MemberData(nameof(CorpusCaptures))]
    public void Corpus_exports_round_trip_through_the_decoder_and_the_writer(string file)
    {
        var payloads = UdpPayloads(Corpus.Path("netflow-v9", file)).Where(p => p.Length >= 2 && BinaryPrimitives.ReadUInt16BigEndian(p) == 9).ToList();
        if (payloads.Count == 0)
        {
            output.WriteLine($"{file}: no v9 packets (another version)");
            return;
        }
        // Some captures hold only data; their templates are in a sibling capture, as a collector would have seen them.
        var theirs = new NetFlowV9Decoder();
        string dir = Path.GetDirectoryName(Corpus.Path("netflow-v9", file))!;
        foreach (var sibling in Directory.EnumerateFiles(dir, "*.pcap").Where(f => f != Corpus.Path("netflow-v9", file) && (f.Contains("tpl") || f.Contains("template"))))
            foreach (var p in UdpPayloads(sibling).Where(p => p.Length >= 20 && BinaryPrimitives.ReadUInt16BigEndian(p) == 9))
                theirs.Decode(p);
        int records = 0, templates = 0, countMatches = 0;
        int undecodable = 0;
        foreach (var p in payloads)
        {
            var packet = theirs.Decode(p);
            undecodable += packet.UndecodableSets;
            Assert.True(packet.FlowSets.Sum(s => s.Length) + NetFlowV9Writer.HeaderLength <= p.Length);
            records += packet.Records.Count;
            templates += packet.Templates.Count;
            if (packet.UndecodableSets == 0 && packet.Templates.Count + packet.Records.Count == packet.Count) countMatches++;
            if (packet.Records.Count == 0 && packet.Templates.Count == 0) continue;

            // Re-export: the templates this packet used, then its records.
            var used = packet.Templates.Concat(packet.Records.Select(r => theirs.Templates[(r.SourceId, r.TemplateId)])).DistinctBy(t => t.Id).ToList();
            // Vendor variable-length strings (declared 65535 long, H3C) are not v9: nothing to re-export.
            if (used.Any(t => t.RecordLength > 8000)) continue;
            var sent = new List<byte[]>();
            var writer = new NetFlowV9Writer(packet.SourceId, 0, used, b => sent.Add(b.ToArray()), maxPacketBytes: 9000);
            foreach (var r in packet.Records)
            {
                var t = theirs.Templates[(r.SourceId, r.TemplateId)];
                var room = writer.BeginRecord(t, 1_000_000_000);
                int at = 0;
                foreach (var (_, value) in r.Fields)
                {
                    value.CopyTo(room[at..]);
                    at += value.Length;
                }
            }
            if (packet.Records.Count == 0) writer.SendTemplates(1_000_000_000);
            writer.Flush(1_000_000_000);
            var ours = new NetFlowV9Decoder();
            var again = sent.Select(b => ours.Decode(b)).ToList();
            foreach (var b in again) Assert.Equal(b.Count, b.Templates.Count + b.Records.Count);
            Assert.Equal(packet.Records.Count, again.Sum(b => b.Records.Count));
            var back = again.SelectMany(b => b.Records).ToList();
            for (int i = 0; i < back.Count; i++)
            {
                Assert.Equal(packet.Records[i].TemplateId, back[i].TemplateId);
                Assert.Equal(packet.Records[i].Fields.Select(f => (f.Field, Convert.ToHexString(f.Value))), back[i].Fields.Select(f => (f.Field, Convert.ToHexString(f.Value))));
            }
            foreach (var t in used)
            {
                var u = ours.Templates[(packet.SourceId, t.Id)];
                Assert.Equal(t.Fields, u.Fields);
                Assert.Equal(t.Scopes.Where(s => s.Length > 0), u.Scopes.Where(s => s.Length > 0));
            }
        }
        output.WriteLine($"{file}: {payloads.Count} packets, {templates} templates, {records} data records, header count exact in {countMatches}");
        // A capture of data whose templates were sent before it started decodes to nothing, as at a collector.
        Assert.True(templates + records > 0 || undecodable > 0, "nothing decoded");
    }

    [Fact]
    public void Every_template_fits_the_collectors_limits()
    {
        foreach (var t in SessionFlows.All)
        {
            Assert.True(t.Fields.Count + t.Scopes.Count <= SessionFlows.MaxFields, $"template {t.Id}: {t.Fields.Count} fields");
            Assert.True(t.RecordLength + NetFlowV9Writer.HeaderLength + 8 <= 1400, $"template {t.Id}: {t.RecordLength} bytes");
            Assert.Equal(t.Fields.Count, t.Fields.Select(f => f.Type).Distinct().Count());
        }
    }

    [Fact]
    public void The_corpus_holds_data_records_we_decode()
    {
        int records = 0;
        foreach (var f in CorpusCaptures().Select(o => (string)o[0]))
        {
            var d = new NetFlowV9Decoder();
            foreach (var p in UdpPayloads(Corpus.Path("netflow-v9", f)).Where(p => p.Length >= 20 && BinaryPrimitives.ReadUInt16BigEndian(p) == 9))
                records += d.Decode(p).Records.Count;
        }
        output.WriteLine($"{records} data records decoded from the corpus");
        Assert.True(records > 100, $"{records}");
    }

    [Fact]
    public void Templates_go_out_at_start_and_again_after_the_refresh_count()
    {
        var sent = new List<byte[]>();
        var writer = new NetFlowV9Writer(7, 0, SessionFlows.All, b => sent.Add(b.ToArray()), refreshPackets: 3, refreshNs: long.MaxValue / 2,
            optionsData: w => SessionFlows.WriteExporter(w, 1_000_000_000, new SessionTrackerOptions(), 0));
        var s = new SessionState { Kind = SessionKind.Transaction, Source = Engine.Common.IpAddr.FromV4(0xC0000201), Destination = Engine.Common.IpAddr.FromV4(0xC0000202) };
        for (int i = 0; i < 20; i++)
        {
            SessionFlows.Write(writer, s, SessionEndReason.EndOfSession, 1_000_000_000);
            writer.Flush(1_000_000_000);
        }
        var d = new NetFlowV9Decoder();
        var packets = sent.Select(p => d.Decode(p)).ToList();
        Assert.True(packets[0].Templates.Count == SessionFlows.All.Length, "the first packet carries the templates");
        Assert.Equal(Enumerable.Range(0, packets.Count).Select(i => (uint)i), packets.Select(p => p.Sequence));
        var withTemplates = packets.Select((p, i) => (p, i)).Where(x => x.p.Templates.Count > 0).Select(x => x.i).ToList();
        Assert.True(withTemplates.Count >= 5, string.Join(",", withTemplates));
        // The options record describes the exporter (scope: the source id).
        var options = packets.SelectMany(p => p.Records).First(r => r.TemplateId == SessionFlows.Exporter);
        Assert.Equal(7UL, options.GetUnsigned(1));
        foreach (var p in packets) Assert.Equal(p.Count, p.Templates.Count + p.Records.Count);
        Assert.All(sent, p => Assert.True(p.Length <= 1400));
    }

    /// <summary>A whole call through the engine: SIP from frames, RTP tied to it by the SDP, one record out.</summary>
    [Fact]
    public void A_call_becomes_one_record_with_its_times_counts_and_rtp()
    {
        var sent = new List<byte[]>();
        NetFlowV9Writer? writer = null;
        var sink = new Sink(s => SessionFlows.Write(writer!, s.State, s.Reason, 10_000_000_000_000));
        var tracker = new SessionTracker(new SessionTrackerOptions { LingerNs = 1_000_000_000 }, sink);
        writer = new NetFlowV9Writer(1, 1_700_000_000_000_000_000, SessionFlows.All, b => sent.Add(b.ToArray()));
        var engine = new SipEngine(new EngineOptions(), new LiveObserver(null, tracker, null, null));
        var caller = IPAddress.Parse("192.0.2.10");
        var callee = IPAddress.Parse("198.51.100.20");
        long t = 1_700_000_000_000_000_000;
        void Sip(IPAddress from, IPAddress to, string text)
        {
            t += 10_000_000;
            engine.ProcessFrame(PacketBuilder.Udp(from, to, 5060, 5060, Encoding.ASCII.GetBytes(text)), LinkType.Raw, t, 100);
        }
        void Rtp(IPAddress from, IPAddress to, ushort port, uint ssrc, ushort seq, uint timestamp)
        {
            var rtp = new byte[172];
            rtp[0] = 0x80;
            rtp[1] = 0;
            BinaryPrimitives.WriteUInt16BigEndian(rtp.AsSpan(2), seq);
            BinaryPrimitives.WriteUInt32BigEndian(rtp.AsSpan(4), timestamp);
            BinaryPrimitives.WriteUInt32BigEndian(rtp.AsSpan(8), ssrc);
            engine.ProcessFrame(PacketBuilder.Udp(from, to, 40000, port, rtp), LinkType.Raw, t, 214);
        }
        string callId = "flow-test-1@192.0.2.10";
        string sdp(string ip, int port) => $"v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\n";
        string body1 = sdp("192.0.2.10", 30000), body2 = sdp("198.51.100.20", 32000);
        string head(string start, string cseq, string toTag = "") =>
            $"{start}\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK{cseq.GetHashCode():x}\r\nFrom: \"A\" <sip:alice@example.com>;tag=ft1\r\n" +
            $"To: <sip:bob@example.com>{toTag}\r\nCall-ID: {callId}\r\nCSeq: {cseq}\r\nMax-Forwards: 70\r\n";
        Sip(caller, callee, head("INVITE sip:bob@198.51.100.20 SIP/2.0", "1 INVITE") + $"User-Agent: PhoneA/1.0\r\nContent-Type: application/sdp\r\nContent-Length: {body1.Length}\r\n\r\n{body1}");
        Assert.True(tracker.Active == 1, $"parse: {engine.Counters.SipMessages} messages, {engine.Counters.ParseErrors} invalid");
        Sip(callee, caller, head("SIP/2.0 100 Trying", "1 INVITE") + "Content-Length: 0\r\n\r\n");
        Sip(callee, caller, head("SIP/2.0 180 Ringing", "1 INVITE", ";tag=tt2") + "Content-Length: 0\r\n\r\n");
        Sip(callee, caller, head("SIP/2.0 200 OK", "1 INVITE", ";tag=tt2") + $"Server: PhoneB/2.0\r\nContent-Type: application/sdp\r\nContent-Length: {body2.Length}\r\n\r\n{body2}");
        Sip(caller, callee, head("ACK sip:bob@198.51.100.20 SIP/2.0", "1 ACK", ";tag=tt2") + "Content-Length: 0\r\n\r\n");
        for (ushort i = 0; i < 50; i++)
        {
            t += 20_000_000;
            if (i != 17) Rtp(caller, callee, 32000, 0xAAAA0001, (ushort)(1000 + i), 5000 + i * 160u); // one lost
            Rtp(callee, caller, 30000, 0xBBBB0002, (ushort)(65500 + i), 4_294_960_000 + i * 160u);      // sequence and timestamp wrap
        }
        Rtp(caller, callee, 32001, 0xCCCC, 1, 1); // not an announced port: not media
        Sip(caller, callee, head("BYE sip:bob@198.51.100.20 SIP/2.0", "2 BYE", ";tag=tt2") + "Content-Length: 0\r\n\r\n");
        Sip(callee, caller, head("SIP/2.0 200 OK", "2 BYE", ";tag=tt2") + "Content-Length: 0\r\n\r\n");
        Assert.Equal(0, tracker.ActiveCalls);
        tracker.Expire(t + 500_000_000, int.MaxValue);
        Assert.Empty(sink.Records); // still lingering for stragglers
        tracker.Expire(t + 2_000_000_000, int.MaxValue);
        var rec = Assert.Single(sink.Records);
        Assert.Equal(SessionEndReason.EndOfSession, rec.Reason);
        writer.Flush(t + 2_000_000_000);

        var d = new NetFlowV9Decoder();
        var r = sent.SelectMany(p => d.Decode(p).Records).Single(x => x.TemplateId == SessionFlows.CallV4);
        Assert.Equal(callId, r.GetText(Ie.SipCallId));
        Assert.Equal("sip:alice@example.com", r.GetText(Ie.SipCallingParty));
        Assert.Equal("sip:bob@example.com", r.GetText(Ie.SipCalledParty));
        Assert.Equal("ft1", r.GetText(Ie.FromTag));
        Assert.Equal("tt2", r.GetText(Ie.ToTag));
        Assert.Equal("PhoneA/1.0", r.GetText(Ie.SipUac));
        Assert.Equal("PhoneB/2.0", r.GetText(Ie.SipUas));
        Assert.Equal(200UL, r.GetUnsigned(Ie.SipResponseCode));
        Assert.Equal(0xC000020AUL, r.GetUnsigned(Ie.Ipv4SrcAddr));
        Assert.Equal(5060UL, r.GetUnsigned(Ie.L4DstPort));
        Assert.Equal(17UL, r.GetUnsigned(Ie.Protocol));
        Assert.Equal(3UL, r.GetUnsigned(Ie.FlowEndReason));
        ulong invite = r.GetUnsigned(Ie.InviteMs), trying = r.GetUnsigned(Ie.TryingMs), ringing = r.GetUnsigned(Ie.RingingMs);
        ulong ok = r.GetUnsigned(Ie.InviteOkMs), ack = r.GetUnsigned(Ie.AckMs), bye = r.GetUnsigned(Ie.ByeMs), byeOk = r.GetUnsigned(Ie.ByeOkMs);
        Assert.True(invite > 0 && invite < trying && trying < ringing && ringing < ok && ok < ack && ack < bye && bye < byeOk);
        Assert.Equal(10UL, trying - invite);
        Assert.Equal(invite / 1000, r.GetUnsigned(Ie.SipInviteTime));
        Assert.Equal(0UL, r.GetUnsigned(Ie.SipInviteFailureTime));
        Assert.Equal(1UL, r.GetUnsigned(Ie.InviteRequests));
        Assert.Equal(1UL, r.GetUnsigned(Ie.AckRequests));
        Assert.Equal(1UL, r.GetUnsigned(Ie.ByeRequests));
        Assert.Equal(3UL, r.GetUnsigned(Ie.InviteResponses)); // 100, 180, 200
        Assert.Equal(1UL, r.GetUnsigned(Ie.ByeResponses));
        Assert.Equal(0UL, r.GetUnsigned(Ie.CancelResponses));
        Assert.Equal(0UL, r.GetUnsigned(Ie.OtherResponses));
        Assert.Equal(0UL, r.GetUnsigned(Ie.ErrorResponses));
        Assert.Equal(0xAAAA0001UL, r.GetUnsigned(Ie.RtpSsrc));
        Assert.Equal(0xBBBB0002UL, r.GetUnsigned(Ie.ReverseSsrc));
        Assert.Equal(2UL, r.GetUnsigned(Ie.RtpSsrcCount));
        Assert.Equal(49UL, r.GetUnsigned(Ie.RtpInPkts));
        Assert.Equal(50UL, r.GetUnsigned(Ie.RtpOutPkts));
        Assert.Equal(1UL, r.GetUnsigned(Ie.RtpInPktLost));
        Assert.Equal(0UL, r.GetUnsigned(Ie.RtpOutPktLost));
        Assert.Equal(0xC000020AUL, r.GetUnsigned(Ie.SipRtpIpv4SrcAddr));
        Assert.Equal(30000UL, r.GetUnsigned(Ie.SipRtpL4SrcPort));
        Assert.Equal(32000UL, r.GetUnsigned(Ie.SipRtpL4DstPort));
        Assert.Equal(7UL + 99, r.GetUnsigned(Ie.InPkts));
        // Regular 20 ms spacing at 8 kHz with 160-sample steps: no jitter, across the wraps too.
        Assert.Equal(0UL, r.GetUnsigned(Ie.RtpOutJitter));
        Assert.Equal(0UL, r.GetUnsigned(Ie.RtpInJitter));
        Assert.Equal(0, tracker.RtpUnmatched);
        // Post-dial delay: INVITE to 200 OK, 30 ms, in the 0.05 s bucket.
        Assert.Equal(1, tracker.PostDialDelay.Count);
        Assert.Equal(1, tracker.PostDialDelay.BucketCount(0));
        Assert.Equal(0.03, tracker.PostDialDelay.Sum, 6);
    }

    /// <summary>A flood of Call-IDs fills the table; answered calls are not what is pushed out.</summary>
    [Fact]
    public void A_call_id_flood_evicts_half_open_sessions_before_answered_calls()
    {
        var sink = new Sink(_ => { });
        var tracker = new SessionTracker(new SessionTrackerOptions { Capacity = 1024 }, sink);
        var e = new SessionEvent { Kind = SessionEventKind.Sip, IsRequest = true, Method = Engine.Sip.SipMethod.Invite, Source = Engine.Common.IpAddr.FromV4(1), Destination = Engine.Common.IpAddr.FromV4(2), SourcePort = 5060, DestinationPort = 5060 };
        long t = 1_000_000_000;
        for (ulong c = 1; c <= 100; c++)
        {
            e.CallIdHash = c;
            e.IsRequest = true;
            e.TimestampNs = t++;
            tracker.OnEvent(e);
            e.IsRequest = false;
            e.StatusCode = 200;
            e.CSeqMethod = Engine.Sip.SipMethod.Invite;
            e.Source = Engine.Common.IpAddr.FromV4(2);
            e.Destination = Engine.Common.IpAddr.FromV4(1);
            tracker.OnEvent(e);
            e.Source = Engine.Common.IpAddr.FromV4(1);
            e.Destination = Engine.Common.IpAddr.FromV4(2);
        }
        Assert.Equal(100, tracker.ActiveCalls);
        e.IsRequest = true;
        for (ulong c = 1000; c < 1_001_000; c++)
        {
            e.CallIdHash = c;
            e.TimestampNs = t++;
            tracker.OnEvent(e);
        }
        Assert.Equal(1024, tracker.Active);
        Assert.True(tracker.Evicted > 990_000);
        Assert.Equal(100, tracker.ActiveCalls);
        Assert.Equal(0, sink.Confirmed);
    }

    /// <summary>Re-announcing media over and over (new ports each time) never grows the media tables past four per session.</summary>
    [Fact]
    public void Media_re_announced_in_a_loop_replaces_the_old_addresses()
    {
        var tracker = new SessionTracker(new SessionTrackerOptions { Capacity = 16 }, new Sink(_ => { }));
        var caller = Engine.Common.IpAddr.FromV4(0xC000020A);
        var e = new SessionEvent { Kind = SessionEventKind.Sip, IsRequest = true, Method = Engine.Sip.SipMethod.Invite, CallIdHash = 42, Source = caller,
            Destination = Engine.Common.IpAddr.FromV4(0xC6336414), SourcePort = 5060, DestinationPort = 5060, MediaAddress = caller };
        for (int i = 0; i < 10_000; i++)
        {
            e.TimestampNs = 1_000_000_000 + i;
            e.AudioPort = (ushort)(10_000 + i % 50_000);
            e.VideoPort = (ushort)(60_000 + i % 5000);
            tracker.OnEvent(e);
        }
        Assert.Equal(2, tracker.MediaAddresses);
        Assert.Equal(2, tracker.Media.Count);
        Assert.True(tracker.Media.Contains(MediaTable.Key(caller, e.AudioPort)));
        Assert.False(tracker.Media.Contains(MediaTable.Key(caller, 10_000)));
    }

    /// <summary>A table whose size is not a multiple of 64 holds exactly its capacity, frees every slot and fills again.</summary>
    [Fact]
    public void A_table_of_any_size_holds_exactly_its_capacity_and_fills_again_after_expiry()
    {
        var sink = new Sink(_ => { });
        var tracker = new SessionTracker(new SessionTrackerOptions { Capacity = 100, IdleTimeoutNs = 1_000_000_000 }, sink);
        var e = new SessionEvent { Kind = SessionEventKind.Sip, IsRequest = true, Method = Engine.Sip.SipMethod.Options, Source = Engine.Common.IpAddr.FromV4(1), Destination = Engine.Common.IpAddr.FromV4(2), SourcePort = 5060, DestinationPort = 5060 };
        for (int round = 0; round < 3; round++)
        {
            long t = (round + 1) * 10_000_000_000L;
            for (ulong c = 1; c <= 100; c++)
            {
                e.CallIdHash = (ulong)round * 1000 + c;
                e.TimestampNs = t;
                tracker.OnEvent(e);
            }
            Assert.Equal(100, tracker.Active);
            Assert.Equal(0, tracker.Evicted);
            tracker.Expire(t + 2_000_000_000, int.MaxValue);
            Assert.Equal(0, tracker.Active);
        }
        Assert.Equal(300, tracker.Exported);
        // Full: one more session pushes one out.
        for (ulong c = 1; c <= 101; c++)
        {
            e.CallIdHash = 5000 + c;
            e.TimestampNs = 100_000_000_000L + (long)c;
            tracker.OnEvent(e);
        }
        Assert.Equal(100, tracker.Active);
        Assert.Equal(1, tracker.Evicted);
    }

    /// <summary>A slot freed by a session with long texts and reused by one with short texts carries nothing over.</summary>
    [Fact]
    public void A_reused_session_slot_holds_only_the_new_sessions_values()
    {
        var sink = new Sink(_ => { });
        var tracker = new SessionTracker(new SessionTrackerOptions { Capacity = 16, LingerNs = 0, IdleTimeoutNs = 1_000_000_000 }, sink);
        static byte Put(Span<byte> field, string text)
        {
            Encoding.ASCII.GetBytes(text).CopyTo(field);
            return (byte)text.Length;
        }
        SessionEvent Event(ulong callId, string texts, bool request, Engine.Sip.SipMethod method, long t, int status = 0)
        {
            var e = new SessionEvent
            {
                Kind = SessionEventKind.Sip, IsRequest = request, Method = method, CSeqMethod = method, StatusCode = (short)status,
                CallIdHash = callId, TimestampNs = t, WireLength = 500, Expires = -1,
                Source = Engine.Common.IpAddr.FromV4(request ? 1u : 2u), Destination = Engine.Common.IpAddr.FromV4(request ? 2u : 1u),
                SourcePort = 5060, DestinationPort = 5060,
            };
            e.CallIdLength = Put(e.CallId, "c" + texts);
            e.FromLength = Put(e.FromUri, "sip:f" + texts + "@example.com");
            e.ToLength = Put(e.ToUri, "sip:t" + texts + "@example.com");
            e.FromTagLength = Put(e.FromTag, "ft" + texts[..Math.Min(texts.Length, 20)]);
            e.ToTagLength = request ? (byte)0 : Put(e.ToTag, "tt" + texts[..Math.Min(texts.Length, 20)]);
            e.AgentLength = Put(e.Agent, (request ? "uac-" : "uas-") + texts);
            return e;
        }
        string longText = new('x', 60);
        long t = 1_000_000_000;
        tracker.OnEvent(Event(1, longText, true, Engine.Sip.SipMethod.Invite, t));
        tracker.OnEvent(Event(1, longText, false, Engine.Sip.SipMethod.Invite, t + 1, 200));
        tracker.OnEvent(Event(1, longText, true, Engine.Sip.SipMethod.Bye, t + 2));
        tracker.OnEvent(Event(1, longText, false, Engine.Sip.SipMethod.Bye, t + 3, 200));
        tracker.Expire(t + 4, int.MaxValue);
        Assert.Single(sink.Records);

        tracker.OnEvent(Event(2, "y", true, Engine.Sip.SipMethod.Options, t + 10));
        tracker.OnEvent(Event(2, "y", false, Engine.Sip.SipMethod.Options, t + 11, 200));
        tracker.Expire(t + 2_000_000_000, int.MaxValue);
        Assert.Equal(2, sink.Records.Count);
        var s = sink.Records[1].State;
        Assert.Equal("cy", Encoding.ASCII.GetString(s.CallIdText));
        Assert.Equal("sip:fy@example.com", Encoding.ASCII.GetString(s.FromText));
        Assert.Equal("sip:ty@example.com", Encoding.ASCII.GetString(s.ToText));
        Assert.Equal("fty", Encoding.ASCII.GetString(s.FromTagText));
        Assert.Equal("tty", Encoding.ASCII.GetString(s.ToTagText));
        Assert.Equal("uac-y", Encoding.ASCII.GetString(s.UacText));
        Assert.Equal("uas-y", Encoding.ASCII.GetString(s.UasText));
        Assert.Equal(SessionKind.Transaction, s.Kind);
        Assert.Equal(2u, s.Packets);
        Assert.Equal(1u, s.Requests(Engine.Sip.SipMethod.Options));
        Assert.Equal(0u, s.Requests(Engine.Sip.SipMethod.Invite));
        Assert.Equal(0u, s.Requests(Engine.Sip.SipMethod.Bye));
        Assert.Equal(0, s.InviteNs);
        Assert.Equal(0, s.ByeNs);
        Assert.False(s.Confirmed);
        Assert.Equal(SessionEndReason.EndOfSession, sink.Records[1].Reason); // a transaction ends at its final response
        Assert.Equal(t + 10, s.FirstNs);
    }

    private sealed class Sink(Action<(SessionState State, SessionEndReason Reason)> onRecord) : ISessionSink
    {
        public List<(SessionState State, SessionEndReason Reason)> Records { get; } = new();
        public int Confirmed { get; private set; }

        public void OnSession(in SessionState session, SessionEndReason reason)
        {
            if (Records.Count < 10_000) Records.Add((session, reason));
            if (session.Confirmed) Confirmed++;
            onRecord((session, reason));
        }
    }
}
