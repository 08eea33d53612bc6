using SipIps.Engine.Behaviour;
using SipIps.Engine.Detection;
using SipIps.Export.Live;
using SipIps.Host.Config;

namespace SipIps.Host.Detection;

/// <summary>Loads (or starts) the behaviour baseline named in the configuration for the session thread.</summary>
internal static class BaselineSetup
{
    public static Baseline Load(BaselineConfig c, Action<string> log)
    {
        var zone = TimeZoneInfo.FindSystemTimeZoneById(c.TimeZone);
        if (c.File is null || !File.Exists(c.File)) return new Baseline(c.SlotMinutes, c.Weeks, zone);
        try
        {
            var loaded = Baseline.Load(c.File);
            if (loaded.SlotMinutes == c.SlotMinutes && loaded.Weeks == c.Weeks && loaded.Zone.Id == zone.Id) return loaded;
            log($"warning: {c.File} was learned with {loaded.SlotMinutes}-minute slots over {loaded.Weeks} weeks in {loaded.Zone.Id}; " +
                $"the configuration asks for {c.SlotMinutes}, {c.Weeks}, {zone.Id}: learning starts again (the old file is kept as {c.File}.old)");
        }
        catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException)
        {
            log($"warning: cannot read the baseline: {e.Message}; learning starts again (the old file is kept as {c.File}.old)");
        }
        try
        {
            File.Move(c.File, c.File + ".old", overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
        return new Baseline(c.SlotMinutes, c.Weeks, zone);
    }

    public static BehaviourSetup Create(BaselineConfig c, DetectionRuntime runtime, IAlertSink alerts, Action<string> log) =>
        new(() => runtime.Rules.Current.FactorRules, alerts, Load(c, log), c.File, c.MinWeeks, runtime.Shared, () => runtime.Shared.Mode);
}
