using System.Net;
using System.Text;
using SipIps.Engine.Common;
using SipIps.Engine.Packets;
using SipIps.Engine.Sip;
using SipIps.Export.Clf;
using SipIps.Tests;
using Xunit;

namespace SipIps.Export.Tests;

public class ClfTests
{
    /// <summary>The example record of RFC 6873, with TABs and LFs made explicit.</summary>
    private const string RfcExample =
        "A000100,0053005C005E006D007D008F009E00A000BA00C700EB00F70100\n" +
        "1328821153.010\tRORUU\t1 INVITE\t-\tsip:192.0.2.10\t192.0.2.10:5060\t192.0.2.200:56485\tsip:192.0.2.10\t-\t" +
        "sip:1001@example.com:5060\tDL88360fa5fc\tDL70dff590c1-1079051554@example.com\tS1781761-88\tC67651-11\n";

    private static byte[] B(string s) => Encoding.ASCII.GetBytes(s);

    [Fact]
    public void Writer_produces_the_rfc_6873_example_byte_for_byte()
    {
        var record = new ClfRecord
        {
            TimestampNs = 1_328_821_153_010_000_000,
            IsRequest = true,
            Retransmission = (byte)'O',
            Direction = (byte)'R',
            Transport = (byte)'U',
            CSeq = B("1 INVITE"),
            Status = default,
            RequestUri = B("sip:192.0.2.10"),
            Destination = B("192.0.2.10:5060"),
            Source = B("192.0.2.200:56485"),
            ToUri = B("sip:192.0.2.10"),
            ToTag = default,
            FromUri = B("sip:1001@example.com:5060"),
            FromTag = B("DL88360fa5fc"),
            CallId = B("DL70dff590c1-1079051554@example.com"),
            ServerTransaction = B("S1781761-88"),
            ClientTransaction = B("C67651-11"),
        };
        var buffer = new byte[1024];
        var w = new ClfRecordWriter(buffer);
        w.WriteMandatory(record);
        int n = w.Finish();
        Assert.Equal(256, n);
        Assert.Equal(RfcExample, Encoding.ASCII.GetString(buffer, 0, n));
    }

    [Fact]
    public void Reader_parses_the_rfc_example()
    {
        int n = ClfReader.TryParse(B(RfcExample), out var e, out var error);
        Assert.True(n == 256, error);
        Assert.Equal("1328821153.010", e!.Timestamp);
        Assert.Equal("RORUU", e.Flags);
        Assert.Equal("1 INVITE", e.CSeq);
        Assert.Equal("-", e.Status);
        Assert.Equal("192.0.2.200:56485", e.Source);
        Assert.Equal("DL70dff590c1-1079051554@example.com", e.CallId);
        Assert.Equal("C67651-11", e.ClientTransaction);
        Assert.Empty(e.Optional);
    }

    [Fact]
    public void Optional_fields_and_escaping_by_hand()
    {
        // Computed by hand: mandatory part as below, then two optional fields.
        var record = new ClfRecord
        {
            TimestampNs = 1_000_000_000_999_999_999,
            IsRequest = false,
            Retransmission = (byte)'D',
            Transport = (byte)'T',
            Encrypted = true,
            CSeq = B("2 BYE"),
            Status = B("200"),
            Destination = B("[2001:db8::1]:5060"),
            Source = B("192.0.2.1:5060"),
            ToUri = B("sip:b@x"),
            ToTag = B("-"),
            FromUri = B("sip:a\tb@x"),
            FromTag = B("?"),
            CallId = B("c"),
        };
        var buffer = new byte[2048];
        var w = new ClfRecordWriter(buffer);
        w.WriteMandatory(record);
        w.AddOptional("00"u8, "Contact: <sip:bob@192.0.2.4>"u8);
        w.AddOptional("01"u8, "application/sdp v=0\r\n"u8, "00012345"u8);
        int n = w.Finish();
        string text = Encoding.ASCII.GetString(buffer, 0, n);

        const string body = "1000000000.999\tr" + "DRTE\t2 BYE\t200\t-\t[2001:db8::1]:5060\t192.0.2.1:5060\tsip:b@x\t%2D\tsip:a b@x\t%3F\tc\t-\t-" +
                            "\t00@00000000,001C,00,Contact: <sip:bob@192.0.2.4>" +
                            "\t01@00012345,0019,00,application/sdp v=0%0D%0A\n";
        // Fields start at 82 (1-based 83 = 0x53): "2 BYE"(5) TAB "200"(3) TAB "-" TAB ...
        int[] starts = [83, 89, 93, 95, 114, 129, 137, 141, 151, 155, 157, 159, 160];
        string pointers = string.Concat(starts.Select(s => s.ToString("X4")));
        string expected = $"A{(61 + body.Length):X6},{pointers}\n" + body;
        Assert.Equal(expected, text);

        Assert.True(ClfReader.TryParse(buffer.AsSpan(0, n), out var e, out var err) == n, err);
        Assert.Equal("-", ClfReader.Unescape(e!.ToTag));
        Assert.Equal("?", ClfReader.Unescape(e.FromTag));
        Assert.Equal("sip:a b@x", e.FromUri);
        Assert.Equal(2, e.Optional.Count);
        Assert.Equal(("01", "00012345", false, "application/sdp v=0%0D%0A"), e.Optional[1]);
    }

