namespace SipIps.Tests;

/// <summary>
/// The knobs of the mutation tests: SIPIPS_FUZZ_CASES runs a longer campaign than the suite's, and SIPIPS_FUZZ_KEEP
/// names a file to keep a failing input in.
/// </summary>
public static class FuzzCampaign
{
    /// <summary>Cases per test: <paramref name="suite"/> in the test suite, or SIPIPS_FUZZ_CASES when set.</summary>
    public static int Cases(int suite) =>
        int.TryParse(Environment.GetEnvironmentVariable("SIPIPS_FUZZ_CASES"), out int n) && n > 0 ? n : suite;

    /// <summary>Copies a failing input to SIPIPS_FUZZ_KEEP, when set.</summary>
    public static void Keep(string input)
    {
        if (Environment.GetEnvironmentVariable("SIPIPS_FUZZ_KEEP") is string keep) File.Copy(input, keep, overwrite: true);
    }
}
