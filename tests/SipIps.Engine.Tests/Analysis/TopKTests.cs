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

    [Theory]
    [InlineData(1)]
    [InlineData(16)]
    [InlineData(64)]
    public void Held_keys_are_found_and_evicted_ones_forgotten_under_churn(int k)
    {
        // Three times as many keys as counters: nearly every offer of a light key evicts one, so the index sees a
        // removal and an insert per offer.
        var rnd = new Random(k);
        var top = new TopK(k);
        var exact = new Dictionary<int, long>();
        const int n = 50_000;
        for (int i = 0; i < n; i++)
        {
            int id = rnd.Next(3) == 0 ? rnd.Next(4) : rnd.Next(k * 3);
            top.Offer(KeyHash(id), Encoding.ASCII.GetBytes("key" + id));
            exact[id] = exact.GetValueOrDefault(id) + 1;
        }
        var held = top.Top(k);
        Assert.Equal(Math.Min(k, exact.Count), held.Count);
        // Every offer adds one to exactly one counter.
        Assert.Equal(n, held.Sum(x => x.Count));
        Assert.Equal(n, top.Total);
        var heldIds = held.Select(x => int.Parse(x.Key.AsSpan(3))).ToHashSet();
        foreach (var x in held)
            Assert.InRange(exact[int.Parse(x.Key.AsSpan(3))], x.Count - x.Error, x.Count);
        // The index agrees with the counters: held keys are found, every other key is not.
        foreach (int id in exact.Keys)
            Assert.Equal(heldIds.Contains(id), top.TryIncrement(KeyHash(id)));
        Assert.Equal(n + heldIds.Count, top.Total);
    }

    [Fact]
    public void Counts_stay_ordered_and_the_error_bound_is_the_smallest_counter()
    {
        var top = new TopK(4);
        void Offer(string key) => top.Offer(Hash64.Compute(Encoding.ASCII.GetBytes(key)), Encoding.ASCII.GetBytes(key));
        foreach (var key in "a a a b b c".Split(' ')) Offer(key);
        Assert.Equal(0, top.ErrorBound); // a counter is still free: every count is exact
        Offer("d");
        Assert.Equal(1, top.ErrorBound);
        Assert.Equal(["a:3:0", "b:2:0", "c:1:0", "d:1:0"], top.Top(4).Select(x => $"{x.Key}:{x.Count}:{x.Error}"));
        // Full: "e" takes over a counter of one (c or d), and carries that one as its error.
        Offer("e");
        var after = top.Top(4).Select(x => $"{x.Key}:{x.Count}:{x.Error}").ToList();
        Assert.Equal(["a:3:0", "b:2:0"], after.Take(2));
        Assert.Contains("e:2:1", after);
        Assert.Equal(1, top.ErrorBound);
        Offer("e");
        Offer("e");
        Assert.Equal("e:4:1", $"{top.Top(1)[0].Key}:{top.Top(1)[0].Count}:{top.Top(1)[0].Error}");
    }

    private static ulong KeyHash(int id) => Hash64.Compute(BitConverter.GetBytes(id), 11);
}
