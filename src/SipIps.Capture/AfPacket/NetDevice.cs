using System.Text;
using SipIps.Capture.Interop;

namespace SipIps.Capture.AfPacket;

/// <summary>Interface state through ioctl: flags, MTU, up/down, and legacy ethtool offload switches.</summary>
public static unsafe class NetDevice
{
    public readonly record struct State(bool Exists, bool Up, bool Running, int Mtu);

    private static int ControlSocket()
    {
        int fd = Libc.Socket(Af.Inet, SocketType.Dgram, 0);
        if (fd < 0) fd = Libc.Socket(Af.Unix, SocketType.Dgram, 0);
        return fd;
    }

    private static IfReq Request(string name)
    {
        var req = default(IfReq);
        var bytes = Encoding.ASCII.GetBytes(name);
        if (bytes.Length > 15) throw new CaptureException($"interface name {name} is longer than 15 bytes");
        for (int i = 0; i < bytes.Length; i++) req.Name[i] = bytes[i];
        return req;
    }

    public static State Query(string name)
    {
        int fd = ControlSocket();
        if (fd < 0) throw new CaptureException($"socket for interface queries failed: {Libc.ErrorText(Libc.LastError)}");
        try
        {
            var req = Request(name);
            if (Libc.Ioctl(fd, Interop.Ioctl.SiocGIfFlags, &req) != 0) return new State(false, false, false, 0);
            short flags = req.Flags;
            req = Request(name);
            int mtu = Libc.Ioctl(fd, Interop.Ioctl.SiocGIfMtu, &req) == 0 ? req.Mtu : 0;
            return new State(true, (flags & Interop.Ioctl.IffUp) != 0, (flags & Interop.Ioctl.IffRunning) != 0, mtu);
        }
        finally
        {
            Libc.Close(fd);
        }
    }

    /// <summary>Sets the interface administratively up or down.</summary>
    public static bool SetUp(string name, bool up, out string? error)
    {
        error = null;
        int fd = ControlSocket();
        if (fd < 0)
        {
            error = Libc.ErrorText(Libc.LastError);
            return false;
        }
        try
        {
            var req = Request(name);
            if (Libc.Ioctl(fd, Interop.Ioctl.SiocGIfFlags, &req) != 0)
            {
                error = Libc.ErrorText(Libc.LastError);
                return false;
            }
            req.Flags = up ? (short)(req.Flags | Interop.Ioctl.IffUp) : (short)(req.Flags & ~Interop.Ioctl.IffUp);
            if (Libc.Ioctl(fd, Interop.Ioctl.SiocSIfFlags, &req) != 0)
            {
                error = Libc.ErrorText(Libc.LastError);
                return false;
            }
            return true;
        }
        finally
        {
            Libc.Close(fd);
        }
    }

    /// <summary>Offloads that change frames between the wire and the ring, with their legacy ethtool get/set commands.</summary>
    public static readonly (string Name, uint Get, uint Set, uint Flag)[] Offloads =
    [
        ("generic-receive-offload", 0x2b, 0x2c, 1),
        ("large-receive-offload", 0x25, 0x26, 1u << 15),
        ("tcp-segmentation-offload", 0x1e, 0x1f, 1),
        ("generic-segmentation-offload", 0x23, 0x24, 1),
        ("rx-checksumming", 0x14, 0x15, 1),
        ("tx-checksumming", 0x16, 0x17, 1),
    ];

    /// <summary>Reads one offload; null when the driver does not say.</summary>
    public static bool? GetOffload(string name, int index)
    {
        var (_, get, _, flag) = Offloads[index];
        return Ethtool(name, get, 0, out uint data) ? (data & flag) != 0 : null;
    }

    /// <summary>Turns one offload off; false (with the reason) when the driver refuses.</summary>
    public static bool DisableOffload(string name, int index, out string? error)
    {
        var (_, get, set, flag) = Offloads[index];
        error = null;
        if (!Ethtool(name, get, 0, out uint data))
        {
            error = "cannot read it";
            return false;
        }
        if ((data & flag) == 0) return true;
        if (!Ethtool(name, set, data & ~flag, out _))
        {
            error = Libc.ErrorText(Libc.LastError);
            return false;
        }
        return Ethtool(name, get, 0, out data) && (data & flag) == 0;
    }

    private static bool Ethtool(string name, uint command, uint value, out uint result)
    {
        result = 0;
        int fd = ControlSocket();
        if (fd < 0) return false;
        try
        {
            var ev = new EthtoolValue { Command = command, Data = value };
            var req = Request(name);
            req.Data = &ev;
            if (Libc.Ioctl(fd, Interop.Ioctl.SiocEthtool, &req) != 0) return false;
            result = ev.Data;
            return true;
        }
        finally
        {
            Libc.Close(fd);
        }
    }

    /// <summary>The bridge or bond an interface is enslaved to, from /sys/class/net; null when it has none.</summary>
    public static string? Master(string name)
    {
        try
        {
            var target = File.ResolveLinkTarget($"/sys/class/net/{name}/master", returnFinalTarget: false);
            return target is null ? null : Path.GetFileName(target.FullName);
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>Takes a kernel bridge down and deletes it (SIOCBRDELBR), which releases its ports.</summary>
    public static bool DeleteBridge(string name, out string? error)
    {
        if (!SetUp(name, false, out error)) return false;
        int fd = ControlSocket();
        if (fd < 0)
        {
            error = Libc.ErrorText(Libc.LastError);
            return false;
        }
        try
        {
            var bytes = Encoding.ASCII.GetBytes(name + "\0");
            fixed (byte* p = bytes)
            {
                if (Libc.Ioctl(fd, Interop.Ioctl.SiocBrDelBr, p) != 0)
                {
                    error = Libc.ErrorText(Libc.LastError);
                    return false;
                }
            }
            return true;
        }
        finally
        {
            Libc.Close(fd);
        }
    }

    /// <summary>CAP_NET_ADMIN and CAP_NET_RAW from the effective set in /proc/self/status.</summary>
    public static (bool NetAdmin, bool NetRaw) Capabilities()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
            {
                if (!line.StartsWith("CapEff:", StringComparison.Ordinal)) continue;
                ulong caps = Convert.ToUInt64(line.Substring(7).Trim(), 16);
                return ((caps & (1UL << 12)) != 0, (caps & (1UL << 13)) != 0);
            }
        }
        catch (IOException)
        {
        }
        return (false, false);
    }
}
