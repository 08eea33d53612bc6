using SipIps.Engine.Packets;

namespace SipIps.Capture;

/// <summary>
/// Keeps the frames that were dropped or raised an alert, as pcap evidence. Workers hand frames over through a
/// bounded pool of preallocated slots (a copy of at most <c>snapLength</c> bytes, never an allocation); a writer
/// thread appends them to <c>PATH</c> and rotates it at <c>maxFileBytes</c> into PATH.1 .. PATH.(files-1), so the
/// evidence never takes more than files x maxFileBytes of disk. When the pool is full the frame is counted as lost.
/// </summary>
public sealed class EvidenceRecorder : IDisposable
{
    private readonly string _path;
    private readonly long _maxFileBytes;
    private readonly int _maxFiles;
    private readonly int _snap;
    private readonly LinkType _link;
    private readonly Action<string> _log;
    private readonly byte[][] _buffers;
    private readonly (long Ts, int Length, int Wire)[] _meta;
    private readonly object _lock = new();
    private readonly SemaphoreSlim _signal = new(0, int.MaxValue);
    private readonly Thread _thread;
    private long _head, _tail;
    private PcapWriter? _writer;
    private FileStream? _file;
    private volatile bool _stop;
    private bool _reported;

    public EvidenceRecorder(string path, long maxFileBytes, int maxFiles, Action<string> log, int snapLength = 2048, int queueFrames = 1024,
        LinkType link = LinkType.Ethernet)
    {
        _path = path;
        _maxFileBytes = Math.Max(64 * 1024, maxFileBytes);
        _maxFiles = Math.Max(1, maxFiles);
        _snap = Math.Max(64, snapLength);
        _link = link;
        _log = log;
        _buffers = new byte[queueFrames][];
        for (int i = 0; i < queueFrames; i++) _buffers[i] = new byte[_snap];
        _meta = new (long, int, int)[queueFrames];
        string? dir = Path.GetDirectoryName(path);
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        _thread = new Thread(Run) { IsBackground = true, Name = "evidence" };
        _thread.Start();
    }

    public long Offered { get; private set; }
    public long Lost { get; private set; }
    public long Written { get; private set; }
    public long Rotations { get; private set; }

    /// <summary>Queues a copy of the frame (cut to the snap length); false when the queue is full.</summary>
    public bool Offer(ReadOnlySpan<byte> frame, long timestampNs, int wireLength)
    {
        lock (_lock)
        {
            Offered++;
            if (_tail - _head >= _buffers.Length)
            {
                Lost++;
                return false;
            }
            int slot = (int)(_tail % _buffers.Length);
            int n = Math.Min(frame.Length, _snap);
            frame[..n].CopyTo(_buffers[slot]);
            _meta[slot] = (timestampNs, n, wireLength);
            _tail++;
        }
        if (_signal.CurrentCount == 0) _signal.Release();
        return true;
    }

    private void Run()
    {
        var local = new byte[_snap];
        while (true)
        {
            bool stopping = _stop;
            while (true)
            {
                (long Ts, int Length, int Wire) meta;
                lock (_lock)
                {
                    if (_head == _tail) break;
                    int slot = (int)(_head % _buffers.Length);
                    meta = _meta[slot];
                    _buffers[slot].AsSpan(0, meta.Length).CopyTo(local);
                    _head++;
                }
                Write(meta.Ts, local.AsSpan(0, meta.Length), meta.Wire);
            }
            try
            {
                _file?.Flush();
            }
            catch (IOException)
            {
            }
            if (stopping) break;
            _signal.Wait(500);
        }
    }

    private void Write(long ts, ReadOnlySpan<byte> frame, int wire)
    {
        try
        {
            if (_writer is null || _file!.Length + frame.Length + 16 > _maxFileBytes)
            {
                // A full file, or one left by an earlier run: move it along rather than overwrite it.
                if (_writer is not null || File.Exists(_path)) Rotate();
                _file = new FileStream(_path, FileMode.Create, FileAccess.Write, FileShare.Read, 65536);
                _writer = new PcapWriter(_file, _link, nanoseconds: true, snapLength: _snap);
            }
            _writer.Write(ts, frame, wire);
            Written++;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            if (!_reported)
            {
                _reported = true;
                _log($"cannot write evidence to {_path}: {e.Message}");
            }
            _writer = null;
            _file?.Dispose();
            _file = null;
        }
    }

    private void Rotate()
    {
        _writer?.Dispose();
        _writer = null;
        _file = null;
        Rotations++;
        Export.FileRotation.Shift(_path, _maxFiles);
    }

    public void Dispose()
    {
        _stop = true;
        _signal.Release();
        _thread.Join();
        _writer?.Dispose();
    }
}
