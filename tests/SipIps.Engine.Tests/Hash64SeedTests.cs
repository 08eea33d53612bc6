using SipIps.Engine.Common;
using Xunit;

namespace SipIps.Engine.Tests;

public class Hash64SeedTests
{
    [Fact]
    public void A_fixed_seed_is_read_in_decimal_or_hex_and_anything_else_is_random()
    {
        Assert.Equal(42UL, Hash64.CreateSeed("42"));
        Assert.Equal(42UL, Hash64.CreateSeed(" 0x2A "));
        Assert.Equal(ulong.MaxValue, Hash64.CreateSeed("18446744073709551615"));
        // Not a number (or out of range): random, so two reads differ (2^-64 odds of a false failure).
        foreach (var bad in new string?[] { null, "", "-1", "4.2", "0xZZ", "18446744073709551616", "seed" })
            Assert.NotEqual(Hash64.CreateSeed(bad), Hash64.CreateSeed(bad));
    }
}
