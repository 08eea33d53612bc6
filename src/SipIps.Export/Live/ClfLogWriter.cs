using SipIps.Engine.Sessions;
using SipIps.Export.Clf;

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
    /// <summary>Write whole blocks with O_DIRECT where the file system allows it (see <see cref="AppendFile"/>).</summary>
    public bool DirectIo { get; init; } = true;
}

/// <summary>
/// The CLF thread: drains the workers' rings of <see cref="ClfEvent"/>s, formats each as an RFC 6873 record into a
/// batch buffer, and writes the batches to the log file, rotating it by size and by age, and reopening it on request
/// (SIGUSR1, after logrotate moved it). A slow or full disk never reaches the workers: their rings fill and they count
/// the records they could not queue; a failed write is counted here. Records are formatted straight into the file's
/// buffer (<see cref="AppendFile"/>); the file holds every record at most <see cref="PartialFlushMs"/> after the pass
/// that took it, and at once when the rings run dry.
/// </summary>
public sealed class ClfLogWriter : IDisposable
{
    private readonly ClfLogOptions _options;
    private readonly Action<string> _log;
    private readonly object _ringsLock = new();
    private SpscByteRing[] _rings = [];
    private readonly Thread _thread;
    private AppendFile? _file;
    private readonly SipClfFormatter _formatter = new();
    // Records formatted into the file's buffer since its last flush.
    private int _pending;
    // A record formatted for the current file but due in the next one.
    private readonly byte[] _carry = new byte[MaxRecordBytes];
    private long _openedNs;
    private long _partialFlushNs;
    private volatile bool _stop;
    private volatile bool _reopen;
    private bool _reported;
    private bool _directReported;

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

    /// <summary>
    /// Bytes of formatted records written to the file at once, at most: a pass at a saturated worker's rate fits, so
    /// that each pass costs one write (with direct writes, one I/O and one completion; fewer and larger I/Os cost
    /// less CPU per record).
    /// </summary>
    private const int BatchBytes = 4 << 20;

    /// <summary>How long the file may lack the last partial block's records while records keep coming.</summary>
    public const int PartialFlushMs = 200;

    /// <summary>
    /// Room kept free in the batch for the next record: an event holds at most <see cref="LiveObserver.MaxClfEvent"/>
    /// bytes of values, escaping at most triples them, and the fixed part and the formatted numbers add under 1 KB.
    /// </summary>
    private const int MaxRecordBytes = 3 * LiveObserver.MaxClfEvent + 1024;

    /// <summary>How long the thread rests after a pass that emptied the rings: records are formatted and written in
    /// batches, and the thread wakes ~100 times a second instead of competing with a worker for its core on every
    /// record.</summary>
    public const int RestMs = 10;

    private void Run()
    {
        while (!_stop)
        {
            // Each pass ends with its records' whole blocks in the file, and the rest too when the rings ran dry or the
            // rest has waited long enough.
            Drain(out bool full);
            if (_reopen)
            {
                _reopen = false;
                Close();
                Open();
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
                Add(record, now);
                ring.Release();
                n++;
            }
            if (i == 16384) full = true;
        }
        bool partial = n == 0 || now - _partialFlushNs >= PartialFlushMs * 1_000_000L;
        if (partial) _partialFlushNs = now;
        Flush(partial);
        return n;
    }

    private void Drain()
    {
        Drain(out _);
        Flush(partial: true);
    }

    /// <summary>Formats one event into the batch, rotating the file first when the record would pass a limit.</summary>
    private void Add(ReadOnlySpan<byte> data, long now)
    {
        if (!ClfEvent.TryRead(data, out var e))
        {
            WriteErrors++;
            return;
        }
        if (_file is null)
        {
            WriteErrors++;
            return;
        }
        if (_file.Free.Length < MaxRecordBytes) Flush(partial: false);
        var room = _file.Free;
        int length = _formatter.Format(e, room);
        if (length < 0)
        {
            WriteErrors++;
            return;
        }
        if (_file.Length + length > _options.MaxFileBytes
            || (_options.RotateIntervalNs > 0 && now - _openedNs >= _options.RotateIntervalNs))
        {
            // The records before this one end the current file; this one starts the next.
            room.Slice(0, length).CopyTo(_carry);
            Close();
            FileRotation.Shift(_options.Path, _options.Files);
            Rotations++;
            Open();
            if (_file is null)
            {
                WriteErrors++;
                return;
            }
            room = _file.Free;
            _carry.AsSpan(0, length).CopyTo(room);
        }
        _file.Commit(length);
        _pending++;
    }

    /// <summary>Writes the file's buffer: whole blocks, and with <paramref name="partial"/> the rest too.</summary>
    private void Flush(bool partial)
    {
        if (_file is null) return;
        try
        {
            _file.Flush(partial);
            Written += _pending;
            if (_file.DirectRefused is not null) ReportDirect();
        }
        catch (IOException e)
        {
            WriteErrors += _pending;
            Report($"clf: cannot write {_options.Path}: {e.Message} (records are counted as lost)");
        }
        _pending = 0;
    }

    private void Open()
    {
        try
        {
            _file = new AppendFile(_options.Path, BatchBytes + AppendFile.Block, _options.DirectIo);
            if (_file.DirectRefused is not null) ReportDirect();
            _openedNs = SessionExporter.NowNs();
            _reported = false;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _file = null;
            Report($"clf: cannot open {_options.Path}: {e.Message}");
        }
    }

    /// <summary>Says once why the log goes through the page cache although direct writes were asked for.</summary>
    private void ReportDirect()
    {
        if (_directReported) return;
        _directReported = true;
        _log($"clf: {_options.Path}: writing through the page cache: {_file?.DirectRefused}");
    }

    private void Close()
    {
        Flush(partial: true);
        _file?.Dispose();
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

    /// <summary>Whether the open file takes whole blocks with O_DIRECT.</summary>
    public bool DirectIo => _file?.IsDirect ?? false;
}
