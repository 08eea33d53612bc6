#!/usr/bin/env bash
# The SipIps lab: network namespaces joined by veth pairs, for tests, benchmarks and the demo.
#
#   uac (192.0.2.10, 2001:db8::10) --+
#                                     +-- switch "a" (kernel bridge) -- pa [ SipIps ] pb -- uas (192.0.2.20, 2001:db8::20)
#   atk (192.0.2.66, 2001:db8::66) --+
#
# Usage: lab.sh up | down | exec NODE CMD... | sipips ARGS... | kamailio start|stop   (NODE: uac atk br uas a)
# "kamailio start" runs kamailio as registrar and proxy on the UAS side (192.0.2.20:5060, tests/lab/kamailio.cfg).
# LAB     namespace prefix (default sipips); tests use their own so that runs never collide.
# SIPIPS  the sipips command run inside the bridge namespace (default: the build in this tree), so that the
#         packaging tests can reuse the lab with the installed binary.
set -euo pipefail
LAB=${LAB:-sipips}
here=$(cd "$(dirname "$0")" && pwd)
SIPIPS=${SIPIPS:-"dotnet $here/../../src/SipIps.Host/bin/Release/net10.0/sipips.dll"}

ns() { echo "$LAB-$1"; }
nodes=(a uac atk br uas)

quiet_offloads() { # NS DEV: tx/tso/gso/gro offloads off (frames leave and arrive as on a wire)
  ip netns exec "$1" ethtool -K "$2" tx off tso off gso off gro off >/dev/null 2>&1 || true
}

veth() { # NS1 DEV1 NS2 DEV2
  ip -n "$1" link add "$2" type veth peer name "$4" netns "$3"
  quiet_offloads "$1" "$2"; quiet_offloads "$3" "$4"
  ip -n "$1" link set "$2" up
  ip -n "$3" link set "$4" up
}

up() {
  down 2>/dev/null || true
  for n in "${nodes[@]}"; do
    ip netns add "$(ns "$n")"
    ip -n "$(ns "$n")" link set lo up
  done
  # The bridge's ports carry no addresses and must not talk on their own.
  ip netns exec "$(ns br)" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  ip netns exec "$(ns a)" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  ip -n "$(ns a)" link add sw type bridge
  ip -n "$(ns a)" link set sw up
  veth "$(ns uac)" uac0 "$(ns a)" a-uac
  veth "$(ns atk)" atk0 "$(ns a)" a-atk
  veth "$(ns a)" a-up "$(ns br)" pa
  veth "$(ns br)" pb "$(ns uas)" uas0
  for d in a-uac a-atk a-up; do ip -n "$(ns a)" link set "$d" master sw; done
  ip -n "$(ns uac)" addr add 192.0.2.10/24 dev uac0
  ip -n "$(ns atk)" addr add 192.0.2.66/24 dev atk0
  ip -n "$(ns uas)" addr add 192.0.2.20/24 dev uas0
  ip -n "$(ns uac)" addr add 2001:db8::10/64 dev uac0 nodad
  ip -n "$(ns atk)" addr add 2001:db8::66/64 dev atk0 nodad
  ip -n "$(ns uas)" addr add 2001:db8::20/64 dev uas0 nodad
}

stop_kamailio() { # the main process and its children, found by this lab's pid file argument
  pkill -f -- "-P /tmp/$LAB-kamailio.pid" 2>/dev/null || true
  for _ in $(seq 20); do pgrep -f -- "-P /tmp/$LAB-kamailio.pid" >/dev/null || break; sleep 0.1; done
  rm -rf "/tmp/$LAB-kamailio.pid" "/tmp/$LAB-kamailio" "/tmp/$LAB-kamailio.log"
}

down() {
  stop_kamailio
  for n in "${nodes[@]}"; do ip netns del "$(ns "$n")" 2>/dev/null || true; done
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  exec) node=$2; shift 2; exec ip netns exec "$(ns "$node")" "$@" ;;
  sipips) shift; exec ip netns exec "$(ns br)" $SIPIPS "$@" ;;
  kamailio)
    pid=/tmp/$LAB-kamailio.pid
    case "${2:-}" in
      # Output to a file: the daemon must not hold the caller's pipes open.
      start) ip netns exec "$(ns uas)" kamailio -f "$here/kamailio.cfg" -P "$pid" -Y "/tmp/$LAB-kamailio" -m 32 -M 8 \
               > "/tmp/$LAB-kamailio.log" 2>&1 < /dev/null ;;
      stop) stop_kamailio ;;
      *) echo "usage: $0 kamailio start|stop" >&2; exit 2 ;;
    esac ;;
  *) echo "usage: $0 up | down | exec NODE CMD... | sipips ARGS..." >&2; exit 2 ;;
esac
