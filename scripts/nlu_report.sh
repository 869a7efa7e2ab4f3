#!/usr/bin/env bash
# `make nlu-report [CV=5]`: the trainers' NLU report, var/reports/nlu/index.html.
#
#   scripts/nlu_report.sh [--folds N] [--model PATH] [--out DIR]
#
# By default `rasa test nlu` scores the trained model on the held-out set tests/data/nlu_holdout.yml
# (about 30 s). With --folds N (make nlu-report CV=N) it cross-validates instead: data/nlu split in N
# parts, a model trained for each on the others (N trainings: several minutes each). Rasa's JSON
# output is masked (it quotes the test sentences, card numbers included), then
# bot/training/nlu_report.py renders the page, the confusion matrix picture and summary.json (the
# previous one kept as previous_summary.json, to say what got better or worse).
set -euo pipefail
cd "$(dirname "$0")/.."
export SQLALCHEMY_SILENCE_UBER_WARNING=1

folds="" model=models/current.tar.gz out=var/reports/nlu
while [ $# -gt 0 ]; do
  case "$1" in
    --folds) folds="$2"; shift 2 ;;
    --model) model="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    *) echo "usage: $0 [--folds N] [--model PATH] [--out DIR]" >&2; exit 2 ;;
  esac
done
if [ -n "$folds" ] && ! [[ "$folds" =~ ^[0-9]+$ && "$folds" -ge 2 ]]; then
  echo "nlu-report: --folds (CV=) needs a whole number of 2 or more, got '$folds'" >&2
  exit 2
fi
log="$out.log"
mkdir -p "$out"
# Rasa writes a file only when it has something to put in it (no intent_errors.json when nothing was
# misread): the last run's files would pass for this run's. summary.json stays, to compare with.
rm -f "$out"/*_report.json "$out"/*_errors.json "$out"/*_successes.json "$out"/*_confusion_matrix.png "$out"/*_histogram.png

start=$(date +%s)
if [ -n "$folds" ]; then
  source="${folds} 折交叉验证 data/nlu"
  # Cross-validation trains its own models: the fingerprint of the training data, config and
  # components is the one train-if-stale.sh recorded for them (make nlu-report trains first).
  fingerprint=$(cat models/current.fingerprint 2>/dev/null || echo unknown)
  echo "[nlu-report] cross-validation, $folds folds on data/nlu: trains $folds models (slow: a few minutes each; log $log)"
  # One line per fold as its training starts (each fold trains the whole pipeline, DIET first).
  .venv/bin/rasa test nlu --cross-validation --folds "$folds" --config config.yml --nlu data/nlu \
    --out "$out" --successes --no-plot 2>&1 | tee "$log" | stdbuf -o0 tr '\r' '\n' \
    | awk -v folds="$folds" '/Starting to train component .DIETClassifier./ {
        printf "[nlu-report] fold %d of %d: training\n", ++fold, folds; fflush() }' \
    || { tail -n 30 "$log" | tr '\r' '\n' | tail -n 30; exit 1; }
else
  source="保留集 tests/data/nlu_holdout.yml"
  [ -f "$model" ] || { echo "nlu-report: no model at $model (make model trains one)" >&2; exit 1; }
  if [ "$model" = models/current.tar.gz ] && [ -f models/current.fingerprint ]; then
    fingerprint=$(cat models/current.fingerprint)
  else
    fingerprint=$(sha256sum "$model" | cut -c1-16)
  fi
  echo "[nlu-report] scoring $model on the held-out set tests/data/nlu_holdout.yml (about 30 s; log $log)"
  .venv/bin/rasa test nlu --model "$model" --nlu tests/data/nlu_holdout.yml \
    --out "$out" --successes --no-plot >"$log" 2>&1 || { tail -n 30 "$log"; exit 1; }
fi
echo "[nlu-report] rasa test nlu done in $(( $(date +%s) - start )) s"

# The reports quote the test sentences, card numbers included: masked before anything reads them.
.venv/bin/python scripts/scan_secrets.py --mask "$out" | sed 's/^\[test\] /[nlu-report] /'
if [ -z "$folds" ]; then
  # The gate of `make test` (its thresholds are measured on the held-out set): said, not enforced.
  .venv/bin/python scripts/check_nlu_report.py "$out" \
    || echo "[nlu-report] below the thresholds of make test (scripts/check_nlu_report.py): see the report"
fi
.venv/bin/python -m bot.training.nlu_report "$out" --fingerprint "$fingerprint" --source "$source"
echo "[nlu-report] report: $out/index.html"
