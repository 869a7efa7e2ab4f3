#!/usr/bin/env bash
# The browser tests drive Debian's Chromium (Playwright's own browser download cannot work here).
# Installs the `chromium` package when it is missing; CHROMIUM overrides the path.
set -euo pipefail
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
# A Chinese font, or the screenshots the browser tests save show empty boxes.
if [ -x "$CHROMIUM" ] && { [ -n "${CHROMIUM_SKIP_FONTS:-}" ] || fc-list :lang=zh 2>/dev/null | grep -q .; }; then
  exit 0
fi
"$(dirname "$0")/apt-install.sh" "for the browser tests (about a minute)" chromium fonts-wqy-microhei
[ -x "$CHROMIUM" ] || { echo "setup: installing chromium failed; run 'apt-get install chromium' to see why" >&2; exit 1; }
