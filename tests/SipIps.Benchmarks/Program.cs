using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using SipIps.Capture.Interop;

// The benchmarks use the product's vector width: `sipips run` and `sipips analyze` cap the runtime's vectors at 128
// bits, except on processors with full-width 512-bit units, where they keep the runtime's default
// (src/SipIps.Capture/Interop/VectorWidth.cs). BENCH_VECTOR_BITS picks a width, to compare. Tiered compilation stays
// BenchmarkDotNet's default (on), which measures the code at its best JIT tier; the binary runs with it off (see the
// README's performance notes).
string bits = Environment.GetEnvironmentVariable("BENCH_VECTOR_BITS")
              ?? (VectorWidth.FullWidthVectors ? VectorWidth.Current.ToString() : VectorWidth.Bits.ToString());
var job = Job.Default.WithEnvironmentVariables(new EnvironmentVariable(VectorWidth.Variable, bits)).WithId($"{bits}-bit vectors");
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, DefaultConfig.Instance.AddJob(job));
