using System.Text;
using SipIps.Engine.Common;
using SipIps.Engine.Sip;
using Xunit;

namespace SipIps.Engine.Tests.Sip;

/// <summary>
/// The RFC 4475 situations that the external corpus does not carry (written here from the RFC's descriptions),
/// and other parser behaviour.
/// </summary>
public class ParserCaseTests
{
    private const string Tail =
        "To: <sip:bob@example.com>\r\n" +
        "From: <sip:alice@example.com>;tag=1\r\n" +
        "Call-ID: case@example.com\r\n" +
        "Via: SIP/2.0/UDP host.example.com;branch=z9hG4bKcase\r\n" +
        "Max-Forwards: 70\r\n";

    private static SipMessage Parse(string text, SipParseMode mode = SipParseMode.Datagram)
    {
        var m = new SipMessage();
        SipParser.Parse(Encoding.UTF8.GetBytes(text), m, mode);
        RobustnessTests.AssertSlicesInBounds(m);
        return m;
    }

    [Fact]
    public void Unusual_but_valid_characters_in_method_and_uri()
    {
        // RFC 4475 3.1.1.2: every token and user character in one request.
        var m = Parse("!interesting-Method0123456789_*+`.%indeed'~ sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com SIP/2.0\r\n" +
                      Tail + "CSeq: 139122385 !interesting-Method0123456789_*+`.%indeed'~\r\nContent-Length: 0\r\n\r\n");
        Assert.Equal(SipParseStatus.Ok, m.Status);
        Assert.Equal("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*", m.GetString(m.RequestUri.User));
        Assert.Equal("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)", m.GetString(m.RequestUri.Password));
    }

    [Fact]
    public void Escaped_nulls_are_valid_and_raw_nulls_are_not()
    {
        Assert.Equal(SipParseStatus.Ok, Parse("REGISTER sip:example.com SIP/2.0\r\n" + Tail.Replace("sip:bob@", "sip:null-%00-null@") +
                                               "CSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n").Status);
        Assert.Equal(SipParseStatus.ControlCharacter, Parse("REGISTER sip:example.com SIP/2.0\r\n" + Tail + "X-Bad: a\0b\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n").Status);
    }

    [Fact]
    public void Extra_octets_after_content_length_in_a_datagram_are_discarded()
    {
        // RFC 4475 3.1.1.8: the second request is trailing data, not a message.
        var m = Parse("REGISTER sip:example.com SIP/2.0\r\n" + Tail + "CSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n" +
                      "INVITE sip:joe@example.com SIP/2.0\r\nt: sip:joe@example.com\r\n\r\n");
        Assert.Equal(SipParseStatus.Ok, m.Status);
        Assert.Equal(SipMethod.Register, m.Method);
        Assert.True((m.Anomalies & SipAnomaly.TrailingData) != 0);
        Assert.Equal(0, m.Body.Length);
    }

    [Fact]
    public void Multipart_body_yields_its_sdp_part()
    {
        const string body =
            "--unique-boundary-1\r\n" +
            "Content-Type: application/sdp\r\n\r\n" +
            "v=0\r\no=alice 1 1 IN IP4 192.0.2.5\r\ns=-\r\nc=IN IP4 192.0.2.5\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0\r\n\r\n" +
            "--unique-boundary-1\r\n" +
            "Content-Type: application/isup\r\n\r\n" +
            "\u0001\u0002\u0003\r\n" +
            "--unique-boundary-1--\r\n";
        var m = Parse("INVITE sip:bob@example.com SIP/2.0\r\n" + Tail + "CSeq: 1 INVITE\r\n" +
                      "Content-Type: multipart/mixed;boundary=unique-boundary-1\r\n" +
                      $"Content-Length: {Encoding.UTF8.GetByteCount(body)}\r\n\r\n" + body);
        Assert.Equal(SipParseStatus.Ok, m.Status);
        Assert.True(m.Sdp.Present);
        Assert.Equal(49170, m.Media[0].Port);
        Assert.Equal("192.0.2.5", m.Sdp.ConnectionAddress.ToString());
    }

