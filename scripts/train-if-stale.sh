#!/usr/bin/env bash
# Trains models/current.tar.gz only when the training data, domain, config, custom NLU components
# or pinned dependencies changed since the model was trained. When only the NLU examples changed
# (data/nlu/, same intents and FAQ sub-intents), it fine-tunes the current model instead: about a
# quarter of a full training's time (bot/training/model_state.py `decide` says which, and why).
# FULL=1 (make model FULL=1) always trains from scratch; so does a clone without a model (CI).
set -euo pipefail
cd "$(dirname "$0")/.."

MODEL=models/current.tar.gz
FINGERPRINT=models/current.fingerprint
BASE_FINGERPRINT=models/current.base-fingerprint
LABELS_FINGERPRINT=models/current.labels-fingerprint
FINETUNES=models/current.finetunes
# A fine-tune runs this share of config.yml's epochs (DIET 150 -> 30, ResponseSelector 60 -> 12).
# Measured after one NLU edit (make bench): 142 s against 490 s from scratch; held-out intent accuracy
# 0.979 fine-tuned, 0.986 from scratch.
FINETUNE_EPOCH_FRACTION=0.2
# Everything the trained model depends on (custom components and the modules they import included).
inputs=$(ls -d config.yml domain.yml data bot/rasa/nlu bot/validation bot/extraction requirements.lock 2>/dev/null)
wanted=$(find $inputs -type f \( -name '*.yml' -o -name '*.yaml' -o -name '*.py' -o -name '*.lock' -o -name '*.csv' \) \
  | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-16)
# The same without the NLU examples: a fine-tune is valid only while this stays the same.
base=$(find $inputs -type f \( -name '*.yml' -o -name '*.yaml' -o -name '*.py' -o -name '*.lock' -o -name '*.csv' \) \
  -not -path 'data/nlu/*' | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-16)
labels=$(.venv/bin/python -m bot.training.model_state labels)
decision=$(.venv/bin/python -m bot.training.model_state decide $([ "${FULL:-0}" = 0 ] || echo --full))
action=${decision%% *} reason=${decision#* }

if [ "$action" = up-to-date ]; then
  echo "[train] model is up to date ($MODEL)"
  exit 0
fi

# rasa train with these extra arguments, into $MODEL; its log in var/logs/train.log. Rasa draws an
# epoch progress bar per classifier: show each at 25/50/75/100 % and the summary. Fails unless it
# wrote a new $MODEL (a fine-tune Rasa refuses leaves the old one).
rasa_train() {
  local before
  before=$(stat -c %.9Y "$MODEL" 2>/dev/null || echo none)
  .venv/bin/rasa train --fixed-model-name current --out models "$@" 2>&1 \
    | tee var/logs/train.log | stdbuf -o0 tr '\r' '\n' \
    | awk '/Epochs:/ { if (match($0, /[0-9]+%/)) { p = substr($0, RSTART, RLENGTH);
             if (p != last && (p == "25%" || p == "50%" || p == "75%" || p == "100%")) { print "[train] epochs " p; fflush(); last = p } }
           next }
         /Your Rasa model|Starting to train|Error|error:/ { print "[train] " $0; fflush() }' || true
  [ -f "$MODEL" ] && [ "$(stat -c %.9Y "$MODEL")" != "$before" ]
}

start=$(date +%s)
mkdir -p var/logs
finetunes=0
if [ "$action" = finetune ]; then
  echo "[train] $reason: fine-tuning $MODEL (about a quarter of a full training; make model FULL=1 trains from scratch)"
  if rasa_train --finetune "$MODEL" --epoch-fraction "$FINETUNE_EPOCH_FRACTION"; then
    finetunes=$(( $(cat "$FINETUNES") + 1 ))
  else
    refused=$(grep -o 'Cannot finetune because [^.]*' var/logs/train.log | head -1 || true)
    echo "[train] the fine-tune failed (${refused:-see var/logs/train.log}): training from scratch instead"
    action=full
  fi
else
  echo "[train] $reason: training $MODEL from scratch (about 2 minutes on 2 idle cores, 8 under load)"
fi
if [ "$action" = full ]; then
  rm -f "$MODEL"
  if ! rasa_train; then
    echo "train: training failed; the full log is var/logs/train.log" >&2
    exit 1
  fi
fi
echo "$wanted" > "$FINGERPRINT"
echo "$base" > "$BASE_FINGERPRINT"
echo "$labels" > "$LABELS_FINGERPRINT"
echo "$finetunes" > "$FINETUNES"
echo "[train] done in $(( $(date +%s) - start )) s"
