using System.Text;
using SipIps.Engine.Common;
using SipIps.Engine.Sip;
using Xunit;

namespace SipIps.Engine.Tests.Sip;

/// <summary>
/// The parser's shortcuts for everyday input (vectorised line and control scanning, the usual Via sent-protocol,
/// a dotted quad) must give exactly what the general code gives, at every length and position.
/// </summary>
public class FastPathTests
{
    private static bool IsHeaderControl(byte c) => (c < 0x20 && c != '\t' && c != '\r' && c != '\n') || c == 0x7F;

    [Theory]
    [InlineData(128)]
    [InlineData(256)]
    [InlineData(512)]
    public void Every_vector_width_places_each_byte_at_its_own_bit(int width)
    {
        // The scanner takes the widest loader the runtime accelerates, and sipips caps that at 128 bits: each loader
        // is checked here directly, whatever this machine or this run would pick. Control bytes and line feeds go to
        // random places, so that a bit put in another lane's place shows.
        var random = new Random(width);
        var data = new byte[64];
        for (int round = 0; round < 5000; round++)
        {
            for (int i = 0; i < data.Length; i++)
            {
                int r = random.Next(100);
                data[i] = r < 8 ? (byte)'\n' : r < 12 ? (byte)random.Next(0, 0x20) : r < 14 ? (byte)0x7F : (byte)random.Next(0x20, 0x7F);
            }
            ulong lineFeeds = 0, controls = 0;
            for (int i = 0; i < 64; i++)
            {
                if (data[i] == '\n') lineFeeds |= 1UL << i;
                if (IsHeaderControl(data[i])) controls |= 1UL << i;
            }
            var got = width switch
            {
                128 => LineFeedScanner.LoadBlock128(data, 0),
                256 => LineFeedScanner.LoadBlock256(data, 0),
                _ => LineFeedScanner.LoadBlock512(data, 0),
            };
            Assert.Equal(lineFeeds, got.LineFeeds);
            Assert.Equal(controls, got.Controls);
        }
    }

    [Fact]
    public void Line_feed_scanner_finds_every_line_feed_and_notes_controls_at_every_length()
    {
        var random = new Random(4475);
        for (int length = 0; length <= 300; length++)
        {
            for (int round = 0; round < 20; round++)
            {
                var data = new byte[length];
                for (int i = 0; i < length; i++)
                {
                    int r = random.Next(100);
                    data[i] = r < 8 ? (byte)'\n' : r < 10 ? (byte)'\r' : r < 11 ? (byte)'\t' : (byte)random.Next(0x20, 0x7F);
                }
                // A control byte in a third of the buffers, anywhere; DEL and NUL among them.
                if (length > 0 && round % 3 == 0) data[random.Next(length)] = round % 2 == 0 ? (byte)0x7F : (byte)random.Next(0, 9);
                int start = length == 0 ? 0 : random.Next(length);

                var scanner = new LineFeedScanner(data, start);
                var found = new List<int>();
                for (int lf = scanner.Next(); lf >= 0; lf = scanner.Next()) found.Add(lf);

                var expected = new List<int>();
                for (int i = start; i < length; i++) if (data[i] == '\n') expected.Add(i);
                Assert.Equal(expected, found);
                bool controls = false;
                for (int i = start; i < length; i++) controls |= IsHeaderControl(data[i]);
                Assert.Equal(controls, scanner.SawControl);
            }
        }
    }

    [Fact]
    public void Line_feed_scanner_reports_nothing_from_the_bytes_past_its_end()
    {
        // The parser hands the scanner its whole buffer (the message, then padding and stale bytes of an earlier,
        // longer message): line feeds and control bytes there must never be reported.
        var random = new Random(3261);
        for (int length = 0; length <= 200; length++)
        {
            for (int round = 0; round < 10; round++)
            {
                var data = new byte[length + 64 + random.Next(3)];
                for (int i = 0; i < data.Length; i++)
                {
                    int r = random.Next(100);
                    data[i] = r < 10 ? (byte)'\n' : r < 13 ? (byte)1 : (byte)random.Next(0x20, 0x7F);
                }
                int start = length == 0 ? 0 : random.Next(length);
                var scanner = new LineFeedScanner(data, start, length);
                var found = new List<int>();
                for (int lf = scanner.Next(); lf >= 0; lf = scanner.Next()) found.Add(lf);

                var expected = new List<int>();
                bool controls = false;
                for (int i = start; i < length; i++)
                {
                    if (data[i] == '\n') expected.Add(i);
                    controls |= IsHeaderControl(data[i]);
                }
                Assert.Equal(expected, found);
                Assert.Equal(controls, scanner.SawControl);
            }
        }
    }

