using SipIps.Rules.Yaml;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using SipIps.Capture.AfPacket;
using SipIps.Capture.Bridge;
using SipIps.Engine.Enforcement;
using SipIps.Engine.Packets;
using SipIps.Engine.Pipeline;
using SipIps.Engine.Sip;
using SipIps.Host.Config;
using SipIps.Host.Control;
using SipIps.Host.Output;

namespace SipIps.Host.Commands;

/// <summary><c>sipips run</c>: the inline bridge, until SIGTERM; SIGHUP reloads the configuration.</summary>
internal static class RunCommand
{
    private sealed class NoObserver : ISipObserver
    {
        public static readonly NoObserver Instance = new();

        public void OnSipMessage(in PacketInfo packet, SipMessage message)
        {
        }
    }

    public static int Run(string configPath, TextWriter stderr)
    {
        SipIpsConfig config;
        try
        {
            config = SipIpsConfig.LoadFile(configPath);
        }
        catch (ConfigException e)
        {
            stderr.WriteLine($"sipips: {e}");
            return ExitCodes.InvalidInput;
        }

        var logLock = new object();
        void Log(string line)
        {
            lock (logLock) stderr.WriteLine($"sipips: {line}");
        }

        var bridge = new InlineBridge(config.Bridge, () => NoObserver.Instance, () => PassAll.Instance, Log);
        try
        {
            bridge.Start();
        }
        catch (CaptureException e)
        {
            bridge.Dispose();
            stderr.WriteLine($"sipips: cannot start: {e.Message}");
            return ExitCodes.UsageOrIo;
        }

        ControlServer? control = null;
        try
        {
            control = new ControlServer(config.ControlSocket, request => Answer(request, bridge));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Net.Sockets.SocketException)
        {
            Log($"warning: no control socket at {config.ControlSocket}: {e.Message}");
        }

        using var stop = new ManualResetEventSlim();
        var current = config;
        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, ctx =>
        {
            ctx.Cancel = true;
            stop.Set();
        });
        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, ctx =>
        {
            ctx.Cancel = true;
            stop.Set();
        });
        using var hangup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, ctx =>
        {
            ctx.Cancel = true;
            current = Reload(current, bridge, Log);
        });

        var o = config.Bridge;
        var snap = bridge.Snapshot();
        Log($"forwarding {string.Join(", ", o.Pairs.Select(p => $"{p.A} <-> {p.B}"))}; {o.Workers} worker(s) per port, ring {snap.Ring}, " +
            $"{snap.Send}, exception policy {snap.ExceptionPolicy}{(o.Inspect ? "" : ", inspection off")}");
        stop.Wait();
        Log("stopping");
        control?.Dispose();
        bridge.Dispose();
        Log("stopped");
        return ExitCodes.Success;
    }

    /// <summary>
    /// SIGHUP: read the file again. A bad file is refused and the running settings stay; settings that need new
    /// rings (pairs, workers, ring, batch) are reported as needing a restart; the rest apply at once. Forwarding
    /// never pauses.
    /// </summary>
    private static SipIpsConfig Reload(SipIpsConfig running, InlineBridge bridge, Action<string> log)
    {
        SipIpsConfig next;
        try
        {
            next = SipIpsConfig.LoadFile(running.File);
        }
        catch (ConfigException e)
        {
            log($"reload refused, the running configuration stays: {e}");
            return running;
        }
        var a = running.Bridge;
        var b = next.Bridge;
        var restart = new List<string>();
        if (!a.Pairs.SequenceEqual(b.Pairs)) restart.Add("bridge.pairs");
        if (a.Workers != b.Workers) restart.Add("bridge.workers");
        if (a.Ring != b.Ring || a.RingFrames != b.RingFrames || a.BlockTimeoutMs != b.BlockTimeoutMs) restart.Add("bridge.ring");
        if (a.Send != b.Send || a.Batch != b.Batch) restart.Add("bridge.send/batch");
        if (a.Inspect != b.Inspect) restart.Add("bridge.inspect");
        if (running.ControlSocket != next.ControlSocket) restart.Add("control.socket");
        bridge.SetExceptionPolicy(b.OnError);
        log($"reloaded {running.File}" + (restart.Count > 0 ? $"; these take effect at the next restart: {string.Join(", ", restart)}" : ""));
        return next with { Bridge = b with { Pairs = a.Pairs, Workers = a.Workers, Ring = a.Ring, RingFrames = a.RingFrames, Send = a.Send, Batch = a.Batch, Inspect = a.Inspect } };
    }

    private static string Answer(string request, InlineBridge bridge)
    {
        var snapshot = bridge.Snapshot();
        return request switch
        {
            "status" => StatusText(snapshot),
            "status json" => StatusJson(snapshot),
            _ => $"error: unknown request '{request}' (known: status, status json)\n",
        };
    }

    internal static string StatusText(BridgeSnapshot s)
    {
        var sb = new StringBuilder();
        var up = s.Uptime;
        sb.AppendLine(CultureInfo.InvariantCulture, $"sipips {Program.Version}: up {(int)up.TotalDays}d {up.Hours:00}:{up.Minutes:00}:{up.Seconds:00} since {s.Started:yyyy-MM-dd HH:mm:ss}Z");
        sb.AppendLine(CultureInfo.InvariantCulture, $"  {s.WorkersPerPort} worker(s) per port, ring {s.Ring}, send {s.Send}, exception policy {s.ExceptionPolicy}, inspection {(s.Inspect ? "on" : "off")}");
        sb.AppendLine();
        sb.AppendLine("  port     peer     link   rx frames     rx bytes  forwarded    dropped  kernel drops  send errors  csum-not-ready  errors");
        foreach (var p in s.Ports)
        {
            long dropped = p.Drops.Values.Sum();
            string link = !p.Up ? "down" : p.Running ? "up" : "no-carrier";
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"  {p.Name,-8} {p.Peer,-8} {link,-5} {p.RxFrames,10:N0} {p.RxBytes,12:N0} {p.Forwarded,10:N0} {dropped,10:N0} {p.KernelDrops,13:N0} {p.ForwardErrors,12:N0} {p.ChecksumNotReady,15:N0} {p.Exceptions,7:N0}");
            foreach (var (reason, n) in p.Drops) sb.AppendLine(CultureInfo.InvariantCulture, $"      dropped, {reason}: {n:N0}");
        }
        sb.AppendLine();
        sb.AppendLine(CultureInfo.InvariantCulture, $"  SIP messages inspected: {s.SipMessages:N0} ({s.SipInvalid:N0} invalid)");
        foreach (var w in s.Warnings) sb.AppendLine($"  warning: {w}");
        return sb.ToString();
    }

    internal static string StatusJson(BridgeSnapshot s)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, Json.Indented))
        {
            w.WriteStartObject();
            w.WriteString("version", Program.Version);
            w.WriteString("started", s.Started.ToString("O", CultureInfo.InvariantCulture));
            w.WriteNumber("uptime_seconds", Math.Round(s.Uptime.TotalSeconds, 3));
            w.WriteNumber("workers_per_port", s.WorkersPerPort);
            w.WriteString("ring", s.Ring);
            w.WriteString("send", s.Send);
            w.WriteString("exception_policy", s.ExceptionPolicy);
            w.WriteBoolean("inspect", s.Inspect);
            w.WriteStartArray("ports");
            foreach (var p in s.Ports)
            {
                w.WriteStartObject();
                w.WriteString("name", p.Name);
                w.WriteString("peer", p.Peer);
                w.WriteBoolean("up", p.Up);
                w.WriteBoolean("running", p.Running);
                w.WriteNumber("rx_frames", p.RxFrames);
                w.WriteNumber("rx_bytes", p.RxBytes);
                w.WriteNumber("forwarded", p.Forwarded);
                w.WriteNumber("forwarded_bytes", p.ForwardedBytes);
                w.WriteNumber("send_errors", p.ForwardErrors);
                w.WriteNumber("kernel_drops", p.KernelDrops);
                w.WriteNumber("checksum_not_ready", p.ChecksumNotReady);
                w.WriteNumber("errors", p.Exceptions);
                w.WriteStartObject("dropped");
                foreach (var (reason, n) in p.Drops) w.WriteNumber(reason, n);
                w.WriteEndObject();
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteNumber("sip_messages", s.SipMessages);
            w.WriteNumber("sip_invalid", s.SipInvalid);
            w.WriteStartArray("warnings");
            foreach (var warning in s.Warnings) w.WriteStringValue(warning);
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray()) + "\n";
    }
}
