using System.Text.Json;
using SipIps.Engine.Sip;
using SipIps.Host.Output;

namespace SipIps.Host.Commands;

/// <summary><c>sipips parse FILE|-</c>: one raw SIP message to JSON.</summary>
internal static class ParseCommand
{
    /// <summary>Messages larger than this are refused before reading them all.</summary>
    public const int MaxInputBytes = 16 << 20;

    public static int Run(string path, Stream stdout, TextWriter stderr)
    {
        byte[] data;
        try
        {
            data = ReadInput(path);
        }
        catch (InputException e)
        {
            stderr.WriteLine($"sipips: {e.Message}");
            return ExitCodes.UsageOrIo;
        }

        var limits = new SipParserLimits { MaxMessageSize = Math.Max(data.Length, 1) };
        var message = new SipMessage(limits);
        SipParser.Parse(data, message);
        using (var w = new Utf8JsonWriter(stdout, Json.Indented))
        {
            SipMessageJson.Write(w, message);
        }
        stdout.WriteByte((byte)'\n');
        stdout.Flush();
        return message.IsValid ? ExitCodes.Success : ExitCodes.InvalidInput;
    }

    private sealed class InputException(string message) : Exception(message);

    private static byte[] ReadInput(string path)
    {
        try
        {
            if (path == "-")
            {
                using var stdin = Console.OpenStandardInput();
                return ReadCapped(stdin, "standard input");
            }
            if (Directory.Exists(path)) throw new InputException($"{path}: is a directory");
            var info = new FileInfo(path);
            if (!info.Exists) throw new InputException($"{path}: no such file");
            if (info.Length > MaxInputBytes) throw new InputException($"{path}: {info.Length} bytes is larger than the {MaxInputBytes} a SIP message may be");
            using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            return ReadCapped(fs, path);
        }
        catch (UnauthorizedAccessException)
        {
            throw new InputException($"{path}: permission denied");
        }
        catch (IOException e)
        {
            throw new InputException($"{path}: {e.Message}");
        }
    }

    private static byte[] ReadCapped(Stream s, string name)
    {
        using var ms = new MemoryStream();
        var buffer = new byte[65536];
        int n;
        while ((n = s.Read(buffer, 0, buffer.Length)) > 0)
        {
            if (ms.Length + n > MaxInputBytes) throw new InputException($"{name}: more than {MaxInputBytes} bytes; not a SIP message");
            ms.Write(buffer, 0, n);
        }
        return ms.ToArray();
    }
}
