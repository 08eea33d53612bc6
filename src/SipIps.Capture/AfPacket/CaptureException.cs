namespace SipIps.Capture.AfPacket;

/// <summary>A setup failure of a capture port, with a message fit for one line (interface, call and errno text).</summary>
public sealed class CaptureException(string message, int errno = 0) : Exception(message)
{
    public int Errno { get; } = errno;
}