    [Theory]
    [InlineData("Content-Length: -999", SipParseStatus.BadContentLength)] // RFC 4475 3.1.2.3
    [InlineData("Content-Length: 99999999999999999999", SipParseStatus.ContentLengthOutOfRange)]
    [InlineData("Content-Length: 0\r\nl: 0", SipParseStatus.DuplicateContentLength)] // RFC 4475 3.3.9
    [InlineData("Call-ID: second@example.com", SipParseStatus.DuplicateHeader)] // RFC 4475 3.3.8
    [InlineData("To: <sip:carol@example.com>", SipParseStatus.DuplicateHeader)]
    [InlineData("Max-Forwards: abc", SipParseStatus.BadMaxForwards)]
    [InlineData("Expires: soon", SipParseStatus.BadExpires)]
    [InlineData("Content-Type: application", SipParseStatus.BadContentType)]
    [InlineData("Authorization: Digest username=\"bob", SipParseStatus.BadAuthorization)]
    [InlineData("Route: sip:no-brackets@example.com", SipParseStatus.BadRoute)]
    [InlineData("NoColonHere", SipParseStatus.BadHeaderLine)]
    public void Header_level_errors_get_their_reason(string header, SipParseStatus expected)
    {
        var tail = header.StartsWith("Max-Forwards", StringComparison.Ordinal) ? Tail.Replace("Max-Forwards: 70\r\n", "") : Tail;
        var m = Parse("OPTIONS sip:bob@example.com SIP/2.0\r\n" + tail + "CSeq: 1 OPTIONS\r\n" + header + "\r\n\r\n");
        Assert.Equal(expected, m.Status);
    }

    [Theory]
    [InlineData("INVITE sip:user@example.com; lr SIP/2.0", SipParseStatus.BadRequestUri)] // 3.1.2.8 embedded LWS
    [InlineData("OPTIONS sip:remote-target@example.com SIP/2.0  ", SipParseStatus.ExtraWhitespaceInStartLine)] // 3.1.2.10
    [InlineData("INVITE sip:user@example.com SIP/2.0x", SipParseStatus.BadVersion)]
    [InlineData("INV\u00c9TE sip:user@example.com SIP/2.0", SipParseStatus.BadMethod)]
    [InlineData("SIP/2.0 20 OK", SipParseStatus.BadStatusCode)]
    [InlineData("SIP/2.0 099 Too low", SipParseStatus.BadStatusCode)]
    [InlineData("SIP/3.0 200 OK", SipParseStatus.UnsupportedVersion)]
    [InlineData("INVITE sip:@example.com SIP/2.0", SipParseStatus.BadRequestUri)]
    [InlineData("INVITE sip:user@exa_mple.com SIP/2.0", SipParseStatus.BadRequestUri)]
    [InlineData("INVITE sip:user@256.1.1.1 SIP/2.0", SipParseStatus.BadRequestUri)]
    [InlineData("INVITE sip:user@[2001:db8::zz] SIP/2.0", SipParseStatus.BadRequestUri)]
    [InlineData("INVITE sip:user@example.com:99999 SIP/2.0", SipParseStatus.BadRequestUri)]
    public void Start_line_errors_get_their_reason(string startLine, SipParseStatus expected)
    {
        var m = Parse(startLine + "\r\n" + Tail + "CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n");
        Assert.Equal(expected, m.Status);
    }

    [Fact]
    public void Unknown_method_with_cseq_mismatch_is_invalid()
    {
        // RFC 4475 3.1.2.18
        Assert.Equal(SipParseStatus.CSeqMethodMismatch, Parse("NEWMETHOD sip:bob@example.com SIP/2.0\r\n" + Tail + "CSeq: 1 INVITE\r\nl: 0\r\n\r\n").Status);
    }

    [Fact]
    public void Response_with_overlarge_cseq_is_invalid()
    {
        // RFC 4475 3.1.2.5
        var m = Parse("SIP/2.0 503 Service Unavailable\r\n" + Tail + "CSeq: 36893488147419103232 INVITE\r\nRetry-After: 36893488147419103232\r\nContent-Length: 0\r\n\r\n");
        Assert.Equal(SipParseStatus.CSeqOutOfRange, m.Status);
        Assert.Equal(503, m.StatusCode);
    }

    [Fact]
    public void Display_name_with_non_token_characters_is_invalid_but_the_uri_is_kept_in_the_header()
    {
        // RFC 4475 3.1.2.15
        var m = Parse("OPTIONS sip:bob@example.com SIP/2.0\r\n" + Tail.Replace("From: <sip:alice@example.com>;tag=1", "From: Bell, Alexander <sip:a.g.bell@example.com>;tag=43") +
                      "CSeq: 1 OPTIONS\r\nl: 0\r\n\r\n");
        Assert.Equal(SipParseStatus.BadDisplayName, m.Status);
        Assert.Equal(SipHeaderId.From, m.ErrorHeader);
    }

