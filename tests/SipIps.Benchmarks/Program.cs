using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using SipIps.Capture.Interop;

// The benchmarks use the product's vector width: `sipips run` and `sipips analyze` cap the runtime's vectors at 128
// bits, except on processors with full-width 512-bit units, where they keep the runtime's default
// (src/SipIps.Capture/Interop/VectorWidth.cs). BENCH_VECTOR_BITS picks a width, to compare. Tiered compilation is off,
// as in the binary (see the README's performance notes): the code measured is the fully optimised code the product
// runs, without the profile-guided tier a long benchmark would reach. BENCH_TIERED=1 measures that tier instead.
string bits = Environment.GetEnvironmentVariable("BENCH_VECTOR_BITS")
              ?? (VectorWidth.FullWidthVectors ? VectorWidth.Current.ToString() : VectorWidth.Bits.ToString());
bool tiered = Environment.GetEnvironmentVariable("BENCH_TIERED") == "1";
var job = Job.Default
    .WithEnvironmentVariables(new EnvironmentVariable(VectorWidth.Variable, bits), new EnvironmentVariable("DOTNET_TieredCompilation", tiered ? "1" : "0"))
    .WithId($"{bits}-bit vectors, tiering {(tiered ? "on" : "off")}");
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, DefaultConfig.Instance.AddJob(job));