    [Fact]
    public void Every_length_and_position_of_a_special_byte_is_escaped()
    {
        // Values are copied 16 bytes at a time with an overlapping tail, and byte by byte below 16: a TAB, CR or LF
        // at any position of any length up to three blocks must come out escaped, and every other byte unchanged.
        var buffer = new byte[4096];
        foreach (byte special in new[] { (byte)'\t', (byte)'\r', (byte)'\n' })
        {
            for (int length = 2; length <= 50; length++)
            {
                for (int at = -1; at < length; at++)
                {
                    var value = Enumerable.Range(0, length).Select(i => (byte)('a' + i % 26)).ToArray();
                    if (at >= 0) value[at] = special;
                    var w = new ClfRecordWriter(buffer);
                    w.WriteMandatory(new ClfRecord { CSeq = B("1 INVITE"), CallId = value });
                    int n = w.Finish();
                    Assert.True(ClfReader.TryParse(buffer.AsSpan(0, n), out var e, out var err) == n, err);
                    string expected = Encoding.ASCII.GetString(value).Replace("\t", " ").Replace("\r", "%0D").Replace("\n", "%0A");
                    Assert.Equal(expected, e!.CallId);
                }
            }
        }
    }

    [Fact]
    public void A_buffer_of_exactly_the_records_size_gives_the_same_bytes()
    {
        // A roomy buffer takes the unchecked path; one of exactly the record's size takes the checked one, which must
        // write the same bytes, and one byte less must fail.
        var values = new[] { "", "-", "?", "ab", "a\tb", "x\r\ny", "sip:alice@example.com", "z9hG4bK\n" + new string('k', 40) };
        foreach (var v in values)
        {
            var record = new ClfRecord
            {
                // The value as it is in two fields (empty, "-", "?"), and told apart by a mark in the others, so that a
                // field written in the wrong place shows.
                CSeq = B("7 INVITE"), Status = B(v), RequestUri = B("r" + v), Destination = B("192.0.2.20:5060"), Source = B(v + "s"),
                ToUri = B("t" + v), ToTag = B(v), FromUri = B("f" + v), FromTag = B(v + "g"), CallId = B("c" + v), ClientTransaction = B(v + "b"),
            };
            var roomy = new byte[4096];
            var w = new ClfRecordWriter(roomy);
            w.WriteMandatory(record);
            int n = w.Finish();
            Assert.True(n > 0);
            var exact = new byte[n];
            w = new ClfRecordWriter(exact);
            w.WriteMandatory(record);
            Assert.Equal(n, w.Finish());
            Assert.Equal(roomy.AsSpan(0, n).ToArray(), exact);
            w = new ClfRecordWriter(new byte[n - 1]);
            w.WriteMandatory(record);
            Assert.Equal(-1, w.Finish());
        }
    }

    [Fact]
    public void Too_small_a_buffer_fails_cleanly()
    {
        var record = new ClfRecord { CSeq = B("1 INVITE"), CallId = new byte[500] };
        var w = new ClfRecordWriter(new byte[300]);
        w.WriteMandatory(record);
        Assert.Equal(-1, w.Finish());
    }

    [Fact]
    public void Overlong_fields_are_cut_at_the_documented_maximum()
    {
        var record = new ClfRecord { CSeq = B("1 INVITE"), CallId = Enumerable.Repeat((byte)'x', 10_000).ToArray() };
        var buffer = new byte[1 << 16];
        var w = new ClfRecordWriter(buffer);
        w.WriteMandatory(record);
        int n = w.Finish();
        Assert.True(ClfReader.TryParse(buffer.AsSpan(0, n), out var e, out _) > 0);
        Assert.Equal(ClfFormat.MaxFieldBytes, e!.CallId.Length);
    }

