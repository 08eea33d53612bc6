#!/usr/bin/env bash
# Installs the Debian packages the tests and benchmarks use, when they are missing. CI runs as root; a developer
# without root gets the apt-get line to run.
set -euo pipefail
need=()
command -v tshark >/dev/null 2>&1 || need+=(tshark)
command -v capinfos >/dev/null 2>&1 || need+=(tshark)
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
