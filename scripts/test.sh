#!/usr/bin/env bash
# `make test`: every check, in order of speed; stops at the first failure with its exit code.
set -euo pipefail
cd "$(dirname "$0")/.."
export SQLALCHEMY_SILENCE_UBER_WARNING=1
# endpoints.yml names these; the test commands below don't start servers on them.
export BOT_VAR_DIR="${BOT_VAR_DIR:-$PWD/var}" ACTION_SERVER_URL="${ACTION_SERVER_URL:-http://localhost:5055/webhook}"
export ACTION_SERVER_SECRET="${ACTION_SERVER_SECRET:-no-action-server-in-these-commands}"
reports=var/reports
mkdir -p "$reports"

scripts/check_layers.sh

echo "[test] pytest (unit, database, CLI, servers end to end)"
# Exit code 5 (no tests collected) is a failure like any other non-zero code. The tests' temporary
# folders (the e2e assistants' var dirs: logs, databases) go to var/pytest, emptied first, where
# the secrets scan below reads them.
.venv/bin/python -m pytest --basetemp=var/pytest

echo "[test] rasa data validate"
.venv/bin/rasa data validate --domain domain.yml --data data --fail-on-warnings 2>&1 | tail -n 20
echo "[test] the project's own data checks (bot/training/data_checks.py, also in make validate)"
.venv/bin/python -m bot.training.data_checks

echo "[test] NLU evaluation on the held-out set tests/data/nlu_holdout.yml"
# Rasa skips a file it has nothing for (no intent_errors.json when nothing was misread): the last
# evaluation's files (make nlu-report's too) would pass for this one's. The report's page stays.
rm -f "$reports"/nlu/*_report.json "$reports"/nlu/*_errors.json "$reports"/nlu/*_successes.json
.venv/bin/rasa test nlu --model models/current.tar.gz --nlu tests/data/nlu_holdout.yml \
  --out "$reports/nlu" --no-plot >"$reports/nlu.log" 2>&1 || { tail -n 30 "$reports/nlu.log"; exit 1; }
.venv/bin/python scripts/check_nlu_report.py "$reports/nlu"
# The reports quote the held-out sentences the model got wrong, card numbers included: masked.
.venv/bin/python scripts/scan_secrets.py --mask "$reports/nlu"

echo "[test] test stories (fail on any prediction error)"
.venv/bin/rasa test core --model models/current.tar.gz --stories tests/stories \
  --out "$reports/core" --fail-on-prediction-errors --no-plot >"$reports/core.log" 2>&1 \
  || { tail -n 40 "$reports/core.log"; cat "$reports/core/failed_test_stories.yml" 2>/dev/null; exit 1; }
.venv/bin/python scripts/scan_secrets.py --mask "$reports/core"
echo "[test] no card or ID number a test typed left in full in a log or in var/ (databases included)"
.venv/bin/python scripts/scan_secrets.py
echo "[test] all checks passed"