    [Fact]
    public void Formatter_maps_a_parsed_message_and_marks_retransmissions()
    {
        var call = SipSamples.BenchmarkCall;
        var m = new SipMessage();
        Assert.Equal(SipParseStatus.Ok, SipParser.Parse(B(SipSamples.Invite(call)), m));
        var info = new PacketInfo
        {
            TimestampNs = 1_700_000_000_250_000_000,
            Source = IpAddr.FromV4(0xC000020A),
            Destination = IpAddr.FromV6(0x20010db800000000, 0x14),
            SourcePort = 5060,
            DestinationPort = 5062,
            Protocol = L4Protocol.Udp,
        };
        var f = new SipClfFormatter();
        var buffer = new byte[8192];
        int n = f.Format(info, m, buffer);
        Assert.True(ClfReader.TryParse(buffer.AsSpan(0, n), out var e, out var err) == n, err);
        Assert.Equal("1700000000.250", e!.Timestamp);
        Assert.Equal("RORUU", e.Flags);
        Assert.Equal("1 INVITE", e.CSeq);
        Assert.Equal("sip:bob@example.com", e.RequestUri);
        Assert.Equal("[2001:db8::14]:5062", e.Destination);
        Assert.Equal("192.0.2.10:5060", e.Source);
        Assert.Equal("sip:alice@example.com", e.FromUri);
        Assert.Equal("1928301774", e.FromTag);
        Assert.Equal("-", e.ToTag);
        Assert.Equal(call.CallId, e.CallId);
        Assert.Equal("-", e.ServerTransaction);
        Assert.Equal(call.Branch, e.ClientTransaction);

        // The same message again is a duplicate; the response is original.
        n = f.Format(info, m, buffer);
        ClfReader.TryParse(buffer.AsSpan(0, n), out e, out _);
        Assert.Equal("RDRUU", e!.Flags);
        SipParser.Parse(B(SipSamples.Response(call, 180, "Ringing")), m);
        n = f.Format(info with { Protocol = L4Protocol.Tcp }, m, buffer);
        ClfReader.TryParse(buffer.AsSpan(0, n), out e, out _);
        Assert.Equal("rORTU", e!.Flags);
        Assert.Equal("180", e.Status);
        Assert.Equal("-", e.RequestUri);
    }

    /// <summary>
    /// The bridge's workers queue a message's values (<see cref="ClfEvent"/>) and the CLF thread formats them; analyze
    /// formats the message directly. Both must give the same bytes, for requests and responses, IPv4 and IPv6, and
    /// values that need escaping.
    /// </summary>
    [Fact]
    public void A_record_formatted_from_queued_values_equals_the_direct_one()
    {
        var call = SipSamples.BenchmarkCall with { CallId = "queued\t1@192.0.2.10" };
        string[] messages =
        [
            SipSamples.Invite(call),
            SipSamples.Response(call, 180, "Ringing"),
            SipSamples.Response(call, 200, "OK", body: SipSamples.AnswerSdp(call)),
            SipSamples.Register(call, 2, true, "84f1c1ae6cbe5ua9c8e88dfa3ecm3459"),
        ];
        var info = new PacketInfo
        {
            TimestampNs = 1_700_000_000_999_000_000,
            Source = IpAddr.FromV6(0x20010db800000000, 0x10),
            Destination = IpAddr.FromV4(0xC6336414),
            SourcePort = 65535,
            DestinationPort = 5060,
            Protocol = L4Protocol.Sctp,
        };
        var direct = new SipClfFormatter();
        var queued = new SipClfFormatter();
        var m = new SipMessage();
        var ring = new byte[8192];
        var a = new byte[8192];
        var b = new byte[8192];
        foreach (var text in messages.Concat(messages))
        {
            SipParser.Parse(B(text), m);
            int na = direct.Format(info, m, a);
            int length = ClfEvent.Write(info, m, ring);
            Assert.True(length > 0);
            // The worker's direct copy reads back as an event that writes the same bytes again.
            Assert.True(ClfEvent.TryRead(ring.AsSpan(0, length), out var e));
            var viaEvent = new byte[8192];
            Assert.Equal(length, e.WriteTo(viaEvent));
            Assert.True(viaEvent.AsSpan(0, length).SequenceEqual(ring.AsSpan(0, length)));
            Assert.Equal(-1, e.WriteTo(new byte[64]));
            int nb = queued.Format(ring.AsSpan(0, length), b);
            Assert.True(na > 0);
            Assert.Equal(Encoding.ASCII.GetString(a, 0, na), Encoding.ASCII.GetString(b, 0, nb));
            Assert.False(ClfEvent.TryRead(ring.AsSpan(0, length - 1), out _));
        }
        Assert.Equal(-1, ClfEvent.Write(info, m, new byte[64]));
    }

