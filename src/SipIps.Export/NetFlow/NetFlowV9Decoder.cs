using System.Buffers.Binary;

namespace SipIps.Export.NetFlow;

/// <summary>One decoded data record: its template and its fields' raw bytes in template order.</summary>
public sealed record NetFlowRecord(ushort TemplateId, uint SourceId, IReadOnlyList<(FieldSpec Field, byte[] Value)> Fields)
{
    public byte[]? Get(ushort type) => Fields.FirstOrDefault(f => f.Field.Type == type).Value;

    public ulong GetUnsigned(ushort type)
    {
        var v = Get(type) ?? throw new KeyNotFoundException($"field {type} is not in template {TemplateId}");
        ulong n = 0;
        foreach (var b in v) n = (n << 8) | b;
        return n;
    }

    public string GetText(ushort type)
    {
        var v = Get(type) ?? throw new KeyNotFoundException($"field {type} is not in template {TemplateId}");
        int end = Array.IndexOf(v, (byte)0);
        return System.Text.Encoding.UTF8.GetString(v, 0, end < 0 ? v.Length : end);
    }
}

/// <summary>A decoded export packet: header, the FlowSets as they came, templates and records.</summary>
public sealed record NetFlowPacket(
    ushort Count, uint Uptime, uint UnixSeconds, uint Sequence, uint SourceId,
    IReadOnlyList<(ushort Id, int Length)> FlowSets,
    IReadOnlyList<NetFlowTemplate> Templates,
    IReadOnlyList<NetFlowRecord> Records,
    int UndecodableSets);

/// <summary>
/// Decodes NetFlow v9 export packets (RFC 3954), keeping templates per (source id, template id) across packets as a
/// collector does. Data FlowSets whose template is unknown are skipped and counted. For tests and tools; allocates.
/// </summary>
public sealed class NetFlowV9Decoder
{
    private readonly Dictionary<(uint, ushort), NetFlowTemplate> _templates = new();

    public IReadOnlyDictionary<(uint Source, ushort Id), NetFlowTemplate> Templates => _templates;

    public NetFlowPacket Decode(ReadOnlySpan<byte> packet)
    {
        if (packet.Length < NetFlowV9Writer.HeaderLength) throw new FormatException("shorter than a v9 header");
        if (BinaryPrimitives.ReadUInt16BigEndian(packet) != 9) throw new FormatException($"version {BinaryPrimitives.ReadUInt16BigEndian(packet)}, not 9");
        ushort count = BinaryPrimitives.ReadUInt16BigEndian(packet[2..]);
        uint uptime = BinaryPrimitives.ReadUInt32BigEndian(packet[4..]);
        uint secs = BinaryPrimitives.ReadUInt32BigEndian(packet[8..]);
        uint seq = BinaryPrimitives.ReadUInt32BigEndian(packet[12..]);
        uint source = BinaryPrimitives.ReadUInt32BigEndian(packet[16..]);
        var sets = new List<(ushort, int)>();
        var templates = new List<NetFlowTemplate>();
        var records = new List<NetFlowRecord>();
        int undecodable = 0;
        int pos = NetFlowV9Writer.HeaderLength;
        while (pos + 4 <= packet.Length)
        {
            ushort id = BinaryPrimitives.ReadUInt16BigEndian(packet[pos..]);
            int length = BinaryPrimitives.ReadUInt16BigEndian(packet[(pos + 2)..]);
            if (length < 4 || pos + length > packet.Length)
            {
                // Some exporters zero-fill the rest of a packet; a zero set id with no length ends it.
                if (length == 0 && id == 0) break;
                throw new FormatException($"FlowSet at {pos} has length {length} past the packet end ({packet.Length})");
            }
            sets.Add((id, length));
            var body = packet.Slice(pos + 4, length - 4);
            if (id == 0) ReadTemplates(body, source, templates);
            else if (id == 1) ReadOptionsTemplates(body, source, templates);
            else if (id >= 256)
            {
                if (_templates.TryGetValue((source, id), out var t)) ReadData(body, t, source, records);
                else undecodable++;
            }
            pos += length;
        }
        return new NetFlowPacket(count, uptime, secs, seq, source, sets, templates, records, undecodable);
    }

    private void ReadTemplates(ReadOnlySpan<byte> body, uint source, List<NetFlowTemplate> into)
    {
        int pos = 0;
        while (pos + 4 <= body.Length)
        {
            ushort id = BinaryPrimitives.ReadUInt16BigEndian(body[pos..]);
            int n = BinaryPrimitives.ReadUInt16BigEndian(body[(pos + 2)..]);
            if (id < 256) break; // padding
            pos += 4;
            if (pos + n * 4 > body.Length) throw new FormatException($"template {id} declares {n} fields past its FlowSet");
            var fields = new FieldSpec[n];
            for (int i = 0; i < n; i++, pos += 4)
                fields[i] = new FieldSpec(BinaryPrimitives.ReadUInt16BigEndian(body[pos..]), BinaryPrimitives.ReadUInt16BigEndian(body[(pos + 2)..]));
            var t = new NetFlowTemplate(id, fields);
            _templates[(source, id)] = t;
            into.Add(t);
        }
    }

    private void ReadOptionsTemplates(ReadOnlySpan<byte> body, uint source, List<NetFlowTemplate> into)
    {
        int pos = 0;
        while (pos + 6 <= body.Length)
        {
            ushort id = BinaryPrimitives.ReadUInt16BigEndian(body[pos..]);
            int scopeBytes = BinaryPrimitives.ReadUInt16BigEndian(body[(pos + 2)..]);
            int optionBytes = BinaryPrimitives.ReadUInt16BigEndian(body[(pos + 4)..]);
            if (id < 256) break;
            pos += 6;
            if (pos + scopeBytes + optionBytes > body.Length) throw new FormatException($"options template {id} runs past its FlowSet");
            var scopes = new FieldSpec[scopeBytes / 4];
            for (int i = 0; i < scopes.Length; i++, pos += 4)
                scopes[i] = new FieldSpec(BinaryPrimitives.ReadUInt16BigEndian(body[pos..]), BinaryPrimitives.ReadUInt16BigEndian(body[(pos + 2)..]));
            var fields = new FieldSpec[optionBytes / 4];
            for (int i = 0; i < fields.Length; i++, pos += 4)
                fields[i] = new FieldSpec(BinaryPrimitives.ReadUInt16BigEndian(body[pos..]), BinaryPrimitives.ReadUInt16BigEndian(body[(pos + 2)..]));
            // Scope types are 1..5 in v9; an options template with no scope is still one.
            var t = new NetFlowTemplate(id, fields, scopes.Length > 0 ? scopes : [new FieldSpec(0, 0)]);
            _templates[(source, id)] = t;
            into.Add(t);
        }
    }

    private static void ReadData(ReadOnlySpan<byte> body, NetFlowTemplate t, uint source, List<NetFlowRecord> into)
    {
        if (t.RecordLength == 0) return;
        int pos = 0;
        while (pos + t.RecordLength <= body.Length)
        {
            var values = new List<(FieldSpec, byte[])>(t.Scopes.Count + t.Fields.Count);
            foreach (var f in t.Scopes.Concat(t.Fields))
            {
                values.Add((f, body.Slice(pos, f.Length).ToArray()));
                pos += f.Length;
            }
            into.Add(new NetFlowRecord(t.Id, source, values));
        }
    }
}
