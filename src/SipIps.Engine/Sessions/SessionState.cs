using System.Runtime.CompilerServices;
using SipIps.Engine.Common;
using SipIps.Engine.Packets;
using SipIps.Engine.Sip;

namespace SipIps.Engine.Sessions;

public enum SessionKind : byte
{
    /// <summary>An INVITE dialog (or a BYE/ACK/CANCEL for one that started before we looked).</summary>
    Call = 0,
    /// <summary>REGISTER transactions under one Call-ID.</summary>
    Registration = 1,
    /// <summary>Any other out-of-dialog request: OPTIONS, MESSAGE, SUBSCRIBE, ...</summary>
    Transaction = 2,
}

/// <summary>Why a flow record was exported; the values are IPFIX flowEndReason (IANA element 136).</summary>
public enum SessionEndReason : byte
{
    IdleTimeout = 1,
    ActiveTimeout = 2,
    EndOfSession = 3,
    ForcedEnd = 4,
    LackOfResources = 5,
}

/// <summary>Request counts by method and response counts by class, as the flow records carry them.</summary>
[InlineArray(Slots)]
public struct MessageCounts
{
    /// <summary>0..14: requests by <see cref="SipMethod"/>; 15..20: responses 1xx..6xx; 21..35: responses by CSeq method.</summary>
    public const int Slots = SipMethods.Count + 6 + SipMethods.Count;
    public const int ResponsesByMethod = SipMethods.Count + 6;
    private uint _first;

    public static int ResponseSlot(int status) => SipMethods.Count + Math.Clamp(status / 100, 1, 6) - 1;
}

/// <summary>
/// One RTP stream (one direction of a call's media), with the receiver statistics of RFC 3550: extended highest
/// sequence number (appendix A.1), expected and lost packets (6.4.1), and interarrival jitter (A.8).
/// </summary>
public struct RtpStream
{
    public uint Ssrc;
    /// <summary>Distinct SSRCs seen in this direction (a new SSRC restarts the sequence statistics).</summary>
    public byte SsrcCount;
    public byte PayloadType;
    public uint Packets;
    public ulong Bytes;
    public ushort FirstSequence;
    public uint FirstTimestamp;
    public uint LastTimestamp;
    public ushort BaseSequence;
    public ushort MaxSequence;
    public uint Cycles;
    /// <summary>Packets of the current SSRC (for the expected/lost arithmetic).</summary>
    public uint Received;
    /// <summary>Packets whose sequence number moved backwards or repeated.</summary>
    public uint OutOfOrder;
    public long LastArrivalNs;
    public long Transit;
    /// <summary>Interarrival jitter in timestamp units, scaled by 16 as in RFC 3550 A.8.</summary>
    public long JitterScaled;
    public int ClockRate;
    public long MaxDeltaNs;

    public readonly uint ExtendedMax => Cycles + MaxSequence;
    public readonly long Expected => Received == 0 ? 0 : (long)ExtendedMax - BaseSequence + 1;
    /// <summary>Cumulative packets lost (RFC 3550 6.4.1); negative with duplicates, as the RFC allows.</summary>
    public readonly long Lost => Expected - Received;
    public readonly double JitterMs => ClockRate > 0 ? (JitterScaled >> 4) * 1000.0 / ClockRate : 0;

    public void Add(uint ssrc, ushort seq, uint timestamp, byte payloadType, int bytes, long arrivalNs, int clockRate)
    {
        if (Packets == 0 || ssrc != Ssrc)
        {
            SsrcCount = (byte)Math.Min(255, SsrcCount + 1);
            if (Packets == 0)
            {
                FirstSequence = seq;
                FirstTimestamp = timestamp;
            }
            Ssrc = ssrc;
            BaseSequence = MaxSequence = seq;
            Cycles = 0;
            Received = 0;
            JitterScaled = 0;
            LastArrivalNs = 0;
            ClockRate = clockRate;
        }
        else
        {
            ushort delta = (ushort)(seq - MaxSequence);
            if (delta != 0 && delta < 3000)
            {
                if (seq < MaxSequence) Cycles += 1 << 16;
                MaxSequence = seq;
            }
            else
            {
                OutOfOrder++;
            }
        }
        Packets++;
        Received++;
        Bytes += (ulong)bytes;
        PayloadType = payloadType;
        LastTimestamp = timestamp;
        // Jitter: D = (Rj - Ri) - (Sj - Si) in timestamp units; J += (|D| - J) / 16.
        long arrival = (long)((Int128)arrivalNs * ClockRate / 1_000_000_000);
        long transit = arrival - timestamp;
        if (LastArrivalNs != 0)
        {
            // Timestamps wrap at 2^32: the difference is taken modulo 2^32, as a signed 32-bit value.
            long d = Math.Abs((long)(int)(uint)(transit - Transit));
            JitterScaled += d - ((JitterScaled + 8) >> 4);
            MaxDeltaNs = Math.Max(MaxDeltaNs, arrivalNs - LastArrivalNs);
        }
        Transit = transit;
        LastArrivalNs = arrivalNs;
    }

