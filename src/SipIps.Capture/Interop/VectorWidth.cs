using System.Collections;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SipIps.Capture.Interop;

/// <summary>
/// Caps the runtime's vectors at 128 bits for the long-running commands, on processors that do not run 512-bit
/// vectors at full width. The packet path works on short spans (header values of 10 to 60 bytes, messages of a few
/// hundred). On the AVX-512 machines SipIps was first measured on, wide code there cost a great deal: with the
/// runtime's default width a 42-byte request line parsed in 422 ns against 121 ns at 128 bits, a 200-byte OPTIONS in
/// 775 ns against 505 ns, and a 34-byte copy inside the CLF hand-off in 207 ns against 57 ns. On a processor with
/// full-width 512-bit units (AMD family 1Ah, Zen 5) the default width is the faster one: an INVITE in 613-618 ns
/// against 668-674 ns, analyze of the million-packet capture in 1.30-1.40 s against 1.42-1.48 s. So the cap applies
/// everywhere but there (see <see cref="FullWidthVectors"/>). The width is fixed when the runtime starts and only the
/// environment sets it, so the process runs itself again, as the same process (execve keeps the PID, the open
/// descriptors and systemd's view of the service), with <see cref="Variable"/> set. An operator who sets the
/// variable, to any value, keeps that value and no second start happens.
/// </summary>
public static partial class VectorWidth
{
    public const string Variable = "DOTNET_PreferredVectorBitWidth";
    public const int Bits = 128;

    /// <summary>What the running process uses: the widest vector the runtime treats as fast, in bits.</summary>
    public static int Current =>
        Vector512.IsHardwareAccelerated ? 512 : Vector256.IsHardwareAccelerated ? 256 : Vector128.IsHardwareAccelerated ? 128 : 0;

    /// <summary>
    /// True when the processor executes 512-bit vectors on full-width units, so that wide code on short spans costs
    /// no more than narrow code: AMD family 1Ah (Zen 5) and later. Earlier AMD parts split 512-bit operations in two.
    /// </summary>
    public static bool FullWidthVectors => X86Base.IsSupported && RunsWideVectorsAtFullWidth(CpuVendor(), CpuFamily());

    /// <summary>The rule behind <see cref="FullWidthVectors"/>, for a vendor string and a family from CPUID.</summary>
    public static bool RunsWideVectorsAtFullWidth(string vendor, int family) => vendor == "AuthenticAMD" && family >= 0x1A;

    /// <summary>The display family from CPUID leaf 1's EAX: the base family, plus the extended family when the base is 0Fh.</summary>
    public static int Family(uint eax)
    {
        int baseFamily = (int)((eax >> 8) & 0xF);
        return baseFamily == 0xF ? baseFamily + (int)((eax >> 20) & 0xFF) : baseFamily;
    }

    private static int CpuFamily() => Family((uint)X86Base.CpuId(1, 0).Eax);

    private static string CpuVendor()
    {
        var (_, ebx, ecx, edx) = X86Base.CpuId(0, 0);
        Span<byte> text = stackalloc byte[12];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(text, ebx);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(text.Slice(4), edx);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(text.Slice(8), ecx);
        return System.Text.Encoding.ASCII.GetString(text);
    }

    /// <summary>
    /// The environment to run again with (<c>NAME=value</c> entries), or null when no second start is needed: the
    /// variable is already set, the runtime already prefers 128 bits or less, or the processor runs wide vectors
    /// at full width.
    /// </summary>
    public static string[]? RestartEnvironment(IDictionary environment, int currentBits, bool fullWidthVectors = false)
    {
        if (environment.Contains(Variable) || currentBits <= Bits || fullWidthVectors) return null;
        var entries = new List<string>(environment.Count + 1);
        foreach (DictionaryEntry e in environment) entries.Add($"{e.Key}={e.Value}");
        entries.Add($"{Variable}={Bits}");
        return [.. entries];
    }

    /// <summary>The arguments the process was started with, from the NUL-separated <c>/proc/self/cmdline</c>.</summary>
    public static string[] SplitCommandLine(ReadOnlySpan<byte> cmdline)
    {
        var args = new List<string>();
        while (!cmdline.IsEmpty)
        {
            int nul = cmdline.IndexOf((byte)0);
            int n = nul < 0 ? cmdline.Length : nul;
            args.Add(System.Text.Encoding.UTF8.GetString(cmdline.Slice(0, n)));
            cmdline = nul < 0 ? default : cmdline.Slice(nul + 1);
        }
        return [.. args];
    }

    /// <summary>
    /// Replaces the process with itself, vectors capped, when <see cref="RestartEnvironment"/> asks for it. Returns
    /// (and the command goes on at the default width) when it does not, or when the new start cannot be made.
    /// </summary>
    public static void NarrowOrContinue()
    {
        if (!OperatingSystem.IsLinux()) return;
        var env = RestartEnvironment(Environment.GetEnvironmentVariables(), Current, FullWidthVectors);
        if (env is null) return;
        string[] argv;
        try
        {
            argv = SplitCommandLine(File.ReadAllBytes("/proc/self/cmdline"));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return;
        }
        if (argv.Length == 0) return;
        Exec("/proc/self/exe", argv, env);
    }

    private static unsafe void Exec(string path, string[] argv, string[] env)
    {
        var allocated = new List<nint>();
        try
        {
            nint[] args = ToNative(argv, allocated);
            nint[] envp = ToNative(env, allocated);
            nint file = Marshal.StringToCoTaskMemUTF8(path);
            allocated.Add(file);
            fixed (nint* a = args)
            fixed (nint* e = envp)
                ExecVe((byte*)file, a, e); // returns only on failure
        }
        finally
        {
            foreach (var p in allocated) Marshal.FreeCoTaskMem(p);
        }
    }

    /// <summary>NUL-terminated UTF-8 copies and a null-terminated array of them.</summary>
    private static nint[] ToNative(string[] values, List<nint> allocated)
    {
        var result = new nint[values.Length + 1];
        for (int i = 0; i < values.Length; i++)
        {
            result[i] = Marshal.StringToCoTaskMemUTF8(values[i]);
            allocated.Add(result[i]);
        }
        return result;
    }

    [LibraryImport("libc.so.6", EntryPoint = "execve", SetLastError = true)]
    private static unsafe partial int ExecVe(byte* path, nint* argv, nint* envp);
}