    /// <summary>
    /// The formatter keeps the text of the current second and of recent endpoints: records that change second (also
    /// backwards), and endpoints that share a cache slot, must still come out exactly.
    /// </summary>
    [Fact]
    public void Cached_timestamps_and_endpoints_are_exact()
    {
        var m = new SipMessage();
        Assert.Equal(SipParseStatus.Ok, SipParser.Parse(B(SipSamples.Invite(SipSamples.BenchmarkCall)), m));
        var f = new SipClfFormatter();
        var rnd = new Random(11);
        var buffer = new byte[8192];
        Span<byte> text = stackalloc byte[64];
        long ns = 1_700_000_000_000_000_000;
        for (int i = 0; i < 5000; i++)
        {
            ns += rnd.Next(4) switch { 0 => -rnd.Next(2_000_000_000), 1 => rnd.Next(1_000_000), _ => rnd.Next(300_000_000) };
            IpAddr Address() => rnd.Next(3) == 0
                ? IpAddr.FromV6(0x20010db800000000UL + (uint)rnd.Next(4), (uint)rnd.Next(40))
                : IpAddr.FromV4(0xC0000200 | (uint)rnd.Next(40));
            var info = new PacketInfo
            {
                TimestampNs = ns,
                Source = Address(),
                Destination = Address(),
                SourcePort = (ushort)rnd.Next(65536),
                DestinationPort = (ushort)(5060 + rnd.Next(3)),
                Protocol = L4Protocol.Udp,
            };
            int n = f.Format(info, m, buffer);
            Assert.True(ClfReader.TryParse(buffer.AsSpan(0, n), out var e, out var err) == n, err);
            Assert.Equal($"{ns / 1_000_000_000}.{ns % 1_000_000_000 / 1_000_000:D3}", e!.Timestamp);
            Assert.Equal(Encoding.ASCII.GetString(text[..SipClfFormatter.FormatEndpoint(info.Source, info.SourcePort, text)]), e.Source);
            Assert.Equal(Encoding.ASCII.GetString(text[..SipClfFormatter.FormatEndpoint(info.Destination, info.DestinationPort, text)]), e.Destination);
        }
    }

    /// <summary>
    /// Records of queued events come from a direct path that copies the values as they are, unless one needs escaping
    /// or the buffer is tight; the checked writer is the reference. Random events, with values that need escaping, are
    /// empty, "-" or "?", or are long, and buffers of every size around the record's: the same bytes from both, and
    /// nothing written past the buffer.
    /// </summary>
    [Fact]
    public void Direct_records_equal_the_checked_writer_s_for_random_events()
    {
        var rnd = new Random(6873);
        var direct = new SipClfFormatter();
        var checkedFormatter = new SipClfFormatter();
        var queued = new byte[ClfEvent.MaxBytes];
        var reference = new byte[ClfFormat.MaxPointer + 1024];
        var backing = new byte[ClfFormat.MaxPointer + 2048];
        byte[] alphabet = B("abcdefghij0123456789@.:;=<>-?%\t\r\n \u007f");
        byte[] Text()
        {
            int n = rnd.Next(10) switch { 0 => 0, 1 => 1, 2 => rnd.Next(60, 200), 3 => rnd.Next(4000, 5000), _ => rnd.Next(2, 60) };
            var t = new byte[n];
            bool plain = rnd.Next(20) > 0; // most values need no escaping
            for (int i = 0; i < n; i++) t[i] = plain ? alphabet[rnd.Next(30)] : rnd.Next(8) == 0 ? (byte)rnd.Next(256) : alphabet[rnd.Next(alphabet.Length)];
            if (n == 1 && rnd.Next(10) == 0) t[0] = rnd.Next(2) == 0 ? (byte)'-' : (byte)'?';
            return t;
        }
        IpAddr Address() => rnd.Next(3) == 0 ? IpAddr.FromV6(0x20010db800000000UL | (uint)rnd.Next(), (ulong)rnd.NextInt64()) : IpAddr.FromV4((uint)rnd.Next());
        for (int i = 0; i < 20_000; i++)
        {
            var e = new ClfEvent
            {
                TimestampNs = rnd.NextInt64(0, 4_000_000_000_000_000_000),
                IsRequest = rnd.Next(2) == 0,
                Transport = (L4Protocol)rnd.Next(256),
                Source = Address(),
                Destination = Address(),
                SourcePort = (ushort)rnd.Next(65536),
                DestinationPort = (ushort)rnd.Next(65536),
                CSeqNumber = rnd.Next(4) switch { 0 => -1, 1 => rnd.NextInt64(), _ => rnd.Next(100) },
                CSeqMethod = (SipMethod)rnd.Next(20),
                StatusCode = rnd.Next(4) == 0 ? rnd.Next(int.MaxValue) : rnd.Next(100, 700),
                CallIdHash = (ulong)rnd.Next(50), // few distinct values: retransmissions happen
                CSeqMethodText = Text(),
                RequestUri = Text(),
                ToUri = Text(),
                ToTag = Text(),
                FromUri = Text(),
                FromTag = Text(),
                CallId = Text(),
                Branch = rnd.Next(2) == 0 ? B("z9hG4bK" + rnd.Next(30)) : Text(),
            };
            int length = e.WriteTo(queued);
            Assert.True(length > 0);
            int expected = checkedFormatter.FormatChecked(e, reference);
            Assert.True(expected > 0, $"case {i}");
            // A roomy buffer, or one from a little too small to roomy; a canary after it.
            int size = rnd.Next(4) == 0 ? Math.Max(0, expected + rnd.Next(-8, 400)) : expected + 500;
            backing.AsSpan().Fill(0xA5);
            int got = direct.Format(queued.AsSpan(0, length), backing.AsSpan(0, size));
            Assert.True(backing.AsSpan(size).IndexOfAnyExcept((byte)0xA5) < 0, $"case {i}: written past a buffer of {size}");
            if (size < expected)
            {
                Assert.Equal(-1, got);
                // The checked path ran instead and noted the transaction; the reference must note it too.
                continue;
            }
            Assert.True(got == expected, $"case {i}: {got} bytes, expected {expected}");
            Assert.True(backing.AsSpan(0, got).SequenceEqual(reference.AsSpan(0, expected)),
                $"case {i}:\n{Encoding.Latin1.GetString(backing, 0, got)}\n{Encoding.Latin1.GetString(reference, 0, expected)}");
        }
        // Most records took the direct path (values without escapes, roomy buffers).
        Assert.True(direct.CheckedRecords < 10_000, $"{direct.CheckedRecords} of 20000 checked");
    }

