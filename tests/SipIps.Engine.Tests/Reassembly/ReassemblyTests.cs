using System.Net;
using System.Text;
using SipIps.Engine.Packets;
using SipIps.Engine.Pipeline;
using SipIps.Engine.Reassembly;
using SipIps.Engine.Sip;
using SipIps.Tests;
using Xunit;

namespace SipIps.Engine.Tests.Reassembly;

/// <summary>Collects what the engine parsed, as strings, for assertions.</summary>
internal sealed class Collector : ISipObserver
{
    public readonly List<(string CallId, string Method, int Status, SipParseStatus Result, L4Protocol Transport)> Messages = new();

    public void OnSipMessage(in PacketInfo packet, SipMessage m) =>
        Messages.Add((m.GetString(m.CallId) ?? "", m.IsRequest ? m.GetString(m.MethodText)! : "", m.StatusCode, m.Status, packet.Protocol));
}

public class ReassemblyTests
{
    private static readonly IPAddress A = IPAddress.Parse("192.0.2.10");
    private static readonly IPAddress B = IPAddress.Parse("198.51.100.20");
    private static readonly IPAddress A6 = IPAddress.Parse("2001:db8::10");
    private static readonly IPAddress B6 = IPAddress.Parse("2001:db8::20");

    private static SipSamples.Call BigCall()
    {
        // A large INVITE (about 3 KB with a padded User-Agent) fragments at a 1500-byte MTU, as real ones do.
        var c = SipSamples.BenchmarkCall with { UserAgent = "Acme-Phone/4.2.1 " + new string('x', 2200) };
        return c;
    }

