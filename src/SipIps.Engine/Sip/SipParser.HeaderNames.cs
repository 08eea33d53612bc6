using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SipIps.Engine.Sip;

public static partial class SipParser
{
    /// <summary>
    /// Reads a header name that the colon follows directly (as nearly every sender writes it) from one 16-byte load
    /// (two for a name of 16 bytes or more): the token check of its bytes, the colon, and the name's id from a table
    /// with one slot per known name. Returns the colon's position, or -1 to take the general path (LWS before the
    /// colon, a name of 32 bytes or more, a byte that is no token character, no SSSE3). Compared with a cascade of
    /// compares on the first bytes, the work does not depend on which header the line holds, so varied traffic costs
    /// no mispredicted branches here.
    /// </summary>
    /// <param name="buffer">The message buffer, with its padding: 32 bytes from <paramref name="start"/> are readable.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int ColonAfterName(byte[] buffer, int start, int end, out SipHeaderId id)
    {
        id = SipHeaderId.Other;
        if (!Ssse3.IsSupported || start < 0 || start > buffer.Length - 32) return -1;
        ref byte at = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(buffer), start);
        var lo = Vector128.LoadUnsafe(ref at);
        uint outside = SipChars.TokenChars.NonMembers(lo);
        // Names of 16 bytes or more are few (Content-Disposition, P-Asserted-Identity...): only they need the second half.
        if (outside == 0) outside = SipChars.TokenChars.NonMembers(Vector128.LoadUnsafe(ref at, 16)) << 16;
        int n = BitOperations.TrailingZeroCount(outside);
        int colon = start + n;
        // Bytes past the line (a stale earlier message in the buffer) are never taken for the colon.
        if (n == 0 || outside == 0 || colon >= end || buffer[colon] != (byte)':') return -1;
        if (n == 1)
        {
            id = SipHeaders.Compact((byte)(at | 0x20));
            return colon;
        }
        ulong first = BinaryPrimitives.ReadUInt64LittleEndian(MemoryMarshal.CreateReadOnlySpan(ref at, 8)) | 0x2020202020202020UL;
        if (n < 8) first &= (1UL << (n * 8)) - 1;
        ref readonly NameSlot slot = ref s_nameSlots[NameSlotOf(first, n)];
        if (slot.Length != n) return colon;
        // OR-ing 0x20 lowers letters and maps no two token characters to one byte (see AsciiCase); the lanes past
        // the name are cleared before the compare.
        var lower = Vector128.Create((byte)0x20);
        var lanes = Vector128.Create((byte)0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        var keepLo = Vector128.LessThan(lanes, Vector128.Create((byte)n));
        if (((lo | lower) & keepLo) != slot.Lo) return colon;
        if (n > 16)
        {
            var keepHi = Vector128.LessThan(lanes + Vector128.Create((byte)16), Vector128.Create((byte)n));
            if (((Vector128.LoadUnsafe(ref at, 16) | lower) & keepHi) != slot.Hi) return colon;
        }
        id = slot.Id;
        return colon;
    }

    private struct NameSlot
    {
        public Vector128<byte> Lo;
        public Vector128<byte> Hi;
        public int Length;
        public SipHeaderId Id;
    }

    private const int NameSlotBits = 7;

    // Found once at start-up: a multiplier under which every long header name has a slot of its own.
    private static readonly ulong s_nameMultiplier = FindNameMultiplier();
    private static readonly NameSlot[] s_nameSlots = BuildNameSlots();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int NameSlotOf(ulong first, int length) => (int)(((first ^ (ulong)length) * s_nameMultiplier) >> (64 - NameSlotBits));

    /// <summary>The first eight bytes of a lower-case name as <see cref="ColonAfterName"/> reads them.</summary>
    private static ulong FirstBytes(ReadOnlySpan<byte> lowerName)
    {
        Span<byte> b = stackalloc byte[8];
        b.Clear();
        lowerName.Slice(0, Math.Min(8, lowerName.Length)).CopyTo(b);
        return BinaryPrimitives.ReadUInt64LittleEndian(b);
    }

    private static IEnumerable<(SipHeaderId Id, byte[] Lower)> LongNames()
    {
        for (int i = 1; i < SipHeaders.Count; i++)
        {
            var id = (SipHeaderId)i;
            var lower = System.Text.Encoding.ASCII.GetBytes(SipHeaders.CanonicalName(id).ToLowerInvariant());
            if (lower.Length > 1) yield return (id, lower);
        }
    }

    private static ulong FindNameMultiplier()
    {
        var names = LongNames().ToArray();
        var used = new bool[1 << NameSlotBits];
        ulong state = 0x9E3779B97F4A7C15UL;
        for (int attempt = 0; attempt < 100_000; attempt++)
        {
            // SplitMix64: a fixed sequence, so the table is the same in every run.
            state += 0x9E3779B97F4A7C15UL;
            ulong z = state;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            ulong multiplier = (z ^ (z >> 31)) | 1;
            Array.Clear(used);
            bool clash = false;
            foreach (var (_, lower) in names)
            {
                int slot = (int)(((FirstBytes(lower) ^ (ulong)lower.Length) * multiplier) >> (64 - NameSlotBits));
                if (used[slot]) { clash = true; break; }
                used[slot] = true;
            }
            if (!clash) return multiplier;
        }
        throw new InvalidOperationException("no multiplier gives every header name a slot of its own");
    }

    private static NameSlot[] BuildNameSlots()
    {
        var slots = new NameSlot[1 << NameSlotBits];
        Span<byte> padded = stackalloc byte[32];
        foreach (var (id, lower) in LongNames())
        {
            padded.Clear();
            lower.CopyTo(padded);
            ref var slot = ref slots[NameSlotOf(FirstBytes(lower), lower.Length)];
            slot.Lo = Vector128.Create((ReadOnlySpan<byte>)padded.Slice(0, 16));
            slot.Hi = Vector128.Create((ReadOnlySpan<byte>)padded.Slice(16, 16));
            slot.Length = lower.Length;
            slot.Id = id;
        }
        return slots;
    }
}
