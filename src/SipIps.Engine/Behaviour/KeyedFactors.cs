using System.Text;
using SipIps.Engine.Common;
using SipIps.Engine.Detection;
using SipIps.Engine.Sessions;
using SipIps.Engine.Sip;

namespace SipIps.Engine.Behaviour;

/// <summary>
/// The behaviour factors of one key kind (per source, per server, per user): the counting factors of
/// <see cref="BehaviourAnalyzer"/>, kept for each of a bounded set of keys. Addresses follow the transaction, as in
/// message rules: <c>src_ip</c> is the side that sends requests (a response counts for the address it goes to),
/// <c>dst_ip</c> the side that answers. Keys live in a set-associative table of 8-way buckets; a new key takes the
/// way of its bucket that was idle longest, so a flood of spoofed keys displaces idle keys and never grows memory.
/// One thread owns it (the session thread, or analyze's).
/// </summary>
public sealed class KeyedFactors
{
    public const int Ways = 8;
    private const int Seconds = BehaviourAnalyzer.Seconds;

    private enum C { Sip, Requests, Responses, Invite, Register, Bye, Ack, Cancel, Options, Errors, Count }

    /// <summary>The factors that are computed per key; the others (distinct values, RTP, QoS) only globally.</summary>
    public static IReadOnlyList<Factor> Supported { get; } =
    [
        Factor.SipMessagesPerSecond, Factor.SipVolumeChange, Factor.InviteRatio, Factor.RegisterRatio, Factor.ByeRatio,
        Factor.AckRatio, Factor.CancelRatio, Factor.OptionsRatio, Factor.RequestResponseRatio, Factor.ErrorResponseRatio,
    ];

    /// <summary>The key kinds a factor rule can use.</summary>
    public static IReadOnlyList<SipField> SupportedFields { get; } = [SipField.SrcIp, SipField.SrcPrefix, SipField.DstIp, SipField.FromUri, SipField.ToUri];

    public static bool Supports(Factor f) => Supported.Contains(f);

    public static bool Supports(KeySpec spec) => spec.Fields.Length == 1 && SupportedFields.Contains(spec.Fields[0]);

    private readonly ulong[] _id;
    private readonly long[] _lastSeen;
    private readonly int[] _counts;      // [slot, second, counter]
    private readonly long[] _secondOf;   // [slot, second]
    private readonly byte[] _text;       // [slot, KeyText.MaxValueLength] canonical key value
    private readonly byte[] _textLength;
    private readonly int _mask;
    // Messages of all keys per second: a window with fewer than a rule's minimum has no key to check.
    private readonly long[] _total = new long[Seconds];
    private readonly long[] _totalSecond = new long[Seconds];
    private readonly byte[] _scratch = new byte[KeyText.MaxCanonicalLength];
    private SipUri _uri;

    public KeyedFactors(KeySpec spec, int capacity = 1024)
    {
        if (!Supports(spec)) throw new ArgumentException($"factors are not kept per {spec.Name}");
        Spec = spec;
        Field = spec.Fields[0];
        int buckets = (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Max(1, capacity / Ways));
        Capacity = buckets * Ways;
        _mask = buckets - 1;
        _id = new ulong[Capacity];
        _lastSeen = new long[Capacity];
        _counts = new int[Capacity * Seconds * (int)C.Count];
        _secondOf = new long[Capacity * Seconds];
        Array.Fill(_secondOf, long.MinValue);
        _text = new byte[Capacity * KeyText.MaxValueLength];
        _textLength = new byte[Capacity];
    }

    public KeySpec Spec { get; }
    public SipField Field { get; }
    public int Capacity { get; }
    /// <summary>Keys in use.</summary>
    public int Count { get; private set; }
    /// <summary>Keys that gave way to a new one in a full bucket.</summary>
    public long Evictions { get; private set; }
    /// <summary>Messages whose key was too long to keep, or absent.</summary>
    public long Unkeyed { get; private set; }

    public long MemoryBytes => _id.Length * 16L + _counts.Length * 4L + _secondOf.Length * 8L + _text.Length + _textLength.Length;

