using System.Text;

namespace SipIps.Tests;

/// <summary>
/// Realistic SIP messages written for this project (a softphone call and a registration), parameterised so that
/// the generator varies Call-ID, tags, branch and media port per call.
/// </summary>
public static class SipSamples
{
    public sealed record Call(
        string CallId,
        string FromUser,
        string ToUser,
        string FromTag,
        string ToTag,
        string Branch,
        string CallerIp,
        string CalleeIp,
        int CallerPort,
        int MediaPort,
        int CSeq = 1,
        string Domain = "example.com",
        string UserAgent = "Acme-Phone/4.2.1");

    public static string Invite(Call c, string extraSdp = "")
    {
        string sdp =
            "v=0\r\n" +
            $"o={c.FromUser} 2890844526 2890844526 IN IP4 {c.CallerIp}\r\n" +
            "s=call\r\n" +
            $"c=IN IP4 {c.CallerIp}\r\n" +
            "t=0 0\r\n" +
            $"m=audio {c.MediaPort} RTP/AVP 0 8 18 101\r\n" +
            "a=rtpmap:0 PCMU/8000\r\n" +
            "a=rtpmap:8 PCMA/8000\r\n" +
            "a=rtpmap:18 G729/8000\r\n" +
            "a=rtpmap:101 telephone-event/8000\r\n" +
            "a=fmtp:101 0-16\r\n" +
            "a=ptime:20\r\n" +
            "a=sendrecv\r\n" + extraSdp;
        return
            $"INVITE sip:{c.ToUser}@{c.Domain} SIP/2.0\r\n" +
            $"Via: SIP/2.0/UDP {c.CallerIp}:{c.CallerPort};branch={c.Branch};rport\r\n" +
            "Max-Forwards: 70\r\n" +
            $"From: \"{c.FromUser}\" <sip:{c.FromUser}@{c.Domain}>;tag={c.FromTag}\r\n" +
            $"To: <sip:{c.ToUser}@{c.Domain}>\r\n" +
            $"Call-ID: {c.CallId}\r\n" +
            $"CSeq: {c.CSeq} INVITE\r\n" +
            $"Contact: <sip:{c.FromUser}@{c.CallerIp}:{c.CallerPort};transport=udp>\r\n" +
            "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, REFER, NOTIFY\r\n" +
            "Supported: replaces, timer\r\n" +
            "Accept: application/sdp\r\n" +
            "Allow-Events: talk, hold, conference, refer, check-sync\r\n" +
            "Session-Expires: 1800;refresher=uac\r\n" +
            "Min-SE: 90\r\n" +
            $"User-Agent: {c.UserAgent}\r\n" +
            "Content-Type: application/sdp\r\n" +
            $"Content-Length: {Encoding.ASCII.GetByteCount(sdp)}\r\n" +
            "\r\n" + sdp;
    }

    public static string Response(Call c, int code, string reason, string method = "INVITE", bool withTag = true, string? body = null, int? cseq = null)
    {
        var sb = new StringBuilder();
        sb.Append($"SIP/2.0 {code} {reason}\r\n");
        sb.Append($"Via: SIP/2.0/UDP {c.CallerIp}:{c.CallerPort};branch={c.Branch};rport={c.CallerPort};received={c.CallerIp}\r\n");
        sb.Append($"From: \"{c.FromUser}\" <sip:{c.FromUser}@{c.Domain}>;tag={c.FromTag}\r\n");
        sb.Append(withTag ? $"To: <sip:{c.ToUser}@{c.Domain}>;tag={c.ToTag}\r\n" : $"To: <sip:{c.ToUser}@{c.Domain}>\r\n");
        sb.Append($"Call-ID: {c.CallId}\r\n");
        sb.Append($"CSeq: {cseq ?? c.CSeq} {method}\r\n");
        if (code is >= 200 and < 300 && method == "INVITE")
            sb.Append($"Contact: <sip:{c.ToUser}@{c.CalleeIp}:5060>\r\n");
        sb.Append("Server: Acme-PBX/11.3\r\n");
        if (body is not null)
        {
            sb.Append("Content-Type: application/sdp\r\n");
            sb.Append($"Content-Length: {Encoding.ASCII.GetByteCount(body)}\r\n\r\n{body}");
        }
        else
        {
            sb.Append("Content-Length: 0\r\n\r\n");
        }
        return sb.ToString();
    }

