namespace SipIps.Host;

/// <summary>The process exit codes, as documented in the README.</summary>
public static class ExitCodes
{
    public const int Success = 0;
    /// <summary>The input was read but is invalid (an invalid SIP message for <c>parse</c>).</summary>
    public const int InvalidInput = 1;
    /// <summary>Bad command line, or a file that cannot be read or is not what it should be.</summary>
    public const int UsageOrIo = 2;
    /// <summary>A bug: something the program did not expect. Reported on one line, never as a stack trace.</summary>
    public const int InternalError = 3;
}
