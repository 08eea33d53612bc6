using System.Runtime.CompilerServices;
using SipIps.Engine.Common;
using SipIps.Engine.Packets;
using SipIps.Engine.Sip;

namespace SipIps.Engine.Detection;

/// <summary>
/// The fields of the message being inspected, computed on first use and kept for the rest of that message:
/// several rules key by the same field, and each field is escaped and hashed once. One instance per worker,
/// preallocated; nothing here allocates.
/// </summary>
public sealed class MessageFields
{
    private readonly byte[] _text = new byte[SipFields.Count * KeyText.MaxCanonicalLength];
    private readonly int[] _length = new int[SipFields.Count];
    private readonly ulong[] _hash = new ulong[SipFields.Count];
    private readonly uint[] _epoch = new uint[SipFields.Count];
    private uint _current;

    public SipMessage Message { get; private set; } = null!;
    public PacketInfo Packet;

    /// <summary>The side that sent the request of this transaction (the packet's destination for a response).</summary>
    public IpAddr Client;

    /// <summary>The side that answers the request.</summary>
    public IpAddr Server;

    // Session facts the engine fills in before the rules run.
    public bool DialogKnown;
    public bool DialogConfirmed;
    public bool FromHop;
    public bool SourceKnown;

    public long NowNs => Packet.TimestampNs;

    public void Begin(in PacketInfo packet, SipMessage message)
    {
        Packet = packet;
        Message = message;
        bool response = message.IsResponse;
        Client = response ? packet.Destination : packet.Source;
        Server = response ? packet.Source : packet.Destination;
        DialogKnown = DialogConfirmed = FromHop = SourceKnown = false;
        if (++_current == 0)
        {
            Array.Clear(_epoch);
            _current = 1;
        }
    }

    /// <summary>The raw bytes of a string field (unescaped, as in the message); empty when absent.</summary>
    public ReadOnlySpan<byte> Raw(SipField field, out bool present)
    {
        var m = Message;
        SipSlice s = field switch
        {
            SipField.FromUser => m.From.Uri.User,
            SipField.FromHost => m.From.Uri.Host,
            SipField.FromUri => m.From.Uri.Text,
            SipField.FromTag => m.From.Tag,
            SipField.ToUser => m.To.Uri.User,
            SipField.ToHost => m.To.Uri.Host,
            SipField.ToUri => m.To.Uri.Text,
            SipField.RuriUser => m.RequestUri.User,
            SipField.RuriHost => m.RequestUri.Host,
            SipField.RequestUri => m.RequestUri.Text,
            SipField.CallId => m.CallId,
            SipField.UserAgent => m.UserAgent,
            SipField.AuthUser => m.Authorization.Username.IsPresent ? m.Authorization.Username : m.ProxyAuthorization.Username,
            SipField.Method => m.IsRequest ? m.MethodText : m.CSeqMethodText,
            _ => SipSlice.None,
        };
        present = s.IsPresent;
        var raw = m[s];
        if (field == SipField.AuthUser && raw.Length >= 2 && raw[0] == '"' && raw[^1] == '"') raw = raw[1..^1];
        return raw;
    }

    /// <summary>The canonical text of a field (as keys show it), or false when the message lacks it.</summary>
    public bool TryCanonical(SipField field, out ReadOnlySpan<byte> text)
    {
        if (!Ensure(field))
        {
            text = default;
            return false;
        }
        text = new ReadOnlySpan<byte>(_text, (int)field * KeyText.MaxCanonicalLength, _length[(int)field]);
        return true;
    }

    /// <summary>The hash of a field's canonical text, or false when the message lacks it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryHash(SipField field, out ulong hash)
    {
        int i = (int)field;
        if (_epoch[i] == _current)
        {
            hash = _hash[i];
            return _length[i] >= 0;
        }
        Ensure(field);
        hash = _hash[i];
        return _length[i] >= 0;
    }

    /// <summary>The hash of a key for this message, or false when one of its fields is missing.</summary>
    public bool TryKeyHash(KeySpec spec, out ulong hash)
    {
        ulong acc = spec.Tag;
        var fields = spec.Fields;
        for (int i = 0; i < fields.Length; i++)
        {
            if (!TryHash(fields[i], out ulong h))
            {
                hash = 0;
                return false;
            }
            acc = KeyText.Fold(acc, h);
        }
        hash = KeyText.Finish(acc);
        return true;
    }

    /// <summary>Writes "spec=value/value" for this message; returns the length (cut to fit).</summary>
    public int FormatKey(KeySpec spec, Span<byte> destination)
    {
        int n = 0;
        n += Copy(System.Text.Encoding.ASCII.GetBytes(spec.Name), destination);
        if (n < destination.Length) destination[n++] = (byte)'=';
        for (int i = 0; i < spec.Fields.Length && n < destination.Length; i++)
        {
            if (i > 0) destination[n++] = (byte)'/';
            if (TryCanonical(spec.Fields[i], out var text)) n += Copy(text, destination[n..]);
        }
        return n;
    }

    private static int Copy(ReadOnlySpan<byte> from, Span<byte> to)
    {
        int k = Math.Min(from.Length, to.Length);
        from[..k].CopyTo(to);
        return k;
    }

    private bool Ensure(SipField field)
    {
        int i = (int)field;
        if (_epoch[i] == _current) return _length[i] >= 0;
        _epoch[i] = _current;
        var dest = new Span<byte>(_text, i * KeyText.MaxCanonicalLength, KeyText.MaxCanonicalLength);
        int n = Write(field, dest);
        _length[i] = n;
        _hash[i] = n >= 0 ? KeyText.ComponentHash(field, dest[..n]) : 0;
        return n >= 0;
    }

    private int Write(SipField field, Span<byte> dest)
    {
        var m = Message;
        switch (field)
        {
            case SipField.SrcIp:
                return Client.IsPresent && Client.TryFormat(dest, out int a) ? a : -1;
            case SipField.DstIp:
                return Server.IsPresent && Server.TryFormat(dest, out int b) ? b : -1;
            case SipField.SrcPrefix:
                return Client.IsPresent ? KeyText.WritePrefix(Client, dest) : -1;
            case SipField.Global:
                dest[0] = (byte)'*';
                return 1;
            case SipField.FromUri:
                return KeyText.WriteUri(m.Buffer, m.From.Uri, dest);
            case SipField.ToUri:
                return KeyText.WriteUri(m.Buffer, m.To.Uri, dest);
            case SipField.RequestUri:
                return m.IsRequest ? KeyText.WriteUri(m.Buffer, m.RequestUri, dest) : -1;
            default:
            {
                var raw = Raw(field, out bool present);
                if (!present) return -1;
                return KeyText.Escape(raw, dest, SipFields.IsCaseInsensitive(field));
            }
        }
    }

}
