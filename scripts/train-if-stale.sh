#!/usr/bin/env bash
# Trains models/current.tar.gz only when the training data, domain, config, custom NLU components
# or pinned dependencies changed since the model was trained.
set -euo pipefail
cd "$(dirname "$0")/.."

MODEL=models/current.tar.gz
FINGERPRINT=models/current.fingerprint
# Everything the trained model depends on (custom components and the modules they import included).
inputs=$(ls -d config.yml domain.yml data bot/rasa/nlu bot/validation bot/extraction requirements.lock 2>/dev/null)
wanted=$(find $inputs -type f \( -name '*.yml' -o -name '*.yaml' -o -name '*.py' -o -name '*.lock' -o -name '*.csv' \) \
  | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-16)

if [ -f "$MODEL" ] && [ -f "$FINGERPRINT" ] && [ "$(cat "$FINGERPRINT")" = "$wanted" ]; then
  echo "[train] model is up to date ($MODEL)"
  exit 0
fi

echo "[train] data, domain or config changed: training $MODEL (about 2 minutes on 2 cores)"
start=$(date +%s)
mkdir -p var/logs
rm -f "$MODEL"
# Rasa draws an epoch progress bar per classifier: show each at 25/50/75/100 % and the summary.
.venv/bin/rasa train --fixed-model-name current --out models 2>&1 \
  | tee var/logs/train.log | stdbuf -o0 tr '\r' '\n' \
  | awk '/Epochs:/ { if (match($0, /[0-9]+%/)) { p = substr($0, RSTART, RLENGTH);
           if (p != last && (p == "25%" || p == "50%" || p == "75%" || p == "100%")) { print "[train] epochs " p; fflush(); last = p } }
         next }
       /Your Rasa model|Starting to train|Error|error:/ { print "[train] " $0; fflush() }' || true
if [ ! -f "$MODEL" ] || [ "$(stat -c %Y "$MODEL")" -lt "$start" ]; then
  echo "train: training failed; the full log is var/logs/train.log" >&2
  exit 1
fi
echo "$wanted" > "$FINGERPRINT"
echo "[train] done in $(( $(date +%s) - start )) s"
