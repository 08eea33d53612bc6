using SipIps.Capture.Interop;
using Xunit;

namespace SipIps.Capture.Tests;

public class CpuAffinityTests
{
    private static string AllowedList(int tid) =>
        File.ReadAllLines($"/proc/self/task/{tid}/status").First(l => l.StartsWith("Cpus_allowed_list:", StringComparison.Ordinal)).Split(':')[1].Trim();

    [Fact]
    public void A_thread_pins_itself_and_the_kernel_says_so()
    {
        int online = CpuAffinity.OnlineCpus();
        Assert.True(online >= 1);
        int cpu = online - 1;
        string? error = "not run";
        string allowed = "";
        var t = new Thread(() =>
        {
            error = CpuAffinity.PinCurrentThread([cpu]);
            allowed = AllowedList(Gettid());
        });
        t.Start();
        t.Join();
        Assert.Null(error);
        Assert.Equal(cpu.ToString(System.Globalization.CultureInfo.InvariantCulture), allowed);
    }

    [Fact]
    public void A_cpu_that_is_not_there_is_an_error_not_a_crash()
    {
        string? error = null;
        var t = new Thread(() => error = CpuAffinity.PinCurrentThread([1023]));
        t.Start();
        t.Join();
        if (CpuAffinity.OnlineCpus() <= 1023) Assert.Equal("sched_setaffinity: no such CPU online", error);
        Assert.Equal("CPU 5000 is out of range", CpuAffinity.PinCurrentThread([5000]));
    }

    private static int Gettid() => int.Parse(File.ReadAllText("/proc/thread-self/stat").Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
}