    /// <summary>The RTP clock rate of a static payload type (RFC 3551); dynamic types use 8 kHz for audio, 90 kHz for video.</summary>
    public static int ClockRateOf(byte payloadType, bool video) => payloadType switch
    {
        6 => 16000,
        10 or 11 => 44100,
        16 => 11025,
        17 => 22050,
        14 or (>= 25 and <= 34) => 90000,
        < 96 => 8000,
        _ => video ? 90000 : 8000,
    };
}

/// <summary>One SIP session (all messages with one Call-ID), as the flow record exports it.</summary>
public struct SessionState
{
    public ulong CallIdHash;
    public SessionKind Kind;
    public SipMethod Method;
    public L4Protocol Transport;
    public bool Confirmed;
    public bool Ended;
    public IpAddr Source;
    public IpAddr Destination;
    public ushort SourcePort;
    public ushort DestinationPort;
    public long FirstNs;
    public long LastNs;
    public long EndedNs;
    public long ExportedNs;

    // Times of the call's milestones (0 when not seen).
    public long InviteNs, TryingNs, RingingNs, InviteOkNs, InviteFailureNs, AckNs, ByeNs, ByeOkNs, CancelNs, CancelOkNs;
    /// <summary>First request and first final response (transactions).</summary>
    public long RequestNs, FinalNs;
    public short FinalStatus;
    public int Expires;
    public byte RegisterOk;
    public byte RegisterOther;
    public bool Authenticated;

    public uint Packets;
    public ulong Bytes;
    public MessageCounts Counts;

    public IpAddr CallerMedia;
    public ushort CallerAudioPort, CallerVideoPort;
    public IpAddr CalleeMedia;
    public ushort CalleeAudioPort, CalleeVideoPort;
    /// <summary>Caller to callee ("in" in ntop's terms) and callee to caller ("out").</summary>
    public RtpStream Forward;
    public RtpStream Reverse;
    public uint RtpPackets;
    public ulong RtpBytes;

    public byte CallIdLength, FromLength, ToLength, FromTagLength, ToTagLength, UacLength, UasLength;
    public Text96 CallId;
    public Text96 FromUri;
    public Text96 ToUri;
    public Text32 FromTag;
    public Text32 ToTag;
    public Text96 Uac;
    public Text96 Uas;

    [System.Diagnostics.CodeAnalysis.UnscopedRef] public readonly ReadOnlySpan<byte> CallIdText => ((ReadOnlySpan<byte>)CallId).Slice(0, CallIdLength);
    [System.Diagnostics.CodeAnalysis.UnscopedRef] public readonly ReadOnlySpan<byte> FromText => ((ReadOnlySpan<byte>)FromUri).Slice(0, FromLength);
    [System.Diagnostics.CodeAnalysis.UnscopedRef] public readonly ReadOnlySpan<byte> ToText => ((ReadOnlySpan<byte>)ToUri).Slice(0, ToLength);
    [System.Diagnostics.CodeAnalysis.UnscopedRef] public readonly ReadOnlySpan<byte> FromTagText => ((ReadOnlySpan<byte>)FromTag).Slice(0, FromTagLength);
    [System.Diagnostics.CodeAnalysis.UnscopedRef] public readonly ReadOnlySpan<byte> ToTagText => ((ReadOnlySpan<byte>)ToTag).Slice(0, ToTagLength);
    [System.Diagnostics.CodeAnalysis.UnscopedRef] public readonly ReadOnlySpan<byte> UacText => ((ReadOnlySpan<byte>)Uac).Slice(0, UacLength);
    [System.Diagnostics.CodeAnalysis.UnscopedRef] public readonly ReadOnlySpan<byte> UasText => ((ReadOnlySpan<byte>)Uas).Slice(0, UasLength);

    public readonly uint Requests(SipMethod method) => Counts[(int)method];
    public readonly uint Responses(int statusClass) => Counts[SipMethods.Count + statusClass - 1];
    /// <summary>Responses whose CSeq names this method.</summary>
    public readonly uint ResponsesTo(SipMethod method) => Counts[MessageCounts.ResponsesByMethod + (int)method];
    public readonly uint RequestTotal
    {
        get
        {
            uint n = 0;
            for (int i = 0; i < SipMethods.Count; i++) n += Counts[i];
            return n;
        }
    }
    public readonly uint ResponseTotal
    {
        get
        {
            uint n = 0;
            for (int i = SipMethods.Count; i < MessageCounts.ResponsesByMethod; i++) n += Counts[i];
            return n;
        }
    }
}
