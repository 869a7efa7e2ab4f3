#!/usr/bin/env bash
# The browser tests drive Debian's Chromium (Playwright's own browser download cannot work here).
# Installs the `chromium` package when it is missing; CHROMIUM overrides the path.
set -euo pipefail
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
# A Chinese font, or the screenshots the browser tests save show empty boxes.
if [ -x "$CHROMIUM" ] && { [ -n "${CHROMIUM_SKIP_FONTS:-}" ] || fc-list :lang=zh 2>/dev/null | grep -q .; }; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup: the browser tests need Chromium at $CHROMIUM; install it (or set CHROMIUM) and run again" >&2
  exit 1
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "[setup] installing Debian's chromium and a Chinese font for the browser tests (about a minute)"
start=$(date +%s)
if ! $sudo apt-get install -y -q chromium fonts-wqy-microhei 2>&1 | awk '/^(Get|Setting up)/ { print "[setup] " $0; fflush() }'; then
  $sudo apt-get update -q >/dev/null
  $sudo apt-get install -y -q chromium fonts-wqy-microhei 2>&1 | awk '/^(Get|Setting up)/ { print "[setup] " $0; fflush() }'
fi
[ -x "$CHROMIUM" ] || { echo "setup: installing chromium failed; run 'apt-get install chromium' to see why" >&2; exit 1; }
echo "[setup] chromium installed in $(( $(date +%s) - start )) s"
