using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using FsCheck;
using FsCheck.Fluent;
using SipIps.Engine.Sip;
using SipIps.Tests;
using Xunit;

namespace SipIps.Engine.Tests.Sip;

/// <summary>Hostile input: PROTOS mutations, random mutations, and messages built to cost a lot.</summary>
public class RobustnessTests
{
    /// <summary>Every slice the parser produced must lie inside the message.</summary>
    internal static void AssertSlicesInBounds(SipMessage m)
    {
        void Check(SipSlice s, string what)
        {
            if (!s.IsPresent) return;
            Assert.True(s.Start >= 0 && s.Length >= 0 && s.End <= m.Length, $"{what} slice {s.Start}+{s.Length} outside 0..{m.Length}");
        }
        void Uri(in SipUri u, string what)
        {
            Check(u.Text, what); Check(u.User, what + ".user"); Check(u.Password, what + ".password"); Check(u.Host, what + ".host");
            Check(u.Params, what + ".params"); Check(u.Headers, what + ".headers");
        }
        void NameAddr(in SipNameAddr n, string what)
        {
            Check(n.Text, what); Check(n.DisplayName, what + ".display"); Check(n.Tag, what + ".tag"); Check(n.Params, what + ".params"); Check(n.Q, what + ".q");
            Uri(n.Uri, what + ".uri");
        }
        Check(m.StartLine, "start"); Check(m.MethodText, "method"); Check(m.Version, "version"); Check(m.Reason, "reason");
        Uri(m.RequestUri, "ruri");
        NameAddr(m.From, "from"); NameAddr(m.To, "to");
        Check(m.CallId, "callid"); Check(m.CSeqMethodText, "cseq");
        Check(m.UserAgent, "ua"); Check(m.Server, "server"); Check(m.ContentType, "ct"); Check(m.Subject, "subject"); Check(m.Date, "date");
        Check(m.Body, "body");
        Assert.True(m.ViaCount <= m.Vias.Length && m.ViaCount <= m.ViaTotal);
        for (int i = 0; i < m.ViaCount; i++)
        {
            var v = m.Vias[i];
            Check(v.Text, "via"); Check(v.Host, "via.host"); Check(v.Branch, "via.branch"); Check(v.Received, "via.received"); Check(v.Params, "via.params");
        }
        for (int i = 0; i < m.ContactCount; i++) NameAddr(m.Contacts[i], "contact");
        for (int i = 0; i < m.RouteCount; i++) NameAddr(m.Routes[i], "route");
        for (int i = 0; i < m.HeaderCount; i++) { Check(m.Headers[i].Name, "hname"); Check(m.Headers[i].Value, "hvalue"); }
        for (int i = 0; i < m.MediaCount; i++)
        {
            Check(m.Media[i].Text, "media");
            Assert.True(m.Media[i].PayloadStart + m.Media[i].PayloadCount <= m.PayloadTypeCount);
        }
        Check(m.Authorization.Username, "auth.user"); Check(m.Authorization.Realm, "auth.realm");
        Assert.True(m.MessageLength <= m.Length);
    }

    // ------------------------------------------------------------------ PROTOS

    private static readonly Regex s_placeholder = new("<(To|From|From-Address|From-IP|Local-Port|Branch-ID|Call-ID|CSeq|Teardown-Method|Content-Length)>", RegexOptions.Compiled);

    /// <summary>Splits a PROTOS case ("len SP bytes" twice) and substitutes its placeholders as the suite's tool does.</summary>
    internal static List<byte[]> ProtosMessages(string file, int caseNumber)
    {
        var raw = File.ReadAllBytes(file);
        var result = new List<byte[]>();
        int pos = 0;
        while (pos < raw.Length)
        {
            int sp = Array.IndexOf(raw, (byte)' ', pos);
            if (sp < 0 || !int.TryParse(Encoding.ASCII.GetString(raw, pos, sp - pos), out int len)) break;
            len = Math.Min(len, raw.Length - sp - 1);
            var template = Encoding.Latin1.GetString(raw, sp + 1, len);
            pos = sp + 1 + len;
            while (pos < raw.Length && raw[pos] is (byte)'\r' or (byte)'\n' or (byte)' ') pos++;

            string Sub(string t, int bodyLength) => s_placeholder.Replace(t, m => m.Groups[1].Value switch
            {
                "To" => "bob@192.0.2.20",
                "From" => "alice@192.0.2.10",
                "From-Address" or "From-IP" => "192.0.2.10",
                "Local-Port" => "5060",
                "Branch-ID" => caseNumber.ToString(),
                "Call-ID" => "protos" + caseNumber,
                "CSeq" => "1",
                "Teardown-Method" => "CANCEL",
                "Content-Length" => bodyLength.ToString(),
                _ => m.Value,
            });
            string first = Sub(template, 0);
            int split = first.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            int body = split < 0 ? 0 : Encoding.Latin1.GetByteCount(first.AsSpan(split + 4));
            result.Add(Encoding.Latin1.GetBytes(Sub(template, body)));
        }
        return result;
    }

