using System.Buffers.Binary;
using SipIps.Engine.Packets;

namespace SipIps.Capture;

/// <summary>A capture file problem, with a message fit for one line of output.</summary>
public sealed class CaptureFileException(string message) : Exception(message);

public enum CaptureFormat : byte { Pcap, PcapNg }

/// <summary>One frame from a capture file. The bytes are valid until the next read.</summary>
public readonly ref struct CaptureFrame
{
    public readonly ReadOnlySpan<byte> Data;
    public readonly LinkType Link;
    public readonly long TimestampNs;
    public readonly int WireLength;

    public CaptureFrame(ReadOnlySpan<byte> data, LinkType link, long timestampNs, int wireLength)
    {
        Data = data;
        Link = link;
        TimestampNs = timestampNs;
        WireLength = wireLength;
    }
}

/// <summary>
/// Reads pcap (microsecond and nanosecond, either byte order) and pcapng (any number of sections and interfaces,
/// if_tsresol and if_tsoffset, EPB, SPB and the obsolete PB) from a stream with one reusable buffer. A record cut
/// short at the end of the file ends the capture with a warning; a corrupt record in the middle is an error.
/// </summary>
public sealed class CaptureFileReader : IDisposable
{
    /// <summary>No legitimate frame or block is larger than this.</summary>
    public const int MaxRecordBytes = 16 << 20;
    private const int DefaultMaxFrame = 262144;

    private readonly Stream _stream;
    private readonly string _name;
    private byte[] _buffer = new byte[1 << 20];
    private int _start;
    private int _end;
    private long _consumed; // file offset of _buffer[_start]
    private bool _eof;

    // pcap
    private bool _swap;
    private bool _nanos;
    private LinkType _pcapLink;
    private int _pcapMaxFrame;

    // pcapng
    private readonly List<Interface> _interfaces = new();
    private bool _sectionBigEndian;

    private struct Interface
    {
        public LinkType Link;
        public int SnapLength;
        public long UnitsPerSecond;
        public long OffsetSeconds;
    }

    private CaptureFileReader(Stream stream, string name)
    {
        _stream = stream;
        _name = name;
        Length = stream.CanSeek ? stream.Length : -1;
    }

    public CaptureFormat Format { get; private set; }
    public long RecordsRead { get; private set; }
    /// <summary>Set when the file ended inside a record.</summary>
    public string? Warning { get; private set; }
    /// <summary>Bytes consumed so far (for progress).</summary>
    public long Position => _consumed;
    /// <summary>File length, or -1 for a pipe.</summary>
    public long Length { get; }

