using SipIps.Rules.Yaml;
using System.CommandLine;
using System.Reflection;
using SipIps.Host.Commands;

namespace SipIps.Host;

public static class Program
{
    public static int Main(string[] args)
    {
        // The packet path runs at 128-bit vectors unless the processor's 512-bit units are full width (see
        // VectorWidth): run and analyze start again with the width set where it is capped.
        if (args.Length > 0 && args[0] is "run" or "analyze") Capture.Interop.VectorWidth.NarrowOrContinue();
        return Run(args, Console.OpenStandardOutput(), Console.Out, Console.Error);
    }

    /// <summary>The whole command line, with its streams passed in so that tests run it in process.</summary>
    public static int Run(string[] args, Stream stdout, TextWriter stdoutText, TextWriter stderr)
    {
        try
        {
            var root = BuildCommandLine(stdout, stderr);
            var parsed = root.Parse(args);
            if (parsed.Errors.Count > 0)
            {
                foreach (var error in parsed.Errors) stderr.WriteLine($"sipips: {error.Message}");
                stderr.WriteLine("Try 'sipips --help'.");
                return ExitCodes.UsageOrIo;
            }
            var config = new InvocationConfiguration { Output = stdoutText, Error = stderr, EnableDefaultExceptionHandler = false };
            return parsed.Invoke(config);
        }
        catch (Exception e)
        {
            // A bug, not an input problem: one line, never a stack trace.
            stderr.WriteLine($"sipips: internal error: {e.GetType().Name}: {e.Message}");
            return ExitCodes.InternalError;
        }
    }

    /// <summary>One request to the running instance; an answer starting with "error:" exits 1.</summary>
    private static int ControlRequest(string socket, string request, TextWriter stdout, TextWriter stderr)
    {
        if (request.Contains('\n') || request.Split(' ').Length > 3)
        {
            stderr.WriteLine("sipips: a key has no spaces (write them as %20)");
            return ExitCodes.UsageOrIo;
        }
        try
        {
            string answer = Control.ControlServer.Request(socket, request);
            if (answer.StartsWith("error: ", StringComparison.Ordinal))
            {
                stderr.Write("sipips: " + answer[7..]);
                return ExitCodes.InvalidInput;
            }
            stdout.Write(answer);
            return ExitCodes.Success;
        }
        catch (System.Net.Sockets.SocketException e)
        {
            stderr.WriteLine(ControlError(socket, e));
            return ExitCodes.UsageOrIo;
        }
    }

    internal static string ControlError(string socket, System.Net.Sockets.SocketException e) =>
        e.SocketErrorCode == System.Net.Sockets.SocketError.AccessDenied
            ? $"sipips: permission denied on {socket}: only root and members of the {Control.ControlServer.GroupName} group may use it"
            : $"sipips: no running sipips answers at {socket} ({e.Message}); is the service started?";

    public static string Version =>
        typeof(Program).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";

