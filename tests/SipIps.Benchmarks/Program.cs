using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;

// The benchmarks run as the product runs: `sipips run` and `sipips analyze` cap the runtime's vectors at 128 bits
// (src/SipIps.Capture/Interop/VectorWidth.cs). BENCH_VECTOR_BITS picks another width, to compare.
string bits = Environment.GetEnvironmentVariable("BENCH_VECTOR_BITS") ?? "128";
var job = Job.Default.WithEnvironmentVariables(new EnvironmentVariable("DOTNET_PreferredVectorBitWidth", bits)).WithId($"{bits}-bit vectors");
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, DefaultConfig.Instance.AddJob(job));