    /// <summary>Counts one SIP message for its key.</summary>
    public void OnSip(in SessionEvent e, long second)
    {
        int n = KeyValue(e, _scratch);
        if (n <= 0)
        {
            Unkeyed++;
            return;
        }
        int ts = BehaviourAnalyzer.Slot(second);
        if (_totalSecond[ts] != second)
        {
            _totalSecond[ts] = second;
            _total[ts] = 0;
        }
        _total[ts]++;
        var value = _scratch.AsSpan(0, n);
        ulong id = Hash64.Compute(value, 0x4B45_5945_44UL) | 1;
        int slot = FindOrAdd(id, value, second);
        int at = slot * Seconds + BehaviourAnalyzer.Slot(second);
        if (_secondOf[at] != second)
        {
            _secondOf[at] = second;
            Array.Clear(_counts, at * (int)C.Count, (int)C.Count);
        }
        Span<int> c = _counts.AsSpan(at * (int)C.Count, (int)C.Count);
        c[(int)C.Sip]++;
        if (!e.IsRequest)
        {
            c[(int)C.Responses]++;
            if (e.StatusCode >= 400) c[(int)C.Errors]++;
            return;
        }
        c[(int)C.Requests]++;
        switch (e.Method)
        {
            case SipMethod.Invite: c[(int)C.Invite]++; break;
            case SipMethod.Register: c[(int)C.Register]++; break;
            case SipMethod.Bye: c[(int)C.Bye]++; break;
            case SipMethod.Ack: c[(int)C.Ack]++; break;
            case SipMethod.Cancel: c[(int)C.Cancel]++; break;
            case SipMethod.Options: c[(int)C.Options]++; break;
        }
    }

    /// <summary>The canonical text of the event's key (as <see cref="KeyText"/> writes it), or 0 when it has none.</summary>
    private int KeyValue(in SessionEvent e, Span<byte> destination)
    {
        // Responses travel from the answering side to the requesting one.
        IpAddr src = e.IsRequest ? e.Source : e.Destination, dst = e.IsRequest ? e.Destination : e.Source;
        switch (Field)
        {
            case SipField.SrcIp: return src.IsPresent && src.TryFormat(destination, out int a) ? a : 0;
            case SipField.DstIp: return dst.IsPresent && dst.TryFormat(destination, out int b) ? b : 0;
            case SipField.SrcPrefix: return src.IsPresent ? KeyText.WritePrefix(src, destination) : 0;
            case SipField.FromUri: return UriValue(e.FromText, e.FromLength, destination);
            case SipField.ToUri: return UriValue(e.ToText, e.ToLength, destination);
            default: return 0;
        }
    }

    private int UriValue(ReadOnlySpan<byte> text, int length, Span<byte> destination)
    {
        // A URI cut to the event's fixed field would name another key than the message rules' one.
        if (text.IsEmpty || length >= Text96.Capacity || !SipParser.TryParseUri(text, ref _uri)) return 0;
        int n = KeyText.WriteUri(text, _uri, destination);
        return n <= KeyText.MaxValueLength ? n : 0;
    }

    private int FindOrAdd(ulong id, ReadOnlySpan<byte> value, long second)
    {
        int bucket = (int)((id >> 40) & (ulong)_mask) * Ways;
        int idlest = bucket;
        for (int w = bucket; w < bucket + Ways; w++)
        {
            if (_id[w] == id)
            {
                if (second > _lastSeen[w]) _lastSeen[w] = second;
                return w;
            }
            if (_id[w] == 0)
            {
                idlest = w;
                break;
            }
            if (_lastSeen[w] < _lastSeen[idlest]) idlest = w;
        }
        if (_id[idlest] == 0) Count++;
        else Evictions++;
        _id[idlest] = id;
        _lastSeen[idlest] = second;
        Array.Fill(_secondOf, long.MinValue, idlest * Seconds, Seconds);
        int n = Math.Min(value.Length, KeyText.MaxValueLength);
        value[..n].CopyTo(_text.AsSpan(idlest * KeyText.MaxValueLength, KeyText.MaxValueLength));
        _textLength[idlest] = (byte)n;
        return idlest;
    }