    /// <summary>
    /// Queued bytes come from the workers' own copies, but a formatter must not trust them: garbage of every length,
    /// and real events with their lengths or values damaged, give a record or -1, never an exception or a write past
    /// the buffer.
    /// </summary>
    [Fact]
    public void Damaged_queued_events_never_throw_or_write_past_the_buffer()
    {
        var rnd = new Random(4);
        var f = new SipClfFormatter();
        var backing = new byte[1 << 18];
        var m = new SipMessage();
        SipParser.Parse(B(SipSamples.Invite(SipSamples.BenchmarkCall)), m);
        var good = new byte[16384];
        int goodLength = ClfEvent.Write(new PacketInfo { TimestampNs = 1_700_000_000_000_000_000 }, m, good);
        for (int i = 0; i < 20_000; i++)
        {
            byte[] queued;
            if (i % 2 == 0)
            {
                queued = new byte[rnd.Next(0, 400)];
                rnd.NextBytes(queued);
            }
            else
            {
                // A real event with a few bytes changed: lengths, numbers, flags or values; sometimes longer.
                queued = good.AsSpan(0, goodLength + (rnd.Next(4) == 0 ? rnd.Next(0, 9000) : 0)).ToArray();
                for (int k = rnd.Next(1, 6); k > 0; k--) queued[rnd.Next(queued.Length)] = (byte)rnd.Next(256);
            }
            int size = rnd.Next(0, 12_000);
            backing.AsSpan().Fill(0xA5);
            int n = f.Format(queued, backing.AsSpan(0, size));
            Assert.True(n == -1 || (n > 0 && n <= size), $"case {i}: {n} of {size}");
            Assert.True(backing.AsSpan(size).IndexOfAnyExcept((byte)0xA5) < 0, $"case {i}: written past a buffer of {size}");
            if (n > 0) Assert.True(ClfReader.TryParse(backing.AsSpan(0, n), out _, out var error) == n, $"case {i}: {error}");
        }
    }

    [Fact]
    public void Reader_rejects_damaged_records()
    {
        var bytes = B(RfcExample);
        Assert.True(ClfReader.TryParse(bytes.AsSpan(0, 200), out _, out _) < 0);
        var badPointer = (byte[])bytes.Clone();
        badPointer[8] = (byte)'F';
        Assert.True(ClfReader.TryParse(badPointer, out _, out var error) < 0);
        Assert.Contains("pointer", error);
    }
}
