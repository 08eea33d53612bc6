using System.Globalization;
using SipIps.Capture;
using SipIps.Engine.Behaviour;
using SipIps.Engine.Decode;
using SipIps.Engine.Pipeline;

namespace SipIps.Host.Commands;

/// <summary><c>sipips baseline show|learn</c>: read a behaviour baseline, or seed one from captures.</summary>
internal static class BaselineCommand
{
    public const string DefaultFile = "/var/lib/sipips/baseline.bin";

    public static int Show(string file, string? at, string? factorName, TextWriter stdout, TextWriter stderr)
    {
        Baseline b;
        try
        {
            b = Baseline.Load(file);
        }
        catch (FileNotFoundException)
        {
            stderr.WriteLine($"sipips: {file}: no such file (the bridge writes it as it learns; 'sipips baseline learn' seeds one)");
            return ExitCodes.UsageOrIo;
        }
        catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException)
        {
            stderr.WriteLine($"sipips: {e.Message}");
            return ExitCodes.UsageOrIo;
        }
        Factor? only = null;
        if (factorName is not null)
        {
            if (!Factors.TryParse(factorName, out var f))
            {
                stderr.WriteLine($"sipips: unknown factor '{factorName}' (known: {string.Join(", ", Factors.Names)})");
                return ExitCodes.UsageOrIo;
            }
            only = f;
        }
        DateTimeOffset when = DateTimeOffset.UtcNow;
        if (at is not null && !DateTimeOffset.TryParse(at, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out when))
        {
            stderr.WriteLine($"sipips: --at '{at}' is not a time like 2026-11-23T14:00Z");
            return ExitCodes.UsageOrIo;
        }
        long ns = when.ToUnixTimeMilliseconds() * 1_000_000;
        var (slot, week) = b.SlotOf(ns);
        // Without --at, the history as it stands after the newest week learned (a baseline seeded from old captures
        // would otherwise look empty today); with --at, as a bridge would see it at that time.
        int reference = at is null && b.LatestWeek >= 0 ? b.LatestWeek + 1 : week + 1;
        stdout.WriteLine($"{file}: {b.SlotMinutes}-minute slots over {b.Weeks} weeks, time zone {b.Zone.Id}");
        if (only is null)
        {
            stdout.WriteLine($"slot {SlotName(b, slot)} (at {when.UtcDateTime:yyyy-MM-dd HH:mm}Z):");
            stdout.WriteLine($"  {"factor",-28} {"weeks",5} {"mean",12} {"sigma",12} {"slots learned",14}");
            for (int f = 0; f < Factors.Count; f++)
            {
                var s = b.Stats(slot, (Factor)f, reference);
                stdout.WriteLine($"  {Factors.Name((Factor)f),-28} {s.Weeks,5} {Num(s.Mean),12} {Num(s.Sigma),12} {b.SlotsLearned((Factor)f),14}");
            }
            return ExitCodes.Success;
        }
        stdout.WriteLine($"{Factors.Name(only.Value)} by time of week (slots with history):");
        for (int s = 0; s < b.Slots; s++)
        {
            var st = b.Stats(s, only.Value, reference);
            if (st.Weeks > 0) stdout.WriteLine($"  {SlotName(b, s),-10} {Num(st.Mean),12} +- {Num(st.Sigma),-12} ({st.Weeks} week(s))");
        }
        return ExitCodes.Success;
    }

    public static int Learn(IReadOnlyList<string> captures, string file, int slotMinutes, int weeks, string zoneId, TextWriter stdout, TextWriter stderr)
    {
        TimeZoneInfo zone;
        try
        {
            zone = TimeZoneInfo.FindSystemTimeZoneById(zoneId);
        }
        catch (Exception e) when (e is TimeZoneNotFoundException or InvalidTimeZoneException)
        {
            stderr.WriteLine($"sipips: unknown time zone '{zoneId}'");
            return ExitCodes.UsageOrIo;
        }
        Baseline baseline;
        try
        {
            baseline = File.Exists(file) ? Baseline.Load(file) : new Baseline(slotMinutes, weeks, zone);
        }
        catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException or ArgumentOutOfRangeException)
        {
            stderr.WriteLine($"sipips: {e.Message}");
            return ExitCodes.UsageOrIo;
        }
        long slots = 0, packets = 0;
        long first = long.MaxValue, last = long.MinValue;
        foreach (var path in captures)
        {
            CaptureFileReader reader;
            try
            {
                reader = CaptureFileReader.Open(path);
            }
            catch (CaptureFileException e)
            {
                stderr.WriteLine($"sipips: {e.Message}");
                return ExitCodes.UsageOrIo;
            }
            using (reader)
            {
                var sessions = new CaptureSessions(null, 1, stderr, null, [], baseline);
                var engine = new SipEngine(new EngineOptions { Decoder = new DecoderOptions { Ipv4Checksum = ChecksumPolicy.Count } }, sessions.Observer);
                long lastHere = 0, n = 0, nextExpire = long.MinValue;
                try
                {
                    while (reader.TryReadNext(out var frame))
                    {
                        if (n++ == 0) sessions.Begin(frame.TimestampNs);
                        engine.ProcessFrame(frame.Data, frame.Link, frame.TimestampNs, frame.WireLength);
                        sessions.Tick(frame.TimestampNs);
                        if (frame.TimestampNs >= nextExpire)
                        {
                            engine.Expire(frame.TimestampNs);
                            sessions.Expire(frame.TimestampNs);
                            nextExpire = frame.TimestampNs + 1_000_000_000;
                        }
                        first = Math.Min(first, frame.TimestampNs);
                        lastHere = frame.TimestampNs;
                    }
                }
                catch (CaptureFileException e)
                {
                    stderr.WriteLine($"sipips: {e.Message}");
                    return ExitCodes.UsageOrIo;
                }
                if (n == 0) continue;
                sessions.Finish(lastHere);
                slots += sessions.Learner!.SlotsLearned;
                packets += n;
                last = Math.Max(last, lastHere);
            }
        }
        try
        {
            string? dir = Path.GetDirectoryName(Path.GetFullPath(file));
            if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
            baseline.Save(file);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            stderr.WriteLine($"sipips: cannot write {file}: {e.Message}");
            return ExitCodes.UsageOrIo;
        }
        stdout.WriteLine(packets == 0
            ? $"no packets in {string.Join(", ", captures)}; {file} unchanged"
            : $"learned {slots:N0} slot(s) from {packets:N0} packets ({Time(first)} to {Time(last)}) into {file}");
        return ExitCodes.Success;
    }

    private static string SlotName(Baseline b, int slot)
    {
        int minute = slot * b.SlotMinutes;
        string[] days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
        return $"{days[minute / 1440]} {minute % 1440 / 60:00}:{minute % 60:00}";
    }

    private static string Num(double v) => double.IsNaN(v) ? "-" : v.ToString("0.####", CultureInfo.InvariantCulture);
    private static string Time(long ns) => DateTime.UnixEpoch.AddTicks(ns / 100).ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) + "Z";
}
