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
using SipIps.Host.Detection;
using SipIps.Host.Output;
using SipIps.Engine.Detection;
using SipIps.Export.Alerts;
using SipIps.Capture;
using SipIps.Export.Live;
using SipIps.Host.Metrics;
using SipIps.Host.Service;

namespace SipIps.Host.Commands;

/// <summary><c>sipips run</c>: the inline bridge, until SIGTERM; SIGHUP reloads the configuration.</summary>
internal static class RunCommand
{
    /// <summary>The names of the threads that <c>bridge.management_nice</c> applies to.</summary>
    private static readonly string[] ManagementThreads = ["sessions", "clf", "alerts", "evidence", "control"];

    private const int Sighup = 1;
    private const int Sigusr1 = 10;

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

        var d = config.Detection;
        RuleSet rules;
        try
        {
            rules = LoadRules(d, Log);
        }
        catch (RuleLoadException e)
        {
            foreach (var error in e.Errors) stderr.WriteLine($"sipips: {error}");
            return ExitCodes.InvalidInput;
        }
        List<BanStore.BlocklistEntry> blocklist = [];
        try
        {
            if (d.Blocklist is not null) blocklist = BanStore.ParseBlocklist(d.Blocklist);
        }
        catch (ConfigException e)
        {
            stderr.WriteLine($"sipips: {e}");
            return ExitCodes.InvalidInput;
        }

        var queue = new AlertQueue(8192);
        AlertLogWriter alertLog;
        EvidenceRecorder? evidence = null;
        try
        {
            alertLog = new AlertLogWriter(queue, d.AlertLog, Log);
            if (d.EvidencePath is not null)
                evidence = new EvidenceRecorder(d.EvidencePath, d.EvidenceFileBytes, d.EvidenceFiles, Log, d.EvidenceSnapBytes);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            stderr.WriteLine($"sipips: cannot open the alert log or the evidence file: {e.Message}");
            return ExitCodes.UsageOrIo;
        }
        var runtime = new DetectionRuntime(rules, d.Options, queue, d.MaxBans);
        long now = BanStore.NowNs();
        if (d.StateFile is not null)
        {
            int restored = BanStore.Restore(d.StateFile, runtime.Enforcement, now, Log);
            if (restored > 0) Log($"restored {restored} ban(s) from {d.StateFile}");
        }
        BanStore.ApplyBlocklist(runtime.Enforcement, blocklist, now);

        if (config.Bridge.Inspect) Warmup.Run(config.Bridge.Engine, rules);

        // Everything but the workers to the management CPUs; threads started later inherit it, workers pin themselves.
        if (config.ManagementCpus.Count > 0 && Capture.Interop.CpuAffinity.PinProcess(config.ManagementCpus) is { } pinError)
            Log($"cannot pin to management CPUs {string.Join(",", config.ManagementCpus)}: {pinError}");

        // Exporters: each on its own thread, fed by per-worker bounded queues.
        var x = config.Export;
        SessionExporter? sessions = null;
        ClfLogWriter? clf = null;
        try
        {
            if (config.Bridge.Inspect && x.TrackSessions)
                sessions = new SessionExporter(x.Sessions, x.NetFlow, Log, x.SessionQueue, behaviour: x.Baseline.Enabled ? BaselineSetup.Create(x.Baseline, runtime, queue, Log) : null);
            if (config.Bridge.Inspect && x.Clf is not null) clf = new ClfLogWriter(x.Clf, Log);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Net.Sockets.SocketException)
        {
            alertLog.Dispose();
            evidence?.Dispose();
            sessions?.Dispose();
            stderr.WriteLine($"sipips: cannot start the exporters: {e.Message}");
            return ExitCodes.UsageOrIo;
        }
        var observers = new List<LiveObserver>();
        ISipObserver NewObserver()
        {
            if (sessions is null && clf is null) return NoObserver.Instance;
            var o = new LiveObserver(sessions?.AddWorker(), null, sessions?.Media, clf?.AddWorker());
            lock (observers) observers.Add(o);
            return o;
        }
        sessions?.Start();
        clf?.Start();
        var bridge = new InlineBridge(config.Bridge, NewObserver, runtime.WorkerHook, Log, evidence);
        try
        {
            bridge.Start();
        }
        catch (CaptureException e)
        {
            bridge.Dispose();
            alertLog.Dispose();
            evidence?.Dispose();
            sessions?.Dispose();
            clf?.Dispose();
            stderr.WriteLine($"sipips: cannot start: {e.Message}");
            return ExitCodes.UsageOrIo;
        }

