using SipIps.Engine.Packets;
using SipIps.Engine.Sip;

namespace SipIps.Engine.Pipeline;

/// <summary>Per-engine counters: plain fields and arrays written by one worker thread only.</summary>
public sealed class EngineCounters
{
    public const int AnomalyBits = 27;

    public long Frames;
    public long Bytes;
    public long NotIp;
    public long OtherTransport;
    public long UdpDatagrams;
    public long TcpSegments;
    public long SctpPackets;
    public long Fragments;
    public long Reassembled;
    public long SipMessages;
    public long SipUdp;
    public long SipTcp;
    public long SipSctp;
    public long KeepAlives;
    public long NonSipOnSipPort;
    public long EncryptedSip;
    public long TruncatedFrames;
    /// <summary>IPv4 headers with a wrong checksum that were inspected anyway (ChecksumPolicy.Count).</summary>
    public long BadChecksums;

    public readonly long[] DecodeEventCounts = new long[DecodeEvents.Count];
    public readonly long[] ParseStatusCounts = new long[SipParseStatusNames.Count];
    public readonly long[] AnomalyCounts = new long[AnomalyBits];

    public long DecodeErrors
    {
        get
        {
            long n = 0;
            for (int i = 1; i < DecodeEventCounts.Length; i++) n += DecodeEventCounts[i];
            return n;
        }
    }

    public long ParseErrors => SipMessages - ParseStatusCounts[0];

    public void CountAnomalies(SipAnomaly flags)
    {
        ulong bits = (ulong)flags;
        while (bits != 0)
        {
            int bit = System.Numerics.BitOperations.TrailingZeroCount(bits);
            if (bit < AnomalyBits) AnomalyCounts[bit]++;
            bits &= bits - 1;
        }
    }
}
