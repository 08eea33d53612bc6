#!/usr/bin/env bash
# Flood protection against a reference, in the same run (root): a 500 INVITEs/s flood with random Call-IDs from
# one source, first against Kamailio's stock anti-flood (pike + htable ban, tests/lab/kamailio-pike.cfg) in front
# of the UAS with SipIps only forwarding, then against SipIps with the shipped rules in front of the UAS.
# Reported: how many flood INVITEs reached the UAS, and how long after the first one the last one arrived.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
out=$root/out/bench/flood
mkdir -p "$out"
export LAB=${LAB:-sipips-flood}
lab=$root/tests/lab/lab.sh
gen="dotnet $root/tests/SipIps.TrafficGen/bin/Release/net10.0/sipips-trafficgen.dll"
RATE=${RATE:-500}
COUNT=${COUNT:-2000}
bridge=""
cleanup() {
  [ -n "$bridge" ] && kill -TERM "$bridge" 2>/dev/null && wait "$bridge" 2>/dev/null || true
  ip netns pids "$LAB-uas" 2>/dev/null | xargs -r kill 2>/dev/null || true
  "$lab" down
}
trap cleanup EXIT
dotnet build -c Release SipIps.sln -nologo -v quiet >/dev/null

start_bridge() { # RULES-DIR
  cat > "$out/sipips.yaml" <<YAML
bridge: { pairs: [[pa, pb]], workers: 1 }
detection:
  rules: [$1]
  alert_log: $out/alerts.json
  evidence: off
  state_file: off
control: { socket: $out/control.sock }
YAML
  rm -f "$out/alerts.json"
  "$lab" sipips run --config "$out/sipips.yaml" > "$out/bridge.log" 2>&1 &
  bridge=$!
  for _ in $(seq 100); do grep -q "^sipips: forwarding " "$out/bridge.log" 2>/dev/null && break; sleep 0.1; done
}
stop_bridge() { kill -TERM "$bridge"; wait "$bridge" || true; bridge=""; }

measure() { # NAME UAS-PORT: capture what reaches the UAS port, flood, report
  local name=$1 port=$2 dev=uas0
  [ "$port" = 5080 ] && dev=lo
  "$lab" exec uas timeout 30 tshark -q -i "$dev" -f "udp dst port $port" -w "$out/$name.pcapng" 2> "$out/$name.tshark" &
  local cap=$!
  for _ in $(seq 100); do grep -q "Capturing on" "$out/$name.tshark" 2>/dev/null && break; sleep 0.1; done
  # Resolve the UAS's address first: otherwise the flood's first packets wait for ARP and leave in one burst.
  "$lab" exec atk ping -c 2 -i 0.2 -W 1 192.0.2.20 >/dev/null
  sleep 1
  "$lab" exec atk $gen sip-flood --to 192.0.2.20:5060 --from 192.0.2.66 --rate "$RATE" --count "$COUNT" --seconds 20 > "$out/$name.flood"
  sleep 1
  kill "$cap" 2>/dev/null; wait "$cap" 2>/dev/null || true
  tshark -r "$out/$name.pcapng" -Y 'sip.Method == "INVITE" && sip.from.user == "flood"' -T fields -e frame.time_epoch 2>/dev/null > "$out/$name.times" || true
  python3 - "$name" "$out/$name.times" "$COUNT" <<'PY'
import sys
name, path, sent = sys.argv[1], sys.argv[2], int(sys.argv[3])
t = [float(x) for x in open(path) if x.strip()]
span = (max(t) - min(t)) * 1000 if t else 0
print(f"{name:38s} {len(t):6d} of {sent} flood INVITEs reached the UAS; the last {span:7.1f} ms after the first")
PY
}

"$lab" up
empty=$out/no-rules; mkdir -p "$empty"

echo "== $COUNT INVITEs at $RATE/s from one source, random Call-IDs"
# Kamailio with pike in front of the UAS (sipp would answer on 5080); SipIps only forwards.
start_bridge "$empty"
"$lab" exec uas kamailio -f "$root/tests/lab/kamailio-pike.cfg" -P "/tmp/$LAB-kpike.pid" -Y "/tmp/$LAB-kpike" -m 32 -M 8 \
  > "$out/kamailio.log" 2>&1 < /dev/null
sleep 1
measure "kamailio pike + htable ban" 5080 | tee "$out/result.txt"
pkill -f -- "-P /tmp/$LAB-kpike.pid" || true
stop_bridge

# SipIps with the shipped rules in front of the UAS.
start_bridge "$root/rules"
measure "sipips, shipped rules" 5060 | tee -a "$out/result.txt"
stop_bridge
grep -h '"rule_id"' "$out/alerts.json" | head -2 | cut -c1-200 || true