    public static string AnswerSdp(Call c) =>
        "v=0\r\n" +
        $"o=pbx 1234 1234 IN IP4 {c.CalleeIp}\r\n" +
        "s=call\r\n" +
        $"c=IN IP4 {c.CalleeIp}\r\n" +
        "t=0 0\r\n" +
        $"m=audio {c.MediaPort + 10000} RTP/AVP 0 101\r\n" +
        "a=rtpmap:0 PCMU/8000\r\n" +
        "a=rtpmap:101 telephone-event/8000\r\n";

    public static string InDialog(Call c, string method, int cseq, string branch) =>
        $"{method} sip:{c.ToUser}@{c.CalleeIp}:5060 SIP/2.0\r\n" +
        $"Via: SIP/2.0/UDP {c.CallerIp}:{c.CallerPort};branch={branch};rport\r\n" +
        "Max-Forwards: 70\r\n" +
        $"From: \"{c.FromUser}\" <sip:{c.FromUser}@{c.Domain}>;tag={c.FromTag}\r\n" +
        $"To: <sip:{c.ToUser}@{c.Domain}>;tag={c.ToTag}\r\n" +
        $"Call-ID: {c.CallId}\r\n" +
        $"CSeq: {cseq} {method}\r\n" +
        $"User-Agent: {c.UserAgent}\r\n" +
        "Content-Length: 0\r\n\r\n";

    public static string Register(Call c, int cseq, bool withAuth, string? nonce = null)
    {
        var sb = new StringBuilder();
        sb.Append($"REGISTER sip:{c.Domain} SIP/2.0\r\n");
        sb.Append($"Via: SIP/2.0/UDP {c.CallerIp}:{c.CallerPort};branch={c.Branch}-{cseq};rport\r\n");
        sb.Append("Max-Forwards: 70\r\n");
        sb.Append($"From: <sip:{c.FromUser}@{c.Domain}>;tag={c.FromTag}\r\n");
        sb.Append($"To: <sip:{c.FromUser}@{c.Domain}>\r\n");
        sb.Append($"Call-ID: {c.CallId}\r\n");
        sb.Append($"CSeq: {cseq} REGISTER\r\n");
        sb.Append($"Contact: <sip:{c.FromUser}@{c.CallerIp}:{c.CallerPort};transport=udp>;expires=3600\r\n");
        if (withAuth)
            sb.Append($"Authorization: Digest username=\"{c.FromUser}\", realm=\"{c.Domain}\", nonce=\"{nonce}\", " +
                      $"uri=\"sip:{c.Domain}\", response=\"6629fae49393a05397450978507c4ef1\", algorithm=MD5\r\n");
        sb.Append("Expires: 3600\r\n");
        sb.Append($"User-Agent: {c.UserAgent}\r\n");
        sb.Append("Content-Length: 0\r\n\r\n");
        return sb.ToString();
    }

    public static string Challenge(Call c, int cseq, string nonce) =>
        $"SIP/2.0 401 Unauthorized\r\n" +
        $"Via: SIP/2.0/UDP {c.CallerIp}:{c.CallerPort};branch={c.Branch}-{cseq};rport={c.CallerPort};received={c.CallerIp}\r\n" +
        $"From: <sip:{c.FromUser}@{c.Domain}>;tag={c.FromTag}\r\n" +
        $"To: <sip:{c.FromUser}@{c.Domain}>;tag={c.ToTag}\r\n" +
        $"Call-ID: {c.CallId}\r\n" +
        $"CSeq: {cseq} REGISTER\r\n" +
        $"WWW-Authenticate: Digest realm=\"{c.Domain}\", nonce=\"{nonce}\", algorithm=MD5, qop=\"auth\"\r\n" +
        "Server: Acme-PBX/11.3\r\n" +
        "Content-Length: 0\r\n\r\n";

    /// <summary>The ~900-byte INVITE with SDP used by the parser benchmark.</summary>
    public static Call BenchmarkCall => new(
        CallId: "a84b4c76e66710-2f1c9b3a@192.0.2.10",
        FromUser: "alice",
        ToUser: "bob",
        FromTag: "1928301774",
        ToTag: "a6c85cf",
        Branch: "z9hG4bK776asdhds",
        CallerIp: "192.0.2.10",
        CalleeIp: "198.51.100.20",
        CallerPort: 5060,
        MediaPort: 49170);
}
