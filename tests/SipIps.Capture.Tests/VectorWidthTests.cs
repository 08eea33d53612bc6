using System.Collections;
using System.Text;
using SipIps.Capture.Interop;
using Xunit;

namespace SipIps.Capture.Tests;

public class VectorWidthTests
{
    [Fact]
    public void A_wider_runtime_starts_again_with_every_variable_and_the_width_set_once()
    {
        var env = new Hashtable { ["PATH"] = "/usr/bin", ["NOTIFY_SOCKET"] = "/run/systemd/notify", ["EMPTY"] = "" };
        var restart = VectorWidth.RestartEnvironment(env, currentBits: 512);
        Assert.NotNull(restart);
        Assert.Equal(["DOTNET_PreferredVectorBitWidth=128", "EMPTY=", "NOTIFY_SOCKET=/run/systemd/notify", "PATH=/usr/bin"], restart.Order(StringComparer.Ordinal));
        Assert.NotNull(VectorWidth.RestartEnvironment(env, currentBits: 256));
    }

    [Fact]
    public void The_operators_width_or_a_narrow_runtime_means_no_second_start()
    {
        // Any value the operator set stands, wider or narrower; and a runtime already at 128 bits has nothing to gain.
        Assert.Null(VectorWidth.RestartEnvironment(new Hashtable { [VectorWidth.Variable] = "512" }, currentBits: 512));
        Assert.Null(VectorWidth.RestartEnvironment(new Hashtable { [VectorWidth.Variable] = "128" }, currentBits: 128));
        Assert.Null(VectorWidth.RestartEnvironment(new Hashtable(), currentBits: 128));
        Assert.Null(VectorWidth.RestartEnvironment(new Hashtable(), currentBits: 0));
    }

    [Fact]
    public void A_processor_with_full_width_512_bit_units_keeps_the_runtimes_width()
    {
        Assert.Null(VectorWidth.RestartEnvironment(new Hashtable { ["PATH"] = "/usr/bin" }, currentBits: 512, fullWidthVectors: true));
        // CPUID leaf 1 signatures: Zen 5 (family 1Ah), Zen 4 (19h), Zen 3 (19h), an Intel Xeon (family 6).
        Assert.Equal(0x1A, VectorWidth.Family(0x00B40F40));
        Assert.Equal(0x19, VectorWidth.Family(0x00A10F11));
        Assert.Equal(0x19, VectorWidth.Family(0x00A00F11));
        Assert.Equal(6, VectorWidth.Family(0x000806F8));
        Assert.True(VectorWidth.RunsWideVectorsAtFullWidth("AuthenticAMD", 0x1A));
        Assert.False(VectorWidth.RunsWideVectorsAtFullWidth("AuthenticAMD", 0x19));
        Assert.False(VectorWidth.RunsWideVectorsAtFullWidth("GenuineIntel", 6));
        Assert.False(VectorWidth.RunsWideVectorsAtFullWidth("GenuineIntel", 0x1A));
    }

    [Fact]
    public void The_command_line_keeps_empty_arguments_and_spaces()
    {
        static string[] Split(string s) => VectorWidth.SplitCommandLine(Encoding.UTF8.GetBytes(s));
        Assert.Equal(["dotnet", "sipips.dll", "analyze", "a b.pcap"], Split("dotnet\0sipips.dll\0analyze\0a b.pcap\0"));
        Assert.Equal(["sipips", "", "x", ""], Split("sipips\0\0x\0\0"));
        Assert.Equal(["sipips", "é"], Split("sipips\0é"));
        Assert.Empty(Split(""));
    }
}
