using System.Text.Json;
using SipIps.Engine.Sip;

namespace SipIps.Host.Output;

/// <summary>Every parsed field of a SIP message as JSON (the output of <c>sipips parse</c>).</summary>
internal static class SipMessageJson
{
    public static void Write(Utf8JsonWriter w, SipMessage m)
    {
        w.WriteStartObject();
        w.WriteBoolean("valid", m.IsValid);
        w.WriteString("reason", SipParseStatusNames.Name(m.Status));
        if (!m.IsValid)
        {
            w.WriteNumber("error_offset", m.ErrorOffset);
            if (m.ErrorHeader != SipHeaderId.Other) w.WriteString("error_header", SipHeaders.CanonicalName(m.ErrorHeader));
        }
        w.WriteStartArray("anomalies");
        foreach (var a in SipParseStatusNames.Each(m.Anomalies)) w.WriteStringValue(SipParseStatusNames.Name(a));
        w.WriteEndArray();

        if (m.IsRequest)
        {
            w.WriteString("type", "request");
            w.WriteBytes("method", m[m.MethodText]);
            if (m.RequestUri.Text.IsPresent)
            {
                w.WritePropertyName("request_uri");
                WriteUri(w, m, m.RequestUri);
            }
        }
        else if (m.StatusCode > 0)
        {
            w.WriteString("type", "response");
            w.WriteNumber("status_code", m.StatusCode);
            w.WriteBytes("reason_phrase", m[m.Reason]);
        }
        Str(w, m, "version", m.Version);

        w.WriteNumber("via_count", m.ViaTotal);
        w.WriteStartArray("via");
        for (int i = 0; i < m.ViaCount; i++)
        {
            ref readonly var v = ref m.Vias[i];
            w.WriteStartObject();
            Str(w, m, "protocol", v.Protocol);
            Str(w, m, "transport", v.TransportText);
            Str(w, m, "host", v.Host);
            if (v.Port >= 0) w.WriteNumber("port", v.Port);
            Str(w, m, "branch", v.Branch);
            Str(w, m, "received", v.Received);
            if (v.RPort == -1) w.WriteBoolean("rport", true);
            else if (v.RPort >= 0) w.WriteNumber("rport", v.RPort);
            Str(w, m, "maddr", v.Maddr);
            Str(w, m, "params", v.Params);
            w.WriteEndObject();
        }
        w.WriteEndArray();

        NameAddr(w, m, "from", m.From);
        NameAddr(w, m, "to", m.To);
        Str(w, m, "call_id", m.CallId);
        if (m.CSeqNumber >= 0)
        {
            w.WriteStartObject("cseq");
            w.WriteNumber("number", m.CSeqNumber);
            Str(w, m, "method", m.CSeqMethodText);
            w.WriteEndObject();
        }
        w.WriteNumber("contact_count", m.ContactTotal);
        if (m.ContactStar) w.WriteBoolean("contact_star", true);
        w.WriteStartArray("contact");
        for (int i = 0; i < m.ContactCount; i++) NameAddrValue(w, m, m.Contacts[i]);
        w.WriteEndArray();
        if (m.MaxForwards >= 0) w.WriteNumber("max_forwards", m.MaxForwards);
        if (m.Expires >= 0) w.WriteNumber("expires", m.Expires);
        Str(w, m, "user_agent", m.UserAgent);
        Str(w, m, "server", m.Server);
        Str(w, m, "content_type", m.ContentType);
        if (m.ContentLength >= 0) w.WriteNumber("content_length", m.ContentLength);
        Str(w, m, "subject", m.Subject);
        Str(w, m, "date", m.Date);
        Credentials(w, m, "authorization", m.Authorization);
        Credentials(w, m, "proxy_authorization", m.ProxyAuthorization);
        Challenge(w, m, "www_authenticate", m.WwwAuthenticate);
        Challenge(w, m, "proxy_authenticate", m.ProxyAuthenticate);
        Routes(w, m, "route", m.Routes, m.RouteCount, m.RouteTotal);
        Routes(w, m, "record_route", m.RecordRoutes, m.RecordRouteCount, m.RecordRouteTotal);

        w.WriteNumber("header_count", m.HeaderTotal);
        w.WriteStartArray("headers");
        for (int i = 0; i < m.HeaderCount; i++)
        {
            ref readonly var h = ref m.Headers[i];
            w.WriteStartObject();
            w.WriteBytes("name", m[h.Name]);
            if (h.Id != SipHeaderId.Other) w.WriteString("canonical", SipHeaders.CanonicalName(h.Id));
            w.WriteBytes("value", m[h.Value]);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteNumber("body_length", m.Body.IsPresent ? m.Body.Length : 0);
        if (m.Sdp.Present) Sdp(w, m);
        w.WriteEndObject();
    }

    private static void Str(Utf8JsonWriter w, SipMessage m, string name, SipSlice s)
    {
        if (s.IsPresent) w.WriteBytes(name, m[s]);
    }

    private static void WriteUri(Utf8JsonWriter w, SipMessage m, in SipUri u)
    {
        w.WriteStartObject();
        Str(w, m, "text", u.Text);
        w.WriteString("scheme", u.Scheme switch
        {
            UriScheme.Sip => "sip",
            UriScheme.Sips => "sips",
            UriScheme.Tel => "tel",
            UriScheme.Other => "other",
            _ => "none",
        });
        Str(w, m, "user", u.User);
        if (u.User.IsPresent && m[u.User].Contains((byte)'%')) w.WriteString("user_unescaped", SipText.Unescape(m[u.User]));
        Str(w, m, "password", u.Password);
        Str(w, m, "host", u.Host);
        if (u.Port >= 0) w.WriteNumber("port", u.Port);
        Str(w, m, "params", u.Params);
        Str(w, m, "headers", u.Headers);
        w.WriteEndObject();
    }

    private static void NameAddr(Utf8JsonWriter w, SipMessage m, string name, in SipNameAddr na)
    {
        if (!na.IsPresent && !na.Uri.Text.IsPresent) return;
        w.WritePropertyName(name);
        NameAddrValue(w, m, na);
    }

    private static void NameAddrValue(Utf8JsonWriter w, SipMessage m, in SipNameAddr na)
    {
        w.WriteStartObject();
        if (na.DisplayName.IsPresent)
        {
            var dn = m[na.DisplayName];
            w.WriteString("display_name", dn.Length > 0 && dn[0] == '"' ? SipText.Unquote(dn) : System.Text.Encoding.UTF8.GetString(dn));
        }
        if (na.Uri.Text.IsPresent)
        {
            w.WritePropertyName("uri");
            WriteUri(w, m, na.Uri);
        }
        Str(w, m, "tag", na.Tag);
        Str(w, m, "params", na.Params);
        if (na.Expires >= 0) w.WriteNumber("expires", na.Expires);
        Str(w, m, "q", na.Q);
        w.WriteEndObject();
    }

    private static void Routes(Utf8JsonWriter w, SipMessage m, string name, SipNameAddr[] list, int count, int total)
    {
        if (total == 0) return;
        w.WriteStartArray(name);
        for (int i = 0; i < count; i++) NameAddrValue(w, m, list[i]);
        w.WriteEndArray();
    }

    private static void Credentials(Utf8JsonWriter w, SipMessage m, string name, in SipCredentials c)
    {
        if (!c.IsPresent) return;
        w.WriteStartObject(name);
        Str(w, m, "scheme", c.Scheme);
        Str(w, m, "username", c.Username);
        Str(w, m, "realm", c.Realm);
        Str(w, m, "nonce", c.Nonce);
        Str(w, m, "uri", c.Uri);
        w.WriteEndObject();
    }

    private static void Challenge(Utf8JsonWriter w, SipMessage m, string name, in SipChallenge c)
    {
        if (!c.IsPresent) return;
        w.WriteStartObject(name);
        Str(w, m, "scheme", c.Scheme);
        Str(w, m, "realm", c.Realm);
        Str(w, m, "nonce", c.Nonce);
        Str(w, m, "algorithm", c.Algorithm);
        w.WriteEndObject();
    }

    private static void Sdp(Utf8JsonWriter w, SipMessage m)
    {
        ref readonly var s = ref m.Sdp;
        w.WriteStartObject("sdp");
        Str(w, m, "version", s.Version);
        if (s.Origin.IsPresent)
        {
            w.WriteStartObject("origin");
            Str(w, m, "text", s.Origin);
            Str(w, m, "username", s.OriginUsername);
            Str(w, m, "session_id", s.OriginSessionId);
            Str(w, m, "session_version", s.OriginVersion);
            Str(w, m, "address", s.OriginAddress);
            w.WriteEndObject();
        }
        Str(w, m, "session_name", s.SessionName);
        Str(w, m, "connection", s.Connection);
        if (s.ConnectionAddress.IsPresent) w.WriteString("connection_address", s.ConnectionAddress.ToString());
        w.WriteStartArray("media");
        for (int i = 0; i < m.MediaCount; i++)
        {
            ref readonly var md = ref m.Media[i];
            w.WriteStartObject();
            Str(w, m, "media", md.Media);
            w.WriteNumber("port", md.Port);
            if (md.PortCount != 1) w.WriteNumber("port_count", md.PortCount);
            Str(w, m, "proto", md.Proto);
            Str(w, m, "formats", md.Formats);
            w.WriteStartArray("payload_types");
            foreach (byte pt in m.GetPayloadTypes(md)) w.WriteNumberValue(pt);
            w.WriteEndArray();
            Str(w, m, "connection", md.Connection);
            if (md.ConnectionAddress.IsPresent) w.WriteString("connection_address", md.ConnectionAddress.ToString());
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }
}