    private static RootCommand BuildCommandLine(Stream stdout, TextWriter stderr)
    {
        var root = new RootCommand("SipIps: an inline intrusion prevention system for SIP.");

        var parseFile = new Argument<string>("FILE") { Description = "A file holding one raw SIP message, or - for standard input." };
        var parse = new Command("parse", "Parse one SIP message and print every field as JSON. Exit 0 if valid, 1 if invalid.")
        {
            parseFile,
        };
        parse.SetAction(r => ParseCommand.Run(r.GetValue(parseFile)!, stdout, stderr));
        root.Add(parse);

        var capture = new Argument<string>("CAPTURE") { Description = "A pcap or pcapng file, or - for standard input." };
        var clf = new Option<string?>("--clf") { Description = "Write one SIP CLF record (RFC 6873) per SIP message to this file.", HelpName = "OUT" };
        var json = new Option<bool>("--json") { Description = "Print the report as JSON." };
        var top = new Option<int>("--top") { Description = "How many top talkers to list.", DefaultValueFactory = _ => 10 };
        var noProgress = new Option<bool>("--no-progress") { Description = "Never draw the progress bar." };
        var verifyChecksums = new Option<bool>("--verify-checksums") { Description = "Skip packets whose IPv4 header checksum is wrong, as the live bridge does (default: count them and inspect anyway)." };
        var rulesOption = new Option<string[]>("--rules") { Description = "Run these rule files or directories of *.yaml (repeatable).", HelpName = "DIR", AllowMultipleArgumentsPerToken = true };
        var alertsOption = new Option<string?>("--alerts") { Description = "Write the alerts as EVE JSON lines to this file.", HelpName = "FILE" };
        var evidenceOption = new Option<string?>("--evidence") { Description = "Write the frames that were dropped or raised an alert to this pcap.", HelpName = "FILE" };
        var modeOption = new Option<string>("--mode") { Description = "detect: every rule alerts on what it sees, nothing is dropped (for tuning); prevent: replay as the bridge would (banned keys are dropped and no longer counted).", DefaultValueFactory = _ => "detect" };
        modeOption.AcceptOnlyFromAmong("prevent", "detect");
        var netflowOption = new Option<string?>("--netflow") { Description = "Export one NetFlow v9 record per SIP session to this collector, as the bridge does.", HelpName = "HOST:PORT" };
        var sourceIdOption = new Option<uint>("--source-id") { Description = "The NetFlow Source ID.", DefaultValueFactory = _ => 1 };
        var reportOption = new Option<string?>("--report") { Description = "Write a self-contained HTML report (charts as inline SVG, no network).", HelpName = "FILE" };
        var analyzeBaseline = new Option<string?>("--baseline") { Description = "Compare the behaviour factors with this baseline (rules on factors use it).", HelpName = "FILE" };
        var analyze = new Command("analyze", "Run the engine over a capture file and report what it saw.")
        {
            capture, clf, json, top, noProgress, verifyChecksums, rulesOption, alertsOption, evidenceOption, modeOption, netflowOption, sourceIdOption, analyzeBaseline, reportOption,
        };
        analyze.SetAction(r => AnalyzeCommand.Run(new AnalyzeOptions
        {
            Capture = r.GetValue(capture)!,
            ClfPath = r.GetValue(clf),
            Json = r.GetValue(json),
            Top = Math.Max(1, r.GetValue(top)),
            Progress = !r.GetValue(noProgress) && !Console.IsErrorRedirected,
            VerifyChecksums = r.GetValue(verifyChecksums),
            Rules = r.GetValue(rulesOption) ?? [],
            AlertsPath = r.GetValue(alertsOption),
            EvidencePath = r.GetValue(evidenceOption),
            Mode = r.GetValue(modeOption) == "detect" ? Engine.Detection.RuleMode.Detect : Engine.Detection.RuleMode.Prevent,
            NetFlow = r.GetValue(netflowOption),
            SourceId = r.GetValue(sourceIdOption),
            BaselinePath = r.GetValue(analyzeBaseline),
            ReportPath = r.GetValue(reportOption),
        }, stdout, stderr));
        root.Add(analyze);

        var rulesPaths = new Argument<string[]>("PATH") { Description = "Rule files or directories of *.yaml.", Arity = ArgumentArity.OneOrMore };
        var rulesCheck = new Command("check", "Validate rules; every error names file:line:column. Exit 0 if valid, 1 if not.")
        {
            rulesPaths,
        };
        rulesCheck.SetAction(r => RulesCommand.Check(r.GetValue(rulesPaths)!, r.InvocationConfiguration.Output, stderr));
        var rulesCommand = new Command("rules", "Work with detection rules.") { rulesCheck };
        root.Add(rulesCommand);

        var baselineFile = new Option<string>("--file") { Description = "The baseline file.", DefaultValueFactory = _ => Commands.BaselineCommand.DefaultFile, HelpName = "FILE" };
        var atOption = new Option<string?>("--at") { Description = "Show the slot of this time (default: now), like 2026-11-23T14:00Z.", HelpName = "TIME" };
        var factorOption = new Option<string?>("--factor") { Description = "Show this factor over the whole week instead.", HelpName = "NAME" };
        var show = new Command("show", "Print a baseline: each factor's mean and standard deviation for a time-of-week slot.") { baselineFile, atOption, factorOption };
        show.SetAction(r => Commands.BaselineCommand.Show(r.GetValue(baselineFile)!, r.GetValue(atOption), r.GetValue(factorOption), r.InvocationConfiguration.Output, stderr));
        var learnCaptures = new Argument<string[]>("CAPTURE") { Description = "pcap or pcapng files, in time order.", Arity = ArgumentArity.OneOrMore };
        var learnFile = new Option<string>("--file") { Description = "The baseline file to create or add to.", DefaultValueFactory = _ => Commands.BaselineCommand.DefaultFile, HelpName = "FILE" };
        var slotOption = new Option<int>("--slot-minutes") { Description = "Slot length for a new baseline.", DefaultValueFactory = _ => 5 };
        var weeksOption = new Option<int>("--weeks") { Description = "Weeks kept by a new baseline.", DefaultValueFactory = _ => 13 };
        var zoneOption = new Option<string>("--timezone") { Description = "Time zone of a new baseline's slots.", DefaultValueFactory = _ => "UTC" };
        var learn = new Command("learn", "Seed a baseline from captures: the behaviour factors of each slot they cover.") { learnCaptures, learnFile, slotOption, weeksOption, zoneOption };
        learn.SetAction(r => Commands.BaselineCommand.Learn(r.GetValue(learnCaptures)!, r.GetValue(learnFile)!, r.GetValue(slotOption), r.GetValue(weeksOption),
            r.GetValue(zoneOption)!, r.InvocationConfiguration.Output, stderr));
        root.Add(new Command("baseline", "Work with the behaviour baseline (learned per weekday and time).") { show, learn });

        var configOption = new Option<string>("--config", "-c") { Description = "The configuration file.", DefaultValueFactory = _ => Config.SipIpsConfig.DefaultPath, HelpName = "FILE" };
        var run = new Command("run", "Bridge the configured interface pairs inline (until SIGTERM; SIGHUP reloads the configuration).")
        {
            configOption,
        };
        run.SetAction(r => RunCommand.Run(r.GetValue(configOption)!, stderr));
        root.Add(run);

        var checkFile = new Argument<string>("FILE") { Description = "The configuration file to check.", DefaultValueFactory = _ => Config.SipIpsConfig.DefaultPath };
        var printPairs = new Option<bool>("--pairs") { Description = "Print the interface pairs, one \"A B\" line each (for the fail-open helper)." };
        var checkConfig = new Command("check-config", "Validate a configuration file; errors name file:line:column. Exit 0 if valid, 1 if not.")
        {
            checkFile, printPairs,
        };
        checkConfig.SetAction(r =>
        {
            string file = r.GetValue(checkFile)!;
            try
            {
                var c = Config.SipIpsConfig.LoadFile(file);
                if (r.GetValue(printPairs))
                {
                    foreach (var p in c.Bridge.Pairs) r.InvocationConfiguration.Output.WriteLine($"{p.A} {p.B}");
                    return ExitCodes.Success;
                }
                r.InvocationConfiguration.Output.WriteLine($"{file}: ok ({c.Bridge.Pairs.Count} pair(s): {string.Join(", ", c.Bridge.Pairs.Select(p => p.A + "<->" + p.B))})");
                return ExitCodes.Success;
            }
            catch (ConfigException e)
            {
                stderr.WriteLine($"sipips: {e}");
                return e.Line == 0 && e.Message.StartsWith("no such file", StringComparison.Ordinal) ? ExitCodes.UsageOrIo : ExitCodes.InvalidInput;
            }
        });
        root.Add(checkConfig);

        var socketOption = new Option<string>("--socket") { Description = "The control socket of the running instance.", DefaultValueFactory = _ => Config.SipIpsConfig.DefaultControlSocket, HelpName = "PATH" };
        var statusJson = new Option<bool>("--json") { Description = "Print the status as JSON." };
        var status = new Command("status", "Show the running bridge: per-port counters, workers, uptime.")
        {
            socketOption, statusJson,
        };
        status.SetAction(r =>
        {
            string path = r.GetValue(socketOption)!;
            try
            {
                r.InvocationConfiguration.Output.Write(Control.ControlServer.Request(path, r.GetValue(statusJson) ? "status json" : "status"));
                return ExitCodes.Success;
            }
            catch (System.Net.Sockets.SocketException e)
            {
                stderr.WriteLine(ControlError(path, e));
                return ExitCodes.UsageOrIo;
            }
        });
        root.Add(status);

        var banKey = new Argument<string>("KEY") { Description = "A key as alerts and status show it, like src_ip=203.0.113.7 or src_ip+from_user=203.0.113.7/alice." };
        var banTtl = new Option<string>("--ttl") { Description = "How long the ban lasts (10m, 2h, 7d), or 'permanent'.", DefaultValueFactory = _ => "permanent" };
        var banSocket = new Option<string>("--socket") { Description = "The control socket of the running instance.", DefaultValueFactory = _ => Config.SipIpsConfig.DefaultControlSocket, HelpName = "PATH" };
        var ban = new Command("ban", "Ban a key on the running bridge (kept across restarts).") { banKey, banTtl, banSocket };
        ban.SetAction(r => ControlRequest(r.GetValue(banSocket)!, $"ban {r.GetValue(banKey)} {r.GetValue(banTtl)}", r.InvocationConfiguration.Output, stderr));
        root.Add(ban);
        var unbanKey = new Argument<string>("KEY") { Description = "The banned or rate-limited key, as status shows it." };
        var unbanSocket = new Option<string>("--socket") { Description = "The control socket of the running instance.", DefaultValueFactory = _ => Config.SipIpsConfig.DefaultControlSocket, HelpName = "PATH" };
        var unban = new Command("unban", "Lift a ban (and any rate limit) on a key on the running bridge.") { unbanKey, unbanSocket };
        unban.SetAction(r => ControlRequest(r.GetValue(unbanSocket)!, $"unban {r.GetValue(unbanKey)}", r.InvocationConfiguration.Output, stderr));
        root.Add(unban);

        var version = new Command("version", "Print the version.");
        version.SetAction(r =>
        {
            r.InvocationConfiguration.Output.WriteLine($"sipips {Version}");
            r.InvocationConfiguration.Output.WriteLine($".NET {Environment.Version} {System.Runtime.InteropServices.RuntimeInformation.RuntimeIdentifier}");
            return ExitCodes.Success;
        });
        root.Add(version);
        return root;
    }
}
