using SipIps.Engine.Sessions;

namespace SipIps.Export.Live;

public sealed record ClfLogOptions
{
    public required string Path { get; init; }
    /// <summary>Rotate when the file reaches this size.</summary>
    public long MaxFileBytes { get; init; } = 100L << 20;
    /// <summary>Rotate at this age as well (0: by size only).</summary>
    public long RotateIntervalNs { get; init; }
    /// <summary>Files kept: PATH and PATH.1 .. PATH.(Files-1).</summary>
    public int Files { get; init; } = 10;
    /// <summary>Bytes of the ring between each worker and this writer.</summary>
    public int QueueBytes { get; init; } = 4 << 20;
}

/// <summary>
/// The CLF thread: drains the workers' record rings into the log file, rotating it by size and by age, and reopening
/// it on request (SIGUSR1, after logrotate moved it). A slow or full disk never reaches the workers: their rings fill
/// and they count the records they could not queue; a failed write is counted here.
/// </summary>
public sealed class ClfLogWriter : IDisposable
{
    private readonly ClfLogOptions _options;
    private readonly Action<string> _log;
    private readonly object _ringsLock = new();
    private SpscByteRing[] _rings = [];
    private readonly Thread _thread;
    private FileStream? _file;
    // The file's size, kept here: FileStream.Length asks the kernel on every call.
    private long _fileBytes;
    private long _openedNs;
    private volatile bool _stop;
    private volatile bool _reopen;
    private bool _reported;

    public ClfLogWriter(ClfLogOptions options, Action<string> log)
    {
        _options = options;
        _log = log;
        string? dir = System.IO.Path.GetDirectoryName(options.Path);
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        Open();
        _thread = new Thread(Run) { IsBackground = true, Name = "clf" };
    }

    public long Written { get; private set; }
    public long WriteErrors { get; private set; }
    public long Rotations { get; private set; }

    public long Lost
    {
        get
        {
            long n = 0;
            foreach (var r in Volatile.Read(ref _rings)) n += r.Lost;
            return n;
        }
    }

    public SpscByteRing AddWorker()
    {
        var ring = new SpscByteRing(_options.QueueBytes);
        lock (_ringsLock) _rings = [.. _rings, ring];
        return ring;
    }

    public void Start() => _thread.Start();

    /// <summary>Close and reopen the file at its path (after an external rotation).</summary>
    public void Reopen() => _reopen = true;

    /// <summary>How long the thread rests after a pass that emptied the rings: records are written in batches, and the
    /// thread wakes ~100 times a second instead of competing with a worker for its core on every record.</summary>
    public const int RestMs = 10;

    private void Run()
    {
        long lastFlush = 0;
        while (!_stop)
        {
            int n = Drain(out bool full);
            long now = SessionExporter.NowNs();
            if (_reopen)
            {
                _reopen = false;
                Close();
                Open();
            }
            if (n == 0 || now - lastFlush > 1_000_000_000)
            {
                Flush();
                lastFlush = now;
            }
            if (!full) Thread.Sleep(RestMs);
        }
    }

    /// <summary>Writes what the rings hold, a bounded batch per ring; <paramref name="full"/> when a batch hit its bound.</summary>
    private int Drain(out bool full)
    {
        int n = 0;
        full = false;
        long now = SessionExporter.NowNs();
        foreach (var ring in Volatile.Read(ref _rings))
        {
            int i = 0;
            for (; i < 16384 && ring.TryRead(out var record); i++)
            {
                Write(record, now);
                ring.Release();
                n++;
            }
            if (i == 16384) full = true;
        }
        return n;
    }

    private int Drain() => Drain(out _);

    private void Write(ReadOnlySpan<byte> record, long now)
    {
        if (_file is not null && (_fileBytes + record.Length > _options.MaxFileBytes
                                  || (_options.RotateIntervalNs > 0 && now - _openedNs >= _options.RotateIntervalNs)))
        {
            Close();
            FileRotation.Shift(_options.Path, _options.Files);
            Rotations++;
            Open();
        }
        if (_file is null)
        {
            WriteErrors++;
            return;
        }
        try
        {
            _file.Write(record);
            _fileBytes += record.Length;
            Written++;
        }
        catch (IOException e)
        {
            WriteErrors++;
            Report($"clf: cannot write {_options.Path}: {e.Message} (records are counted as lost)");
        }
    }

    private void Open()
    {
        try
        {
            _file = new FileStream(_options.Path, FileMode.Append, FileAccess.Write, FileShare.Read | FileShare.Delete, 1 << 16);
            _fileBytes = _file.Length;
            _openedNs = SessionExporter.NowNs();
            _reported = false;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _file = null;
            Report($"clf: cannot open {_options.Path}: {e.Message}");
        }
    }

    private void Flush()
    {
        try
        {
            _file?.Flush();
        }
        catch (IOException e)
        {
            Report($"clf: cannot write {_options.Path}: {e.Message}");
        }
    }

    private void Close()
    {
        try
        {
            _file?.Dispose();
        }
        catch (IOException)
        {
        }
        _file = null;
    }

    private void Report(string message)
    {
        if (_reported) return;
        _reported = true;
        _log(message);
    }

    public void Dispose()
    {
        if (_thread.IsAlive)
        {
            _stop = true;
            _thread.Join();
        }
        Drain();
        Close();
    }
}
