using System.Text;
using SipIps.Engine.Sip;

namespace SipIps.Engine.Reassembly;

/// <summary>
/// Where framing of the current message stands, so that it resumes where it stopped when more bytes arrive
/// (the <c>JsonReaderState</c> idea). Offsets are relative to the first byte of the current message.
/// </summary>
public struct SipFramerState
{
    internal int ScanFrom;
    internal int HeaderEnd;
    internal int ContentLength;

    public static SipFramerState Initial => new() { ScanFrom = 0, HeaderEnd = -1, ContentLength = -1 };

    public readonly bool InMessage => ScanFrom > 0 || HeaderEnd >= 0;
}

public enum FrameStatus : byte
{
    /// <summary>A whole message of <c>length</c> bytes is at the start of the data.</summary>
    Complete,
    /// <summary>The data ends inside a message; keep it and call again with more.</summary>
    NeedMore,
    /// <summary><c>length</c> bytes of CR/LF keep-alives (RFC 5626 section 3.5.1) lead the data.</summary>
    KeepAlive,
    /// <summary>The message is over the size cap. When its length is known it is given, so it can be skipped.</summary>
    TooLarge,
    /// <summary>Content-Length is unreadable or given twice with different values: the stream cannot be framed.</summary>
    BadContentLength,
}

/// <summary>
/// Frames SIP messages in a byte stream by the empty line and Content-Length (RFC 3261 section 18.3). Each byte of
/// the header section is looked at once, however the message is split across segments.
/// </summary>
public static class SipStreamFramer
{
    public static FrameStatus TryFrame(ReadOnlySpan<byte> data, ref SipFramerState state, int maxMessage, out int length)
    {
        length = 0;
        if (state.HeaderEnd < 0)
        {
            if (state.ScanFrom == 0)
            {
                int k = 0;
                while (k < data.Length && (data[k] == '\r' || data[k] == '\n')) k++;
                if (k > 0)
                {
                    length = k;
                    return FrameStatus.KeepAlive;
                }
            }
            int pos = state.ScanFrom;
            while (true)
            {
                int lf = data.Slice(pos).IndexOf((byte)'\n');
                if (lf < 0)
                {
                    state.ScanFrom = pos;
                    if (data.Length >= maxMessage) return FrameStatus.TooLarge;
                    return FrameStatus.NeedMore;
                }
                lf += pos;
                int lineEnd = lf > pos && data[lf - 1] == '\r' ? lf - 1 : lf;
                if (lineEnd == pos && pos > 0)
                {
                    state.HeaderEnd = lf + 1;
                    break;
                }
                if (pos > 0 && !ReadContentLength(data.Slice(pos, lineEnd - pos), ref state))
                    return FrameStatus.BadContentLength;
                pos = lf + 1;
                if (pos >= maxMessage)
                {
                    state.ScanFrom = pos;
                    return FrameStatus.TooLarge;
                }
            }
            state.ScanFrom = state.HeaderEnd;
        }

        long total = (long)state.HeaderEnd + Math.Max(0, state.ContentLength);
        if (total > maxMessage)
        {
            length = (int)Math.Min(total, int.MaxValue);
            return FrameStatus.TooLarge;
        }
        if (data.Length < total) return FrameStatus.NeedMore;
        length = (int)total;
        state = SipFramerState.Initial;
        return FrameStatus.Complete;
    }

    /// <summary>Picks Content-Length (or its compact form "l") out of one header line.</summary>
    private static bool ReadContentLength(ReadOnlySpan<byte> line, ref SipFramerState state)
    {
        if (line.IsEmpty) return true;
        byte first = (byte)(line[0] | 0x20);
        if (first != 'c' && first != 'l') return true;
        int nameEnd;
        if (line.Length >= 14 && Ascii.EqualsIgnoreCase(line.Slice(0, 14), "Content-Length"u8)) nameEnd = 14;
        else if (first == 'l') nameEnd = 1;
        else return true;
        int p = nameEnd;
        while (p < line.Length && (line[p] == ' ' || line[p] == '\t')) p++;
        if (p >= line.Length || line[p] != ':') return true; // another header that merely starts alike
        p++;
        while (p < line.Length && (line[p] == ' ' || line[p] == '\t')) p++;
        long value = 0;
        int digits = 0;
        while (p < line.Length && (uint)(line[p] - '0') <= 9)
        {
            value = value * 10 + (line[p] - '0');
            if (value > int.MaxValue) return false;
            p++;
            digits++;
        }
        while (p < line.Length && (line[p] == ' ' || line[p] == '\t')) p++;
        if (digits == 0 || p != line.Length) return false;
        if (state.ContentLength >= 0 && state.ContentLength != value) return false;
        state.ContentLength = (int)value;
        return true;
    }

    /// <summary>
    /// Finds the start of the first plausible SIP start line at a line boundary, to pick a stream up in the middle
    /// or after a gap. Returns -1 when there is none.
    /// </summary>
    public static int FindMessageStart(ReadOnlySpan<byte> data)
    {
        int pos = 0;
        while (pos < data.Length)
        {
            int lf = data.Slice(pos).IndexOf((byte)'\n');
            int end = lf < 0 ? data.Length : pos + lf;
            var line = data.Slice(pos, end - pos);
            if (line.Length > 0 && line[^1] == '\r') line = line.Slice(0, line.Length - 1);
            if (lf >= 0 && SipDetector.LooksLikeStartLine(line)) return pos;
            if (lf < 0) return -1;
            pos = end + 1;
        }
        return -1;
    }
}
