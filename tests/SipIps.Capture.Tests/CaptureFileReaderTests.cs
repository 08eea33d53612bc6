using System.Buffers.Binary;
using System.Diagnostics;
using SipIps.Capture;
using SipIps.Engine.Packets;
using SipIps.Tests;
using Xunit;

namespace SipIps.Capture.Tests;

public class CaptureFileReaderTests
{
    private static readonly byte[] FrameA = Enumerable.Range(0, 60).Select(i => (byte)i).ToArray();
    private static readonly byte[] FrameB = Enumerable.Range(0, 99).Select(i => (byte)(255 - i)).ToArray();

    private static List<(byte[] Data, LinkType Link, long Ts, int Wire)> ReadAll(byte[] file, out CaptureFileReader reader)
    {
        reader = CaptureFileReader.Open(new MemoryStream(file), "test");
        var list = new List<(byte[], LinkType, long, int)>();
        while (reader.TryReadNext(out var f)) list.Add((f.Data.ToArray(), f.Link, f.TimestampNs, f.WireLength));
        return list;
    }

    private static byte[] Pcap(bool bigEndian, bool nanos, uint link, params (long Ts, byte[] Data, int Wire)[] records)
    {
        var ms = new MemoryStream();
        void U32(uint v) { Span<byte> b = stackalloc byte[4]; if (bigEndian) BinaryPrimitives.WriteUInt32BigEndian(b, v); else BinaryPrimitives.WriteUInt32LittleEndian(b, v); ms.Write(b); }
        void U16(ushort v) { Span<byte> b = stackalloc byte[2]; if (bigEndian) BinaryPrimitives.WriteUInt16BigEndian(b, v); else BinaryPrimitives.WriteUInt16LittleEndian(b, v); ms.Write(b); }
        U32(nanos ? 0xA1B23C4D : 0xA1B2C3D4); U16(2); U16(4); U32(0); U32(0); U32(65535); U32(link);
        foreach (var (ts, data, wire) in records)
        {
            U32((uint)(ts / 1_000_000_000));
            U32((uint)(nanos ? ts % 1_000_000_000 : ts % 1_000_000_000 / 1000));
            U32((uint)data.Length); U32((uint)wire);
            ms.Write(data);
        }
        return ms.ToArray();
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void Pcap_in_both_byte_orders_and_resolutions(bool bigEndian, bool nanos)
    {
        long t1 = 1_700_000_000_123_456_789, t2 = 1_700_000_001_000_000_001;
        var file = Pcap(bigEndian, nanos, 1, (t1, FrameA, 60), (t2, FrameB, 1500));
        var frames = ReadAll(file, out var r);
        Assert.Equal(CaptureFormat.Pcap, r.Format);
        Assert.Equal(2, frames.Count);
        Assert.Equal(FrameA, frames[0].Data);
        Assert.Equal(FrameB, frames[1].Data);
        Assert.Equal(LinkType.Ethernet, frames[0].Link);
        Assert.Equal(nanos ? t1 : t1 / 1000 * 1000, frames[0].Ts);
        Assert.Equal(1500, frames[1].Wire);
        Assert.Null(r.Warning);
    }

    [Fact]
    public void Raw_ip_alias_and_fcs_bits_map_to_supported_link_types()
    {
        Assert.Equal(LinkType.Raw, ReadAll(Pcap(false, false, 12, (0, FrameA, 60)), out _)[0].Link);
        Assert.Equal(LinkType.LinuxSll2, ReadAll(Pcap(false, false, 276 | 0x10000000, (0, FrameA, 60)), out _)[0].Link);
    }

    [Fact]
    public void Truncated_final_record_is_reported_not_fatal()
    {
        var file = Pcap(false, false, 1, (1, FrameA, 60), (2, FrameB, 99));
        var cut = file.Take(file.Length - 10).ToArray();
        var frames = ReadAll(cut, out var r);
        Assert.Single(frames);
        Assert.NotNull(r.Warning);
        Assert.Contains("truncated final record", r.Warning);
    }

    [Fact]
    public void Corrupt_record_length_is_an_error_with_the_offset()
    {
        var file = Pcap(false, false, 1, (1, FrameA, 60), (2, FrameB, 99));
        BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(24 + 16 + 60 + 8), 0x7FFFFFFF);
        var e = Assert.Throws<CaptureFileException>(() => ReadAll(file, out _));
        Assert.Contains("corrupt record at offset 100", e.Message);
    }