    private static (SipEngine Engine, Collector Sink) NewEngine(EngineOptions? options = null)
    {
        var sink = new Collector();
        return (new SipEngine(options ?? EngineOptions.Default, sink), sink);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Fragmented_ipv4_invite_is_reassembled_in_any_order(bool reversed)
    {
        var invite = Encoding.ASCII.GetBytes(SipSamples.Invite(BigCall()));
        var frags = PacketBuilder.FragmentV4(PacketBuilder.Udp(A, B, 5060, 5060, invite, ipId: 77), 1480);
        Assert.True(frags.Count >= 3);
        if (reversed) frags.Reverse();
        var (engine, sink) = NewEngine();
        long t = 1_700_000_000_000_000_000;
        foreach (var f in frags) engine.ProcessFrame(PacketBuilder.Ethernet(f), LinkType.Ethernet, t++, f.Length + 14);
        var m = Assert.Single(sink.Messages);
        Assert.Equal(SipParseStatus.Ok, m.Result);
        Assert.Equal("INVITE", m.Method);
        Assert.Equal(1, engine.Counters.Reassembled);
        Assert.Equal(0, engine.Defragmenter.ActiveDatagrams);
    }

    [Fact]
    public void Fragmented_ipv6_invite_is_reassembled()
    {
        var invite = Encoding.ASCII.GetBytes(SipSamples.Invite(BigCall()));
        var frags = PacketBuilder.FragmentV6(PacketBuilder.Udp(A6, B6, 5060, 5060, invite), 1232, 0xABCD);
        var (engine, sink) = NewEngine();
        foreach (var f in frags) engine.ProcessFrame(PacketBuilder.Ethernet(f), LinkType.Ethernet, 1, f.Length + 14);
        Assert.Equal("INVITE", Assert.Single(sink.Messages).Method);
    }

    [Fact]
    public void Identical_overlap_is_accepted_but_a_conflicting_overlap_drops_the_datagram()
    {
        var invite = Encoding.ASCII.GetBytes(SipSamples.Invite(BigCall()));
        var packet = PacketBuilder.Udp(A, B, 5060, 5060, invite, ipId: 5);
        var frags = PacketBuilder.FragmentV4(packet, 1480);

        var (engine, sink) = NewEngine();
        // Duplicate of the first fragment: same bytes, still one message.
        foreach (var f in new[] { frags[0], frags[0] }.Concat(frags.Skip(1)))
            engine.ProcessFrame(PacketBuilder.Ethernet(f), LinkType.Ethernet, 1, f.Length + 14);
        Assert.Single(sink.Messages);

        var (engine2, sink2) = NewEngine();
        var evil = (byte[])frags[1].Clone();
        evil[^10] ^= 0x55; // same offset, different bytes: a reassembly-ambiguity attack
        foreach (var f in new[] { frags[0], frags[1], evil }.Concat(frags.Skip(2)))
            engine2.ProcessFrame(PacketBuilder.Ethernet(f), LinkType.Ethernet, 1, f.Length + 14);
        Assert.Empty(sink2.Messages);
        Assert.True(engine2.Counters.DecodeEventCounts[(int)DecodeEvent.FragmentOverlapConflict] > 0);
    }

    [Fact]
    public void Incomplete_datagrams_time_out_and_free_their_memory()
    {
        var frags = PacketBuilder.FragmentV4(PacketBuilder.Udp(A, B, 5060, 5060, new byte[4000], ipId: 9), 1480);
        var (engine, _) = NewEngine();
        engine.ProcessFrame(PacketBuilder.Ethernet(frags[0]), LinkType.Ethernet, 0, 0);
        Assert.Equal(1, engine.Defragmenter.ActiveDatagrams);
        // Each call sweeps a bounded slice of the table; a few calls cover all of it.
        for (int i = 0; i < 8; i++) engine.Expire(31_000_000_000);
        Assert.Equal(0, engine.Defragmenter.ActiveDatagrams);
        Assert.Equal(1, engine.Counters.DecodeEventCounts[(int)DecodeEvent.FragmentTimeout]);
    }

    [Fact]
    public void A_fragment_flood_stays_within_the_table_and_memory_caps()
    {
        var options = new DefragOptions { MaxDatagrams = 64, MemoryCapBytes = 16 * 65535 };
        var defrag = new IpDefragmenter(options);
        var rnd = new Random(1);
        for (int i = 0; i < 20_000; i++)
        {
            var info = new PacketInfo
            {
                Source = Common.IpAddr.FromV4((uint)rnd.Next()),
                Destination = Common.IpAddr.FromV4(0xC0000201),
                FragmentId = (uint)i,
                IpProtocol = 17,
                IpVersion = 4,
                MoreFragments = true,
                FragmentOffset = 0,
                TimestampNs = i,
            };
            defrag.Add(info, new byte[1480], out _, out _);
            Assert.True(defrag.ActiveDatagrams <= 64);
        }
        Assert.True(defrag.Evicted > 0);
        Assert.True(defrag.ActiveDatagrams <= 16, "more datagrams hold buffers than the memory cap allows");
    }

    [Fact]
    public void Fragment_cap_per_datagram_is_enforced()
    {
        var defrag = new IpDefragmenter(new DefragOptions { MaxFragmentsPerDatagram = 4 });
        DecodeEvent last = DecodeEvent.None;
        for (int i = 0; i < 10; i++)
        {
            // Non-adjacent 8-byte pieces never merge.
            var info = new PacketInfo { Source = Common.IpAddr.FromV4(1), Destination = Common.IpAddr.FromV4(2), FragmentId = 1, IpProtocol = 17, MoreFragments = true, FragmentOffset = i * 16 };
            defrag.Add(info, new byte[8], out _, out last);
            if (last != DecodeEvent.None) break;
        }
        Assert.Equal(DecodeEvent.FragmentTooMany, last);
    }

    // ------------------------------------------------------------------ TCP

    private static byte[] Stream(int messages, out List<string> callIds)
    {
        callIds = new List<string>();
        var sb = new StringBuilder();
        for (int i = 0; i < messages; i++)
        {
            var c = SipSamples.BenchmarkCall with { CallId = $"tcp-{i}@192.0.2.10" };
            callIds.Add(c.CallId);
            sb.Append(i % 2 == 0 ? SipSamples.Invite(c) : SipSamples.Response(c, 180, "Ringing"));
        }
        return Encoding.ASCII.GetBytes(sb.ToString());
    }

    private static void FeedTcp(SipEngine engine, byte[] data, IEnumerable<(int Offset, int Length)> segments, uint isn = 1000)
    {
        engine.ProcessFrame(PacketBuilder.Ethernet(PacketBuilder.Tcp(A, B, 40000, 5060, isn, 0, 0x02, default)), LinkType.Ethernet, 1, 0);
        foreach (var (off, len) in segments)
        {
            // Segments larger than an MSS are sent as several, as a real sender would.
            for (int o = off; o < off + len; o += 1400)
            {
                int n = Math.Min(1400, off + len - o);
                var f = PacketBuilder.Ethernet(PacketBuilder.Tcp(A, B, 40000, 5060, isn + 1 + (uint)o, 1, 0x18, data.AsSpan(o, n)));
                engine.ProcessFrame(f, LinkType.Ethernet, 2, f.Length);
            }
        }
    }

    [Fact]
    public void Several_messages_in_one_segment()
    {
        var data = Stream(5, out var ids);
        var (engine, sink) = NewEngine();
        FeedTcp(engine, data, [(0, data.Length)]);
        Assert.Equal(ids, sink.Messages.Select(m => m.CallId));
        Assert.All(sink.Messages, m => Assert.Equal(SipParseStatus.Ok, m.Result));
    }

    [Fact]
    public void One_message_across_many_segments_and_retransmissions_are_ignored()
    {
        var data = Stream(3, out var ids);
        var segments = new List<(int, int)>();
        for (int off = 0; off < data.Length; off += 100) segments.Add((off, Math.Min(100, data.Length - off)));
        // Retransmit some segments, and a partial overlap.
        segments.Insert(5, segments[3]);
        segments.Insert(9, (250, 120));
        var (engine, sink) = NewEngine();
        FeedTcp(engine, data, segments);
        Assert.Equal(ids, sink.Messages.Select(m => m.CallId));
        Assert.True(engine.Tcp.Counters.Retransmissions + engine.Tcp.Counters.PartialOverlaps >= 2);
    }

    [Fact]
    public void Out_of_order_segments_are_held_and_replayed()
    {
        var data = Stream(4, out var ids);
        var segments = new List<(int, int)>();
        for (int off = 0; off < data.Length; off += 300) segments.Add((off, Math.Min(300, data.Length - off)));
        // Swap neighbours pairwise.
        for (int i = 0; i + 1 < segments.Count; i += 2) (segments[i], segments[i + 1]) = (segments[i + 1], segments[i]);
        var (engine, sink) = NewEngine();
        FeedTcp(engine, data, segments);
        Assert.Equal(ids, sink.Messages.Select(m => m.CallId));
        Assert.True(engine.Tcp.Counters.OutOfOrder > 0);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_gap_that_never_fills_is_skipped_and_the_held_segments_are_delivered(bool byTimeout)
    {
        var messages = Enumerable.Range(0, 12).Select(i => Encoding.ASCII.GetBytes(SipSamples.Invite(SipSamples.BenchmarkCall with { CallId = $"gap-{i}" }))).ToList();
        var (engine, sink) = NewEngine();
        engine.ProcessFrame(PacketBuilder.Ethernet(PacketBuilder.Tcp(A, B, 40000, 5060, 999, 0, 0x02, default)), LinkType.Ethernet, 0, 0);
        uint seq = 1000;
        long t = 1;
        for (int i = 0; i < messages.Count; i++)
        {
            // Message 2 never arrives. With byTimeout the segments are seconds apart, so the hold times out;
            // otherwise the hold fills up first.
            if (i != 2)
            {
                var f = PacketBuilder.Ethernet(PacketBuilder.Tcp(A, B, 40000, 5060, seq, 1, 0x18, messages[i]));
                engine.ProcessFrame(f, LinkType.Ethernet, t, f.Length);
            }
            seq += (uint)messages[i].Length;
            t += byTimeout ? 2_000_000_000 : 1_000;
        }
        var got = sink.Messages.Select(m => m.CallId).ToList();
        var expected = Enumerable.Range(0, 12).Where(i => i != 2).Select(i => $"gap-{i}").ToList();
        Assert.Equal(expected, got);
        Assert.Equal(1, engine.Tcp.Counters.Gaps);
    }

    [Fact]
    public void Stream_picked_up_mid_message_resyncs_at_the_next_start_line()
    {
        var data = Stream(3, out var ids);
        int firstEnd = Encoding.ASCII.GetBytes(SipSamples.Invite(SipSamples.BenchmarkCall with { CallId = ids[0] })).Length;
        var (engine, sink) = NewEngine();
        // No SYN; the first segment starts in the middle of message 1.
        var f = PacketBuilder.Ethernet(PacketBuilder.Tcp(A, B, 40000, 5060, 5000, 1, 0x18, data.AsSpan(200)));
        engine.ProcessFrame(f, LinkType.Ethernet, 1, f.Length);
        Assert.Equal(ids.Skip(1), sink.Messages.Select(m => m.CallId));
        Assert.True(firstEnd > 200);
    }

    [Fact]
    public void Conflicting_content_lengths_are_not_framed()
    {
        const string smuggle = "INVITE sip:a@example.com SIP/2.0\r\nContent-Length: 5\r\nContent-Length: 50\r\n\r\nhello";
        var (engine, sink) = NewEngine();
        var data = Encoding.ASCII.GetBytes(smuggle);
        FeedTcp(engine, data, [(0, data.Length)]);
        Assert.Empty(sink.Messages);
        Assert.Equal(1, engine.Tcp.Counters.FramingErrors);
    }

    [Fact]
    public void Stream_table_stays_bounded_under_a_connection_flood()
    {
        var tcp = new TcpReassembler(new TcpOptions { MaxStreams = 128 });
        var sink = new NullSink();
        var payload = Encoding.ASCII.GetBytes("INVITE sip:a@example.com SIP/2.0\r\nContent-Length: 1000\r\n\r\npartial");
        for (int i = 0; i < 10_000; i++)
        {
            var info = new PacketInfo
            {
                Source = Common.IpAddr.FromV4((uint)i),
                Destination = Common.IpAddr.FromV4(2),
                SourcePort = (ushort)i,
                DestinationPort = 5060,
                Protocol = L4Protocol.Tcp,
                TcpSequence = 1,
                TcpFlags = TcpFlags.Ack | TcpFlags.Psh,
                TimestampNs = i,
            };
            tcp.Process(info, payload, sink);
            Assert.True(tcp.ActiveStreams <= 128);
        }
        Assert.True(tcp.Counters.Evictions > 0);
        Assert.True(tcp.BufferedBytes <= 128 * 4096);
    }

    private sealed class NullSink : ITcpMessageSink
    {
        public void OnStreamMessage(in PacketInfo segment, ReadOnlySpan<byte> message) { }
    }

    /// <summary>
    /// The 227-message back-to-back stream from the external corpus, cut at every split point into two segments:
    /// the same messages must come out however it is cut.
    /// </summary>
    [Fact]
    public void Corpus_stream_gives_the_same_messages_at_every_split_point()
    {
        var data = File.ReadAllBytes(Corpus.Path("rtckit-php-sip-fixtures", "stream", "generic.txt"));
        var (reference, refSink) = NewEngine();
        FeedTcp(reference, data, [(0, data.Length)]);
        var expected = refSink.Messages.Select(m => (m.CallId, m.Method, m.Status)).ToList();
        Assert.Equal(227, expected.Count);

        // Every split point of a window that spans several message boundaries, plus a stride over the whole file.
        var points = Enumerable.Range(1, 3000).Concat(Enumerable.Range(0, data.Length / 97).Select(i => i * 97 + 1)).Where(p => p < data.Length).Distinct();
        foreach (int split in points)
        {
            var (engine, sink) = NewEngine();
            FeedTcp(engine, data, [(0, split), (split, data.Length - split)]);
            Assert.Equal(expected, sink.Messages.Select(m => (m.CallId, m.Method, m.Status)).ToList());
        }
    }

    [Fact]
    public void Corpus_stream_byte_by_byte()
    {
        var data = File.ReadAllBytes(Corpus.Path("rtckit-php-sip-fixtures", "stream", "lioneagle-sipparser.txt"));
        var (reference, refSink) = NewEngine();
        FeedTcp(reference, data, [(0, data.Length)]);
        var (engine, sink) = NewEngine();
        FeedTcp(engine, data, Enumerable.Range(0, data.Length).Select(i => (i, 1)));
        Assert.NotEmpty(refSink.Messages);
        Assert.Equal(refSink.Messages, sink.Messages);
    }

    [Fact]
    public void Framer_resumes_without_rescanning_and_handles_keepalives()
    {
        var msg = Encoding.ASCII.GetBytes("\r\n\r\nOPTIONS sip:a@example.com SIP/2.0\r\nl: 4\r\n\r\nbody");
        var state = SipFramerState.Initial;
        Assert.Equal(FrameStatus.KeepAlive, SipStreamFramer.TryFrame(msg, ref state, 1 << 20, out int ka));
        Assert.Equal(4, ka);
        var rest = msg.AsSpan(4);
        for (int cut = 1; cut < rest.Length; cut++)
        {
            var st = SipFramerState.Initial;
            Assert.Equal(FrameStatus.NeedMore, SipStreamFramer.TryFrame(rest.Slice(0, cut), ref st, 1 << 20, out _));
            Assert.Equal(FrameStatus.Complete, SipStreamFramer.TryFrame(rest, ref st, 1 << 20, out int len));
            Assert.Equal(rest.Length, len);
        }
    }

    // ------------------------------------------------------------------ SCTP

    [Fact]
    public void Sctp_message_split_over_two_data_chunks_is_joined()
    {
        var invite = Encoding.ASCII.GetBytes(SipSamples.Invite(SipSamples.BenchmarkCall));
        var first = invite.Take(400).ToArray();
        var second = invite.Skip(400).ToArray();
        var (engine, sink) = NewEngine();
        engine.ProcessFrame(PacketBuilder.Ethernet(PacketBuilder.Sctp(A, B, 5060, 5060, (first, true, false, 10))), LinkType.Ethernet, 1, 0);
        Assert.Empty(sink.Messages);
        engine.ProcessFrame(PacketBuilder.Ethernet(PacketBuilder.Sctp(A, B, 5060, 5060, (second, false, true, 11))), LinkType.Ethernet, 2, 0);
        var m = Assert.Single(sink.Messages);
        Assert.Equal(SipParseStatus.Ok, m.Result);
        Assert.Equal(L4Protocol.Sctp, m.Transport);
    }
}
