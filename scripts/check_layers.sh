#!/usr/bin/env bash
# The domain is framework-free: only bot/rasa/ (and actions/, the Rasa SDK adapters) may import
# Rasa, the Rasa SDK, Sanic, socket.io or aiohttp. Prints each offending line and fails.
set -euo pipefail
cd "$(dirname "$0")/.."
offending=$(grep -rnE --include='*.py' \
  '^\s*(import|from)\s+(rasa|rasa_sdk|sanic|sanic_cors|socketio|aiohttp)(\.|\s|,|$)' bot \
  | grep -v '^bot/rasa/' || true)
if [ -n "$offending" ]; then
  echo "layers: these modules outside bot/rasa/ import a framework; move them into bot/rasa/ or"
  echo "layers: move the framework code out of them:"
  echo "$offending"
  exit 1
fi
echo "[test] layers: bot/ outside bot/rasa/ imports no framework"