    [Fact]
    public void Every_protos_case_parses_or_is_rejected_quickly_and_a_valid_invite_still_parses_afterwards()
    {
        var files = Directory.GetFiles(Corpus.Path("protos-c07-sip", "cases")).OrderBy(f => f, StringComparer.Ordinal).ToList();
        Assert.True(files.Count > 3000, $"only {files.Count} PROTOS cases found");
        var valid = Encoding.ASCII.GetBytes(SipSamples.Invite(SipSamples.BenchmarkCall));
        var m = new SipMessage();
        int messages = 0, rejected = 0;
        var slowest = TimeSpan.Zero;
        string slowestCase = "";
        foreach (var file in files)
        {
            int number = int.Parse(Path.GetFileName(file));
            foreach (var msg in ProtosMessages(file, number))
            {
                var sw = Stopwatch.StartNew();
                var status = SipParser.Parse(msg, m);
                sw.Stop();
                messages++;
                if (status != SipParseStatus.Ok) rejected++;
                AssertSlicesInBounds(m);
                if (sw.Elapsed > slowest) { slowest = sw.Elapsed; slowestCase = file; }
                // A hang guard, not a benchmark: far above what any case takes.
                Assert.True(sw.Elapsed < TimeSpan.FromMilliseconds(250), $"{file} took {sw.Elapsed.TotalMilliseconds} ms");
            }
            // PROTOS's own criterion: the element still handles a valid INVITE afterwards.
            Assert.Equal(SipParseStatus.Ok, SipParser.Parse(valid, m));
        }
        Assert.True(messages >= 6000, $"{messages} messages");
        Assert.True(rejected > 500, $"only {rejected} of {messages} PROTOS messages rejected");
        // The unmutated case 0 must be valid.
        var zero = ProtosMessages(files[0], 0);
        Assert.All(zero, z => Assert.Equal(SipParseStatus.Ok, SipParser.Parse(z, m)));
    }

    // ------------------------------------------------------------------ random mutations (FsCheck)

    private static readonly byte[][] s_seeds =
    [
        Encoding.ASCII.GetBytes(SipSamples.Invite(SipSamples.BenchmarkCall)),
        Encoding.ASCII.GetBytes(SipSamples.Response(SipSamples.BenchmarkCall, 200, "OK", body: SipSamples.AnswerSdp(SipSamples.BenchmarkCall))),
        Encoding.ASCII.GetBytes(SipSamples.Register(SipSamples.BenchmarkCall, 2, true, "84f1c1ae6cbe5ua9c8e88dfa3ecm3459")),
        Encoding.ASCII.GetBytes(SipSamples.Challenge(SipSamples.BenchmarkCall, 1, "84f1c1ae6cbe5ua9c8e88dfa3ecm3459")),
    ];

    private static readonly byte[] s_interesting = Encoding.ASCII.GetBytes("\r\n\t :;,\"<>@%=?/[]\\\0\x7f9-");

    private enum Op { Flip, Insert, Delete, Truncate, DuplicateRange, Special, Splice }

    private static Gen<byte[]> Mutations()
    {
        var op = Gen.Elements(Enum.GetValues<Op>());
        var one = from o in op
                  from a in Gen.Choose(0, 100_000)
                  from b in Gen.Choose(0, 100_000)
                  from c in Gen.Choose(0, 255)
                  select (o, a, b, c);
        return from seed in Gen.Elements(s_seeds)
               from steps in Gen.ListOf(one, 8)
               select Apply(seed, steps);
    }

    private static byte[] Apply(byte[] seed, IEnumerable<(Op Op, int A, int B, int C)> steps)
    {
        var data = new List<byte>(seed);
        foreach (var (o, a, b, c) in steps)
        {
            if (data.Count == 0) data.AddRange(seed);
            int i = a % data.Count;
            switch (o)
            {
                case Op.Flip: data[i] = (byte)c; break;
                case Op.Insert: data.Insert(i, (byte)c); break;
                case Op.Delete: data.RemoveRange(i, Math.Min(1 + b % 16, data.Count - i)); break;
                case Op.Truncate: data.RemoveRange(i, data.Count - i); break;
                case Op.DuplicateRange:
                    int len = Math.Min(1 + b % 200, data.Count - i);
                    data.InsertRange(i, data.GetRange(i, len));
                    break;
                case Op.Special: data.Insert(i, s_interesting[c % s_interesting.Length]); break;
                case Op.Splice:
                    var other = s_seeds[b % s_seeds.Length];
                    data.InsertRange(i, other.Skip(c % other.Length).Take(1 + b % 300));
                    break;
            }
        }
        return data.ToArray();
    }

