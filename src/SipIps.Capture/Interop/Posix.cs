using System.Runtime.InteropServices;
using System.Text;

namespace SipIps.Capture.Interop;

/// <summary>The few process-level POSIX calls the service needs besides packet sockets.</summary>
public static unsafe partial class Posix
{
    [LibraryImport("libc.so.6", EntryPoint = "chown", SetLastError = true)]
    private static partial int ChownNative(byte* path, int owner, int group);

    [LibraryImport("libc.so.6", EntryPoint = "geteuid")]
    public static partial uint GetEffectiveUserId();

    [LibraryImport("libc.so.6", EntryPoint = "signal")]
    private static partial nint SignalNative(int signal, nint handler);

    /// <summary>
    /// Puts a signal back to its default disposition. A process started under nohup (or by a parent that ignores
    /// SIGHUP) inherits SIGHUP as ignored, and the runtime then leaves it ignored: the reload signal would be lost.
    /// Called before the handler is registered.
    /// </summary>
    public static void RestoreDefault(int signal) => SignalNative(signal, 0);

    /// <summary>Changes a file's group (the owner stays); false with errno on failure.</summary>
    public static bool ChangeGroup(string path, uint gid)
    {
        var bytes = Encoding.UTF8.GetBytes(path + "\0");
        fixed (byte* p = bytes) return ChownNative(p, -1, (int)gid) == 0;
    }

    /// <summary>A group's id and its listed members, from /etc/group; null when there is no such group.</summary>
    public static (uint Gid, string[] Members)? LookupGroup(string name)
    {
        try
        {
            foreach (var line in File.ReadLines("/etc/group"))
            {
                var f = line.Split(':');
                if (f.Length >= 4 && f[0] == name && uint.TryParse(f[2], out uint gid))
                    return (gid, f[3].Split(',', StringSplitOptions.RemoveEmptyEntries));
            }
        }
        catch (IOException)
        {
        }
        return null;
    }

    /// <summary>A user's name, from /etc/passwd.</summary>
    public static string? UserName(uint uid)
    {
        try
        {
            foreach (var line in File.ReadLines("/etc/passwd"))
            {
                var f = line.Split(':');
                if (f.Length >= 3 && uint.TryParse(f[2], out uint u) && u == uid) return f[0];
            }
        }
        catch (IOException)
        {
        }
        return null;
    }
}
