#!/usr/bin/env bash
# `make cluster` (bot serve --replicas N) puts nginx in front of the Rasa replicas: Debian's
# `nginx` package, installed when missing. bot serve runs it as a child of its own (config and logs
# under var/cluster/), never as the system service. NGINX overrides the path.
set -euo pipefail
NGINX="${NGINX:-/usr/sbin/nginx}"
[ -x "$NGINX" ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup: the cluster needs nginx at $NGINX; install it (or set NGINX) and run again" >&2
  exit 1
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "[setup] installing Debian's nginx for the cluster's load balancer (under a minute)"
start=$(date +%s)
if ! $sudo apt-get install -y -q nginx 2>&1 | awk '/^(Get|Setting up)/ { print "[setup] " $0; fflush() }'; then
  $sudo apt-get update -q >/dev/null
  $sudo apt-get install -y -q nginx 2>&1 | awk '/^(Get|Setting up)/ { print "[setup] " $0; fflush() }'
fi
[ -x "$NGINX" ] || { echo "setup: installing nginx failed; run 'apt-get install nginx' to see why" >&2; exit 1; }
echo "[setup] nginx installed in $(( $(date +%s) - start )) s"
