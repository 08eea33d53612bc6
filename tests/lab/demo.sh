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
rm -f "$out/alerts.json" "$out/bans.json" "$out/evidence.pcap"* "$out/sip.clf"* "$out/baseline.bin" 
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
metrics:
  listen: 127.0.0.1:9464
clf:
  path: $out/sip.clf
baseline:
  file: $out/baseline.bin
YAML
"$lab" sipips run --config "$out/sipips.yaml" > "$out/bridge.log" 2>&1 &
bridge_pid=$!
for _ in $(seq 100); do grep -q "^sipips: forwarding " "$out/bridge.log" 2>/dev/null && break; sleep 0.1; done
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
echo "== alerts ($out/alerts.json): by rule"
python3 -c "import json,collections,sys; c=collections.Counter(json.loads(l)['rule_id'] for l in open('$out/alerts.json')); [print(f'  {n:6d}  {r}') for r,n in c.most_common()]" || true
echo
echo "== the first alert"
head -1 "$out/alerts.json" || true
echo
echo "== a few of the Prometheus metrics (curl http://127.0.0.1:9464/metrics inside the bridge's namespace)"
ip netns exec "$LAB-br" curl -s http://127.0.0.1:9464/metrics | grep -E '^sipips_(sip_requests_total\{method="(INVITE|BYE)"|active_bans |post_dial_delay_seconds_count|factor\{factor="(invite_ratio|request_response_ratio)",window="60s"|verdicts_total\{action="drop",reason="ban")' || true
echo
echo "== SIP CLF: $(grep -c '' "$out/sip.clf" 2>/dev/null || echo 0) lines in $out/sip.clf; the first record:"
head -c 400 "$out/sip.clf" 2>/dev/null; echo
echo
echo "sipp: $result (the flood was banned on its 20th INVITE; every legitimate call went through)"
[ "$result" = ok ]
