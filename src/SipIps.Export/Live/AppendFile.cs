using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace SipIps.Export.Live;

/// <summary>
/// An append-only log file written through one block-aligned buffer that the caller formats into
/// (<see cref="Free"/>, <see cref="Commit"/>, <see cref="Flush"/>).
/// <para>
/// With <c>direct</c>, and where the file system takes it, the buffer's whole blocks go to the file with O_DIRECT. A log
/// written at line rate then costs no page-cache work: allocating, charging, dirtying and later freeing each page was
/// most of the CLF writer's kernel time on a busy bridge, on the workers' cores. Nor does the log push useful pages out
/// of the cache. The last, partial block stays in the buffer and is written again with the block that completes it;
/// <see cref="Flush"/> with <c>partial</c> also puts it in the file, through the page cache, so that readers see every
/// record. Where O_DIRECT is refused (a file system without it, an alignment it will not take, a failed direct write),
/// the file is written through the page cache from then on, and <see cref="DirectRefused"/> says why.
/// </para>
/// </summary>
public sealed unsafe partial class AppendFile : IDisposable
{
    /// <summary>The alignment of direct writes: offsets, lengths and the buffer. Every block size Linux uses divides it.</summary>
    public const int Block = 4096;

    private readonly byte* _buffer;
    private readonly int _capacity;
    private readonly SafeFileHandle _handle;
    private int _direct = -1;
    // The file offset of _buffer[0]; block-aligned while writing direct.
    private long _base;
    // Bytes in the buffer, and how many of them the file already holds (a partial block written through the cache).
    private int _length;
    private int _synced;
    private bool _disposed;

    /// <summary>Opens (or creates) <paramref name="path"/> for appending.</summary>
    /// <param name="capacity">Buffer bytes (rounded up to whole blocks; at least two).</param>
    /// <exception cref="IOException">The file cannot be opened or read.</exception>
    /// <exception cref="UnauthorizedAccessException">The file cannot be opened.</exception>
    public AppendFile(string path, int capacity, bool direct)
    {
        _capacity = Math.Max(2 * Block, (capacity + Block - 1) & ~(Block - 1));
        // Not O_APPEND: positional writes put each byte where the buffer says, and O_APPEND would ignore the offset.
        _handle = File.OpenHandle(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read | FileShare.Delete);
        _buffer = (byte*)NativeMemory.AlignedAlloc((nuint)_capacity, Block);
        try
        {
            long size = RandomAccess.GetLength(_handle);
            _base = size;
            if (direct) OpenDirect(path, size);
        }
        catch
        {
            // Nothing of the file's own bytes may be written back from a half-filled buffer.
            _length = _synced = 0;
            Dispose();
            throw;
        }
    }

    /// <summary>The file's size once the buffer is flushed.</summary>
    public long Length => _base + _length;

    /// <summary>Whether whole blocks go to the file with O_DIRECT.</summary>
    public bool IsDirect => _direct >= 0;

    /// <summary>Why direct writes were asked for and are not in use (null when they are, or were not asked for).</summary>
    public string? DirectRefused { get; private set; }

    /// <summary>The buffer's free room; <see cref="Commit"/> the bytes written into it.</summary>
    public Span<byte> Free => new(_buffer + _length, _capacity - _length);

    public void Commit(int bytes) => _length += Math.Clamp(bytes, 0, _capacity - _length);

    /// <summary>
    /// Writes the buffer's whole blocks to the file and keeps the partial last block; with <paramref name="partial"/>
    /// the file also gets that block's bytes, so that it holds everything committed.
    /// </summary>
    /// <exception cref="IOException">A write failed; what the buffer held is dropped.</exception>
    public void Flush(bool partial)
    {
        if (_direct >= 0)
        {
            int whole = _length & ~(Block - 1);
            if (whole > _synced)
            {
                int errno = WriteAll(_direct, _buffer, whole, _base);
                if (errno != 0)
                {
                    Refuse($"a direct write failed (errno {errno})");
                    FlushCached();
                    return;
                }
            }
            if (whole > 0)
            {
                Buffer.MemoryCopy(_buffer + whole, _buffer, _capacity, _length - whole);
                _base += whole;
                _length -= whole;
                _synced = Math.Max(0, _synced - whole);
            }
            if (partial && _length > _synced)
            {
                Write(_synced, _length - _synced);
                _synced = _length;
            }
            return;
        }
        FlushCached();
    }

    private void FlushCached()
    {
        if (_length > _synced) Write(_synced, _length - _synced);
        _base += _length;
        _length = 0;
        _synced = 0;
    }

    /// <summary>Writes buffer bytes through the page cache; on failure drops the buffer and takes the file's size.</summary>
    private void Write(int from, int count)
    {
        try
        {
            RandomAccess.Write(_handle, new ReadOnlySpan<byte>(_buffer + from, count), _base + from);
        }
        catch (IOException)
        {
            // Whatever reached the file stays; the next records follow it, through the cache.
            CloseDirect();
            _base = RandomAccess.GetLength(_handle);
            _length = 0;
            _synced = 0;
            throw;
        }
    }

    private void OpenDirect(string path, long size)
    {
        int fd = Open(path, WriteOnly | CloseOnExec | DirectFlag, 0);
        if (fd < 0)
        {
            Refuse($"the file system refused O_DIRECT (errno {Marshal.GetLastPInvokeError()})");
            return;
        }
        _direct = fd;
        // Direct writes start at a block boundary: the file's partial last block comes into the buffer, to be written
        // again with the records that follow it.
        long start = size & ~(long)(Block - 1);
        int have = 0, want = (int)(size - start);
        while (have < want)
        {
            int n = RandomAccess.Read(_handle, new Span<byte>(_buffer + have, want - have), start + have);
            if (n <= 0) break;
            have += n;
        }
        _base = start;
        _length = _synced = have;
    }

    private void Refuse(string reason)
    {
        CloseDirect();
        DirectRefused = reason;
    }

    private void CloseDirect()
    {
        if (_direct >= 0) Close(_direct);
        _direct = -1;
    }

    private static int WriteAll(int fd, byte* data, int count, long offset)
    {
        while (count > 0)
        {
            nint n = PWrite(fd, data, count, offset);
            if (n < 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                if (errno == EINTR) continue;
                return errno;
            }
            if (n == 0) return EIO;
            data += n;
            count -= (int)n;
            offset += n;
        }
        return 0;
    }

    /// <summary>Flushes everything (best effort) and closes the file.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        try
        {
            if (!_handle.IsClosed && _buffer is not null) Flush(partial: true);
        }
        catch (IOException)
        {
        }
        finally
        {
            CloseDirect();
            _handle.Dispose();
            if (_buffer is not null) NativeMemory.AlignedFree(_buffer);
        }
    }

    private const int WriteOnly = 1;
    private const int CloseOnExec = 0x80000;
    // O_DIRECT differs by architecture.
    private static readonly int DirectFlag = RuntimeInformation.ProcessArchitecture is Architecture.Arm64 or Architecture.Arm ? 0x10000 : 0x4000;
    private const int EINTR = 4;
    private const int EIO = 5;

    [LibraryImport("libc.so.6", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags, int mode);

    [LibraryImport("libc.so.6", EntryPoint = "pwrite", SetLastError = true)]
    private static partial nint PWrite(int fd, byte* data, nint count, long offset);

    [LibraryImport("libc.so.6", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);
}
