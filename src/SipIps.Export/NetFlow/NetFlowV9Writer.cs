using System.Buffers.Binary;

namespace SipIps.Export.NetFlow;

/// <summary>One field of a template: an information element id and its fixed length in bytes.</summary>
public readonly record struct FieldSpec(ushort Type, ushort Length);

/// <summary>A NetFlow v9 template (RFC 3954 section 5.2) or options template (5.3).</summary>
public sealed class NetFlowTemplate
{
    public NetFlowTemplate(ushort id, IReadOnlyList<FieldSpec> fields, IReadOnlyList<FieldSpec>? scopes = null)
    {
        if (id < 256) throw new ArgumentOutOfRangeException(nameof(id), "template ids start at 256");
        Id = id;
        Fields = fields;
        Scopes = scopes ?? [];
        RecordLength = Scopes.Sum(f => f.Length) + fields.Sum(f => f.Length);
    }

    public ushort Id { get; }
    /// <summary>Scope fields (options templates only), written before <see cref="Fields"/> in each record.</summary>
    public IReadOnlyList<FieldSpec> Scopes { get; }
    public IReadOnlyList<FieldSpec> Fields { get; }
    public bool IsOptions => Scopes.Count > 0;
    public int RecordLength { get; }
}

/// <summary>
/// Builds NetFlow v9 export packets (RFC 3954): header, template FlowSets at start and on refresh (by packet count
/// and by time), then data FlowSets padded to 32 bits. Records are written in place into the packet buffer; a full
/// packet is handed to the send callback. Allocation-free after construction; one thread uses it.
/// </summary>
public sealed class NetFlowV9Writer
{
    public const int HeaderLength = 20;
    private readonly byte[] _packet;
    private readonly NetFlowTemplate[] _templates;
    private readonly Action<ReadOnlySpan<byte>> _send;
    private readonly int _refreshPackets;
    private readonly long _refreshNs;
    private readonly Action<NetFlowV9Writer>? _optionsData;
    private int _length;
    private int _count;
    private int _setStart = -1;
    private ushort _setId;
    private int _packetsSinceTemplates = int.MaxValue;
    private long _templatesSentNs = long.MinValue;
    private long _nowNs;

    /// <param name="sourceId">The Source ID of every packet.</param>
    /// <param name="bootNs">The exporter's start (Unix epoch ns): sysUpTime and FIRST/LAST_SWITCHED count from it.</param>
    /// <param name="optionsData">Writes the options data records that follow each template refresh.</param>
    public NetFlowV9Writer(uint sourceId, long bootNs, IEnumerable<NetFlowTemplate> templates, Action<ReadOnlySpan<byte>> send,
        int maxPacketBytes = 1400, int refreshPackets = 20, long refreshNs = 60_000_000_000, Action<NetFlowV9Writer>? optionsData = null)
    {
        SourceId = sourceId;
        BootNs = bootNs;
        _templates = templates.ToArray();
        _send = send;
        _packet = new byte[Math.Max(512, maxPacketBytes)];
        _refreshPackets = Math.Max(1, refreshPackets);
        _refreshNs = refreshNs;
        _optionsData = optionsData;
        foreach (var t in _templates)
            if (t.RecordLength + HeaderLength + 8 > _packet.Length) throw new ArgumentException($"template {t.Id} does not fit in a packet");
    }

    public uint SourceId { get; }
    public long BootNs { get; set; }
    /// <summary>Export packets sent; also the next packet's sequence number.</summary>
    public uint Sequence { get; private set; }
    public long RecordsWritten { get; private set; }
    public long BytesSent { get; private set; }

    /// <summary>sysUpTime in milliseconds at <paramref name="timeNs"/>, as FIRST_SWITCHED and LAST_SWITCHED carry it.</summary>
    public uint Uptime(long timeNs) => (uint)Math.Clamp((timeNs - BootNs) / 1_000_000, 0, uint.MaxValue);

    /// <summary>
    /// Room for one data record of <paramref name="template"/>, zeroed (so unset fields read as 0 and strings are
    /// NUL-padded). Sends the current packet first when the record does not fit.
    /// </summary>
    public Span<byte> BeginRecord(NetFlowTemplate template, long nowNs)
    {
        _nowNs = nowNs;
        int need = template.RecordLength + 3 + (_setStart >= 0 && _setId == template.Id ? 0 : 4);
        if (_length == 0 || _length + need > _packet.Length)
        {
            if (_length > 0) Flush(nowNs);
            StartPacket(nowNs);
        }
        if (_setStart < 0 || _setId != template.Id)
        {
            CloseSet();
            OpenSet(template.Id);
        }
        var record = _packet.AsSpan(_length, template.RecordLength);
        record.Clear();
        _length += template.RecordLength;
        _count++;
        RecordsWritten++;
        return record;
    }

