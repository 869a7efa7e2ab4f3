#!/usr/bin/env bash
# Creates .venv (Python 3.10) with the pinned dependencies and the project in editable mode.
# Does nothing when requirements.lock and pyproject.toml did not change since the last run.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
STAMP="$VENV/.setup-stamp"
wanted=$(cat requirements.lock pyproject.toml | sha256sum | cut -c1-16)
if [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$wanted" ]; then
  exit 0
fi

find_python310() {
  local candidate
  for candidate in "${PYTHON310:-}" python3.10 /usr/bin/python3.10 /usr/local/bin/python3.10 \
      "$(command -v pyenv >/dev/null 2>&1 && pyenv root)"/versions/3.10*/bin/python3.10 \
      "$HOME"/.pyenv/versions/3.10*/bin/python3.10; do
    [ -n "$candidate" ] || continue
    if "$candidate" -c 'import sys, venv; assert sys.version_info[:2] == (3, 10)' >/dev/null 2>&1; then
      echo "$candidate"; return 0
    fi
  done
  return 1
}

if [ ! -x "$VENV/bin/python" ]; then
  if ! python=$(find_python310); then
    echo "setup: Python 3.10 is required (Rasa 3.6 supports nothing newer) and none was found." >&2
    echo "setup: install it (Debian/Ubuntu: apt install python3.10 python3.10-venv; or pyenv install 3.10)," >&2
    echo "setup: or point PYTHON310 at its interpreter, then run the command again." >&2
    exit 1
  fi
  echo "[setup] creating $VENV with $python"
  "$python" -m venv "$VENV"
fi

count=$(grep -c '==' requirements.lock)
echo "[setup] installing $count pinned packages into $VENV (about 3 minutes the first time; the pip cache is reused)"
start=$(date +%s)
"$VENV/bin/python" -m pip install --disable-pip-version-check -q pip==24.0 setuptools==70.3.0 wheel==0.45.1
# One line per package; awk (never failing itself) keeps pip's exit status for pipefail.
"$VENV/bin/python" -m pip install --disable-pip-version-check -r requirements.lock 2>&1 \
  | awk '/^(Collecting|Processing)/ { n++; sub(/ \(from .*/, ""); sub(/^Processing .*\//, "Processing "); print "[setup] " n "/'"$count"' " $0; fflush() }
         /^ERROR/ { print "[setup] " $0; fflush() }
         /^Installing collected/ { print "[setup] unpacking into '"$VENV"' ..."; fflush() }' || {
    echo "setup: installing the pinned packages failed; run '$VENV/bin/pip install -r requirements.lock' to see why" >&2
    exit 1
  }
"$VENV/bin/python" -m pip install --disable-pip-version-check -q --no-deps --no-build-isolation -e .
echo "$wanted" > "$STAMP"
echo "[setup] done in $(( $(date +%s) - start )) s"