    [Fact]
    public void Broadcast_via_and_unknown_uri_schemes_in_headers_are_valid()
    {
        // RFC 4475 3.3.10 and 3.3.4
        var m = Parse("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 255.255.255.255;branch=z9hG4bK1saber23\r\n" +
                      "From: <http://example.com/alice>;tag=1\r\nTo: <name:bob>;tag=2\r\nCall-ID: bcast\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n");
        Assert.Equal(SipParseStatus.Ok, m.Status);
        Assert.True((m.Anomalies & SipAnomaly.BroadcastVia) != 0);
        Assert.Equal(UriScheme.Other, m.From.Uri.Scheme);
    }

    [Fact]
    public void Contact_parameters_with_and_without_brackets()
    {
        // RFC 4475 3.3.12 / 3.3.13: without <> the parameters belong to the header.
        var m = Parse("REGISTER sip:example.com SIP/2.0\r\n" + Tail + "CSeq: 1 REGISTER\r\n" +
                      "Contact: <sip:+19725552222@gw1.example.net;unknownparam>;expires=600, sip:bob@192.0.2.4;q=0.5\r\nl: 0\r\n\r\n");
        Assert.Equal(SipParseStatus.Ok, m.Status);
        Assert.Equal(2, m.ContactCount);
        Assert.Equal(";unknownparam", m.GetString(m.Contacts[0].Uri.Params));
        Assert.Equal(600, m.Contacts[0].Expires);
        Assert.Equal("0.5", m.GetString(m.Contacts[1].Q));
        Assert.False(m.Contacts[1].Uri.Params.IsPresent);
    }

    [Fact]
    public void Authorization_and_challenge_fields_are_extracted()
    {
        var m = Parse("REGISTER sip:example.com SIP/2.0\r\n" + Tail + "CSeq: 2 REGISTER\r\n" +
                      "Authorization: Digest username=\"alice\", realm=\"example.com\", nonce=\"abc\", uri=\"sip:example.com\", response=\"0123\"\r\n" +
                      "Proxy-Authorization: Digest username=bob,realm=proxy.example.com,nonce=x\r\nl: 0\r\n\r\n");
        Assert.Equal(SipParseStatus.Ok, m.Status);
        Assert.Equal("alice", m.GetString(m.Authorization.Username));
        Assert.Equal("example.com", m.GetString(m.Authorization.Realm));
        Assert.Equal("sip:example.com", m.GetString(m.Authorization.Uri));
        Assert.Equal("bob", m.GetString(m.ProxyAuthorization.Username));

        var r = Parse("SIP/2.0 407 Proxy Authentication Required\r\n" + Tail + "CSeq: 1 INVITE\r\n" +
                      "Proxy-Authenticate: Digest realm=\"atlanta.example.com\", qop=\"auth\", nonce=\"wf84f1cczx41ae6cbeaea9ce88d359\", opaque=\"\", stale=FALSE, algorithm=MD5\r\nl: 0\r\n\r\n");
        Assert.Equal(SipParseStatus.Ok, r.Status);
        Assert.Equal("atlanta.example.com", r.GetString(r.ProxyAuthenticate.Realm));
        Assert.Equal("MD5", r.GetString(r.ProxyAuthenticate.Algorithm));
    }

    [Fact]
    public void Compact_forms_and_case_insensitive_names()
    {
        var m = Parse("INVITE sip:bob@example.com SIP/2.0\r\nv: SIP/2.0/TCP a.example.com;branch=z9hG4bK1\r\nf: <sip:a@example.com>;tag=9\r\n" +
                      "t: sip:bob@example.com\r\ni: compact\r\nCSEQ: 5 INVITE\r\nm: <sip:a@192.0.2.1>\r\ns: hello\r\nk: timer\r\nc: application/sdp\r\nl: 0\r\n\r\n");
        Assert.Equal(SipParseStatus.Ok, m.Status);
        Assert.Equal(SipTransport.Tcp, m.Vias[0].Transport);
        Assert.Equal("compact", m.GetString(m.CallId));
        Assert.Equal(5, m.CSeqNumber);
        Assert.Equal("hello", m.GetString(m.Subject));
        Assert.Equal(1, m.ContactTotal);
        Assert.Equal(SipHeaderId.Supported, m.Headers[7].Id);
    }

