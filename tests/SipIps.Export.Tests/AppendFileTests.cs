using SipIps.Export.Live;
using Xunit;
using Xunit.Abstractions;

namespace SipIps.Export.Tests;

public sealed class AppendFileTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"sipips-append-{Guid.NewGuid():N}");
    private readonly ITestOutputHelper _output;

    public AppendFileTests(ITestOutputHelper output)
    {
        _output = output;
        Directory.CreateDirectory(_dir);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static byte[] ReadShared(string path)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        var data = new byte[f.Length];
        f.ReadExactly(data);
        return data;
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Random_appends_flushes_and_reopens_keep_every_byte_in_order(bool direct)
    {
        // Chunks of every size around the block, flushed whole-blocks-only or fully at random, and the file closed and
        // reopened at unaligned sizes: the file must always be a prefix of what was committed, hold all of it after a
        // full flush, and (direct) hold at least the whole blocks after a whole-block flush.
        string path = Path.Combine(_dir, "log");
        var random = new Random(6873);
        var expected = new MemoryStream();
        var file = new AppendFile(path, 64 << 10, direct);
        _output.WriteLine(file.IsDirect ? "direct" : $"through the page cache: {file.DirectRefused ?? "asked for"}");
        try
        {
            for (int step = 0; step < 800; step++)
            {
                int n = random.Next(5) == 0 ? random.Next(4000, 9000) : random.Next(1, 600);
                if (file.Free.Length < n) file.Flush(partial: false);
                var chunk = new byte[n];
                for (int i = 0; i < n; i++) chunk[i] = (byte)random.Next(32, 127);
                chunk.CopyTo(file.Free);
                file.Commit(n);
                expected.Write(chunk);
                Assert.Equal(expected.Length, file.Length);
                switch (random.Next(10))
                {
                    case 0:
                        file.Flush(partial: true);
                        Assert.True(ReadShared(path).AsSpan().SequenceEqual(expected.ToArray()), "a full flush lacks bytes");
                        break;
                    case 1:
                    case 2:
                    {
                        file.Flush(partial: false);
                        var data = ReadShared(path);
                        Assert.True(data.Length <= expected.Length && data.AsSpan().SequenceEqual(expected.GetBuffer().AsSpan(0, data.Length)), "not a prefix");
                        if (file.IsDirect) Assert.True(data.Length >= (expected.Length & ~(AppendFile.Block - 1)), $"{data.Length} of {expected.Length}");
                        break;
                    }
                    case 3 when random.Next(8) == 0:
                        file.Dispose();
                        Assert.True(ReadShared(path).AsSpan().SequenceEqual(expected.ToArray()), "closing lost bytes");
                        file = new AppendFile(path, 64 << 10, direct);
                        Assert.Equal(expected.Length, file.Length);
                        break;
                }
            }
        }
        finally
        {
            file.Dispose();
        }
        Assert.Equal(expected.ToArray(), ReadShared(path));
    }

    [Fact]
    public void A_direct_file_is_open_with_O_DIRECT_or_says_why_not()
    {
        string path = Path.Combine(_dir, "log");
        using var file = new AppendFile(path, 64 << 10, direct: true);
        if (!file.IsDirect)
        {
            // A file system without O_DIRECT: the reason is given, and the file still works (the test above).
            _output.WriteLine($"no O_DIRECT here: {file.DirectRefused}");
            Assert.False(string.IsNullOrEmpty(file.DirectRefused));
            return;
        }
        Assert.Null(file.DirectRefused);
        // One of this process's descriptors for the file carries O_DIRECT (octal 040000 on x86-64, 0200000 on arm).
        int flag = System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture
            is System.Runtime.InteropServices.Architecture.Arm64 ? 0x10000 : 0x4000;
        bool found = false;
        foreach (var fd in Directory.GetFiles("/proc/self/fd"))
        {
            string? target;
            try
            {
                target = new FileInfo(fd).LinkTarget;
            }
            catch (IOException)
            {
                continue;
            }
            if (target != path) continue;
            var flags = File.ReadAllLines($"/proc/self/fdinfo/{Path.GetFileName(fd)}").First(l => l.StartsWith("flags:"));
            if ((Convert.ToInt32(flags.Split(':')[1].Trim(), 8) & flag) != 0) found = true;
        }
        Assert.True(found, "no descriptor of the file has O_DIRECT");
    }

    [Fact]
    public void Appending_to_an_existing_file_keeps_its_bytes()
    {
        // An existing log of an unaligned size: its partial last block is read back and written again with the new
        // records, never lost or doubled.
        string path = Path.Combine(_dir, "log");
        var old = new byte[AppendFile.Block * 3 + 123];
        Array.Fill(old, (byte)'a');
        File.WriteAllBytes(path, old);
        using (var file = new AppendFile(path, 64 << 10, direct: true))
        {
            Assert.Equal(old.Length, file.Length);
            var more = new byte[AppendFile.Block * 2];
            Array.Fill(more, (byte)'b');
            more.CopyTo(file.Free);
            file.Commit(more.Length);
            file.Flush(partial: false);
        }
        var data = ReadShared(path);
        Assert.Equal(old.Length + AppendFile.Block * 2, data.Length);
        Assert.All(data.Take(old.Length), b => Assert.Equal((byte)'a', b));
        Assert.All(data.Skip(old.Length), b => Assert.Equal((byte)'b', b));
    }
}
