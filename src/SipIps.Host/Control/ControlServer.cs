using System.Net.Sockets;
using System.Text;

namespace SipIps.Host.Control;

/// <summary>
/// The local control socket (AF_UNIX, stream): one request line in, one answer out, then close. Mode 0660 so that
/// only root and the service's group may use it.
/// </summary>
public sealed class ControlServer : IDisposable
{
    private readonly string _path;
    private readonly Func<string, string> _handle;
    private readonly Socket _listener;
    private readonly Thread _thread;
    private volatile bool _stop;

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
                        answer = _handle(request);
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