    [Fact]
    public void A_message_parses_the_same_after_a_longer_one_left_line_feeds_and_controls_in_the_buffer()
    {
        const string head = "OPTIONS sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n" +
                            "From: <sip:a@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\n";
        var fresh = new SipMessage();
        var reused = new SipMessage();
        var noise = new byte[2000];
        for (int i = 0; i < noise.Length; i++) noise[i] = (i % 7) switch { 0 => (byte)'\n', 1 => (byte)1, _ => (byte)'x' };
        for (int pad = 0; pad < 70; pad++)
        {
            // Without a terminating empty line, the last header runs to the end of the data: the first bytes past
            // the end are where a stale line feed would cut it short.
            var text = Encoding.ASCII.GetBytes(head + "X-Pad: " + new string('p', pad));
            SipParser.Parse(noise, reused);
            Assert.Equal(SipParser.Parse(text, fresh), SipParser.Parse(text, reused));
            Assert.Equal(fresh.HeaderCount, reused.HeaderCount);
            Assert.Equal(fresh.Headers[fresh.HeaderCount - 1].Value, reused.Headers[reused.HeaderCount - 1].Value);
            Assert.Equal(fresh.Anomalies, reused.Anomalies);
        }
    }

    [Fact]
    public void Ascii_set_skips_exactly_the_members_at_every_length_and_offset()
    {
        // Mostly members, so that runs cross the 16-byte blocks; the odd byte is any value at all, 0x80 and up too.
        var random = new Random(5118);
        const string token = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~";
        foreach (var (set, members) in new[]
                 {
                     (SipChars.TokenChars, token),
                     (SipChars.HeaderParamChars, token + ":[]"),
                     (SipChars.HostChars, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-."),
                     (SipChars.CallIdChars, token + "()<>:\\\"/[]?{}@"),
                 })
        {
            var isMember = new bool[256];
            foreach (char c in members) isMember[c] = true;
            for (int c = 0; c < 256; c++) Assert.Equal(isMember[c], set.Contains((byte)c));
            for (int round = 0; round < 4000; round++)
            {
                var data = new byte[random.Next(0, 90)];
                for (int i = 0; i < data.Length; i++)
                    data[i] = random.Next(12) == 0 ? (byte)random.Next(256) : (byte)members[random.Next(members.Length)];
                int end = random.Next(data.Length + 1);
                int pos = random.Next(end + 1);
                int expected = pos;
                while (expected < end && isMember[data[expected]]) expected++;
                Assert.Equal(expected, set.Skip(data, pos, end));
            }
        }
    }

    [Fact]
    public void Short_search_finds_the_first_byte_at_every_length_and_offset()
    {
        var random = new Random(6873);
        for (int round = 0; round < 20000; round++)
        {
            var data = new byte[random.Next(0, 90)];
            for (int i = 0; i < data.Length; i++) data[i] = random.Next(20) == 0 ? (byte)'@' : (byte)random.Next(256);
            int end = random.Next(data.Length + 1);
            int pos = random.Next(end + 1);
            int expected = Array.IndexOf(data, (byte)'@', pos, end - pos);
            Assert.Equal(expected, ShortSearch.IndexOf(data, pos, end, (byte)'@'));
        }
    }

    [Fact]
    public void Sdp_origin_fields_are_the_same_whether_the_line_fits_one_block_or_not()
    {
        var random = new Random(8866);
        var m = new SipMessage();
        for (int round = 0; round < 3000; round++)
        {
            // Tokens of random length joined by one to three spaces, sometimes fewer than six fields, lines from a
            // few bytes to well past one 64-byte block.
            int fields = random.Next(1, 8);
            var line = new StringBuilder();
            for (int f = 0; f < fields; f++)
            {
                if (f > 0) line.Append(' ', random.Next(4) == 0 ? random.Next(2, 4) : 1);
                line.Append('x', random.Next(0, 20));
            }
            string o = line.ToString();
            var text = Encoding.ASCII.GetBytes(
                "INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n" +
                "From: <sip:a@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\n" +
                "Content-Type: application/sdp\r\nContent-Length: " + (o.Length + 9) + "\r\n\r\nv=0\r\no=" + o + "\r\n");
            SipParser.Parse(text, m);
            Assert.True(m.Sdp.Present);

            // The reference: the k-th space of the line, or its end when there are fewer.
            var spaces = new List<int>();
            for (int i = 0; i < o.Length; i++) if (o[i] == ' ') spaces.Add(i);
            int E(int k) => k < spaces.Count ? spaces[k] : o.Length;
            bool malformed = E(4) >= o.Length || E(0) == 0;
            Assert.Equal(o.Substring(0, E(0)), m.GetString(m.Sdp.OriginUsername));
            Assert.Equal(malformed, (m.Anomalies & SipAnomaly.SdpMalformed) != 0);
            if (!malformed)
            {
                Assert.Equal(o.Substring(E(0) + 1, E(1) - E(0) - 1), m.GetString(m.Sdp.OriginSessionId));
                Assert.Equal(o.Substring(E(1) + 1, E(2) - E(1) - 1), m.GetString(m.Sdp.OriginVersion));
                Assert.Equal(o.Substring(E(4) + 1), m.GetString(m.Sdp.OriginAddress));
            }
        }
    }

    [Theory]
    [InlineData("application/sdp", true)]
    [InlineData("Application/SDP", true)]
    [InlineData("APPLICATION/sdp", true)]
    [InlineData("application/sdp;charset=utf-8", true)]
    [InlineData("application/sdq", false)]
    [InlineData("applicationxsdp", false)]
    [InlineData("application/sdpx", false)]
    [InlineData("text/plain", false)]
    public void Only_an_sdp_content_type_has_its_body_read_as_sdp(string contentType, bool sdp)
    {
        var text = Encoding.ASCII.GetBytes(
            "INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n" +
            "From: <sip:a@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\n" +
            "Content-Type: " + contentType + "\r\nContent-Length: 29\r\n\r\nv=0\r\nm=audio 4000 RTP/AVP 0\r\n");
        var m = new SipMessage();
        SipParser.Parse(text, m);
        Assert.Equal(sdp, m.Sdp.Present);
        Assert.Equal(sdp ? 1 : 0, m.MediaCount);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(63)]
    [InlineData(64)]
    [InlineData(65)]
    [InlineData(200)]
    public void A_control_byte_in_any_header_position_is_found_and_one_in_the_body_is_not_an_error(int padding)
    {
        string head = "OPTIONS sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n" +
                      "From: <sip:a@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\n" +
                      "X-Pad: " + new string('p', padding) + "\r\n";
        var m = new SipMessage();
        var bad = Encoding.ASCII.GetBytes(head + "X-Bad: a\u0001b\r\nContent-Length: 0\r\n\r\n");
        Assert.Equal(SipParseStatus.ControlCharacter, SipParser.Parse(bad, m));
        Assert.Equal(Array.IndexOf(bad, (byte)1), m.ErrorOffset);

        var body = Encoding.ASCII.GetBytes(head + "Content-Type: application/octet-stream\r\nContent-Length: 3\r\n\r\n\u0001\u0000\u007F");
        Assert.Equal(SipParseStatus.Ok, SipParser.Parse(body, m));
    }

    [Theory]
    [InlineData("SIP/2.0/UDP 192.0.2.1:5060", SipTransport.Udp)]
    [InlineData("sip/2.0/udp 192.0.2.1:5060", SipTransport.Udp)]
    [InlineData("Sip/2.0/Tcp 192.0.2.1:5060", SipTransport.Tcp)]
    [InlineData("SIP/2.0/TLS 192.0.2.1:5061", SipTransport.Tls)]
    [InlineData("SIP/2.0/SCTP 192.0.2.1:5060", SipTransport.Sctp)]
    [InlineData("SIP/2.0/WSS 192.0.2.1:443", SipTransport.Wss)]
    [InlineData("SIP / 2.0 / UDP 192.0.2.1:5060", SipTransport.Udp)]
    [InlineData("SIP/2.0/UDP\t192.0.2.1:5060", SipTransport.Udp)]
    [InlineData("SIP/2.0/UDP   192.0.2.1:5060", SipTransport.Udp)]
    [InlineData("SIP/2.0/UDPX 192.0.2.1:5060", SipTransport.Unknown)]
    [InlineData("SIP/2.1/UDP 192.0.2.1:5060", SipTransport.Udp)]
    public void Via_sent_protocol_reads_the_same_on_the_short_and_the_long_path(string sentBy, SipTransport transport)
    {
        var m = new SipMessage();
        var text = "OPTIONS sip:bob@example.com SIP/2.0\r\nVia: " + sentBy + ";branch=z9hG4bK1;rport\r\n" +
                   "From: <sip:a@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
        Assert.Equal(SipParseStatus.Ok, SipParser.Parse(Encoding.ASCII.GetBytes(text), m));
        ref readonly var via = ref m.TopVia;
        Assert.Equal(transport, via.Transport);
        string protocol = sentBy.Substring(0, sentBy.IndexOf("192", StringComparison.Ordinal)).TrimEnd(' ', '\t');
        Assert.Equal(protocol, m.GetString(via.Protocol));
        Assert.Equal(protocol.Substring(protocol.LastIndexOf('/') + 1).Trim(), m.GetString(via.TransportText));
        Assert.Equal("192.0.2.1", m.GetString(via.Host));
        Assert.Equal(HostKind.IPv4, via.HostKind);
        Assert.Equal(sentBy.EndsWith(":443", StringComparison.Ordinal) ? 443 : sentBy.EndsWith(":5061", StringComparison.Ordinal) ? 5061 : 5060, via.Port);
        Assert.Equal("z9hG4bK1", m.GetString(via.Branch));
        Assert.Equal(-1, via.RPort);
    }

    /// <summary>Dotted-quad grammar written the plain way: four 1-3 digit decimals of at most 255, three dots.</summary>
    private static bool ReferenceV4(string s, out uint value)
    {
        value = 0;
        var parts = s.Split('.');
        if (parts.Length != 4) return false;
        foreach (var part in parts)
        {
            if (part.Length is < 1 or > 3 || !part.All(char.IsAsciiDigit)) return false;
            int octet = int.Parse(part);
            if (octet > 255) return false;
            value = (value << 8) | (uint)octet;
        }
        return true;
    }

    [Fact]
    public void Ipv4_text_is_read_as_the_plain_grammar_reads_it()
    {
        var random = new Random(791);
        var cases = new List<string> { "0.0.0.0", "255.255.255.255", "192.0.2.10", "1.2.3.4", "01.002.3.4", "256.1.1.1",
            "1.2.3.256", "1.2.3", "1.2.3.4.", ".1.2.3", "1..2.3", "1234.1.1.1", "1.2.3.4444", "", "1.2.3.4 ", "999.999.999.999" };
        const string alphabet = "0123456789.....";
        for (int i = 0; i < 200_000; i++)
        {
            int length = random.Next(0, 18);
            var chars = new char[length];
            for (int j = 0; j < length; j++) chars[j] = alphabet[random.Next(alphabet.Length)];
            cases.Add(new string(chars));
        }
        foreach (var text in cases)
        {
            bool expected = ReferenceV4(text, out uint value);
            bool actual = IpAddr.TryParseV4(Encoding.ASCII.GetBytes(text), out var address);
            Assert.True(expected == actual, $"\"{text}\": expected {expected}");
            if (expected) Assert.Equal(IpAddr.FromV4(value), address);
        }
    }

    private static readonly System.Text.RegularExpressions.Regex s_hostname = new(
        @"^(([a-z0-9]|[a-z0-9][a-z0-9-]*[a-z0-9])\.)*([a-z]|[a-z][a-z0-9-]*[a-z0-9])\.?$",
        System.Text.RegularExpressions.RegexOptions.IgnoreCase);

    [Fact]
    public void Hosts_are_read_as_the_rfc3261_grammar_reads_them()
    {
        // hostname = *( domainlabel "." ) toplabel [ "." ], or a dotted quad of values up to 255.
        var random = new Random(3261);
        var cases = new List<string> { "example.com", "example.com.", "a", "a.", ".", "..", "a..b", "-a.com", "a-.com", "a.-b",
            "a.b-", "1a.com", "a.1", "a.1b", "192.0.2.1", "192.0.2.1.", "192.0..", "1.2.3.4.5", "256.1.1.1", "x-y.z-w", "A.B.C" };
        const string alphabet = "abZ19-.";
        for (int i = 0; i < 100_000; i++)
        {
            var chars = new char[random.Next(1, 13)];
            for (int j = 0; j < chars.Length; j++) chars[j] = alphabet[random.Next(alphabet.Length)];
            cases.Add(new string(chars));
        }
        // Hosts around 64 bytes (the longest read on bit masks) and longer, built of valid labels and then mutated.
        for (int i = 0; i < 20_000; i++)
        {
            var host = new StringBuilder();
            int length = random.Next(55, 75);
            while (host.Length < length) host.Append(random.Next(3) == 0 ? "a1." : "ab-c.").Append('z');
            var chars = host.ToString(0, length).ToCharArray();
            if (random.Next(2) == 0) chars[random.Next(chars.Length)] = alphabet[random.Next(alphabet.Length)];
            cases.Add(new string(chars));
        }
        foreach (var host in cases)
        {
            bool v4 = ReferenceV4(host, out _);
            bool expected = v4 || s_hostname.IsMatch(host);
            var uri = new SipUri();
            var text = Encoding.ASCII.GetBytes("sip:" + host);
            bool actual = SipParser.TryParseUri(text, ref uri);
            Assert.True(expected == actual, $"\"{host}\": expected {expected}");
            if (expected) Assert.Equal(v4 ? HostKind.IPv4 : HostKind.Name, uri.HostKind);
        }
    }
    private static readonly System.Text.RegularExpressions.Regex s_userinfo = new(
        @"^[a-zA-Z0-9\-_.!~*'()%&=+$,;?/]+(:[a-zA-Z0-9\-_.!~*'()%&=+$,]*)?$");

    [Fact]
    public void User_and_password_are_read_as_the_rfc3261_grammar_reads_them()
    {
        // userinfo = user [ ":" password ] "@", whatever the case of the scheme; runs shorter and longer than a
        // vector, and bytes that are in neither set (space, a second colon, '<', '"', a byte above 0x7F).
        var random = new Random(5118);
        var cases = new List<string> { "alice", "alice:secret", "alice:", ":secret", "al ice", "alice:se:cret", "+14155551234;npdi",
            "a%41b", "x/y?z", "alice<", new string('u', 40) + ":" + new string('p', 40), new string('u', 31) + "\u00e9" };
        const string alphabet = "aZ9-_.!~*'()%&=+$,;?/: <\"\u00e9";
        for (int i = 0; i < 100_000; i++)
        {
            var chars = new char[random.Next(0, 40)];
            for (int j = 0; j < chars.Length; j++) chars[j] = random.Next(4) == 0 ? alphabet[random.Next(alphabet.Length)] : alphabet[random.Next(3)];
            cases.Add(new string(chars));
        }
        string[] schemes = ["sip:", "SIP:", "Sip:", "sips:"];
        foreach (var userinfo in cases)
        {
            string scheme = schemes[random.Next(schemes.Length)];
            bool expected = s_userinfo.IsMatch(userinfo);
            var uri = new SipUri();
            var text = Encoding.Latin1.GetBytes(scheme + userinfo + "@example.com");
            bool actual = SipParser.TryParseUri(text, ref uri);
            Assert.True(expected == actual, $"\"{scheme}{userinfo}\": expected {expected}");
            if (!expected) continue;
            int colon = userinfo.IndexOf(':');
            Assert.Equal(colon < 0 ? userinfo : userinfo[..colon], Encoding.Latin1.GetString(text.AsSpan(uri.User.Start, uri.User.Length)));
            Assert.Equal(colon >= 0, uri.Password.IsPresent);
            if (colon >= 0) Assert.Equal(userinfo[(colon + 1)..], Encoding.Latin1.GetString(text.AsSpan(uri.Password.Start, uri.Password.Length)));
            Assert.Equal(scheme == "sips:" ? UriScheme.Sips : UriScheme.Sip, uri.Scheme);
        }
    }
    [Fact]
    public void Header_names_read_from_one_load_match_the_general_lookup()
    {
        // Every known name in random case, compact forms, unknown tokens, names of 31 and 32 bytes or more, LWS or a
        // non-token byte before the colon, lines that end at the name; each placed at a random offset of a buffer
        // whose bytes past the line are stale and may hold a colon.
        var random = new Random(3262);
        var names = new List<string>();
        for (int i = 1; i < SipHeaders.Count; i++) names.Add(SipHeaders.CanonicalName((SipHeaderId)i));
        names.AddRange(["i", "m", "v", "f", "t", "l", "k", "x", "q", "1", "-", "_", "X-Custom", "P-Charging-Vector", "Via-X", "Vi",
            "Content-Lengths", "Call-Id2", new string('a', 31), new string('b', 32), new string('c', 40), "Max-Forwards ",
            "Via\t", "Fr om", "To@", "Allow\u00e9", ""]);
        const string tokenBytes = "abcXYZ019-.!%*_+`'~";
        for (int i = 0; i < 20_000; i++)
        {
            var chars = new char[random.Next(1, 36)];
            for (int j = 0; j < chars.Length; j++) chars[j] = tokenBytes[random.Next(tokenBytes.Length)];
            names.Add(new string(chars));
        }
        var buffer = new byte[512];
        foreach (var original in names)
        {
            string name = new(original.Select(c => random.Next(2) == 0 ? char.ToUpperInvariant(c) : char.ToLowerInvariant(c)).ToArray());
            bool atEnd = random.Next(8) == 0;
            string line = atEnd ? name : name + ": value";
            random.NextBytes(buffer);
            for (int k = 0; k < buffer.Length; k += 7) buffer[k] = (byte)':';
            int start = random.Next(0, 200);
            Encoding.Latin1.GetBytes(line).CopyTo(buffer, start);
            int end = start + line.Length;

            int colon = SipParser.ColonAfterName(buffer, start, end, out var id);

            var b = buffer.AsSpan(0, end);
            int nameEnd = SipChars.SkipToken(b, start, end);
            bool direct = nameEnd > start && nameEnd < end && b[nameEnd] == ':';
            if (colon < 0)
            {
                // Left to the general path: only names that it reads otherwise, or that do not fit one load.
                Assert.True(!direct || nameEnd - start >= 32, $"\"{line}\": a plain name was left to the general path");
                continue;
            }
            Assert.True(direct, $"\"{line}\": colon at {colon - start} for a line the general path rejects or reads otherwise");
            Assert.Equal(nameEnd, colon);
            Assert.Equal(SipHeaders.Lookup(b.Slice(start, nameEnd - start)), id);
        }
    }
    [Fact]
    public void Parameters_read_from_one_load_match_the_general_reader()
    {
        // name, name=value, LWS around '=', quoted values, empty values, runs that end at, before or past the end
        // given, and runs longer than the load; each followed by stale bytes that may continue a run.
        var random = new Random(6873);
        var cases = new List<string> { "branch=z9hG4bK776asdhds", "rport", "lr", "tag=1928301774", "received=192.0.2.1",
            "maddr=[2001:db8::1]", "expires=3600", "q=0.5", "x=\"quoted; value\"", "x = y", "x =y", "x= y", "x=", "=y", ";",
            "x=y;z", "x,y", "name" + new string('n', 30) + "=v", "n=" + new string('v', 40), "ttl=1\r\n", "x=\u00e9" };
        const string alphabet = "aZ9-.!%*_+`'~:[]=;, \t\"\\<@\u00e9";
        for (int i = 0; i < 50_000; i++)
        {
            var chars = new char[random.Next(0, 40)];
            for (int j = 0; j < chars.Length; j++)
                chars[j] = random.Next(3) == 0 ? alphabet[random.Next(alphabet.Length)] : alphabet[random.Next(3)];
            cases.Add(new string(chars));
        }
        var buffer = new byte[256];
        foreach (var text in cases)
        {
            random.NextBytes(buffer);
            int start = random.Next(0, 100);
            var bytes = Encoding.Latin1.GetBytes(text);
            bytes.CopyTo(buffer, start);
            int end = start + Math.Max(0, bytes.Length - random.Next(0, 3));
            if (random.Next(2) == 0) for (int k = end; k < buffer.Length; k++) buffer[k] = (byte)"a=b;\r\n"[k % 6];
            var span = new ReadOnlySpan<byte>(buffer, 0, random.Next(2) == 0 ? buffer.Length : Math.Min(buffer.Length, end + random.Next(0, 40)));

            int expected = SipParser.NextParamGeneral(span, SipChars.SkipLws(span, start, end), end, out var expectedName, out var expectedValue);
            int actual = SipParser.NextParam(span, start, end, out var name, out var value);
            string what = $"\"{text}\" cut at {end - start}";
            Assert.True(expected == actual, $"{what}: returned {actual}, expected {expected}");
            Assert.True(expectedName.Equals(name) && expectedValue.Equals(value), $"{what}: name ({name.Start}, {name.Length}) value ({value.Start}, {value.Length}), expected ({expectedName.Start}, {expectedName.Length}) ({expectedValue.Start}, {expectedValue.Length})");
        }
    }

    [Theory]
    [InlineData("SIP/2.0", SipParseStatus.Ok, SipParseStatus.Ok)]
    [InlineData("sip/2.0", SipParseStatus.Ok, SipParseStatus.Ok)]
    [InlineData("Sip/2.0", SipParseStatus.Ok, SipParseStatus.Ok)]
    [InlineData("SIP/2.00", SipParseStatus.Ok, SipParseStatus.Ok)]
    [InlineData("SIP/02.0", SipParseStatus.Ok, SipParseStatus.Ok)]
    [InlineData("SIP/2.1", SipParseStatus.UnsupportedVersion, SipParseStatus.UnsupportedVersion)]
    [InlineData("SIP/3.0", SipParseStatus.UnsupportedVersion, SipParseStatus.UnsupportedVersion)]
    [InlineData("SIP/2.0x", SipParseStatus.BadVersion, SipParseStatus.BadVersion)]
    [InlineData("SIP/2,0", SipParseStatus.BadVersion, SipParseStatus.BadVersion)]
    [InlineData("SIP/2.", SipParseStatus.BadVersion, SipParseStatus.BadVersion)]
    [InlineData("SIP/20", SipParseStatus.BadVersion, SipParseStatus.BadVersion)]
    [InlineData("SIQ/2.0", SipParseStatus.BadVersion, SipParseStatus.BadMethod)]
    [InlineData("SIP\u000f2.0", SipParseStatus.BadVersion, SipParseStatus.BadMethod)] // 0x0F | 0x20 is '/'
    [InlineData("SIP/2\u000e0", SipParseStatus.BadVersion, SipParseStatus.BadVersion)] // 0x0E | 0x20 is '.'
    [InlineData("SIP/2.\u0010", SipParseStatus.BadVersion, SipParseStatus.BadVersion)] // 0x10 | 0x20 is '0'
    public void The_version_reads_the_same_on_the_short_and_the_long_path(string version, SipParseStatus request, SipParseStatus response)
    {
        const string headers = "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKx\r\nFrom: <sip:a@example.com>;tag=1\r\n" +
            "To: <sip:b@example.com>;tag=2\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";
        var m = new SipMessage();
        SipParser.Parse(Encoding.Latin1.GetBytes($"OPTIONS sip:a@example.com {version}\r\n{headers}"), m);
        Assert.Equal(request, m.Status);
        SipParser.Parse(Encoding.Latin1.GetBytes($"{version} 200 OK\r\n{headers}"), m);
        Assert.Equal(response, m.Status);
    }
}
