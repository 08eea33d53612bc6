using System.Text;
using SipIps.Engine.Analysis;
using SipIps.Engine.Common;
using Xunit;

namespace SipIps.Engine.Tests.Analysis;

public class TopKTests
{
    [Theory]
    [InlineData(16, 1)]
    [InlineData(64, 2)]
    [InlineData(256, 3)]
    public void Space_saving_keeps_every_heavy_key_within_its_error_bound(int k, int seed)
    {
        var rnd = new Random(seed);
        var top = new TopK(k);
        var exact = new Dictionary<string, long>();
        const int n = 200_000;
        for (int i = 0; i < n; i++)
        {
            // Zipf-like: a few heavy keys and a long tail of distinct ones.
            int id = (int)Math.Floor(Math.Pow(rnd.NextDouble(), 3) * 5000);
            string key = "sip:" + id + "@example.com";
            var bytes = Encoding.ASCII.GetBytes(key);
            top.Offer(Hash64.Compute(bytes, 7), bytes);
            exact[key] = exact.GetValueOrDefault(key) + 1;
        }
        Assert.Equal(n, top.Total);
        var reported = top.Top(k).ToDictionary(x => x.Key);
        foreach (var (key, count) in exact.Where(kv => kv.Value > n / k))
        {
            Assert.True(reported.ContainsKey(key), $"heavy key {key} ({count}) missing");
            var item = reported[key];
            Assert.InRange(count, item.Count - item.Error, item.Count);
        }
        Assert.True(top.ErrorBound <= n / k);
        // The list is sorted, heaviest first.
        var counts = top.Top(k).Select(x => x.Count).ToList();
        Assert.Equal(counts.OrderByDescending(x => x), counts);
    }
}
