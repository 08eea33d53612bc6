using SipIps.Capture;
using SipIps.Engine.Common;
using SipIps.Engine.Decode;
using SipIps.Engine.Packets;
using SipIps.Engine.Pipeline;
using SipIps.Engine.Sip;

namespace SipIps.Replay.Tests;

/// <summary>One SIP message as seen by a replay: the fields tests look at, as strings.</summary>
public sealed record SeenMessage(
    long Frame,
    bool ToServer,
    string Proto,
    SipParseStatus Status,
    bool IsRequest,
    IReadOnlyDictionary<string, string> Fields,
    IReadOnlyDictionary<string, List<string>> Headers);

/// <summary>Runs a capture through the engine (as <c>sipips analyze</c> does) and records every message.</summary>
public sealed class Replay : ISipObserver
{
    private readonly Dictionary<(IpAddr, ushort, IpAddr, ushort, L4Protocol), bool> _initiators = new();
    private long _frame;

    public List<SeenMessage> Messages { get; } = new();
    public SipEngine Engine { get; }

    private Replay()
    {
        Engine = new SipEngine(new EngineOptions { Decoder = new DecoderOptions { Ipv4Checksum = ChecksumPolicy.Count } }, this);
    }

    public static Replay Run(string path)
    {
        var r = new Replay();
        using var reader = CaptureFileReader.Open(path);
        while (reader.TryReadNext(out var f))
        {
            r._frame++;
            r.Engine.ProcessFrame(f.Data, f.Link, f.TimestampNs, f.WireLength);
        }
        return r;
    }

    public void OnSipMessage(in PacketInfo p, SipMessage m)
    {
        // Flow direction as an IDS sees it: the side that sent the first packet of the flow is the client.
        var key = (p.Source, p.SourcePort, p.Destination, p.DestinationPort, p.Protocol);
        var reverse = (p.Destination, p.DestinationPort, p.Source, p.SourcePort, p.Protocol);
        bool toServer;
        if (_initiators.TryGetValue(key, out _)) toServer = true;
        else if (_initiators.ContainsKey(reverse)) toServer = false;
        else
        {
            _initiators[key] = true;
            toServer = true;
        }

        var fields = new Dictionary<string, string>();
        void Put(string k, SipSlice s)
        {
            if (s.IsPresent) fields[k] = m.GetString(s)!;
        }
        if (m.IsRequest)
        {
            Put("sip.method", m.MethodText);
            Put("sip.uri", m.RequestUri.Text);
            Put("sip.request_line", m.StartLine);
        }
        else
        {
            if (m.StatusCode > 0) fields["sip.code"] = m.StatusCode.ToString();
            Put("sip.reason", m.Reason);
            Put("sip.response_line", m.StartLine);
        }
        Put("sip.version", m.Version);
        if (m.Sdp.Present)
        {
            Put("sip.sdp.origin", m.Sdp.Origin);
            Put("sip.sdp.session_name", m.Sdp.SessionName);
            Put("sip.sdp.connection_data", m.Sdp.Connection);
            if (m.MediaCount > 0) Put("sip.sdp.media_descriptions[0].media", m.Media[0].Text);
        }
        var headers = new Dictionary<string, List<string>>(StringComparer.OrdinalIgnoreCase);
        for (int i = 0; i < m.HeaderCount; i++)
        {
            var h = m.Headers[i];
            string name = h.Id == SipHeaderId.Other ? m.GetString(h.Name)! : SipHeaders.CanonicalName(h.Id);
            if (!headers.TryGetValue(name, out var list)) headers[name] = list = new List<string>();
            list.Add(m.GetString(h.Value)!);
        }
        Messages.Add(new SeenMessage(_frame, toServer, p.Protocol == L4Protocol.Tcp ? "TCP" : p.Protocol == L4Protocol.Sctp ? "SCTP" : "UDP",
            m.Status, m.IsRequest, fields, headers));
    }
}
