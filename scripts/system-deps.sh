#!/usr/bin/env bash
# Installs the Debian packages that tests and benchmarks use. Idempotent: does nothing when all are present.
# Usage: scripts/system-deps.sh [test|bench]
set -euo pipefail
# util-linux: taskset, which bench/proc.ts pins processes with (bench/proc.test.ts runs in npm test).
want=(curl nghttp2-client etcd-server prometheus iptables tcpdump chromium util-linux)
if [[ "${1:-test}" == "bench" ]]; then want+=(wrk nginx-light haproxy); fi
missing=()
for p in "${want[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
if ((${#missing[@]} == 0)); then exit 0; fi
if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; else SUDO=; fi
echo "installing system packages: ${missing[*]}" >&2
$SUDO apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# nginx/haproxy/etcd/prometheus packages start system services; tests and the bench run their own instances on
# loopback ports (the Debian etcd service would also hold 2379/2380, prometheus 9090).
for svc in nginx haproxy etcd prometheus; do
  pkg=$svc
  [[ $svc == etcd ]] && pkg=etcd-server
  if [[ " ${missing[*]} " == *" $pkg"* ]] && command -v systemctl >/dev/null; then $SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || true; fi
done
