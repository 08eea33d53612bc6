using SipIps.Engine.Common;
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
}

/// <summary>
/// The CLF thread: drains the workers' rings of <see cref="ClfEvent"/>s, formats each as an RFC 6873 record into a
/// batch buffer, and writes the batches to the log file, rotating it by size and by age, and reopening it on request
/// (SIGUSR1, after logrotate moved it). A slow or full disk never reaches the workers: their rings fill and they count
/// the records they could not queue; a failed write is counted here.
/// </summary>
public sealed class ClfLogWriter : IDisposable
{
    private readonly ClfLogOptions _options;
    private readonly Action<string> _log;
    private readonly object _ringsLock = new();
    private SpscByteRing[] _rings = [];
    private readonly Thread _thread;
    private FileStream? _file;
    private readonly SipClfFormatter _formatter = new();
    // Formatted records not yet written, and how many records they hold (the first may be the end of a record whose
    // start is already in the file).
    private readonly byte[] _batch = new byte[BatchBytes + MaxRecordBytes];
    private int _batchLength;
    private int _batchRecords;
    private bool _wroteToBoundary; // during the current pass
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
    /// <summary>Internal errors of this thread (each also counted in <see cref="WriteErrors"/>).</summary>
    public FaultLimiter Faults { get; } = new();
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
    /// Bytes of formatted records written to the file at once, and the file offsets the writes end at. Small enough to
    /// stay in the core's cache between the formatting and the kernel's copy, and small enough that the thread's passes
    /// leave a shared core's cache to the worker: at 256 KB the worker's own cost per frame rose more with CLF on (see
    /// the README's performance notes). A write that ends on a multiple of this size lets the next one start there,
    /// and the page cache then takes each write in whole large folios instead of a partial page at each end: the
    /// thread's time per 240-byte record fell from 250-285 to 205-215 ns in alternated runs. So a full batch is
    /// written up to the boundary, and the few bytes of the record that crossed it open the next batch.
    /// </summary>
    private const int BatchBytes = 64 << 10;

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
            // Each pass ends with its records written to the file.
            Drain(out bool full);
            if (_reopen)
            {
                _reopen = false;
                // A record cut at a boundary ends in the file it started in.
                WriteBatch();
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
                try
                {
                    Add(record, now);
                }
                catch (Exception x)
                {
                    // A record that trips a fault is lost and counted; the thread goes on.
                    WriteErrors++;
                    if (Faults.Note()) _log($"clf: internal error on a record (dropped): {x.GetType().Name}: {x.Message}");
                }
                ring.Release();
                n++;
            }
            if (i == 16384) full = true;
        }
        // A busy pass leaves its last partial batch for the next one, which starts it at a boundary (a record waits one
        // pass, about 10 ms, longer); a quiet pass writes everything it holds.
        if (!_wroteToBoundary) WriteBatch();
        _wroteToBoundary = false;
        return n;
    }

    private int Drain() => Drain(out _);

    /// <summary>Formats one event into the batch, rotating the file first when the record would pass a limit.</summary>
    private void Add(ReadOnlySpan<byte> data, long now)
    {
        if (_batch.Length - _batchLength < MaxRecordBytes) WriteBatch();
        int length = _formatter.Format(data, _batch.AsSpan(_batchLength));
        if (length < 0)
        {
            WriteErrors++;
            return;
        }
        if (_file is not null && (_fileBytes + _batchLength + length > _options.MaxFileBytes
                                  || (_options.RotateIntervalNs > 0 && now - _openedNs >= _options.RotateIntervalNs)))
        {
            // The records before this one end the current file; this one starts the next.
            WriteBatch(keepFrom: _batchLength, keepLength: length);
            Close();
            FileRotation.Shift(_options.Path, _options.Files);
            Rotations++;
            Open();
        }
        _batchLength += length;
        _batchRecords++;
        if (_file is not null && _fileBytes + _batchLength >= NextBoundary(_fileBytes)) WriteToBoundary();
    }

    /// <summary>The first multiple of <see cref="BatchBytes"/> past <paramref name="offset"/>.</summary>
    private static long NextBoundary(long offset) => (offset / BatchBytes + 1) * BatchBytes;

    /// <summary>
    /// Writes the batch up to the next boundary of the file and keeps what lies past it: part of the last record, which
    /// is counted as written with the next batch.
    /// </summary>
    private void WriteToBoundary()
    {
        int upTo = (int)(NextBoundary(_fileBytes) - _fileBytes);
        int rest = _batchLength - upTo;
        if (rest <= 0)
        {
            WriteBatch();
            return;
        }
        // The record that crosses the boundary counts with the next batch, where it ends.
        _batchRecords--;
        if (!WriteBatch(keepFrom: upTo, keepLength: rest))
        {
            // Its start is gone with the batch, so it is lost too.
            WriteErrors++;
            return;
        }
        _batchLength = rest;
        _batchRecords = 1;
        _wroteToBoundary = true;
    }

    /// <summary>
    /// Writes the batch to the file. With <paramref name="keepLength"/> &gt; 0 the bytes at <paramref name="keepFrom"/>
    /// (a record, or its end, not counted in the batch) are kept and moved to the start of the emptied batch. False
    /// when the records could not be written (they are counted as errors).
    /// </summary>
    private bool WriteBatch(int keepFrom = 0, int keepLength = 0)
    {
        int length = keepLength > 0 ? keepFrom : _batchLength;
        bool written = true;
        if (length > 0)
        {
            if (_file is null)
            {
                WriteErrors += _batchRecords;
                written = false;
            }
            else
            {
                try
                {
                    _file.Write(_batch, 0, length);
                    _fileBytes += length;
                    Written += _batchRecords;
                }
                catch (IOException e)
                {
                    WriteErrors += _batchRecords;
                    written = false;
                    Report($"clf: cannot write {_options.Path}: {e.Message} (records are counted as lost)");
                }
            }
        }
        _batchRecords = 0;
        _batchLength = 0;
        if (keepLength > 0)
        {
            Buffer.BlockCopy(_batch, keepFrom, _batch, 0, keepLength);
        }
        return written;
    }

    private void Open()
    {
        try
        {
            // Unbuffered: the batch is the buffer.
            _file = new FileStream(_options.Path, FileMode.Append, FileAccess.Write, FileShare.Read | FileShare.Delete, bufferSize: 0);
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
        WriteBatch();
        Close();
    }
}
