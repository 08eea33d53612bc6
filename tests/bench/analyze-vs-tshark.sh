#!/usr/bin/env bash
# Whole-system throughput of `sipips analyze --json` against `tshark -r FILE -Y sip -T fields -e sip.Method` on the
# same capture in the same run, each pinned to one core. The capture holds SIP_PACKETS SIP messages
# (default 1,020,000, which is over a million packets) of calls and registrations with Call-ID, tags, branch and media port varied per call.
set -euo pipefail
cd "$(dirname "$0")/../.."
SIP_PACKETS=${SIP_PACKETS:-1020000}
RUNS=${RUNS:-3}
CORE=${CORE:-1}
OUT=out/bench
PCAP=$OUT/bench-$SIP_PACKETS.pcap
mkdir -p $OUT

make -s publish >/dev/null
dotnet build -c Release tests/SipIps.TrafficGen -nologo -v quiet >/dev/null
if [ ! -s "$PCAP" ]; then
  dotnet tests/SipIps.TrafficGen/bin/Release/net10.0/sipips-trafficgen.dll "$PCAP" --sip-packets "$SIP_PACKETS" --seed 42
fi
cat "$PCAP" > /dev/null # page cache warm for both tools

frames=$(out/publish/sipips analyze "$PCAP" --json --no-progress | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["packets"], d["sip_messages"])')
read -r packets messages <<<"$frames"

best() { sort -n | head -1; }
run_ours() { for _ in $(seq "$RUNS"); do
    /usr/bin/env TIMEFORMAT=%R bash -c "time taskset -c $CORE out/publish/sipips analyze '$PCAP' --json --no-progress >/dev/null" 2>&1 | tail -1
  done | best; }
run_tshark() { for _ in $(seq "${TSHARK_RUNS:-1}"); do
    /usr/bin/env TIMEFORMAT=%R bash -c "time taskset -c $CORE tshark -r '$PCAP' -Y sip -T fields -e sip.Method >/dev/null 2>&1" 2>&1 | tail -1
  done | best; }

run_rules() { for _ in $(seq "$RUNS"); do
    /usr/bin/env TIMEFORMAT=%R bash -c "time taskset -c $CORE out/publish/sipips analyze '$PCAP' --json --no-progress --rules rules >/dev/null" 2>&1 | tail -1
  done | best; }

ours=$(run_ours)
rules=$(run_rules)
theirs=$(run_tshark)
python3 - "$packets" "$messages" "$ours" "$rules" "$theirs" <<'PY' | tee $OUT/analyze-vs-tshark.txt
import sys
packets, messages, ours, rules, theirs = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
print(f"capture: {packets:,} packets, {messages:,} SIP messages")
print(f"sipips analyze --json          : {ours:8.2f} s  {packets/ours:12,.0f} packets/s  (best of runs, one core)")
print(f"sipips analyze --json --rules  : {rules:8.2f} s  {messages/rules:12,.0f} SIP messages/s with the shipped rules (detect-only)")
print(f"tshark -Y sip                  : {theirs:8.2f} s  {packets/theirs:12,.0f} packets/s")
print(f"ratio                          : {theirs/ours:8.1f} x tshark without rules, {theirs/rules:.1f} x with")
PY
