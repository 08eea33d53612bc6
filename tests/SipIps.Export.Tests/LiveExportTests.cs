using System.Net;
using System.Text;
using FsCheck;
using FsCheck.Fluent;
using SipIps.Engine.Packets;
using SipIps.Engine.Pipeline;
using SipIps.Engine.Sessions;
using SipIps.Engine.Sip;
using SipIps.Export.Clf;
using SipIps.Export.Live;
using SipIps.Tests;
using Xunit;

namespace SipIps.Export.Tests;

public sealed class LiveExportTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sipips-clf-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private static byte[] Invite(int i) => Encoding.ASCII.GetBytes(
        $"INVITE sip:bob@198.51.100.20 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK{i}\r\nMax-Forwards: 70\r\n" +
        $"From: <sip:alice@example.com>;tag=a{i}\r\nTo: <sip:bob@example.com>\r\nCall-ID: live-{i}@192.0.2.10\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n");

    /// <summary>An engine whose observer writes CLF into a ring, as a bridge worker does.</summary>
    private static (SipEngine Engine, LiveObserver Observer) Worker(ClfLogWriter writer)
    {
        var observer = new LiveObserver(null, null, null, writer.AddWorker());
        return (new SipEngine(new EngineOptions(), observer), observer);
    }

    private static void Feed(SipEngine engine, int from, int count)
    {
        for (int i = from; i < from + count; i++)
            engine.ProcessFrame(PacketBuilder.Udp(IPAddress.Parse("192.0.2.10"), IPAddress.Parse("198.51.100.20"), 5060, 5060, Invite(i)), LinkType.Raw, 1_700_000_000_000_000_000 + i, 400);
    }

    private static bool WaitFor(Func<bool> condition) => SpinWait.SpinUntil(condition, 10_000);

    [Fact]
    public void Records_from_the_workers_reach_the_file_in_rfc_6873_form()
    {
        string path = Path.Combine(_dir, "sip.clf");
        using var writer = new ClfLogWriter(new ClfLogOptions { Path = path }, _ => { });
        var (engine, _) = Worker(writer);
        writer.Start();
        Feed(engine, 0, 500);
        Assert.True(WaitFor(() => writer.Written == 500), $"{writer.Written}");
        writer.Dispose();
        var records = ReadAll(File.ReadAllBytes(path));
        Assert.Equal(500, records.Count);
        Assert.Equal("live-7@192.0.2.10", records[7].CallId);
        Assert.Equal("RORUU", records[7].Flags);
    }

    /// <summary>
    /// Writes end on 64 KB boundaries of the file, so the record that crosses one is written in two parts: both
    /// must reach the file, at shutdown too. The thread is never started, so the last pass (at disposal) is the one
    /// that crosses boundaries.
    /// </summary>
    [Fact]
    public void A_record_cut_at_a_write_boundary_reaches_the_file_whole_even_at_shutdown()
    {
        string path = Path.Combine(_dir, "sip.clf");
        var writer = new ClfLogWriter(new ClfLogOptions { Path = path }, _ => { });
        var (engine, _) = Worker(writer);
        Feed(engine, 0, 1000); // about 230 bytes each: three boundaries crossed
        writer.Dispose();
        var bytes = File.ReadAllBytes(path);
        Assert.True(bytes.Length > 3 * 65536, $"{bytes.Length}");
        var records = ReadAll(bytes);
        Assert.Equal(1000, records.Count);
        Assert.Equal(1000, writer.Written);
        Assert.Equal("live-999@192.0.2.10", records[^1].CallId);
    }

    [Fact]
    public void The_file_rotates_by_size_and_keeps_the_configured_number()
    {
        string path = Path.Combine(_dir, "sip.clf");
        using var writer = new ClfLogWriter(new ClfLogOptions { Path = path, MaxFileBytes = 20_000, Files = 3 }, _ => { });
        var (engine, _) = Worker(writer);
        writer.Start();
        Feed(engine, 0, 1000); // about 300 bytes each: 300 kB through 20 kB files
        Assert.True(WaitFor(() => writer.Written == 1000), $"{writer.Written}");
        writer.Dispose();
        Assert.True(writer.Rotations >= 10, $"{writer.Rotations}");
        Assert.True(File.Exists(path) && File.Exists(path + ".1") && File.Exists(path + ".2"));
        Assert.False(File.Exists(path + ".3"));
        foreach (var f in new[] { path, path + ".1", path + ".2" })
        {
            Assert.True(new FileInfo(f).Length <= 20_000);
            Assert.NotEmpty(ReadAll(File.ReadAllBytes(f))); // every file starts and ends on a record boundary
        }
        // The newest records are in PATH, the oldest kept in PATH.2.
        Assert.EndsWith("live-999@192.0.2.10", ReadAll(File.ReadAllBytes(path))[^1].CallId);
    }

    [Fact]
    public void The_file_rotates_by_age()
    {
        string path = Path.Combine(_dir, "sip.clf");
        using var writer = new ClfLogWriter(new ClfLogOptions { Path = path, RotateIntervalNs = 200_000_000, Files = 5 }, _ => { });
        var (engine, _) = Worker(writer);
        writer.Start();
        Feed(engine, 0, 10);
        Assert.True(WaitFor(() => writer.Written == 10));
        Thread.Sleep(300);
        Feed(engine, 10, 10);
        Assert.True(WaitFor(() => writer.Written == 20));
        writer.Dispose();
        Assert.Equal(1, writer.Rotations);
        Assert.Equal(10, ReadAll(File.ReadAllBytes(path + ".1")).Count);
        Assert.Equal(10, ReadAll(File.ReadAllBytes(path)).Count);
    }

    /// <summary>logrotate moves the file, then signals: the writer reopens at the path and nothing is lost.</summary>
    [Fact]
    public void Reopen_after_an_external_move_starts_a_new_file_at_the_path()
    {
        string path = Path.Combine(_dir, "sip.clf");
        using var writer = new ClfLogWriter(new ClfLogOptions { Path = path }, _ => { });
        var (engine, _) = Worker(writer);
        writer.Start();
        Feed(engine, 0, 50);
        Assert.True(WaitFor(() => writer.Written == 50));
        Thread.Sleep(100);
        File.Move(path, path + ".old");
        writer.Reopen();
        Assert.True(WaitFor(() => File.Exists(path)));
        Feed(engine, 50, 30);
        Assert.True(WaitFor(() => writer.Written == 80));
        writer.Dispose();
        Assert.Equal(50, ReadAll(File.ReadAllBytes(path + ".old")).Count);
        Assert.Equal(30, ReadAll(File.ReadAllBytes(path)).Count);
    }

    /// <summary>A writer that does not keep up (a stalled disk) costs records, counted, never the worker's time.</summary>
    [Fact]
    public void A_stalled_writer_drops_and_counts_without_blocking_the_worker()
    {
        string path = Path.Combine(_dir, "sip.clf");
        using var writer = new ClfLogWriter(new ClfLogOptions { Path = path, QueueBytes = 64 * 1024 }, _ => { });
        var (engine, observer) = Worker(writer);
        // Not started: nothing drains the ring.
        var clock = System.Diagnostics.Stopwatch.StartNew();
        Feed(engine, 0, 5000);
        clock.Stop();
        long queued = observer.ClfRing!.Published;
        Assert.True(queued is > 100 and < 1000, $"{queued}");
        Assert.Equal(5000 - queued, writer.Lost);
        Assert.Equal(5000, observer.Requests[(int)SipMethod.Invite]);
        writer.Start();
        Assert.True(WaitFor(() => writer.Written == queued));
    }

    /// <summary>A message whose CLF values exceed the queue's record limit is counted, not queued half-written.</summary>
    [Fact]
    public void An_oversized_clf_record_is_counted_and_skipped()
    {
        using var writer = new ClfLogWriter(new ClfLogOptions { Path = Path.Combine(_dir, "sip.clf") }, _ => { });
        var (engine, observer) = Worker(writer);
        string user = new('u', 3000);
        var huge = Encoding.ASCII.GetBytes(
            $"INVITE sip:{user}@198.51.100.20 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKbig\r\nMax-Forwards: 70\r\n" +
            $"From: <sip:{user}@example.com>;tag=a\r\nTo: <sip:{user}@example.com>\r\nCall-ID: big@192.0.2.10\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n");
        engine.ProcessFrame(PacketBuilder.Udp(IPAddress.Parse("192.0.2.10"), IPAddress.Parse("198.51.100.20"), 5060, 5060, huge), LinkType.Raw, 1, huge.Length);
        Feed(engine, 0, 1);
        Assert.Equal(1, observer.ClfTooLarge);
        Assert.Equal(1, observer.ClfRing!.Published);
        Assert.Equal(2, observer.Requests[(int)SipMethod.Invite]);
    }

    [Fact]
    public void The_byte_ring_keeps_records_whole_across_the_wrap()
    {
        var ring = new SpscByteRing(4096);
        var rnd = new Random(5);
        int written = 0, read = 0;
        var expected = new Queue<byte[]>();
        for (int round = 0; round < 2000; round++)
        {
            int n = rnd.Next(1, 700);
            var room = ring.Reserve(n + 10);
            if (!room.IsEmpty)
            {
                var data = new byte[n];
                rnd.NextBytes(data);
                data.CopyTo(room);
                ring.Commit(n);
                expected.Enqueue(data);
                written++;
            }
            while ((rnd.Next(3) == 0 || room.IsEmpty) && ring.TryRead(out var record))
            {
                Assert.Equal(expected.Dequeue(), record.ToArray());
                ring.Release();
                read++;
                room = default;
            }
        }
        while (ring.TryRead(out var record))
        {
            Assert.Equal(expected.Dequeue(), record.ToArray());
            ring.Release();
            read++;
        }
        Assert.Equal(written, read);
        Assert.True(written > 1500);
    }

    /// <summary>
    /// Runs <paramref name="produce"/> on this thread and <paramref name="consumeOne"/> on a thread of its own until the
    /// producer is done and the ring is empty. An assertion that fails on the consumer's thread fails the test here.
    /// </summary>
    private static void ProduceAndConsume(Action produce, Func<bool> consumeOne)
    {
        bool done = false;
        System.Runtime.ExceptionServices.ExceptionDispatchInfo? failure = null;
        using var running = new ManualResetEventSlim();
        var consumer = new Thread(() =>
        {
            running.Set();
            try
            {
                while (true)
                {
                    bool finished = Volatile.Read(ref done);
                    while (consumeOne()) { }
                    if (finished) return;
                }
            }
            catch (Exception e)
            {
                failure = System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e);
            }
        });
        consumer.Start();
        running.Wait();
        produce();
        Volatile.Write(ref done, true);
        consumer.Join();
        failure?.Throw();
    }

    [Fact]
    public void The_byte_ring_hands_every_record_across_threads_in_order_or_counts_it_lost()
    {
        // Each side reads the other's position only when its copy says full or empty: every record read is whole and
        // in order, and every reservation is either read or counted lost. A full ring refuses a reservation (lost);
        // the producer tries the same record a few times before giving it up, so that most records cross even when
        // the consumer's thread waits for a core.
        var ring = new SpscByteRing(8192);
        const int Records = 100_000;
        long read = 0, attempts = 0;
        int last = -1;
        ProduceAndConsume(
            () =>
            {
                for (int seq = 0; seq < Records; seq++)
                {
                    int n = 4 + seq % 200;
                    for (int attempt = 0; attempt < 100; attempt++)
                    {
                        attempts++;
                        var room = ring.Reserve(n);
                        if (room.IsEmpty)
                        {
                            Thread.Yield();
                            continue;
                        }
                        BitConverter.TryWriteBytes(room, seq);
                        for (int i = 4; i < n; i++) room[i] = (byte)(seq + i);
                        ring.Commit(n);
                        break;
                    }
                }
            },
            () =>
            {
                if (!ring.TryRead(out var record)) return false;
                int seq = BitConverter.ToInt32(record);
                Assert.True(seq > last, $"record {seq} after {last}");
                Assert.Equal(4 + seq % 200, record.Length);
                for (int i = 4; i < record.Length; i++) Assert.Equal((byte)(seq + i), record[i]);
                last = seq;
                ring.Release();
                read++;
                return true;
            });
        Assert.Equal(ring.Published, read);
        Assert.Equal(attempts, read + ring.Lost);
        Assert.True(read > Records / 2, $"only {read} of {Records} records went through");
    }

    [Fact]
    public void The_value_ring_hands_every_value_across_threads_in_order_or_counts_it_lost()
    {
        var ring = new SpscRing<long>(64);
        const long Values = 200_000;
        long read = 0, attempts = 0, last = -1;
        ProduceAndConsume(
            () =>
            {
                for (long v = 0; v < Values; v++)
                {
                    for (int attempt = 0; attempt < 100; attempt++)
                    {
                        attempts++;
                        if (ring.TryWrite(v)) break;
                        Thread.Yield();
                    }
                }
            },
            () =>
            {
                if (!ring.TryPeek(out int slot)) return false;
                long v = ring[slot];
                Assert.True(v > last, $"value {v} after {last}");
                last = v;
                ring.Release();
                read++;
                return true;
            });
        Assert.Equal(ring.Published, read);
        Assert.Equal(attempts, read + ring.Lost);
        Assert.True(read > Values / 2, $"only {read} of {Values} values went through");
        Assert.Equal(0, ring.Count);
    }

    [Fact]
    public void Sessions_go_out_on_idle_and_active_timeouts()
    {
        var records = new List<(SessionState S, SessionEndReason R)>();
        var sink = new ListSink(records);
        var tracker = new SessionTracker(new SessionTrackerOptions { Capacity = 64, IdleTimeoutNs = 10_000_000_000, ActiveTimeoutNs = 60_000_000_000, CallIdleTimeoutNs = 3_600_000_000_000 }, sink);
        var e = new SessionEvent { Kind = SessionEventKind.Sip, IsRequest = true, Method = SipMethod.Options, CallIdHash = 1, Source = Engine.Common.IpAddr.FromV4(1), Destination = Engine.Common.IpAddr.FromV4(2) };
        e.TimestampNs = 1_000_000_000;
        tracker.OnEvent(e); // an OPTIONS never answered
        var call = e with { CallIdHash = 2, Method = SipMethod.Invite };
        tracker.OnEvent(call);
        tracker.OnEvent(call with { IsRequest = false, StatusCode = 200, CSeqMethod = SipMethod.Invite, Source = e.Destination, Destination = e.Source });
        tracker.Expire(12_000_000_000, int.MaxValue);
        var idle = Assert.Single(records);
        Assert.Equal((SessionEndReason.IdleTimeout, 1UL), (idle.R, idle.S.CallIdHash));
        // The answered call stays (its idle timeout is an hour) and goes out every active timeout, counters restarting.
        tracker.OnEvent(call with { Method = SipMethod.Info, TimestampNs = 50_000_000_000 });
        tracker.Expire(62_000_000_000, int.MaxValue);
        Assert.Equal(2, records.Count);
        Assert.Equal(SessionEndReason.ActiveTimeout, records[1].R);
        Assert.Equal(3u, records[1].S.Packets);
        tracker.OnEvent(call with { Method = SipMethod.Bye, TimestampNs = 70_000_000_000 });
        tracker.OnEvent(call with { IsRequest = false, StatusCode = 200, CSeqMethod = SipMethod.Bye, Source = e.Destination, Destination = e.Source, TimestampNs = 70_000_000_000 });
        tracker.Expire(80_000_000_000, int.MaxValue);
        Assert.Equal(3, records.Count);
        Assert.Equal((SessionEndReason.EndOfSession, 2u), (records[2].R, records[2].S.Packets));
        Assert.Equal(0, tracker.Active);
    }

    [Fact]
    public void The_session_thread_counts_an_event_it_fails_on_and_goes_on()
    {
        // No worker writes an event whose text lengths pass their buffers; one stands here for any fault on the
        // session thread. It must cost that event's record, counted and logged, and nothing else: the thread goes on,
        // the session is expired, and the next session is exported.
        using var collector = new System.Net.Sockets.UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        long now = 1_000_000_000;
        var log = new List<string>();
        using var exporter = new SessionExporter(
            new SessionTrackerOptions { Capacity = 64, IdleTimeoutNs = 1_000_000_000, CallIdleTimeoutNs = 1_000_000_000 },
            new NetFlowOptions { Collector = (IPEndPoint)collector.Client.LocalEndPoint! }, l => { lock (log) log.Add(l); },
            clock: () => Volatile.Read(ref now));
        var ring = exporter.AddWorker();
        exporter.Start();

        void Publish(ulong callId, byte callIdLength)
        {
            Assert.True(ring.TryClaim(out int slot));
            ref var e = ref ring[slot];
            e = default;
            e.Kind = SessionEventKind.Sip;
            e.IsRequest = true;
            e.Method = SipMethod.Options;
            e.CallIdHash = callId;
            e.TimestampNs = 1_000_000_000;
            e.Source = Engine.Common.IpAddr.FromV4(0xC000020A);
            e.Destination = Engine.Common.IpAddr.FromV4(0xC6336414);
            e.CallIdLength = callIdLength;
            ring.Publish();
        }
        Publish(1, 200);
        Assert.True(WaitFor(() => exporter.Tracker.Active == 1));
        Volatile.Write(ref now, 5_000_000_000);
        Assert.True(WaitFor(() => exporter.Faults.Count == 1 && exporter.Tracker.Active == 0), $"faults {exporter.Faults.Count}, active {exporter.Tracker.Active}");
        Publish(2, 10);
        Assert.True(WaitFor(() => exporter.Tracker.Active == 1));
        Volatile.Write(ref now, 9_000_000_000);
        Assert.True(WaitFor(() => exporter.Writer!.RecordsWritten == 2), $"records {exporter.Writer!.RecordsWritten}");
        Assert.Equal(1, exporter.Faults.Count);
        lock (log) Assert.Contains(log, l => l.Contains("sessions: internal error exporting a session record"));
    }

    [Fact]
    public void The_live_exporters_take_frames_an_attacker_rewrote_without_an_internal_error()
    {
        // The bridge's path past the engine, as a worker drives it: the values of each message copied into the
        // session and CLF rings, the session thread (tracking, RTP, NetFlow) and the CLF thread (formatting, the
        // file). Hostile frames must cost them nothing but counted, bounded work: no fault, no record lost.
        using var collector = new System.Net.Sockets.UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        var log = new List<string>();
        using var clf = new ClfLogWriter(new ClfLogOptions { Path = Path.Combine(_dir, "hostile.clf") }, l => { lock (log) log.Add(l); });
        using var sessions = new SessionExporter(new SessionTrackerOptions { Capacity = 1024 },
            new NetFlowOptions { Collector = (IPEndPoint)collector.Client.LocalEndPoint! }, l => { lock (log) log.Add(l); });
        var sessionRing = sessions.AddWorker();
        var clfRing = clf.AddWorker();
        var engine = new SipEngine(new EngineOptions(), new LiveObserver(sessionRing, null, sessions.Media, clfRing));
        clf.Start();
        sessions.Start();
        var cases = Gen.Choose(0, HostileFrames.Sources.Count - 1)
            .SelectMany(s => Gen.Choose(0, int.MaxValue).Select(seed => (s, seed)));
        Prop.ForAll(Arb.From(cases), ((int Source, int Seed) c) =>
        {
            var source = HostileFrames.Sources[c.Source];
            foreach (var (ns, data) in HostileFrames.Mutate(source, c.Seed))
                engine.ProcessFrame(data, source.Link, ns, data.Length);
            // Keep the rings from overflowing: the test is about faults, not about a full queue.
            Assert.True(WaitFor(() => sessionRing.Count == 0 && clf.Written + clf.WriteErrors >= clfRing.Published));
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(FuzzCampaign.Cases(120)));
        lock (log) Assert.True(sessions.Faults.Count == 0 && clf.Faults.Count == 0, string.Join("\n", log));
        Assert.Equal(0, clf.WriteErrors);
        Assert.Equal(0, sessionRing.Lost + clfRing.Lost);
        Assert.True(clf.Written > 1000, $"{clf.Written} records");
    }

    private sealed class ListSink(List<(SessionState, SessionEndReason)> list) : ISessionSink
    {
        public void OnSession(in SessionState session, SessionEndReason reason) => list.Add((session, reason));
    }

    internal static List<ClfEntry> ReadAll(byte[] data)
    {
        var list = new List<ClfEntry>();
        int at = 0;
        while (at < data.Length)
        {
            int n = ClfReader.TryParse(data.AsSpan(at), out var entry, out string? error);
            Assert.True(n > 0, $"bad record at {at}: {error}");
            list.Add(entry!);
            at += n;
        }
        return list;
    }
}
