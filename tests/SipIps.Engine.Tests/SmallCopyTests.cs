using SipIps.Engine.Common;
using Xunit;

namespace SipIps.Engine.Tests;

public class SmallCopyTests
{
    [Fact]
    public void Every_length_is_copied_exactly_and_nothing_past_it_changes()
    {
        // Each length takes one of the overlapping-move paths (bytes, 4, 8, 16, two pairs of 16 or the general copy), at every
        // alignment of source and destination.
        var random = new Random(4475);
        for (int n = 0; n <= 80; n++)
        {
            for (int offset = 0; offset < 8; offset++)
            {
                var source = new byte[n + offset];
                random.NextBytes(source);
                var destination = new byte[n + offset + 24];
                Array.Fill(destination, (byte)0xEE);
                SmallCopy.To(source.AsSpan(offset, n), destination.AsSpan(offset));
                Assert.True(destination.AsSpan(offset, n).SequenceEqual(source.AsSpan(offset, n)), $"length {n}, offset {offset}");
                Assert.All(destination.AsSpan(0, offset).ToArray(), b => Assert.Equal(0xEE, b));
                Assert.All(destination.AsSpan(offset + n).ToArray(), b => Assert.Equal(0xEE, b));
            }
        }
    }

    [Fact]
    public void A_destination_shorter_than_the_source_is_refused()
    {
        Assert.Throws<ArgumentException>(() => SmallCopy.To(new byte[9], new byte[8]));
    }
}
