using SipIps.Engine.Common;
using Xunit;

namespace SipIps.Engine.Tests;

public class HashIndexTests
{
    [Theory]
    [InlineData(1, 1)]
    [InlineData(8, 2)]
    [InlineData(100, 3)]
    public void Random_sets_and_removals_agree_with_a_dictionary(int capacity, int seed)
    {
        // Few distinct keys against a small index: runs form, merge and are cut by deletions all the time.
        var rnd = new Random(seed);
        var index = new HashIndex(capacity);
        var reference = new Dictionary<ulong, int>();
        var keys = Enumerable.Range(0, capacity * 3).Select(_ => (ulong)rnd.NextInt64()).ToArray();
        for (int op = 0; op < 100_000; op++)
        {
            ulong key = keys[rnd.Next(keys.Length)];
            switch (rnd.Next(3))
            {
                case 0:
                    int value = rnd.Next(1000);
                    bool stored = index.Set(key, value);
                    Assert.Equal(reference.ContainsKey(key) || reference.Count < capacity, stored);
                    if (stored) reference[key] = value;
                    break;
                case 1:
                    Assert.Equal(reference.Remove(key), index.Remove(key));
                    break;
                default:
                    Assert.Equal(reference.TryGetValue(key, out int expected), index.TryGetValue(key, out int got));
                    if (reference.ContainsKey(key)) Assert.Equal(expected, got);
                    break;
            }
            Assert.Equal(reference.Count, index.Count);
        }
        foreach (ulong key in keys)
            Assert.Equal(reference.TryGetValue(key, out int v) ? v : -1, index.Find(key));
    }

    [Fact]
    public void A_full_index_refuses_new_keys_but_replaces_values_and_takes_keys_again_after_a_removal()
    {
        var index = new HashIndex(4);
        for (ulong k = 1; k <= 4; k++) Assert.True(index.Set(k, (int)k));
        Assert.False(index.Set(5, 5));
        Assert.Equal(-1, index.Find(5));
        Assert.True(index.Set(2, 20));
        Assert.Equal(20, index.Find(2));
        Assert.True(index.Remove(3));
        Assert.True(index.Set(5, 5));
        Assert.Equal(5, index.Find(5));
        Assert.Equal(4, index.Count);
    }
}
