using SipIps.Capture.Interop;
using Xunit;

namespace SipIps.Capture.Tests;

public class IrqPlacementTests
{
    // A 3-CPU machine's /proc/interrupts: a disk queue bound to CPU 1, NIC queues spread, a bridged port's queue.
    private const string Interrupts =
        "           CPU0       CPU1       CPU2       \n" +
        " 26:          0         14          0   IO-APIC   4-edge      ttyS0\n" +
        " 28:          0          0          0   PCI-MSIX-0000:00:01.0   0-edge      virtio0-config\n" +
        " 36:          0    1436413          0   PCI-MSIX-0000:00:02.0   1-edge      virtio1-req.0\n" +
        " 41:      10561          0          0   PCI-MSIX-0000:00:04.0   1-edge      virtio3-rx\n" +
        " 50:        900      50000      70000   PCI-MSIX-0000:00:06.0   0-edge      eth2-TxRx-0\n" +
        " 51:          0      80000          0   PCI-MSIX-0000:00:07.0   0-edge      pa-TxRx-0\n" +
        " 52:          0       5000       9000   PCI-MSIX-0000:00:08.0   0-edge      nvme0q1\n" +
        "NMI:          0          0          0   Non-maskable interrupts\n" +
        "LOC:    8572881   15001047    1234567   Local timer interrupts\n";

    private static string? Affinity(int irq) => irq switch
    {
        26 => "0-2",
        28 => "1",
        36 => "1",
        41 => "0",
        50 => "1-2",
        51 => "1",
        52 => "1,2",
        _ => null,
    };

    [Fact]
    public void Interrupts_bound_to_the_workers_cpus_are_found_and_others_are_not()
    {
        var found = IrqPlacement.OnCpus(Interrupts, Affinity, [1, 2], ["pa", "pb"]);
        // Busiest first; the serial line fires too rarely, virtio0-config never, virtio3-rx is on CPU 0, the port's
        // own queue is where it should be, and eth2's fired on CPU 0 as well but its affinity now is 1-2.
        Assert.Equal([36, 50, 52], found.Select(i => i.Number));
        Assert.Equal("virtio1-req.0", found[0].Name);
        Assert.Equal(1436413, found[0].Count);
        Assert.Equal(120000, found[1].Count); // only the counts on worker CPUs
        Assert.Equal(14000, found[2].Count);

        // With CPU 1 alone as the workers', an interrupt that may also go to CPU 2 is not bound to it.
        Assert.Equal([36], IrqPlacement.OnCpus(Interrupts, Affinity, [1], ["pa"]).Select(i => i.Number));
        // No worker CPUs, no unknown affinity: nothing to say.
        Assert.Empty(IrqPlacement.OnCpus(Interrupts, Affinity, [], []));
        Assert.Empty(IrqPlacement.OnCpus(Interrupts, _ => null, [1], []));
    }

    [Fact]
    public void Cpu_lists_parse_as_the_kernel_writes_them()
    {
        Assert.Equal([0, 1, 2, 5], IrqPlacement.ParseList("0-2,5")!.Order());
        Assert.Equal([3], IrqPlacement.ParseList("3\n")!.Order());
        Assert.Null(IrqPlacement.ParseList(""));
        Assert.Null(IrqPlacement.ParseList("2-1"));
        Assert.Null(IrqPlacement.ParseList("0-1-2"));
        Assert.Null(IrqPlacement.ParseList("x"));
    }

    /// <summary>This machine's own table reads without error, whatever it holds.</summary>
    [Fact]
    public void The_machine_s_table_reads()
    {
        var cpus = CpuAffinity.CurrentCpus();
        Assert.NotEmpty(cpus);
        foreach (var irq in IrqPlacement.OnCpus(cpus, []))
        {
            Assert.True(irq.Number >= 0 && irq.Count >= 1000 && irq.Name.Length > 0);
        }
    }
}
