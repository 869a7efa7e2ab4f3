# The two commands: `make run` starts the assistant, `make test` runs the whole suite.
# Both set up what they need first (.venv, model, database) and skip what is already up to date.
SHELL := /bin/bash
VENV := .venv
export SQLALCHEMY_SILENCE_UBER_WARNING := 1

.PHONY: run cluster test bench setup model browser nginx db validate nlu-report clean

run: model db  ## start the servers on localhost (5005 Rasa, 5055 actions, 5080 agent console); Ctrl-C stops them
	@$(VENV)/bin/bot serve

# The cluster on this machine's PostgreSQL and Redis (docs/DEPLOYMENT.md); the environment's URLs win.
REPLICAS ?= 2
cluster: export DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/test
cluster: export LOCK_STORE_REDIS_URL ?= redis://127.0.0.1:6379/0
cluster: model nginx db  ## REPLICAS Rasa replicas and action servers behind nginx on :5005, on PostgreSQL and Redis; Ctrl-C stops them
	@$(VENV)/bin/bot serve --replicas $(REPLICAS)

test: model browser  ## the whole suite: pytest, browser tests, data validation, NLU evaluation, test stories
	@if [ -n "$${TEST_POSTGRES_URL:-}" ] && [ -n "$${TEST_REDIS_URL:-}" ]; then scripts/ensure-nginx.sh; fi  # the cluster tests
	@scripts/test.sh

# Its cluster part (scripts/bench_cluster.py) runs on this machine's PostgreSQL and Redis, as make cluster.
bench: export TEST_POSTGRES_URL ?= $(or $(DATABASE_URL),postgresql://postgres@127.0.0.1:5432/test)
bench: export TEST_REDIS_URL ?= $(or $(LOCK_STORE_REDIS_URL),redis://127.0.0.1:6379/0)
bench: model nginx  ## measure and write docs/BENCHMARKS.md
	@$(VENV)/bin/python scripts/bench.py

setup:  ## .venv with pinned dependencies (skipped when the pins did not change)
	@scripts/setup.sh

model: setup  ## train models/current.tar.gz when data, domain or config changed; only data/nlu/ examples changed: fine-tune it (about a quarter of the time); from scratch without a model (CI), after 5 fine-tunes in a row, or with FULL=1
	@scripts/train-if-stale.sh

browser:  ## Debian's chromium for the browser tests (installed when missing)
	@scripts/ensure-chromium.sh

nginx:  ## Debian's nginx for make cluster (installed when missing)
	@scripts/ensure-nginx.sh

db: setup  ## migrate the database under var/, and in development load the demo merchants and demo console accounts (idempotent)
	@if [ "$${BOT_ENV:-development}" = development ]; then $(VENV)/bin/bot demo seed; else $(VENV)/bin/bot db upgrade; fi

validate: setup  ## quick feedback for trainers (under a minute): Rasa's data checks, then the project's own (bot/training/data_checks.py)
	@$(VENV)/bin/rasa data validate --domain domain.yml --data data --fail-on-warnings
	@$(VENV)/bin/python -m bot.training.data_checks

nlu-report: model  ## var/reports/nlu/index.html: per-intent scores, confusion matrix, changes since last time (held-out set, ~30 s; CV=5: cross-validation, slow)
	@scripts/nlu_report.sh $(if $(CV),--folds $(CV))

clean:  ## remove runtime state and models (keeps .venv)
	rm -rf var models/current.tar.gz models/current.fingerprint models/current.base-fingerprint \
	  models/current.labels-fingerprint models/current.finetunes .rasa
