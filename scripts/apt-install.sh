#!/usr/bin/env bash
# Installs Debian packages quietly, one progress line per download and set-up, refreshing the
# package lists once if the install fails (stale lists on a fresh machine). Used by the ensure-*
# scripts, which first check whether the package is needed at all.
#   scripts/apt-install.sh "PURPOSE (how long)" PACKAGE...
set -euo pipefail
purpose="$1"
shift
if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup: no apt-get here: install $* yourself ($purpose) and run again" >&2
  exit 1
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "[setup] installing Debian's $* $purpose"
start=$(date +%s)
install() {
  $sudo apt-get install -y -q "$@" 2>&1 | awk '/^(Get|Setting up)/ { print "[setup] " $0; fflush() }'
}
if ! install "$@"; then
  $sudo apt-get update -q >/dev/null
  install "$@"
fi
echo "[setup] $* installed in $(( $(date +%s) - start )) s"
