using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;

namespace SipIps.Engine.Common;

/// <summary>
/// A fast keyed 64-bit hash for table keys built from attacker-chosen bytes (Call-IDs, URIs, addresses).
/// The process-wide seed is random, so an attacker cannot precompute colliding keys; tables that use it also cap
/// their probe lengths, so even a collision flood costs bounded work.
/// </summary>
public static class Hash64
{
    private const ulong P0 = 0xa0761d6478bd642fUL;
    private const ulong P1 = 0xe7037ed1a0b428dbUL;
    private const ulong P2 = 0x8ebc6af09c88c6e3UL;
    private const ulong P3 = 0x589965cc75374cc3UL;

    /// <summary>
    /// The per-process seed: random, or the number in <see cref="SeedVariable"/> when it holds one. Bounded tables
    /// (TCP streams, sessions, counters) place and evict keys by their hash, so where a table overflows, two runs
    /// over the same capture can differ by a few counts; a fixed seed makes <c>analyze</c> reproducible, and makes
    /// collisions predictable, so the live bridge keeps a random one.
    /// </summary>
    public static readonly ulong Seed = CreateSeed(Environment.GetEnvironmentVariable(SeedVariable));

    public const string SeedVariable = "SIPIPS_HASH_SEED";

    /// <summary>The seed for a value of <see cref="SeedVariable"/> (decimal or 0x hex); random when absent or not a number.</summary>
    public static ulong CreateSeed(string? fixedSeed)
    {
        if (fixedSeed is not null)
        {
            var text = fixedSeed.Trim();
            if (text.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
                    ? ulong.TryParse(text.AsSpan(2), System.Globalization.NumberStyles.AllowHexSpecifier, null, out ulong hex)
                    : ulong.TryParse(text, System.Globalization.NumberStyles.None, null, out hex))
                return hex;
        }
        Span<byte> b = stackalloc byte[8];
        RandomNumberGenerator.Fill(b);
        return BinaryPrimitives.ReadUInt64LittleEndian(b);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Mum(ulong a, ulong b)
    {
        ulong hi = Math.BigMul(a, b, out ulong lo);
        return hi ^ lo;
    }

    public static ulong Compute(ReadOnlySpan<byte> data) => Compute(data, Seed);

    public static ulong Compute(ReadOnlySpan<byte> data, ulong seed)
    {
        ulong s = seed ^ P0;
        int len = data.Length;
        ulong a, b;
        if (len <= 16)
        {
            if (len >= 4)
            {
                int q = (len >> 3) << 2;
                a = ((ulong)BinaryPrimitives.ReadUInt32LittleEndian(data) << 32) | BinaryPrimitives.ReadUInt32LittleEndian(data.Slice(q));
                b = ((ulong)BinaryPrimitives.ReadUInt32LittleEndian(data.Slice(len - 4)) << 32)
                    | BinaryPrimitives.ReadUInt32LittleEndian(data.Slice(len - 4 - q));
            }
            else if (len > 0)
            {
                a = ((ulong)data[0] << 16) | ((ulong)data[len >> 1] << 8) | data[len - 1];
                b = 0;
            }
            else
            {
                a = b = 0;
            }
        }
        else
        {
            int i = 0;
            int remaining = len;
            while (remaining > 16)
            {
                s = Mum(BinaryPrimitives.ReadUInt64LittleEndian(data.Slice(i)) ^ P1,
                        BinaryPrimitives.ReadUInt64LittleEndian(data.Slice(i + 8)) ^ s);
                i += 16;
                remaining -= 16;
            }
            a = BinaryPrimitives.ReadUInt64LittleEndian(data.Slice(len - 16));
            b = BinaryPrimitives.ReadUInt64LittleEndian(data.Slice(len - 8));
        }
        return Mum(P1 ^ (ulong)len, Mum(a ^ P1, b ^ s) ^ P2);
    }

    /// <summary>Hashes an address (and an optional discriminator such as a port or a prefix length).</summary>
    public static ulong Compute(in IpAddr address, ulong extra = 0) =>
        Mum(Mum(address.Hi ^ Seed ^ P0, address.Lo ^ P1) ^ address.Family, extra ^ P3);

    /// <summary>Combines two hashes (for composite keys).</summary>
    public static ulong Combine(ulong h1, ulong h2) => Mum(h1 ^ P2, h2 ^ P3);
}