    /// <summary>Opens a capture file, or standard input for "-". Throws <see cref="CaptureFileException"/> with a one-line reason.</summary>
    public static CaptureFileReader Open(string path)
    {
        if (Directory.Exists(path)) throw new CaptureFileException($"{path}: is a directory");
        Stream stream;
        try
        {
            stream = path == "-"
                ? Console.OpenStandardInput(1 << 16)
                : new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
        }
        catch (FileNotFoundException) { throw new CaptureFileException($"{path}: no such file"); }
        catch (DirectoryNotFoundException) { throw new CaptureFileException($"{path}: no such file or directory"); }
        catch (UnauthorizedAccessException) { throw new CaptureFileException($"{path}: permission denied"); }
        catch (IOException e) { throw new CaptureFileException($"{path}: {e.Message}"); }
        try
        {
            var reader = new CaptureFileReader(stream, path);
            reader.ReadHeader();
            return reader;
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    /// <summary>Opens a capture held in memory (tests, embedded demo data).</summary>
    public static CaptureFileReader Open(Stream stream, string name)
    {
        var reader = new CaptureFileReader(stream, name);
        reader.ReadHeader();
        return reader;
    }

    public void Dispose() => _stream.Dispose();

    private void ReadHeader()
    {
        if (!Ensure(4))
            throw new CaptureFileException(_end - _start == 0 ? $"{_name}: empty file" : $"{_name}: not a capture file (too short)");
        uint magic = BinaryPrimitives.ReadUInt32LittleEndian(Available);
        switch (magic)
        {
            case 0xA1B2C3D4: _swap = false; _nanos = false; break;
            case 0xD4C3B2A1: _swap = true; _nanos = false; break;
            case 0xA1B23C4D: _swap = false; _nanos = true; break;
            case 0x4D3CB2A1: _swap = true; _nanos = true; break;
            case 0x0A0D0D0A:
                Format = CaptureFormat.PcapNg;
                return;
            default:
                throw new CaptureFileException($"{_name}: not a pcap or pcapng file (magic 0x{magic:x8})");
        }
        Format = CaptureFormat.Pcap;
        if (!Ensure(24)) throw new CaptureFileException($"{_name}: truncated pcap header");
        var h = Available;
        uint snap = U32(h.Slice(16));
        uint network = U32(h.Slice(20)) & 0x0FFFFFFF;
        _pcapLink = LinkTypes.TryMap(network & 0xFFFF, out var lt) ? lt : (LinkType)(network & 0xFFFF);
        _pcapMaxFrame = (int)Math.Clamp(snap == 0 ? DefaultMaxFrame : snap, DefaultMaxFrame, MaxRecordBytes);
        Consume(24);
    }

    /// <summary>Reads the next frame. Returns false at the end of the capture.</summary>
    public bool TryReadNext(out CaptureFrame frame)
    {
        frame = default;
        return Format == CaptureFormat.Pcap ? NextPcap(out frame) : NextPcapNg(out frame);
    }

    private bool NextPcap(out CaptureFrame frame)
    {
        frame = default;
        if (!Ensure(16))
        {
            if (_end > _start) Warning = $"truncated record header at offset {_consumed} ({_end - _start} bytes); capture ends there";
            return false;
        }
        var h = Available;
        uint sec = U32(h);
        uint frac = U32(h.Slice(4));
        uint incl = U32(h.Slice(8));
        uint orig = U32(h.Slice(12));
        if (incl > _pcapMaxFrame)
            throw new CaptureFileException($"{_name}: corrupt record at offset {_consumed}: captured length {incl} exceeds {_pcapMaxFrame}");
        if (!Ensure(16 + (int)incl))
        {
            Warning = $"truncated final record at offset {_consumed}: {incl} bytes announced, {_end - _start - 16} present";
            return false;
        }
        long ns = sec * 1_000_000_000L + (_nanos ? frac : frac * 1000L);
        frame = new CaptureFrame(Available.Slice(16, (int)incl), _pcapLink, ns, (int)Math.Max(orig, incl));
        Consume(16 + (int)incl);
        RecordsRead++;
        return true;
    }

    private bool NextPcapNg(out CaptureFrame frame)
    {
        frame = default;
        while (true)
        {
            if (!Ensure(12))
            {
                if (_end > _start) Warning = $"truncated block header at offset {_consumed}; capture ends there";
                return false;
            }
            var h = Available;
            uint type = BinaryPrimitives.ReadUInt32LittleEndian(h);
            if (type == 0x0A0D0D0A)
            {
                ReadSectionHeader();
                continue;
            }
            uint total = NgU32(h.Slice(4));
            if (total < 12 || (total & 3) != 0 || total > MaxRecordBytes)
                throw new CaptureFileException($"{_name}: corrupt block at offset {_consumed}: length {total}");
            if (!Ensure((int)total))
            {
                Warning = $"truncated final block at offset {_consumed}: {total} bytes announced, {_end - _start} present";
                return false;
            }
            var block = Available.Slice(0, (int)total);
            uint kind = NgU32(block);
            var body = block.Slice(8, (int)total - 12);
            bool produced = false;
            switch (kind)
            {
                case 1:
                    ReadInterface(body);
                    break;
                case 6:
                    produced = ReadEnhanced(body, out frame);
                    break;
                case 3:
                    produced = ReadSimple(body, out frame);
                    break;
                case 2:
                    produced = ReadObsolete(body, out frame);
                    break;
            }
            Consume((int)total);
            if (produced)
            {
                RecordsRead++;
                return true;
            }
        }
    }

    private void ReadSectionHeader()
    {
        if (!Ensure(28)) throw new CaptureFileException($"{_name}: truncated section header at offset {_consumed}");
        var h = Available;
        uint bom = BinaryPrimitives.ReadUInt32LittleEndian(h.Slice(8));
        if (bom == 0x1A2B3C4D) _sectionBigEndian = false;
        else if (bom == 0x4D3C2B1A) _sectionBigEndian = true;
        else throw new CaptureFileException($"{_name}: corrupt section header at offset {_consumed} (byte-order magic 0x{bom:x8})");
        uint total = NgU32(h.Slice(4));
        if (total < 28 || (total & 3) != 0 || total > MaxRecordBytes)
            throw new CaptureFileException($"{_name}: corrupt section header at offset {_consumed}: length {total}");
        if (!Ensure((int)total)) throw new CaptureFileException($"{_name}: truncated section header at offset {_consumed}");
        _interfaces.Clear();
        Consume((int)total);
    }

    private void ReadInterface(ReadOnlySpan<byte> body)
    {
        if (body.Length < 8) throw new CaptureFileException($"{_name}: corrupt interface block at offset {_consumed}");
        ushort link = NgU16(body);
        var iface = new Interface
        {
            Link = LinkTypes.TryMap(link, out var lt) ? lt : (LinkType)link,
            SnapLength = (int)NgU32(body.Slice(4)),
            UnitsPerSecond = 1_000_000,
        };
        var opts = body.Slice(8);
        while (opts.Length >= 4)
        {
            ushort code = NgU16(opts);
            ushort len = NgU16(opts.Slice(2));
            if (code == 0 || 4 + len > opts.Length) break;
            var value = opts.Slice(4, len);
            if (code == 9 && len >= 1)
            {
                byte r = value[0];
                int exp = r & 0x7F;
                if ((r & 0x80) == 0) iface.UnitsPerSecond = exp <= 18 ? Pow10(exp) : 1_000_000;
                else iface.UnitsPerSecond = exp <= 62 ? 1L << exp : 1_000_000;
            }
            else if (code == 14 && len >= 8)
            {
                iface.OffsetSeconds = (long)(_sectionBigEndian ? BinaryPrimitives.ReadUInt64BigEndian(value) : BinaryPrimitives.ReadUInt64LittleEndian(value));
            }
            opts = opts.Slice(Math.Min(opts.Length, 4 + ((len + 3) & ~3)));
        }
        _interfaces.Add(iface);
    }

    private bool ReadEnhanced(ReadOnlySpan<byte> body, out CaptureFrame frame)
    {
        if (body.Length < 20) throw new CaptureFileException($"{_name}: corrupt packet block at offset {_consumed}");
        return ReadPacket(body, (int)NgU32(body), out frame);
    }

    /// <summary>The common tail of EPB and the obsolete PB: timestamp, lengths and data after the interface id.</summary>
    private bool ReadPacket(ReadOnlySpan<byte> body, int id, out CaptureFrame frame)
    {
        if ((uint)id >= (uint)_interfaces.Count)
            throw new CaptureFileException($"{_name}: packet block at offset {_consumed} names interface {id}, which was never described");
        ulong ts = ((ulong)NgU32(body.Slice(4)) << 32) | NgU32(body.Slice(8));
        uint caplen = NgU32(body.Slice(12));
        uint orig = NgU32(body.Slice(16));
        if (caplen > body.Length - 20)
            throw new CaptureFileException($"{_name}: corrupt packet block at offset {_consumed}: captured length {caplen} exceeds the block");
        var iface = _interfaces[id];
        frame = new CaptureFrame(body.Slice(20, (int)caplen), iface.Link, ToNanoseconds(ts, iface), (int)Math.Max(orig, caplen));
        return true;
    }

    private bool ReadSimple(ReadOnlySpan<byte> body, out CaptureFrame frame)
    {
        frame = default;
        if (body.Length < 4 || _interfaces.Count == 0)
            throw new CaptureFileException($"{_name}: corrupt simple packet block at offset {_consumed}");
        uint orig = NgU32(body);
        var iface = _interfaces[0];
        int caplen = (int)Math.Min(orig, (uint)(body.Length - 4));
        if (iface.SnapLength > 0) caplen = Math.Min(caplen, iface.SnapLength);
        frame = new CaptureFrame(body.Slice(4, caplen), iface.Link, 0, (int)Math.Max(orig, (uint)caplen));
        return true;
    }

    private bool ReadObsolete(ReadOnlySpan<byte> body, out CaptureFrame frame)
    {
        if (body.Length < 20) throw new CaptureFileException($"{_name}: corrupt packet block at offset {_consumed}");
        return ReadPacket(body, NgU16(body), out frame);
    }

    private static long ToNanoseconds(ulong units, in Interface iface)
    {
        Int128 ns = (Int128)units * 1_000_000_000 / iface.UnitsPerSecond;
        ns += (Int128)iface.OffsetSeconds * 1_000_000_000;
        return ns > long.MaxValue ? long.MaxValue : (long)ns;
    }

    private static long Pow10(int e)
    {
        long v = 1;
        for (int i = 0; i < e; i++) v *= 10;
        return v;
    }

    private ReadOnlySpan<byte> Available => new(_buffer, _start, _end - _start);

    private uint U32(ReadOnlySpan<byte> s) => _swap ? BinaryPrimitives.ReadUInt32BigEndian(s) : BinaryPrimitives.ReadUInt32LittleEndian(s);
    private uint NgU32(ReadOnlySpan<byte> s) => _sectionBigEndian ? BinaryPrimitives.ReadUInt32BigEndian(s) : BinaryPrimitives.ReadUInt32LittleEndian(s);
    private ushort NgU16(ReadOnlySpan<byte> s) => _sectionBigEndian ? BinaryPrimitives.ReadUInt16BigEndian(s) : BinaryPrimitives.ReadUInt16LittleEndian(s);

    private void Consume(int n)
    {
        _start += n;
        _consumed += n;
    }

    /// <summary>Makes at least <paramref name="n"/> bytes available; false at the end of the file.</summary>
    private bool Ensure(int n)
    {
        if (_end - _start >= n) return true;
        if (n > _buffer.Length)
        {
            var bigger = new byte[Math.Max(n, _buffer.Length * 2)];
            Buffer.BlockCopy(_buffer, _start, bigger, 0, _end - _start);
            _end -= _start;
            _start = 0;
            _buffer = bigger;
        }
        else if (_buffer.Length - _start < n)
        {
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }
        while (_end - _start < n && !_eof)
        {
            int read;
            try
            {
                read = _stream.Read(_buffer, _end, _buffer.Length - _end);
            }
            catch (IOException e)
            {
                throw new CaptureFileException($"{_name}: read error at offset {_consumed + (_end - _start)}: {e.Message}");
            }
            if (read == 0) _eof = true;
            _end += read;
        }
        return _end - _start >= n;
    }
}
