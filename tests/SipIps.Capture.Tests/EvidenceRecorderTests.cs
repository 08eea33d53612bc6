using SipIps.Capture;
using Xunit;

namespace SipIps.Capture.Tests;

public class EvidenceRecorderTests
{
    private static int Frames(string file)
    {
        using var r = CaptureFileReader.Open(file);
        int n = 0;
        while (r.TryReadNext(out _)) n++;
        return n;
    }

    [Fact]
    public void Evidence_rotates_and_never_takes_more_than_its_files()
    {
        string dir = Directory.CreateTempSubdirectory("sipips-evidence-").FullName;
        try
        {
            string path = Path.Combine(dir, "evidence.pcap");
            File.WriteAllBytes(path, [1, 2, 3]); // left by an earlier run: kept aside, not overwritten
            var frame = new byte[1000];
            var log = new List<string>();
            using (var rec = new EvidenceRecorder(path, 64 * 1024, maxFiles: 3, log.Add, snapLength: 600, queueFrames: 4096))
            {
                for (int i = 0; i < 1000; i++)
                {
                    frame[0] = (byte)i;
                    Assert.True(rec.Offer(frame, 1_700_000_000_000_000_000 + i, frame.Length));
                    if (i % 100 == 99) Thread.Sleep(20);
                }
            }
            var files = Directory.GetFiles(dir).Order().ToList();
            Assert.Equal([path, path + ".1", path + ".2"], files);
            Assert.All(files, f => Assert.True(new FileInfo(f).Length <= 64 * 1024));
            // The newest frames are in the current file, each cut to the snap length and keeping its wire length.
            using var r = CaptureFileReader.Open(path);
            Assert.True(r.TryReadNext(out var f0));
            Assert.Equal(600, f0.Data.Length);
            Assert.Equal(1000, f0.WireLength);
            Assert.True(Frames(path) + Frames(path + ".1") + Frames(path + ".2") < 1000);
            Assert.Empty(log);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void A_full_queue_loses_frames_and_counts_them_without_blocking()
    {
        string dir = Directory.CreateTempSubdirectory("sipips-evidence-").FullName;
        try
        {
            using var rec = new EvidenceRecorder(Path.Combine(dir, "e.pcap"), 1 << 20, 2, _ => { }, queueFrames: 8);
            var frame = new byte[100];
            int accepted = 0;
            for (int i = 0; i < 100_000; i++) if (rec.Offer(frame, i, 100)) accepted++;
            Assert.Equal(100_000, rec.Offered);
            Assert.Equal(100_000 - accepted, rec.Lost);
            Assert.True(rec.Lost > 0);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
