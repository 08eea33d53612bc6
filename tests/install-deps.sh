#!/usr/bin/env bash
# Installs the Debian packages the tests and benchmarks use, when they are missing. CI runs as root; a developer
# without root gets the apt-get line to run (the root-only tests skip themselves there).
set -euo pipefail
need=()
have() { command -v "$1" >/dev/null 2>&1; }
have tshark || need+=(tshark)
have capinfos || need+=(tshark)
have cc || need+=(gcc libc6-dev)
[ -f /usr/include/linux/if_packet.h ] || need+=(linux-libc-dev)
have sipp || need+=(sip-tester)
have socat || need+=(socat)
have ip || need+=(iproute2)
have ethtool || need+=(ethtool)
have ping || need+=(iputils-ping)
have taskset || need+=(util-linux)
have capsh || need+=(libcap2-bin)
have kamailio || need+=(kamailio)
have nfcapd || need+=(nfdump)
have nfdump || need+=(nfdump)
have promtool || need+=(prometheus)
have prometheus || need+=(prometheus)
have curl || need+=(curl)
have lintian || need+=(lintian)
have fakeroot || need+=(fakeroot)
have systemd-analyze || need+=(systemd)
have man || need+=(man-db)
have chromium || need+=(chromium fonts-dejavu-core)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
pkgs=$(printf '%s\n' "${need[@]}" | sort -u | tr '\n' ' ')
if [ "$(id -u)" -ne 0 ]; then
  echo "The tests need: $pkgs. Install them with: sudo apt-get install -y $pkgs" >&2
  exit 1
fi
echo "Installing $pkgs ..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
