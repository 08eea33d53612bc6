#!/usr/bin/env bash
# All benchmarks: BenchmarkDotNet code paths, then whole-system figures. Results land in out/bench/.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p out/bench
echo "== BenchmarkDotNet (parser, engine, CLF)"
dotnet run -c Release --project tests/SipIps.Benchmarks -- --filter '*' --join --artifacts out/bench/bdn "$@"
echo
echo "== sipips analyze against tshark"
tests/bench/analyze-vs-tshark.sh
echo
echo "== inline bridge against the kernel bridge (root)"
if [ "$(id -u)" = 0 ]; then tests/bench/bridge-vs-kernel.sh; else echo "skipped: needs root"; fi
echo
echo "== flood protection against Kamailio's pike (root)"
if [ "$(id -u)" = 0 ]; then tests/bench/flood-vs-kamailio.sh; else echo "skipped: needs root"; fi