    /// <summary>Messages of all keys in the <paramref name="window"/> seconds that end with <paramref name="last"/>.</summary>
    public long Messages(long last, int window)
    {
        long n = 0;
        for (long s = last - window + 1; s <= last; s++)
        {
            int at = BehaviourAnalyzer.Slot(s);
            if (_totalSecond[at] == s) n += _total[at];
        }
        return n;
    }

    /// <summary>Whether slot <paramref name="slot"/> holds a key that was seen in the seconds after <paramref name="since"/>.</summary>
    public bool IsActive(int slot, long since) => _id[slot] != 0 && _lastSeen[slot] > since;

    /// <summary>The key's identity in this table (a hash of its canonical value; 0 for a free slot).</summary>
    public ulong Id(int slot) => _id[slot];

    /// <summary>The key's canonical value (the part after "spec=").</summary>
    public ReadOnlySpan<byte> Value(int slot) => _text.AsSpan(slot * KeyText.MaxValueLength, _textLength[slot]);

    /// <summary>"src_ip=203.0.113.7": the key as alerts, bans and <c>sipips unban</c> write it.</summary>
    public string KeyString(int slot) => Spec.Name + "=" + Encoding.ASCII.GetString(Value(slot));

    /// <summary>Every counter of one key summed over the <paramref name="seconds"/> that end with <paramref name="last"/>, in one pass.</summary>
    private void Sums(int slot, long last, int seconds, Span<long> totals)
    {
        totals.Clear();
        int baseAt = slot * Seconds;
        for (long s = last - seconds + 1; s <= last; s++)
        {
            int at = baseAt + BehaviourAnalyzer.Slot(s);
            if (_secondOf[at] != s) continue;
            var c = _counts.AsSpan(at * (int)C.Count, (int)C.Count);
            for (int i = 0; i < (int)C.Count; i++) totals[i] += c[i];
        }
    }

    /// <summary>
    /// The supported factors of one key over the <paramref name="window"/> seconds that end with
    /// <paramref name="last"/> (others are NaN); returns the key's SIP messages in the window.
    /// </summary>
    public long Evaluate(int slot, long last, int window, Span<double> factors)
    {
        factors.Fill(double.NaN);
        window = Math.Clamp(window, 1, BehaviourAnalyzer.WindowLong);
        Span<long> t = stackalloc long[(int)C.Count];
        Sums(slot, last, window, t);
        long sip = t[(int)C.Sip];
        if (sip == 0) return 0;
        long requests = t[(int)C.Requests], responses = t[(int)C.Responses];
        factors[(int)Factor.SipMessagesPerSecond] = (double)sip / window;
        Span<long> before = stackalloc long[(int)C.Count];
        Sums(slot, last - window, window, before);
        factors[(int)Factor.SipVolumeChange] = BehaviourAnalyzer.Ratio(sip, before[(int)C.Sip]);
        factors[(int)Factor.InviteRatio] = BehaviourAnalyzer.Ratio(t[(int)C.Invite], requests);
        factors[(int)Factor.RegisterRatio] = BehaviourAnalyzer.Ratio(t[(int)C.Register], requests);
        factors[(int)Factor.ByeRatio] = BehaviourAnalyzer.Ratio(t[(int)C.Bye], requests);
        factors[(int)Factor.AckRatio] = BehaviourAnalyzer.Ratio(t[(int)C.Ack], requests);
        factors[(int)Factor.CancelRatio] = BehaviourAnalyzer.Ratio(t[(int)C.Cancel], requests);
        factors[(int)Factor.OptionsRatio] = BehaviourAnalyzer.Ratio(t[(int)C.Options], requests);
        factors[(int)Factor.RequestResponseRatio] = requests == 0 ? double.NaN : (double)requests / Math.Max(1, responses);
        factors[(int)Factor.ErrorResponseRatio] = BehaviourAnalyzer.Ratio(t[(int)C.Errors], responses);
        return sip;
    }
}