    [Fact]
    public void Random_mutations_of_valid_messages_never_throw_or_leave_bounds()
    {
        var m = new SipMessage();
        Prop.ForAll(Arb.From(Mutations()), (byte[] input) =>
        {
            SipParser.Parse(input, m);
            AssertSlicesInBounds(m);
            SipParser.Parse(input, m, SipParseMode.Stream);
            AssertSlicesInBounds(m);
            // Detection must not throw either.
            SipDetector.Classify(input, onSipPort: true);
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(3000));
    }

    /// <summary>
    /// Found by the mutation test above: a host whose last label is empty after a trailing dot ("192.0..") made the
    /// host check read one byte past the host. Each place a host is parsed must reject it with a status.
    /// </summary>
    [Theory]
    [InlineData("INVITE sip:bob@192.0.. SIP/2.0", "Contact: <sip:a@b.example>", SipParseStatus.BadRequestUri)]
    [InlineData("INVITE sip:bob@a.. SIP/2.0", "Contact: <sip:a@b.example>", SipParseStatus.BadRequestUri)]
    [InlineData("INVITE sip:bob@b.example SIP/2.0", "Contact: <sip:alice@192.0..:5060>", SipParseStatus.BadContact)]
    [InlineData("INVITE sip:bob@b.example SIP/2.0", "Contact: <sip:alice@..>", SipParseStatus.BadContact)]
    public void A_host_ending_in_an_empty_label_is_rejected_not_overrun(string requestLine, string contact, SipParseStatus expected)
    {
        var text = $"{requestLine}\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK1\r\nFrom: <sip:a@b.example>;tag=1\r\n" +
                   $"To: <sip:b@b.example>\r\nCall-ID: x@y\r\nCSeq: 1 INVITE\r\n{contact}\r\nContent-Length: 0\r\n\r\n";
        var m = new SipMessage();
        Assert.Equal(expected, SipParser.Parse(Encoding.ASCII.GetBytes(text), m));
        // The same bytes with the host at the very end of the buffer, where an overrun leaves the array.
        string cut = text[..(text.IndexOf("..", StringComparison.Ordinal) + 2)];
        SipParser.Parse(Encoding.ASCII.GetBytes(cut), m);
        Assert.NotEqual(SipParseStatus.Ok, m.Status);
    }

    [Fact]
    public void Random_bytes_never_throw()
    {
        var m = new SipMessage();
        Prop.ForAll(Arb.From(Gen.ArrayOf(Gen.Elements(s_interesting.Concat(Encoding.ASCII.GetBytes("SIP/2.0 INVITE sip:a@b Via:")).ToArray()))), (byte[] input) =>
        {
            SipParser.Parse(input, m);
            AssertSlicesInBounds(m);
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(2000));
    }

    // ------------------------------------------------------------------ bounded work

    [Fact]
    public void Ten_thousand_via_headers_are_parsed_with_the_store_capped_and_counted()
    {
        var sb = new StringBuilder("OPTIONS sip:a@example.com SIP/2.0\r\n");
        for (int i = 0; i < 10_000; i++) sb.Append($"Via: SIP/2.0/UDP 192.0.2.{i % 250}:5060;branch=z9hG4bK{i}\r\n");
        sb.Append("From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n");
        var m = new SipMessage();
        Assert.Equal(SipParseStatus.Ok, SipParser.Parse(Encoding.ASCII.GetBytes(sb.ToString()), m));
        Assert.Equal(10_000, m.ViaTotal);
        Assert.Equal(m.Vias.Length, m.ViaCount);
        Assert.True((m.Anomalies & SipAnomaly.ViaCapReached) != 0);
        Assert.True((m.Anomalies & SipAnomaly.HeaderCapReached) != 0);
        Assert.Equal("z9hG4bK0", m.GetString(m.Vias[0].Branch));
    }

    [Fact]
    public void A_300_kb_message_with_pathological_values_is_parsed()
    {
        var sb = new StringBuilder("INVITE sip:a@example.com SIP/2.0\r\n");
        sb.Append("Via: SIP/2.0/UDP h.example.com;branch=z9hG4bK1\r\n");
        sb.Append("From: \"").Append('\\', 120_000).Append("\" <sip:a@example.com>;tag=1\r\n");
        sb.Append("To: <sip:b@example.com>").Append(string.Concat(Enumerable.Repeat(";p", 20_000))).Append("\r\n");
        sb.Append("Call-ID: c\r\nCSeq: 1 INVITE\r\n");
        sb.Append("X-Long:").Append(string.Concat(Enumerable.Repeat(" ,", 50_000))).Append("\r\n");
        sb.Append("Contact: ").Append(string.Concat(Enumerable.Repeat("<sip:a@b>,", 5_000))).Append("<sip:a@b>\r\n");
        sb.Append("Content-Length: 0\r\n\r\n");
        var bytes = Encoding.ASCII.GetBytes(sb.ToString());
        Assert.True(bytes.Length > 300_000);
        var m = new SipMessage();
        SipParser.Parse(bytes, m);
        AssertSlicesInBounds(m);
        Assert.Equal(5_001, m.ContactTotal);
        Assert.True((m.Anomalies & SipAnomaly.ContactCapReached) != 0);
    }

    [Fact]
    public void Messages_larger_than_the_buffer_are_refused_not_truncated()
    {
        var m = new SipMessage(new SipParserLimits { MaxMessageSize = 1024 });
        Assert.Equal(SipParseStatus.TooLarge, SipParser.Parse(new byte[2000], m));
    }
}
