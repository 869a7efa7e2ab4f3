#!/usr/bin/env bash
# `make cluster` (bot serve --replicas N) puts nginx in front of the Rasa replicas: Debian's
# `nginx` package, installed when missing. bot serve runs it as a child of its own (config and logs
# under var/cluster/), never as the system service. NGINX overrides the path.
set -euo pipefail
NGINX="${NGINX:-/usr/sbin/nginx}"
[ -x "$NGINX" ] && exit 0
"$(dirname "$0")/apt-install.sh" "for the cluster's load balancer (under a minute)" nginx
[ -x "$NGINX" ] || { echo "setup: installing nginx failed; run 'apt-get install nginx' to see why" >&2; exit 1; }