    [Fact]
    public void Comma_joined_vias_and_route_sets()
    {
        var m = Parse("BYE sip:bob@192.0.2.4 SIP/2.0\r\nVia: SIP/2.0/UDP p1.example.com;branch=z9hG4bK1;received=192.0.2.1;rport=5070, SIP/2.0/UDP p2.example.com:5080;branch=z9hG4bK2;rport\r\n" +
                      "Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\nRecord-Route: <sip:p3.example.com;lr>\r\n" +
                      "From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>;tag=2\r\nCall-ID: r\r\nCSeq: 2 BYE\r\nMax-Forwards: 69\r\nl: 0\r\n\r\n");
        Assert.Equal(SipParseStatus.Ok, m.Status);
        Assert.Equal(2, m.ViaTotal);
        Assert.Equal(5070, m.Vias[0].RPort);
        Assert.Equal(-1, m.Vias[1].RPort);
        Assert.Equal(5080, m.Vias[1].Port);
        Assert.Equal("192.0.2.1", m.GetString(m.Vias[0].Received));
        Assert.Equal(2, m.RouteTotal);
        Assert.Equal("p2.example.com", m.GetString(m.Routes[1].Uri.Host));
        Assert.Equal(1, m.RecordRouteTotal);
    }

    [Fact]
    public void Bare_line_feeds_are_accepted_and_flagged()
    {
        var m = Parse("OPTIONS sip:bob@example.com SIP/2.0\n" + Tail.Replace("\r\n", "\n") + "CSeq: 1 OPTIONS\nl: 0\n\n");
        Assert.Equal(SipParseStatus.Ok, m.Status);
        Assert.True((m.Anomalies & SipAnomaly.BareLineFeed) != 0);
    }

    [Fact]
    public void Sdp_details()
    {
        const string sdp = "v=0\r\no=- 1 2 IN IP6 2001:db8::5\r\ns=x\r\nc=IN IP4 224.2.1.1/127/3\r\nt=0 0\r\n" +
                           "m=audio 5004/2 RTP/AVP 0 96 bogus\r\nc=IN IP4 192.0.2.9\r\nm=image 6000 udptl t38\r\njunk\r\n";
        var m = Parse("INVITE sip:bob@example.com SIP/2.0\r\n" + Tail + "CSeq: 1 INVITE\r\nContent-Type: application/sdp\r\n" +
                      $"Content-Length: {sdp.Length}\r\n\r\n" + sdp);
        Assert.Equal(SipParseStatus.Ok, m.Status);
        Assert.Equal("224.2.1.1", m.Sdp.ConnectionAddress.ToString());
        Assert.Equal("2001:db8::5", m.GetString(m.Sdp.OriginAddress));
        Assert.Equal(2, m.MediaCount);
        Assert.Equal(2, m.Media[0].PortCount);
        Assert.Equal([0, 96], m.GetPayloadTypes(m.Media[0]).ToArray());
        Assert.Equal("192.0.2.9", m.Media[0].ConnectionAddress.ToString());
        Assert.Equal(SdpMediaKind.Image, m.Media[1].Kind);
        Assert.Equal(0, m.Media[1].PayloadCount);
        Assert.True((m.Anomalies & SipAnomaly.SdpMalformed) != 0);
    }

    [Theory]
    [InlineData("0 8 127", new byte[] { 0, 8, 127 }, false)]
    [InlineData("0008 000000000000000000000000101", new byte[] { 8, 101 }, false)] // leading zeros are still the value
    [InlineData("128 0", new byte[] { 0 }, true)]                                     // past 127: not a payload type
    [InlineData("99999999999999999999999999 18", new byte[] { 18 }, true)]            // no wrap-around
    [InlineData("18a 3 -1", new byte[] { 3 }, true)]
    public void Sdp_payload_types_are_0_to_127(string formats, byte[] expected, bool malformed)
    {
        string sdp = $"v=0\r\no=- 1 2 IN IP4 192.0.2.9\r\ns=x\r\nc=IN IP4 192.0.2.9\r\nt=0 0\r\nm=audio 5004 RTP/AVP {formats}\r\n";
        var m = Parse("INVITE sip:bob@example.com SIP/2.0\r\n" + Tail + "CSeq: 1 INVITE\r\nContent-Type: application/sdp\r\n" +
                      $"Content-Length: {sdp.Length}\r\n\r\n" + sdp);
        Assert.Equal(SipParseStatus.Ok, m.Status);
        Assert.Equal(expected, m.GetPayloadTypes(m.Media[0]).ToArray());
        Assert.Equal(malformed, (m.Anomalies & SipAnomaly.SdpMalformed) != 0);
    }

