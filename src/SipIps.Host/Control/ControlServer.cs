using System.Net.Sockets;
using System.Text;

namespace SipIps.Host.Control;

/// <summary>
/// The local control socket (AF_UNIX, stream): one request line in, one answer out, then close. The socket file
/// is mode 0660, group <see cref="GroupName"/> when that group exists; and each connection's peer credentials
/// (SO_PEERCRED) are checked too: root, the service's own user, and members of that group are answered, anyone
/// else is refused (a socket file's mode is not honoured on every system).
/// </summary>
public sealed class ControlServer : IDisposable
{
    private readonly string _path;
    private readonly Func<string, string> _handle;
    private readonly Socket _listener;
    private readonly Thread _thread;
    private volatile bool _stop;

    public const string GroupName = "sipips";

    public ControlServer(string path, Func<string, string> handle)
    {
        _path = path;
        _handle = handle;
        string? dir = Path.GetDirectoryName(path);
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        if (File.Exists(path)) File.Delete(path); // a stale socket from a previous run
        _listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        _listener.Bind(new UnixDomainSocketEndPoint(path));
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite);
        if (Capture.Interop.Posix.LookupGroup(GroupName) is { } group) Capture.Interop.Posix.ChangeGroup(path, group.Gid);
        _listener.Listen(8);
        _thread = new Thread(Accept) { IsBackground = true, Name = "control" };
        _thread.Start();
    }

    private void Accept()
    {
        while (!_stop)
        {
            Socket client;
            try
            {
                client = _listener.Accept();
            }
            catch (SocketException) when (_stop)
            {
                return;
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            try
            {
                using (client)
                {
                    client.ReceiveTimeout = 2000;
                    client.SendTimeout = 2000;
                    var buffer = new byte[4096];
                    int n = 0;
                    while (n < buffer.Length)
                    {
                        int r = client.Receive(buffer, n, buffer.Length - n, SocketFlags.None);
                        if (r <= 0) break;
                        n += r;
                        if (Array.IndexOf(buffer, (byte)'\n', 0, n) >= 0) break;
                    }
                    string request = Encoding.UTF8.GetString(buffer, 0, n).Trim();
                    string answer;
                    try
                    {
                        answer = PeerAllowed(client, out string who) ? _handle(request) : $"error: {who} may not use the control socket (root or the {GroupName} group only)\n";
                    }
                    catch (Exception e)
                    {
                        answer = $"error: {e.Message}\n";
                    }
                    client.Send(Encoding.UTF8.GetBytes(answer));
                }
            }
            catch (SocketException)
            {
                // A client that went away: nothing to do.
            }
        }
    }

    /// <summary>Root, the service's own user, or a member of the sipips group (primary or listed).</summary>
    internal static bool PeerAllowed(Socket client, out string who)
    {
        Span<byte> cred = stackalloc byte[12]; // struct ucred { pid_t pid; uid_t uid; gid_t gid; }
        int n = client.GetRawSocketOption(1 /* SOL_SOCKET */, 17 /* SO_PEERCRED */, cred);
        uint uid = n >= 12 ? System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(cred[4..]) : uint.MaxValue;
        uint gid = n >= 12 ? System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(cred[8..]) : uint.MaxValue;
        string? name = Capture.Interop.Posix.UserName(uid);
        who = name ?? $"uid {uid}";
        if (uid == 0 || uid == Capture.Interop.Posix.GetEffectiveUserId()) return true;
        if (Capture.Interop.Posix.LookupGroup(GroupName) is not { } group) return false;
        return gid == group.Gid || (name is not null && group.Members.Contains(name));
    }

    /// <summary>Sends one request to a running instance and returns its answer.</summary>
    public static string Request(string path, string request)
    {
        using var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        s.Connect(new UnixDomainSocketEndPoint(path));
        s.Send(Encoding.UTF8.GetBytes(request + "\n"));
        s.Shutdown(SocketShutdown.Send);
        using var ms = new MemoryStream();
        var buffer = new byte[65536];
        int r;
        while ((r = s.Receive(buffer)) > 0) ms.Write(buffer, 0, r);
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    public void Dispose()
    {
        _stop = true;
        _listener.Dispose();
        try
        {
            File.Delete(_path);
        }
        catch (IOException)
        {
        }
    }
}
