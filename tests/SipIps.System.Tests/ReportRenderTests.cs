using SipIps.Tests;
using Xunit;
using Xunit.Abstractions;

namespace SipIps.SystemTests;

/// <summary>The HTML report renders in a real browser (headless Chromium), offline.</summary>
public class ReportRenderTests(ITestOutputHelper output)
{
    private static (int Width, int Height) PngSize(byte[] png) =>
        (System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16)), System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(20)));

    private static CommandResult Screenshot(string html, string png) =>
        Lab.Run("timeout", ["60", "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
            "--disable-background-networking", "--user-data-dir=" + Path.GetDirectoryName(png) + "/profile", $"--screenshot={png}", "--window-size=1200,2400",
            "file://" + html], TimeSpan.FromSeconds(90));

    [RootFact]
    public void Headless_chromium_renders_the_report_with_its_charts()
    {
        string dir = Directory.CreateTempSubdirectory("sipips-render-").FullName;
        try
        {
            string report = Path.Combine(dir, "report.html");
            var r = Lab.Run("dotnet", [Lab.SipIpsDll, "analyze", Corpus.Path("sip-attacks-initconf", "traces", "SIP-3700-unauthorized-401.pcap"),
                "--rules", Path.Combine(Corpus.RepoRoot(), "rules"), "--report", report, "--no-progress"], TimeSpan.FromSeconds(60));
            Assert.True(r.ExitCode == 0, r.Stderr);
            string blank = Path.Combine(dir, "blank.html");
            File.WriteAllText(blank, "<!DOCTYPE html><html><body></body></html>");

            var shot = Screenshot(report, Path.Combine(dir, "report.png"));
            Assert.True(shot.ExitCode == 0 && File.Exists(Path.Combine(dir, "report.png")), shot.Stdout + shot.Stderr);
            Assert.Equal(0, Screenshot(blank, Path.Combine(dir, "blank.png")).ExitCode);
            byte[] png = File.ReadAllBytes(Path.Combine(dir, "report.png"));
            byte[] empty = File.ReadAllBytes(Path.Combine(dir, "blank.png"));
            output.WriteLine($"report screenshot {png.Length:N0} bytes, blank page {empty.Length:N0} bytes");
            Assert.Equal((1200, 2400), PngSize(png));
            // Text, axes and lines compress far worse than an empty page.
            Assert.True(png.Length > 5 * empty.Length, $"{png.Length} vs {empty.Length}");
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