    [Fact]
    public void Stream_mode_never_guesses_a_body_without_content_length()
    {
        var m = Parse("OPTIONS sip:bob@example.com SIP/2.0\r\n" + Tail + "CSeq: 1 OPTIONS\r\n\r\n", SipParseMode.Stream);
        Assert.Equal(0, m.Body.Length);
        Assert.True((m.Anomalies & SipAnomaly.ContentLengthInStreamMissing) != 0);
    }

    [Fact]
    public void Uri_param_lookup()
    {
        var m = Parse("INVITE sip:bob@example.com;transport=tcp;lr;user=phone SIP/2.0\r\n" + Tail + "CSeq: 1 INVITE\r\nl: 0\r\n\r\n");
        Assert.Equal("tcp", m.GetString(SipParser.FindUriParam(m, m.RequestUri, "TRANSPORT"u8)));
        Assert.Equal(0, SipParser.FindUriParam(m, m.RequestUri, "lr"u8).Length);
        Assert.True(SipParser.FindUriParam(m, m.RequestUri, "lr"u8).IsPresent);
        Assert.False(SipParser.FindUriParam(m, m.RequestUri, "maddr"u8).IsPresent);
    }

    [Theory]
    [InlineData("OPTIONS sip:a@b SIP/2.0", true, PayloadClass.Sip)]
    [InlineData("SIP/2.0 200 OK", false, PayloadClass.Sip)]
    [InlineData("GET / HTTP/1.1", true, PayloadClass.NotSip)]
    [InlineData("M-SEARCH * HTTP/1.1", true, PayloadClass.NotSip)]
    [InlineData("NOTIFY * HTTP/1.1", true, PayloadClass.NotSip)]
    [InlineData("hello", true, PayloadClass.NotSip)]
    [InlineData("\r\n\r\n", true, PayloadClass.KeepAlive)]
    [InlineData("     ", true, PayloadClass.KeepAlive)]
    [InlineData("\0\0\0\0", true, PayloadClass.KeepAlive)]
    [InlineData("INVITE sip:alan@jasomi.com", true, PayloadClass.Sip)]
    [InlineData("INVITE sip:alan@jasomi.com", false, PayloadClass.NotSip)]
    [InlineData("OPTIONS sip:a@b SIP/2.0", false, PayloadClass.Sip)]
    public void Payload_classification(string firstLine, bool sipPort, PayloadClass expected) =>
        Assert.Equal(expected, SipDetector.Classify(Encoding.ASCII.GetBytes(firstLine + (firstLine.Trim('\r', '\n', ' ', '\0').Length > 0 ? "\r\n" : "")), sipPort));

    [Theory]
    [InlineData("2001:db8::1", "2001:db8::1")]
    [InlineData("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1")]
    [InlineData("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1")]
    [InlineData("2001:0:0:1:0:0:0:1", "2001:0:0:1::1")]
    [InlineData("::", "::")]
    [InlineData("::1", "::1")]
    [InlineData("fe80::", "fe80::")]
    [InlineData("::ffff:192.0.2.1", "::ffff:192.0.2.1")]
    [InlineData("2001:db8::192.0.2.1", "2001:db8::c000:201")]
    [InlineData("[2001:db8::a]", "2001:db8::a")]
    public void Ipv6_text_round_trips_in_rfc5952_form(string input, string expected)
    {
        Assert.True(IpAddr.TryParse(Encoding.ASCII.GetBytes(input), out var a));
        Assert.Equal(expected, a.ToString());
        Assert.Equal(System.Net.IPAddress.Parse(input.Trim('[', ']')).ToString(), a.ToString());
    }

    [Theory]
    [InlineData("1.2.3")]
    [InlineData("1.2.3.256")]
    [InlineData("1.2.3.4.5")]
    [InlineData("1::2::3")]
    [InlineData("12345::")]
    [InlineData("1:2:3:4:5:6:7:8:9")]
    [InlineData(":1")]
    [InlineData("1:")]
    public void Bad_addresses_are_refused(string input) => Assert.False(IpAddr.TryParse(Encoding.ASCII.GetBytes(input), out _));

    [Fact]
    public void Prefixes_aggregate_addresses()
    {
        IpAddr.TryParse("203.0.113.77"u8, out var v4);
        Assert.Equal("203.0.113.0", v4.Prefix(24).ToString());
        IpAddr.TryParse("2001:db8:1:2:3:4:5:6"u8, out var v6);
        Assert.Equal("2001:db8:1:2::", v6.Prefix(64).ToString());
    }
}