    [Theory]
    [InlineData(new byte[0], "empty file")]
    [InlineData(new byte[] { 1, 2 }, "not a capture file")]
    [InlineData(new byte[] { 0x50, 0x4B, 3, 4, 0, 0, 0, 0 }, "not a pcap or pcapng file")]
    public void Non_capture_input_is_refused_with_a_reason(byte[] content, string expected)
    {
        var e = Assert.Throws<CaptureFileException>(() => CaptureFileReader.Open(new MemoryStream(content), "x"));
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain("\n", e.Message);
    }

    [Fact]
    public void Missing_file_and_directory_are_one_line_errors()
    {
        Assert.Contains("no such file", Assert.Throws<CaptureFileException>(() => CaptureFileReader.Open("/nonexistent/x.pcap")).Message);
        Assert.Contains("is a directory", Assert.Throws<CaptureFileException>(() => CaptureFileReader.Open("/tmp")).Message);
    }

    private static byte[] Block(uint type, byte[] body, bool bigEndian = false)
    {
        int total = 12 + ((body.Length + 3) & ~3);
        var b = new byte[total];
        if (bigEndian)
        {
            BinaryPrimitives.WriteUInt32BigEndian(b, type);
            BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(4), (uint)total);
            BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(total - 4), (uint)total);
        }
        else
        {
            BinaryPrimitives.WriteUInt32LittleEndian(b, type);
            BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(4), (uint)total);
            BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(total - 4), (uint)total);
        }
        body.CopyTo(b, 8);
        return b;
    }

    private static byte[] Shb(bool bigEndian)
    {
        var body = new byte[16];
        if (bigEndian) { BinaryPrimitives.WriteUInt32BigEndian(body, 0x1A2B3C4D); BinaryPrimitives.WriteUInt16BigEndian(body.AsSpan(4), 1); }
        else { BinaryPrimitives.WriteUInt32LittleEndian(body, 0x1A2B3C4D); BinaryPrimitives.WriteUInt16LittleEndian(body.AsSpan(4), 1); }
        BinaryPrimitives.WriteInt64LittleEndian(body.AsSpan(8), -1);
        var b = Block(0x0A0D0D0A, body, bigEndian);
        BinaryPrimitives.WriteUInt32LittleEndian(b, 0x0A0D0D0A); // the SHB type reads the same in both orders
        return b;
    }

    private static byte[] Idb(ushort link, byte? tsresol, bool bigEndian = false)
    {
        var body = new List<byte>();
        var fixedPart = new byte[8];
        if (bigEndian) { BinaryPrimitives.WriteUInt16BigEndian(fixedPart, link); BinaryPrimitives.WriteUInt32BigEndian(fixedPart.AsSpan(4), 65535); }
        else { BinaryPrimitives.WriteUInt16LittleEndian(fixedPart, link); BinaryPrimitives.WriteUInt32LittleEndian(fixedPart.AsSpan(4), 65535); }
        body.AddRange(fixedPart);
        if (tsresol is byte r)
        {
            var opt = new byte[8];
            if (bigEndian) { BinaryPrimitives.WriteUInt16BigEndian(opt, 9); BinaryPrimitives.WriteUInt16BigEndian(opt.AsSpan(2), 1); }
            else { BinaryPrimitives.WriteUInt16LittleEndian(opt, 9); BinaryPrimitives.WriteUInt16LittleEndian(opt.AsSpan(2), 1); }
            opt[4] = r;
            body.AddRange(opt);
            body.AddRange(new byte[4]); // opt_endofopt
        }
        return Block(1, body.ToArray(), bigEndian);
    }

    private static byte[] Epb(uint iface, ulong ts, byte[] data, int wire, bool bigEndian = false)
    {
        var body = new byte[20 + ((data.Length + 3) & ~3)];
        void W(int off, uint v) { if (bigEndian) BinaryPrimitives.WriteUInt32BigEndian(body.AsSpan(off), v); else BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan(off), v); }
        W(0, iface); W(4, (uint)(ts >> 32)); W(8, (uint)ts); W(12, (uint)data.Length); W(16, (uint)wire);
        data.CopyTo(body, 20);
        return Block(6, body, bigEndian);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Pcapng_sections_interfaces_and_timestamp_resolution(bool bigEndian)
    {
        var file = Shb(bigEndian)
            .Concat(Idb(1, null, bigEndian))          // microseconds
            .Concat(Idb(113, 9, bigEndian))           // nanoseconds, Linux cooked
            .Concat(Block(0xBAD, new byte[8], bigEndian)) // unknown block: skipped
            .Concat(Epb(0, 1_700_000_000_000_001UL, FrameA, 60, bigEndian))
            .Concat(Epb(1, 1_700_000_000_000_000_002UL, FrameB, 2000, bigEndian))
            .ToArray();
        var frames = ReadAll(file, out var r);
        Assert.Equal(CaptureFormat.PcapNg, r.Format);
        Assert.Equal(2, frames.Count);
        Assert.Equal(1_700_000_000_000_001_000L, frames[0].Ts);
        Assert.Equal(LinkType.Ethernet, frames[0].Link);
        Assert.Equal(1_700_000_000_000_000_002L, frames[1].Ts);
        Assert.Equal(LinkType.LinuxSll, frames[1].Link);
        Assert.Equal(FrameB, frames[1].Data);
        Assert.Equal(2000, frames[1].Wire);
    }

    [Fact]
    public void Pcapng_second_section_resets_interfaces_and_binary_resolution_works()
    {
        var file = Shb(false).Concat(Idb(1, null)).Concat(Epb(0, 5, FrameA, 60))
            .Concat(Shb(false)).Concat(Idb(101, 0x80 | 10)).Concat(Epb(0, 1024 * 3, FrameB, 99)).ToArray();
        var frames = ReadAll(file, out _);
        Assert.Equal(2, frames.Count);
        Assert.Equal(LinkType.Raw, frames[1].Link);
        Assert.Equal(3_000_000_000L, frames[1].Ts);
    }

    [Fact]
    public void Pcapng_packet_for_an_undescribed_interface_is_an_error()
    {
        var file = Shb(false).Concat(Epb(0, 5, FrameA, 60)).ToArray();
        Assert.Contains("never described", Assert.Throws<CaptureFileException>(() => ReadAll(file, out _)).Message);
    }

    [Fact]
    public void Pcapng_truncated_final_block_is_a_warning()
    {
        var file = Shb(false).Concat(Idb(1, null)).Concat(Epb(0, 5, FrameA, 60)).Concat(Epb(0, 6, FrameB, 99)).ToArray();
        var frames = ReadAll(file.Take(file.Length - 7).ToArray(), out var r);
        Assert.Single(frames);
        Assert.Contains("truncated final block", r.Warning);
    }

    [Fact]
    public void Writer_output_reads_back()
    {
        var ms = new MemoryStream();
        using (var w = new PcapWriter(ms, LinkType.Ethernet))
        {
            w.Write(1_700_000_000_987_654_321, FrameA);
            w.Write(1_700_000_001_000_000_000, FrameB, 1514);
        }
        var frames = ReadAll(ms.ToArray(), out _);
        Assert.Equal(1_700_000_000_987_654_321, frames[0].Ts);
        Assert.Equal(1514, frames[1].Wire);
    }

    /// <summary>Every capture in the external corpus: the same number of frames as capinfos counts.</summary>
    [Fact]
    public void Corpus_captures_have_the_frame_counts_capinfos_gives()
    {
        var files = Directory.EnumerateFiles(Corpus.Root, "*.pcap*", SearchOption.AllDirectories)
            .Where(f => f.EndsWith(".pcap", StringComparison.Ordinal) || f.EndsWith(".pcapng", StringComparison.Ordinal)).ToList();
        Assert.True(files.Count > 40);
        foreach (var file in files)
        {
            using var reader = CaptureFileReader.Open(file);
            long n = 0;
            while (reader.TryReadNext(out _)) n++;
            Assert.Equal(Capinfos(file), n);
        }
    }

    private static long Capinfos(string file)
    {
        var psi = new ProcessStartInfo("capinfos", ["-M", "-c", "-T", "-r", file]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("capinfos (from the tshark package) is required");
        string line = p.StandardOutput.ReadToEnd().Trim();
        p.WaitForExit();
        return long.Parse(line.Split('\t')[^1]);
    }
}