    /// <summary>Sends the packet being built, if it holds any record.</summary>
    public void Flush(long nowNs)
    {
        if (_count == 0)
        {
            _length = 0;
            return;
        }
        CloseSet();
        var h = _packet.AsSpan();
        BinaryPrimitives.WriteUInt16BigEndian(h, 9);
        BinaryPrimitives.WriteUInt16BigEndian(h[2..], (ushort)_count);
        BinaryPrimitives.WriteUInt32BigEndian(h[4..], Uptime(nowNs));
        BinaryPrimitives.WriteUInt32BigEndian(h[8..], (uint)Math.Max(0, nowNs / 1_000_000_000));
        BinaryPrimitives.WriteUInt32BigEndian(h[12..], Sequence);
        BinaryPrimitives.WriteUInt32BigEndian(h[16..], SourceId);
        _send(_packet.AsSpan(0, _length));
        BytesSent += _length;
        Sequence++;
        _length = 0;
        _count = 0;
        if (_packetsSinceTemplates != int.MaxValue) _packetsSinceTemplates++;
    }

    /// <summary>Whether templates are due by time (the caller may flush an idle exporter's templates).</summary>
    public bool TemplatesDue(long nowNs) => _packetsSinceTemplates >= _refreshPackets || nowNs - _templatesSentNs >= _refreshNs;

    /// <summary>Sends a packet with only the templates (and options data), as at start.</summary>
    public void SendTemplates(long nowNs)
    {
        if (_length > 0) Flush(nowNs);
        _packetsSinceTemplates = int.MaxValue;
        StartPacket(nowNs);
        _length = 0;
    }

    /// <summary>
    /// Starts a packet. When templates are due they go first, in a packet of their own with the options data, so
    /// that a data packet never has to share its room with them.
    /// </summary>
    private void StartPacket(long nowNs)
    {
        _length = HeaderLength;
        _count = 0;
        _setStart = -1;
        if (!TemplatesDue(nowNs)) return;
        WriteTemplates();
        _optionsData?.Invoke(this);
        Flush(nowNs);
        _packetsSinceTemplates = 0;
        _templatesSentNs = nowNs;
        _length = HeaderLength;
        _count = 0;
        _setStart = -1;
    }

    private void WriteTemplates()
    {
        var span = _packet.AsSpan();
        foreach (bool options in new[] { false, true })
        {
            OpenSet(options ? (ushort)1 : (ushort)0);
            foreach (var t in _templates)
            {
                if (t.IsOptions != options) continue;
                BinaryPrimitives.WriteUInt16BigEndian(span[_length..], t.Id);
                if (options)
                {
                    BinaryPrimitives.WriteUInt16BigEndian(span[(_length + 2)..], (ushort)(t.Scopes.Count * 4));
                    BinaryPrimitives.WriteUInt16BigEndian(span[(_length + 4)..], (ushort)(t.Fields.Count * 4));
                    _length += 6;
                    foreach (var f in t.Scopes) WriteSpec(span, f);
                }
                else
                {
                    BinaryPrimitives.WriteUInt16BigEndian(span[(_length + 2)..], (ushort)t.Fields.Count);
                    _length += 4;
                }
                foreach (var f in t.Fields) WriteSpec(span, f);
                _count++;
            }
            if (_length == _setStart + 4) _length -= 4; // no template of this kind
            else CloseSet();
            _setStart = -1;
        }
    }

    private void WriteSpec(Span<byte> span, FieldSpec f)
    {
        BinaryPrimitives.WriteUInt16BigEndian(span[_length..], f.Type);
        BinaryPrimitives.WriteUInt16BigEndian(span[(_length + 2)..], f.Length);
        _length += 4;
    }

    private void OpenSet(ushort id)
    {
        _setStart = _length;
        _setId = id;
        _length += 4;
    }

    private void CloseSet()
    {
        if (_setStart < 0) return;
        while ((_length - _setStart) % 4 != 0) _packet[_length++] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(_packet.AsSpan(_setStart), _setId);
        BinaryPrimitives.WriteUInt16BigEndian(_packet.AsSpan(_setStart + 2), (ushort)(_length - _setStart));
        _setStart = -1;
    }
}

/// <summary>Writes big-endian values and fixed-length NUL-padded strings into a record, field after field.</summary>
public ref struct FieldWriter(Span<byte> record)
{
    private readonly Span<byte> _record = record;
    private int _pos;

    public void Skip(int length) => _pos += length;

    public void Unsigned(ulong value, int length)
    {
        var d = _record.Slice(_pos, length);
        for (int i = length - 1; i >= 0; i--)
        {
            d[i] = (byte)value;
            value >>= 8;
        }
        _pos += length;
    }

    public void Bytes(scoped ReadOnlySpan<byte> value, int length)
    {
        int n = Math.Min(value.Length, length);
        value.Slice(0, n).CopyTo(_record.Slice(_pos));
        _pos += length;
    }
}