        var current = config;
        var notify = new SystemdNotify(Log);
        var state = new RunState(runtime, alertLog, evidence) { Sessions = sessions, Clf = clf };
        MetricsServer? metrics = null;
        if (x.Metrics is not null)
        {
            var page = new BridgeMetrics(bridge, () => { lock (observers) return [.. observers]; }, runtime, alertLog, queue, evidence, sessions, clf,
                () => metrics is null ? 0 : Interlocked.Read(ref metrics.Scrapes));
            try
            {
                metrics = MetricsServer.Start(x.Metrics, page.Render);
            }
            catch (IOException e)
            {
                // Forwarding matters more than metrics: say so loudly and go on.
                Log($"warning: {e.Message}; running without /metrics");
            }
        }
        ControlServer? control = null;
        try
        {
            control = new ControlServer(config.ControlSocket, request => Answer(request, bridge, state));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Net.Sockets.SocketException)
        {
            Log($"warning: no control socket at {config.ControlSocket}: {e.Message}");
        }

        // The threads beside the workers yield to them on a shared core (bridge.management_nice).
        if (config.ManagementNice > 0 && Capture.Interop.CpuAffinity.NiceThreads(ManagementThreads, config.ManagementNice) is { } niceError)
            Log($"cannot lower the priority of the exporter threads: {niceError}");

        // Once a second: expire bans and rate limits, and save the bans when they changed.
        long savedVersion = -1;
        var saveLock = new object();
        void Persist()
        {
            lock (saveLock)
            {
                var t = runtime.Enforcement;
                t.Expire(BanStore.NowNs());
                string? file = current.Detection.StateFile;
                if (file is null || t.Version == savedVersion) return;
                long version = t.Version;
                try
                {
                    BanStore.Save(file, t, BanStore.NowNs());
                    savedVersion = version;
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    if (savedVersion != -2) Log($"cannot save bans to {file}: {e.Message}");
                    savedVersion = -2;
                }
            }
        }
        using var housekeeping = new Timer(_ => Persist(), null, 1000, 1000);

        using var stop = new ManualResetEventSlim();
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
        // SIGHUP (reload) and SIGUSR1 (reopen) must work even when an ignoring parent (nohup) passed them on ignored.
        Capture.Interop.Posix.RestoreDefault(Sighup);
        Capture.Interop.Posix.RestoreDefault(Sigusr1);
        using var hangup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, ctx =>
        {
            ctx.Cancel = true;
            notify.Reloading();
            current = Reload(current, bridge, state, Log);
            notify.Ready($"reloaded at {DateTime.UtcNow:HH:mm:ss}Z");
        });
        // SIGUSR1: reopen the logs at their paths (after logrotate moved them).
        using var user1 = PosixSignalRegistration.Create((PosixSignal)Sigusr1, ctx =>
        {
            ctx.Cancel = true;
            clf?.Reopen();
            alertLog.Reopen();
            Log("logs reopened");
        });

        var o = config.Bridge;
        var snap = bridge.Snapshot();
        Log($"forwarding {string.Join(", ", o.Pairs.Select(p => $"{p.A} <-> {p.B}"))}; {o.Workers} worker(s) per pair (each runs both directions), ring {snap.Ring}, " +
            $"{snap.Send}, exception policy {snap.ExceptionPolicy}{(o.Inspect ? "" : ", inspection off")}, {Capture.Interop.VectorWidth.Current}-bit vectors");
        Log($"detection: {rules.Rules.Count} rule(s), {(d.Mode == RuleMode.Prevent ? "prevent" : "detect-only")}; " +
            $"{runtime.Enforcement.Bans} active ban(s); alerts to {d.AlertLog ?? "(off)"}");
        notify.Ready($"forwarding {string.Join(", ", o.Pairs.Select(p => $"{p.A}<->{p.B}"))}; {rules.Rules.Count} rules, {(d.Mode == RuleMode.Prevent ? "prevent" : "detect-only")}");
        notify.StartWatchdog(() => bridge.Healthy);
        Log($"exporters: metrics {(metrics is null ? "off" : $"http://{metrics.Endpoint}/metrics")}; " +
            $"netflow {(x.NetFlow is null || sessions is null ? "off" : $"v9 to {x.NetFlow.Collector} (source id {x.NetFlow.SourceId})")}; " +
            $"clf {(clf is null ? "off" : x.Clf!.Path)}");
        stop.Wait();
        notify.Stopping();
        Log("stopping");
        control?.Dispose();
        metrics?.Dispose();
        bridge.Dispose();
        Persist();
        alertLog.Dispose();
        evidence?.Dispose();
        // The open sessions go out as records (forced end) and the log is drained before exit.
        sessions?.Dispose();
        clf?.Dispose();
        Log("stopped");
        notify.Dispose();
        return ExitCodes.Success;
    }

    /// <summary>What the control socket and reloads work on, besides the bridge.</summary>
    internal sealed class RunState(DetectionRuntime runtime, AlertLogWriter alerts, EvidenceRecorder? evidence)
    {
        public SessionExporter? Sessions { get; init; }
        public ClfLogWriter? Clf { get; init; }
        public DetectionRuntime Runtime { get; } = runtime;
        public AlertLogWriter Alerts { get; } = alerts;
        public EvidenceRecorder? Evidence { get; } = evidence;
    }

    /// <summary>The configured rules; the default directory may be absent (then only operator bans apply).</summary>
    private static RuleSet LoadRules(DetectionConfig d, Action<string> log)
    {
        if (!d.RulesGiven && d.Rules.All(p => !Directory.Exists(p) && !File.Exists(p)))
        {
            log($"warning: no rules ({string.Join(", ", d.Rules)} does not exist): forwarding with operator bans only");
            return RuleSet.Empty;
        }
        return DetectionRuntime.LoadRules(d.Rules);
    }

    /// <summary>
    /// SIGHUP: read the file, the rules and the blocklist again. Each part that is bad is refused with its errors
    /// and the running one stays; settings that need new rings are reported as needing a restart; the rest apply
    /// at once. Counters, bans and dialogs carry over; forwarding never pauses.
    /// </summary>
    private static SipIpsConfig Reload(SipIpsConfig running, InlineBridge bridge, RunState state, Action<string> log)
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
        if (running.Export != next.Export) restart.Add("metrics/netflow/clf/sessions");
        var da = running.Detection;
        var db = next.Detection;
        if (da.AlertLog != db.AlertLog || da.EvidencePath != db.EvidencePath || da.EvidenceFileBytes != db.EvidenceFileBytes
            || da.EvidenceFiles != db.EvidenceFiles || da.StateFile != db.StateFile || da.MaxBans != db.MaxBans
            || da.Options with { Mode = RuleMode.Prevent } != db.Options with { Mode = RuleMode.Prevent })
            restart.Add("detection files and tables");
        bridge.SetExceptionPolicy(b.OnError);

        var runtime = state.Runtime;
        try
        {
            var rules = LoadRules(db, log);
            runtime.Rules.Swap(rules);
            log($"rules reloaded: {rules.Rules.Count} rule(s)");
        }
        catch (RuleLoadException e)
        {
            foreach (var error in e.Errors) log($"{error}");
            log($"rules reload refused ({e.Errors.Count} error(s)); the running rules stay");
        }
        runtime.Shared.Mode = db.Mode;
        if (db.Blocklist is not null)
        {
            try
            {
                var list = BanStore.ParseBlocklist(db.Blocklist);
                BanStore.ApplyBlocklist(runtime.Enforcement, list, BanStore.NowNs());
                log($"blocklist reloaded: {list.Count} entr{(list.Count == 1 ? "y" : "ies")}");
            }
            catch (ConfigException e)
            {
                log($"blocklist reload refused, the running list stays: {e}");
            }
        }
        else if (da.Blocklist is not null)
        {
            BanStore.ApplyBlocklist(runtime.Enforcement, [], BanStore.NowNs());
        }
        state.Alerts.Reopen();
        log($"reloaded {running.File}" + (restart.Count > 0 ? $"; these take effect at the next restart: {string.Join(", ", restart)}" : ""));
        return next with
        {
            Bridge = b with { Pairs = a.Pairs, Workers = a.Workers, Ring = a.Ring, RingFrames = a.RingFrames, Send = a.Send, Batch = a.Batch, Inspect = a.Inspect },
            Export = running.Export,
            Detection = db with
            {
                AlertLog = da.AlertLog, EvidencePath = da.EvidencePath, EvidenceFileBytes = da.EvidenceFileBytes, EvidenceFiles = da.EvidenceFiles,
                StateFile = da.StateFile, MaxBans = da.MaxBans, Options = da.Options with { Mode = db.Mode },
            },
        };
    }

    private static string Answer(string request, InlineBridge bridge, RunState state)
    {
        var parts = request.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        string verb = parts.Length > 0 ? parts[0] : "";
        switch (verb)
        {
            case "status" when parts.Length == 1:
                return StatusText(bridge.Snapshot()) + DetectionText(state, 20) + ExportText(state);
            case "status" when parts.Length == 2 && parts[1] == "json":
                return StatusJson(bridge.Snapshot(), state);
            case "bans":
                return DetectionText(state, int.MaxValue);
            case "ban" when parts.Length is 2 or 3:
                return Ban(state, parts[1], parts.Length == 3 ? parts[2] : "permanent");
            case "unban" when parts.Length == 2:
                return Unban(state, parts[1]);
            default:
                return $"error: unknown request '{request}' (known: status, status json, bans, ban KEY [TTL], unban KEY)\n";
        }
    }

    private static string Ban(RunState state, string key, string ttlText)
    {
        if (!KeyText.TryParse(key, out var spec, out string canonical, out ulong hash, out string error)) return $"error: {error}\n";
        if (spec.IsGlobal) return "error: a ban on the global key would block every SIP message\n";
        if (state.Runtime.Rules.Current.IsAllowlistedKey(canonical)) return $"error: {canonical} is on the allowlist; remove it there first\n";
        long now = BanStore.NowNs();
        long expires = long.MaxValue;
        if (ttlText != "permanent")
        {
            if (!YamlTree.TryParseDuration(ttlText, out long ttl) || ttl <= 0) return $"error: '{ttlText}' is not a TTL like 10m, 2h or 7d\n";
            expires = now + ttl;
        }
        state.Runtime.Enforcement.Ban(hash, spec, Encoding.UTF8.GetBytes(canonical), now, expires, null, EnforcementOrigin.Operator);
        return $"banned {canonical} ({BanStore.Remaining(expires, now)})\n";
    }

    private static string Unban(RunState state, string key)
    {
        if (!KeyText.TryParse(key, out _, out string canonical, out ulong hash, out string error)) return $"error: {error}\n";
        var t = state.Runtime.Enforcement;
        bool ban = t.Remove(hash);
        int limits = t.RemoveWhere(e => e.Kind == EnforcementKind.RateLimit && e.Key == canonical);
        if (!ban && limits == 0) return $"error: no ban or rate limit on {canonical}\n";
        return $"lifted {(ban ? "the ban" : "")}{(ban && limits > 0 ? " and " : "")}{(limits > 0 ? $"{limits} rate limit(s)" : "")} on {canonical}\n";
    }

    internal static string DetectionText(RunState state, int maxRows)
    {
        var r = state.Runtime;
        long now = BanStore.NowNs();
        var totals = r.Totals();
        var entries = r.Enforcement.Snapshot(now);
        var sb = new StringBuilder();
        sb.AppendLine();
        sb.AppendLine(CultureInfo.InvariantCulture,
            $"  Detection: {r.Rules.Current.Rules.Count} rule(s), {(r.Shared.Mode == RuleMode.Prevent ? "prevent" : "detect-only")}; " +
            $"{state.Alerts.Written:N0} alert(s){(totals.AlertsLost > 0 ? $" ({totals.AlertsLost:N0} lost: queue full)" : "")}; " +
            $"dropped: ban {totals.BanDrops:N0}, rate limit {totals.RateLimitDrops:N0}, rule {totals.RuleDrops:N0}");
        if (state.Evidence is { } ev) sb.AppendLine(CultureInfo.InvariantCulture, $"  evidence: {ev.Written:N0} frame(s) kept, {ev.Lost:N0} lost");
        if (r.Shared.ProtectUntilNs > now)
            sb.AppendLine(CultureInfo.InvariantCulture, $"  protection ON for {BanStore.Remaining(r.Shared.ProtectUntilNs, now)} ({r.Shared.ProtectRule}): new INVITEs from unknown sources are dropped");
        if (totals.ProtectDrops > 0) sb.AppendLine(CultureInfo.InvariantCulture, $"  dropped by protection: {totals.ProtectDrops:N0} new INVITE(s) from unknown sources");
        foreach (var (id, c) in r.RuleTotals().Where(x => x.Counters.Fired > 0 || x.Counters.Dropped + x.Counters.RateLimited > 0))
            sb.AppendLine(CultureInfo.InvariantCulture, $"    {id,-30} fired {c.Fired,8:N0}  dropped {c.Dropped + c.RateLimited,10:N0}  bans {c.Bans,6:N0}");
        var bans = entries.Where(e => e.Kind == EnforcementKind.Ban).OrderByDescending(e => e.CreatedNs).ToList();
        var limits = entries.Where(e => e.Kind == EnforcementKind.RateLimit).OrderByDescending(e => e.CreatedNs).ToList();
        sb.AppendLine();
        sb.AppendLine(CultureInfo.InvariantCulture, $"  Active bans: {bans.Count:N0}");
        if (bans.Count > 0) sb.AppendLine("    key                                              remaining   by                          drops");
        foreach (var b in bans.Take(maxRows))
            sb.AppendLine(CultureInfo.InvariantCulture, $"    {b.Key,-48} {BanStore.Remaining(b.ExpiresNs, now),-11} {b.RuleId ?? b.Origin.ToString().ToLowerInvariant(),-26} {b.Drops,8:N0}");
        if (bans.Count > maxRows) sb.AppendLine(CultureInfo.InvariantCulture, $"    ... {bans.Count - maxRows:N0} more ('sipips status --json' lists all)");
        sb.AppendLine(CultureInfo.InvariantCulture, $"  Active rate limits: {limits.Count:N0}");
        foreach (var l in limits.Take(maxRows))
            sb.AppendLine(CultureInfo.InvariantCulture, $"    {l.Key,-48} {BanStore.Remaining(l.ExpiresNs, now),-11} {l.RuleId,-26} {l.Rate:0.##}/s burst {l.Burst:0.##}, {l.Drops:N0} dropped");
        return sb.ToString();
    }

    internal static string ExportText(RunState state)
    {
        var sb = new StringBuilder();
        sb.AppendLine();
        if (state.Sessions is { } x)
        {
            var t = x.Tracker;
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"  Sessions: {t.Active:N0} open ({t.ActiveCalls:N0} answered calls), {t.ActiveRegistrations:N0} registrations; {t.Exported:N0} exported, " +
                $"{t.Evicted:N0} evicted; {t.RtpPackets:N0} RTP packets; {x.Lost:N0} events lost (queue full){(x.Faults.Count > 0 ? $"; {x.Faults.Count:N0} internal error(s)" : "")}");
            if (x.Writer is not null) sb.AppendLine(CultureInfo.InvariantCulture, $"  NetFlow v9: {x.FlowPackets:N0} packet(s), {x.Writer.RecordsWritten:N0} record(s), {x.SendErrors:N0} send error(s)");
            if (x.Monitor is { } m)
            {
                var (shortWindow, longWindow) = x.FactorValues();
                sb.AppendLine(CultureInfo.InvariantCulture,
                    $"  Behaviour: baseline {(m.BaselineReady ? $"ready ({m.BaselineWeeks} week(s) of history for this slot)" : $"learning ({m.BaselineWeeks} of {m.MinWeeks} week(s) for this slot): rules on factors use their static thresholds")}; " +
                    $"{m.Fired:N0} factor alert(s); slots learned {x.Learner!.SlotsLearned:N0}, frozen by alarms {x.Learner.SlotsFrozen:N0}");
                foreach (var f in new[] { Engine.Behaviour.Factor.SipMessagesPerSecond, Engine.Behaviour.Factor.InviteRatio, Engine.Behaviour.Factor.RequestResponseRatio,
                                          Engine.Behaviour.Factor.CallIdSsrcRatio, Engine.Behaviour.Factor.ErrorResponseRatio, Engine.Behaviour.Factor.PostDialDelaySeconds })
                {
                    if (shortWindow.Length == 0) break;
                    sb.AppendLine(CultureInfo.InvariantCulture, $"    {Engine.Behaviour.Factors.Name(f),-28} 10s {shortWindow[(int)f],10:0.###}   60s {longWindow[(int)f],10:0.###}");
                }
            }
        }
        if (state.Clf is { } c)
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"  SIP CLF: {c.Written:N0} record(s), {c.Lost:N0} lost (queue full), {c.WriteErrors:N0} write error(s), {c.Rotations:N0} rotation(s){(c.Faults.Count > 0 ? $", {c.Faults.Count:N0} internal error(s)" : "")}");
        return sb.ToString();
    }

    internal static string StatusText(BridgeSnapshot s)
    {
        var sb = new StringBuilder();
        var up = s.Uptime;
        sb.AppendLine(CultureInfo.InvariantCulture, $"sipips {Program.Version}: up {(int)up.TotalDays}d {up.Hours:00}:{up.Minutes:00}:{up.Seconds:00} since {s.Started:yyyy-MM-dd HH:mm:ss}Z");
        sb.AppendLine(CultureInfo.InvariantCulture, $"  {s.WorkersPerPort} worker(s) per pair (each runs both directions), ring {s.Ring}, send {s.Send}, exception policy {s.ExceptionPolicy}, inspection {(s.Inspect ? "on" : "off")}");
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

    internal static string StatusJson(BridgeSnapshot s, RunState? state = null)
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
            if (state is not null) DetectionJson(w, state);
            if (state?.Sessions is { } x)
            {
                var t = x.Tracker;
                w.WriteStartObject("sessions");
                w.WriteNumber("open", t.Active);
                w.WriteNumber("active_calls", t.ActiveCalls);
                w.WriteNumber("active_registrations", t.ActiveRegistrations);
                w.WriteNumber("exported", t.Exported);
                w.WriteNumber("evicted", t.Evicted);
                w.WriteNumber("rtp_packets", t.RtpPackets);
                w.WriteNumber("lost", x.Lost);
                w.WriteNumber("netflow_packets", x.FlowPackets);
                w.WriteNumber("netflow_records", x.Writer?.RecordsWritten ?? 0);
                w.WriteNumber("netflow_send_errors", x.SendErrors);
                w.WriteNumber("internal_errors", x.Faults.Count);
                w.WriteEndObject();
                if (x.Monitor is { } m)
                {
                    var (shortWindow, longWindow) = x.FactorValues();
                    w.WriteStartObject("behaviour");
                    w.WriteBoolean("baseline_ready", m.BaselineReady);
                    w.WriteNumber("baseline_weeks", m.BaselineWeeks);
                    w.WriteNumber("factor_alerts", m.Fired);
                    w.WriteNumber("slots_learned", x.Learner!.SlotsLearned);
                    w.WriteNumber("slots_frozen", x.Learner.SlotsFrozen);
                    w.WriteFactorWindows(shortWindow, longWindow);
                    w.WriteEndObject();
                }
            }
            if (state?.Clf is { } c)
            {
                w.WriteStartObject("clf");
                w.WriteNumber("records", c.Written);
                w.WriteNumber("lost", c.Lost);
                w.WriteNumber("write_errors", c.WriteErrors);
                w.WriteNumber("rotations", c.Rotations);
                w.WriteNumber("internal_errors", c.Faults.Count);
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray()) + "\n";
    }

    private static void DetectionJson(Utf8JsonWriter w, RunState state)
    {
        var r = state.Runtime;
        long now = BanStore.NowNs();
        var totals = r.Totals();
        w.WriteStartObject("detection");
        w.WriteNumber("rules", r.Rules.Current.Rules.Count);
        w.WriteString("mode", r.Shared.Mode == RuleMode.Prevent ? "prevent" : "detect");
        w.WriteNumber("messages", totals.Messages);
        w.WriteNumber("alerts", state.Alerts.Written);
        w.WriteNumber("alerts_lost", totals.AlertsLost);
        w.WriteNumber("ban_drops", totals.BanDrops);
        w.WriteNumber("rate_limit_drops", totals.RateLimitDrops);
        w.WriteNumber("rule_drops", totals.RuleDrops);
        w.WriteNumber("protect_drops", totals.ProtectDrops);
        w.WriteBoolean("protecting", r.Shared.ProtectUntilNs > now);
        w.WriteNumber("allowlisted", totals.Allowlisted);
        if (state.Evidence is { } ev)
        {
            w.WriteNumber("evidence_frames", ev.Written);
            w.WriteNumber("evidence_lost", ev.Lost);
        }
        w.WriteStartArray("by_rule");
        foreach (var (id, c) in r.RuleTotals())
        {
            w.WriteStartObject();
            w.WriteString("id", id);
            w.WriteNumber("matched", c.Matched);
            w.WriteNumber("fired", c.Fired);
            w.WriteNumber("alerts", c.Alerts);
            w.WriteNumber("dropped", c.Dropped);
            w.WriteNumber("rate_limited", c.RateLimited);
            w.WriteNumber("bans", c.Bans);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        foreach (var (name, kind) in new[] { ("bans", EnforcementKind.Ban), ("rate_limits", EnforcementKind.RateLimit) })
        {
            w.WriteStartArray(name);
            foreach (var e in r.Enforcement.Snapshot(now).Where(e => e.Kind == kind))
            {
                w.WriteStartObject();
                w.WriteString("key", e.Key);
                if (e.RuleId is not null) w.WriteString("rule_id", e.RuleId);
                w.WriteString("origin", e.Origin.ToString().ToLowerInvariant());
                w.WriteString("created", BanStore.Iso(e.CreatedNs));
                if (e.IsPermanent) w.WriteNull("ttl_s");
                else w.WriteNumber("ttl_s", Math.Round((e.ExpiresNs - now) / 1e9, 1));
                if (kind == EnforcementKind.RateLimit)
                {
                    w.WriteNumber("rate", e.Rate);
                    w.WriteNumber("burst", e.Burst);
                }
                w.WriteNumber("drops", e.Drops);
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        w.WriteEndObject();
    }
}
