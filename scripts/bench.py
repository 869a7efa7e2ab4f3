"""`make bench`: measure the assistant and write docs/BENCHMARKS.md.

Measures, on this machine: training time (from an empty cache) and the retraining after an NLU-only
edit (one example added: `make model` fine-tunes; goal: at most half as long), cold start of `bot serve` (command
to both servers ready), NLU intent accuracy and macro-F1 on the held-out set and on the shared
development set, REST turn latency p50/p95 with 1 and 8 concurrent conversations, whole change
conversations (the happy path, 1 merchant then 8 at once: turns, latency, filed requests),
resident memory of both servers, and the two merchant channels (scripts/bench_channels.py): WeChat
acknowledgement and push-to-reply latency, replies and duplicates under replays, against a fake
WeChat API; web chat turn latency over socket.io. Then a slow SMS provider (scripts/bench_sms.py):
the servers started again with a fake Yunpian answering at once, then 2 s per message, 8 whole
change conversations each time, and whether the turns that send no SMS keep their latency.
Everything runs on ports and in state folders of its own, with `--model` (default
models/current.tar.gz). Before the servers start, a k-fold cross-validation of the NLU training data
(per-label precision, recall, F1, support and the most confused pairs; see `cross_validate_nlu`).

Last, the cluster (scripts/bench_cluster.py): 50 whole change conversations at once against
`bot serve --replicas 2` (nginx, PostgreSQL, Redis) and against the single process, side by side.

`--only channels` starts the servers, measures only the channels and prints their section without
writing docs/BENCHMARKS.md; `--only cluster` does the same for the cluster and the single process,
`--only sms` for the slow SMS provider, `--only retrain` for the two trainings (full, then after
an NLU-only edit; exit 1 unless PASS). `--only nlu` runs only the cross-validation and scores the
held-out and shared dev sets with an NLU model in-process (`--nlu-model`, default `--model`), and
prints those rows and sections without writing docs/BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import yaml

import bench_channels
import bench_cluster
import bench_sms
from bot.ops.demo import LOAD_TEST_ID_NUMBER, LOAD_TEST_NAME, LOAD_TEST_NEW_CARD, DemoMerchant, load_test_merchant

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
SHARED_DEV_SET = ROOT / "tests" / "data" / "nlu_dev.yml"  # copy of ../shared/eval/nlu_dev.yml
HOLDOUT = ROOT / "tests" / "data" / "nlu_holdout.yml"
NLU_DATA = ROOT / "data" / "nlu"
CV_FOLDS = 3  # 3 trainings of about 2 minutes each on 2 cores
CV_SEED = 42  # the same folds every run, so two runs differ only by what changed
RASA_PORT, ACTION_PORT = 25005, 25055
CONSOLE_PORT = 25080  # `bot serve` starts the agent console too; off the default port of a running `make run`
MODEL = ROOT / "models" / "current.tar.gz"
BASE = f"http://localhost:{RASA_PORT}"

# A realistic mix of single turns for the latency runs (no change flow yet).
TURNS = ["你好", "换卡需要准备什么材料", "审核要几天", "信用卡可以做结算卡吗", "你是机器人吗",
         "钱什么时候到账", "今天天气怎么样", "谢谢", "再见"]

# Whole change conversations: the happy path of tests/e2e/test_change_conversation.py
# (test_happy_path_files_one_request), one merchant alone, then 8 at once, each its own load-test
# merchant (`bot demo seed-load-test`: every merchant can file only once).
CHANGE_RUNS = {"1": 1, "8": 8}  # name -> concurrent merchants
FIRST_LOAD_TEST_MERCHANT = 100  # 822100000000100, phone 13900000100
MERCHANT_NUMBER, SMS_CODE = object(), object()  # placeholders: the merchant's number, its newest code
HAPPY_PATH = [  # what the merchant says, a phrase the reply must contain
    ("我要换结算卡", "商户编号"),
    (MERCHANT_NUMBER, "验证码"),
    (SMS_CODE, "身份验证成功"),  # identification code
    ("线上办理", "原因"),
    ("原卡丢失", "身份证"),
    (LOAD_TEST_ID_NUMBER, "卡号"),
    (LOAD_TEST_NEW_CARD, "户名"),  # the card's BIN names the bank: no bank question
    (LOAD_TEST_NAME, "支行"),
    ("工商银行上海浦东支行", "请核对"),
    ("确认", f"尾号{LOAD_TEST_NEW_CARD[-4:]}"),
    (SMS_CODE, "CR"),  # signing code: the request is filed, the reply names its reference
]
# The turns of HAPPY_PATH that send an SMS, and wait for the gateway to take it: each turn before a
# code turn (the merchant number: identification code; 确认: signing code) and the last one (the
# signing code files the request, and the filing notice goes out). scripts/bench_sms.py.
SMS_TURNS = ({index for index in range(len(HAPPY_PATH) - 1) if HAPPY_PATH[index + 1][0] is SMS_CODE}
             | {len(HAPPY_PATH) - 1})
CODE = re.compile(r"(?<!\d)\d{6}(?!\d)")
REFERENCE = re.compile(r"CR\d{8}-[0-9A-Z]{4}")


def post(path: str, body: dict, timeout: float = 60) -> dict:
    request = urllib.request.Request(BASE + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as reply:
        return json.loads(reply.read())


def ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            return reply.status == 200
    except OSError:
        return False


# Issue 13: an NLU-only edit retrains in at most half the time of a full training.
RETRAIN_MAX_RATIO = 0.5
# What `make model` reads (scripts/train-if-stale.sh, its fingerprints' inputs, custom components in
# bot/), copied so the project's own cache and models are never touched.
TRAINING_INPUTS = ("config.yml", "domain.yml", "data", "bot", "actions", "endpoints.yml", "credentials.yml",
                   "requirements.lock", "scripts/train-if-stale.sh")
# The smallest NLU-only edit a trainer makes: one example more for an existing intent.
NLU_EDIT_FILE, NLU_EDIT_AFTER = "data/nlu/basics.yml", "  - intent: greet\n    examples: |\n"
NLU_EDIT_EXAMPLE = "      - 您好，想咨询个事情（基准测试新加的一句）\n"
_COMPONENT_LOG = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) +INFO +rasa\.engine\.training\.hooks +- "
                            r"(Starting to train|Finished training|Restored) component '(\w+)'", re.MULTILINE)


def make_model_in_copy(copy: Path) -> Tuple[float, List[str], str]:
    """scripts/train-if-stale.sh (what `make model` runs) in a copy of the project, with its cache
    (`.rasa/cache` of the copy), its custom components and the project's venv; wall seconds, the
    script's `[train]` lines but the epochs' and Rasa's log."""
    env = {**os.environ, "RASA_CACHE_DIRECTORY": str(copy / ".rasa" / "cache"), "PYTHONPATH": str(copy), "FULL": ""}
    started = time.monotonic()
    done = subprocess.run([str(copy / "scripts" / "train-if-stale.sh")], cwd=copy, env=env, capture_output=True,
                          text=True)
    elapsed = time.monotonic() - started
    log_path = copy / "var" / "logs" / "train.log"
    train_log = log_path.read_text(encoding="utf-8", errors="replace") if log_path.exists() else ""
    if done.returncode:
        raise SystemExit(f"bench: make model failed in {copy}:\n{done.stdout[-1000:]}{done.stderr}\n" + train_log[-2000:])
    said = [line for line in done.stdout.splitlines() if line.startswith("[train] ")  # its own lines only
            and not line.startswith(("[train] epochs", "[train] 20")) and "Your Rasa model" not in line]
    return elapsed, said, train_log


def model_accuracies(model: Path) -> Dict[str, float]:
    """Intent accuracy of `model` on the held-out and the shared dev set, in this process."""
    parse = nlu_parser(model)
    return {"holdout": scores(load_holdout(), parse)["accuracy"], "dev": scores(load_dev_set(), parse)["accuracy"]}


def model_accuracies_apart(model: Path) -> Dict[str, float]:
    """model_accuracies in a child process, so TensorFlow and the model leave with it."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(model_accuracies, model).result()


def component_times(train_log: str) -> List[Tuple[str, Optional[float]]]:
    """(component, seconds it trained) in graph order from a train log; None: restored from cache.
    The log's timestamps are whole seconds."""
    components: List[Tuple[str, Optional[float]]] = []
    started: Dict[str, datetime] = {}
    for stamp, event, name in _COMPONENT_LOG.findall(train_log):
        at = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S")
        if event == "Starting to train":
            started[name] = at
        elif event == "Finished training":
            components.append((name, (at - started.pop(name, at)).total_seconds()))
        else:
            components.append((name, None))
    return components


def measure_retraining() -> dict:
    """Cold full training against the retraining after an NLU-only edit, both as `make model` does
    them (scripts/train-if-stale.sh), in a copy of the project: without a model and from an empty
    cache (what a fresh clone pays: a training from scratch), then one example added to
    data/nlu/basics.yml and the script again, which fine-tunes the model (`rasa train --finetune`;
    Rasa's cache restores what the edit did not touch). Both models then score the held-out and dev
    sets: the accuracy a fine-tune gives up for its speed."""
    copy = Path(tempfile.mkdtemp(prefix="bench-retrain-"))
    try:
        for name in TRAINING_INPUTS:
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            if (ROOT / name).is_dir():
                shutil.copytree(ROOT / name, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
            elif (ROOT / name).exists():
                shutil.copy(ROOT / name, copy / name)
        (copy / ".venv").symlink_to(VENV_BIN.parent)
        full_s, full_said, full_log = make_model_in_copy(copy)
        full_model = copy / "full.tar.gz"
        shutil.copy(copy / "models" / "current.tar.gz", full_model)
        edited = copy / NLU_EDIT_FILE
        text = edited.read_text(encoding="utf-8")
        if NLU_EDIT_AFTER not in text:
            raise SystemExit(f"bench: {NLU_EDIT_FILE} has no {NLU_EDIT_AFTER.strip()!r} to add an example to")
        edited.write_text(text.replace(NLU_EDIT_AFTER, NLU_EDIT_AFTER + NLU_EDIT_EXAMPLE, 1), encoding="utf-8")
        nlu_edit_s, nlu_edit_said, nlu_edit_log = make_model_in_copy(copy)
        accuracy = {"full": model_accuracies_apart(full_model),
                    "nlu_edit": model_accuracies_apart(copy / "models" / "current.tar.gz")}
    finally:
        shutil.rmtree(copy, ignore_errors=True)
    ratio = nlu_edit_s / full_s
    return {"full_s": full_s, "nlu_edit_s": nlu_edit_s, "ratio": ratio, "passed": ratio <= RETRAIN_MAX_RATIO,
            "full_said": full_said, "nlu_edit_said": nlu_edit_said, "accuracy": accuracy,
            "full_components": component_times(full_log), "nlu_edit_components": component_times(nlu_edit_log)}


def retraining_line(retrain: dict) -> str:
    full, edit = retrain["accuracy"]["full"], retrain["accuracy"]["nlu_edit"]
    return (f"{retrain['nlu_edit_s']:.0f} s after an NLU-only edit (make model fine-tunes), "
            f"{retrain['full_s']:.0f} s full: {retrain['ratio']:.2f}x "
            f"({'PASS' if retrain['passed'] else 'FAIL'}, goal {RETRAIN_MAX_RATIO}x); held-out accuracy "
            f"{edit['holdout']:.3f} fine-tuned, {full['holdout']:.3f} full")


def render_retraining(retrain: Optional[dict]) -> List[str]:
    if not retrain:
        return []
    full: Dict[str, List[Optional[float]]] = defaultdict(list)  # a name may appear twice (two featurizers)
    for name, seconds in retrain["full_components"]:
        full[name].append(seconds)
    rows = []
    for name, seconds in retrain["nlu_edit_components"]:
        before = full[name].pop(0) if full[name] else None
        rows.append(f"| {name} | {'-' if before is None else f'{before:.0f} s'} | "
                    f"{'from the cache' if seconds is None else f'{seconds:.0f} s'} |")
    full, edit = retrain["accuracy"]["full"], retrain["accuracy"]["nlu_edit"]
    return [
        "## Retraining after an NLU-only edit",
        "",
        "In a copy of the project, `make model`'s script (scripts/train-if-stale.sh) twice: without a model",
        "and from an empty cache (a training from scratch, as on a clean clone), then after one example was",
        f"added to {NLU_EDIT_FILE} (intent greet), when it fine-tunes the model (`rasa train --finetune",
        "--epoch-fraction 0.2`; Rasa's cache restores the policies). Goal (issue 13): the retraining takes at",
        f"most {RETRAIN_MAX_RATIO} of the full training. What the script said:",
        "",
        *[f"- `{line}`" for line in retrain["full_said"] + retrain["nlu_edit_said"]],
        "",
        f"Result: {retraining_line(retrain)}.",
        "",
        "| intent accuracy | trained from scratch | fine-tuned after the NLU edit |",
        "|---|---|---|",
        f"| held-out set | {full['holdout']:.3f} | {edit['holdout']:.3f} |",
        f"| shared dev set | {full['dev']:.3f} | {edit['dev']:.3f} |",
        "",
        "| component (graph order) | full training | after the NLU edit |",
        "|---|---|---|",
        *rows,
        "",
    ]


def bench_env(var_dir: Path) -> Dict[str, str]:
    """The environment of the bench's own `bot` commands: its state folder, never var/. The
    channels' rate limits are off: the load comes from one address, faster than any merchant
    types (unless the caller's environment sets them)."""
    env = {"RATE_LIMIT_SENDER_PER_MINUTE": "0", "RATE_LIMIT_IP_PER_MINUTE": "0",
           "CODE_REQUESTS_PER_ADDRESS_HOUR": "0", "CODE_REQUESTS_PER_ADDRESS_DAY": "0",
           **os.environ, "BOT_VAR_DIR": str(var_dir), "SQLALCHEMY_SILENCE_UBER_WARNING": "1"}
    env.pop("DATABASE_URL", None)
    return env


def servers_answer() -> bool:
    return ready(f"{BASE}/") or ready(f"http://localhost:{ACTION_PORT}/health")


def start_servers(var_dir: Path, extra_env: Optional[Dict[str, Optional[str]]] = None, model: Path = MODEL,
                  load_test: Tuple[int, int] = (FIRST_LOAD_TEST_MERCHANT, sum(CHANGE_RUNS.values())),
                  ) -> Tuple[subprocess.Popen, float]:
    """`bot serve --model model` on the bench's ports, with load-test merchants (first, count) seeded;
    `extra_env` adds settings to its environment (None removes one)."""
    if not model.exists():
        raise SystemExit(f"bench: no model at {model} (make model, or --model PATH)")
    if servers_answer():  # measuring someone else's servers would be worse than stopping
        raise SystemExit(f"bench: something already answers on port {RASA_PORT} or {ACTION_PORT} "
                         f"(another bench run?)")
    env = bench_env(var_dir)
    subprocess.run([str(VENV_BIN / "bot"), "demo", "seed"], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    first, count = load_test
    subprocess.run([str(VENV_BIN / "bot"), "demo", "seed-load-test", "--count", str(count),
                    "--start", str(first)], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    for name, value in (extra_env or {}).items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    started = time.monotonic()
    process = subprocess.Popen([str(VENV_BIN / "bot"), "serve", "--rasa-port", str(RASA_PORT),
                                "--action-port", str(ACTION_PORT), "--console-port", str(CONSOLE_PORT),
                                "--model", str(model)], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not (ready(f"{BASE}/") and ready(f"http://localhost:{ACTION_PORT}/health")):
        if process.poll() is not None or time.monotonic() - started > 300:
            if process.poll() is None:
                stop_servers(process)
            raise SystemExit(f"bench: servers did not start; see {var_dir / 'logs'}")
        time.sleep(0.25)
    return process, time.monotonic() - started


def stop_servers(process: subprocess.Popen) -> None:
    """Stop `bot serve` and wait until its ports are quiet, so the next start measures new servers."""
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)
    deadline = time.monotonic() + 30
    while servers_answer() and time.monotonic() < deadline:
        time.sleep(0.25)


def load_holdout() -> List[Tuple[str, str]]:
    from rasa.shared.nlu.training_data.loading import load_data

    data = load_data(str(HOLDOUT))
    return [(example.get("text"), example.get_full_intent()) for example in data.intent_examples]


def load_dev_set() -> List[Tuple[str, str]]:
    data = yaml.safe_load(SHARED_DEV_SET.read_text(encoding="utf-8"))
    return [(text, label) for label, texts in data["intents"].items() for text in texts]


def label_of(result: dict) -> str:
    """The label of a parse result: the intent, or faq/<sub-intent> as the response selector answers."""
    intent = (result.get("intent") or {}).get("name") or "None"
    if intent == "faq":
        response = result.get("response_selector", {}).get("faq", {}).get("response", {})
        return response.get("intent_response_key") or "faq"
    return intent


def predicted_label(text: str) -> str:
    return label_of(post("/model/parse", {"text": text}))


def label_scores(predictions: Sequence[Tuple[str, str, str]]) -> dict:
    """(text, expected, predicted) triples -> accuracy, macro-F1 over the expected labels, per-label
    precision / recall / F1 / support, and the misses. A prediction outside the expected labels
    (nlu_fallback) is a miss of the expected one."""
    per_label = {}
    for label in sorted({gold for _, gold, _ in predictions}):
        tp = sum(g == label and p == label for _, g, p in predictions)
        fp = sum(g != label and p == label for _, g, p in predictions)
        fn = sum(g == label and p != label for _, g, p in predictions)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_label[label] = {"precision": precision, "recall": recall, "f1": f1, "support": tp + fn}
    correct = sum(gold == guess for _, gold, guess in predictions)
    return {"n": len(predictions), "accuracy": correct / len(predictions),
            "macro_f1": statistics.mean(scores["f1"] for scores in per_label.values()),
            "per_label": per_label,
            "misses": [(text, gold, guess) for text, gold, guess in predictions if gold != guess]}


def scores(pairs: Sequence[Tuple[str, str]], parse: Optional[Callable[[str], str]] = None) -> dict:
    """Scores of `pairs` (text, expected label), parsed by the running server or by `parse`."""
    parse = parse or predicted_label
    return label_scores([(text, gold, parse(text)) for text, gold in pairs])


def nlu_parser(model_path: Path) -> Callable[[str], str]:
    """Text -> label with an NLU model loaded in this process (no server)."""
    import asyncio
    import logging

    import structlog
    from rasa.core.agent import Agent

    # Rasa logs every parse at debug level through structlog, which prints by default.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))  # the pipeline's own components (bot.rasa.nlu)
    agent = Agent.load(str(model_path))
    loop = asyncio.new_event_loop()
    return lambda text: label_of(loop.run_until_complete(agent.parse_message(text)))


def stratified_folds(examples: Sequence[Tuple[str, str]], folds: int, seed: int) -> List[List[int]]:
    """Indices of `examples` (text, label) in `folds` folds: each label's examples shuffled with
    `seed` and dealt round-robin, so every fold holds about 1/folds of every label."""
    import random

    by_label: Dict[str, List[int]] = defaultdict(list)
    for index, (_, label) in enumerate(examples):
        by_label[label].append(index)
    dealt: List[List[int]] = [[] for _ in range(folds)]
    position = 0
    for label in sorted(by_label):
        indices = by_label[label]
        random.Random(f"{seed}:{label}").shuffle(indices)
        for index in indices:
            dealt[position % folds].append(index)
            position += 1
    return [sorted(fold) for fold in dealt]


def cross_validate_nlu(folds: int = CV_FOLDS, seed: int = CV_SEED, progress: Callable[[str], None] = print) -> dict:
    """k-fold cross-validation of the NLU training data (data/nlu) with config.yml.

    The equivalent of `rasa test nlu --cross-validation`, but scored like the held-out and dev sets:
    FAQ questions by their sub-intent (Rasa's own report lumps them into one `faq` intent and scores
    the response selector apart), nlu_fallback as a miss. Each fold is predicted by a model trained
    on the other folds (`rasa train nlu`, regexes and synonyms kept, in a scratch folder with its own
    cache), so every training example is predicted once by a model that never saw it. Returns
    `label_scores` of all predictions, plus the most confused (expected, predicted) pairs.
    """
    from rasa.shared.nlu.training_data.loading import load_data
    from rasa.shared.nlu.training_data.training_data import TrainingData

    data = load_data(str(NLU_DATA))
    examples = [(example.get("text"), example.get_full_intent()) for example in data.intent_examples]
    fold_indices = stratified_folds(examples, folds, seed)
    predictions: List[Tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="bench-nlu-cv-") as scratch:
        env = {**os.environ, "RASA_CACHE_DIRECTORY": str(Path(scratch) / "cache")}
        for number, test_indices in enumerate(fold_indices, start=1):
            held = set(test_indices)
            train = TrainingData(
                training_examples=[example for index, example in enumerate(data.intent_examples)
                                   if index not in held],
                entity_synonyms=data.entity_synonyms, regex_features=data.regex_features,
                lookup_tables=data.lookup_tables)
            fold_file = Path(scratch) / f"fold{number}.yml"
            fold_file.write_text(train.nlu_as_yaml(), encoding="utf-8")
            started = time.monotonic()
            subprocess.run([str(VENV_BIN / "rasa"), "train", "nlu", "--config", "config.yml", "--nlu",
                            str(fold_file), "--out", scratch, "--fixed-model-name", f"fold{number}"],
                           cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            parse = nlu_parser(Path(scratch) / f"fold{number}.tar.gz")
            predictions += [(examples[index][0], examples[index][1], parse(examples[index][0]))
                            for index in test_indices]
            del parse
            progress(f"[bench] NLU cross-validation: fold {number}/{folds} ({len(test_indices)} examples) "
                     f"in {time.monotonic() - started:.0f} s")
    result = label_scores(predictions)
    pairs: Dict[Tuple[str, str], List[str]] = defaultdict(list)
    for text, gold, guess in result["misses"]:
        pairs[(gold, guess)].append(text)
    result["folds"] = folds
    result["confused"] = sorted(((gold, guess, texts) for (gold, guess), texts in pairs.items()),
                                key=lambda item: (-len(item[2]), item[0], item[1]))
    return result


def cross_validate_nlu_apart() -> dict:
    """cross_validate_nlu in a child process, so TensorFlow and the fold models leave with it
    before the servers are measured."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(cross_validate_nlu).result()


def render_cross_validation(cv: dict, top_pairs: int = 12, examples_per_pair: int = 3) -> List[str]:
    """The cross-validation section of docs/BENCHMARKS.md."""
    rows = sorted(cv["per_label"].items(), key=lambda item: (item[1]["f1"], item[0]))
    return [
        "## NLU cross-validation",
        "",
        f"{cv['folds']}-fold cross-validation of the training data (data/nlu, {cv['n']} examples) with",
        "config.yml: the examples of every label are dealt into the folds with a fixed seed, and each",
        "fold is predicted by a model trained on the others, so every example is predicted once by a",
        "model that never saw it. Labels as above (FAQ questions by sub-intent); `nlu_fallback` counts",
        "as a miss. `.venv/bin/python scripts/bench.py --only nlu` runs just this (and scores the",
        "held-out and dev sets with models/current.tar.gz, or `--nlu-model`) and prints it without",
        "writing this file; about 7 minutes on 2 cores.",
        "",
        f"Accuracy {cv['accuracy']:.3f}, macro-F1 {cv['macro_f1']:.3f}. Per label, weakest first:",
        "",
        "| label | precision | recall | F1 | support |",
        "|---|---|---|---|---|",
        *[f"| {label} | {s['precision']:.3f} | {s['recall']:.3f} | {s['f1']:.3f} | {s['support']} |"
          for label, s in rows],
        "",
        "Most confused pairs (expected -> predicted, count, examples):",
        "",
        *([f"- `{gold}` -> `{guess}` ({len(texts)}): "
           + ", ".join(f"`{text}`" for text in texts[:examples_per_pair])
           for gold, guess, texts in cv["confused"][:top_pairs]] or ["- none"]),
        "",
    ]


ENTITY_SET = ROOT / "tests" / "data" / "entities.yml"


def load_entity_cases(path: Path) -> List[Tuple[str, Dict[str, str]]]:
    cases = []
    for case in yaml.safe_load(path.read_text(encoding="utf-8"))["entities"]:
        case = dict(case)
        cases.append((case.pop("text"), {key: str(value) for key, value in case.items()}))
    return cases


def entity_scores(cases: Sequence[Tuple[str, Dict[str, str]]]) -> Dict[str, Dict[str, float]]:
    """Per entity type: share of the messages where it is expected or found that come out exactly
    right (found with the expected normalised value, and not found where not expected)."""
    seen: Dict[str, int] = defaultdict(int)
    right: Dict[str, int] = defaultdict(int)
    for text, expected in cases:
        found: Dict[str, str] = {}
        for entity in post("/model/parse", {"text": text}).get("entities", []):
            found.setdefault(entity["entity"], str(entity["value"]))
        for entity in set(expected) | set(found):
            seen[entity] += 1
            right[entity] += expected.get(entity) == found.get(entity)
    per_entity = {entity: {"n": seen[entity], "accuracy": right[entity] / seen[entity]} for entity in sorted(seen)}
    total = sum(seen.values())
    per_entity["all"] = {"n": total, "accuracy": sum(right.values()) / total if total else 1.0}
    return per_entity


def extractor_ms_per_message(texts: Sequence[str], rounds: int = 20) -> float:
    """Milliseconds per message of the value extractor alone (in this process, warm)."""
    from bot.extraction.values import ValueExtractor

    extractor = ValueExtractor()
    for text in texts:
        extractor.extract(text)
    started = time.perf_counter()
    for _ in range(rounds):
        for text in texts:
            extractor.extract(text)
    return 1000 * (time.perf_counter() - started) / (rounds * len(texts))


def latency(concurrency: int, turns_per_user: int) -> Dict[str, float]:
    durations: List[float] = []
    errors: List[str] = []
    lock = threading.Lock()

    def user() -> None:
        sender = f"bench-{uuid.uuid4().hex[:10]}"
        for index in range(turns_per_user):
            started = time.perf_counter()
            try:
                replies = post("/webhooks/rest/webhook", {"sender": sender, "message": TURNS[index % len(TURNS)]})
                ok = bool(replies)
            except OSError as error:
                ok, replies = False, str(error)
            elapsed = time.perf_counter() - started
            with lock:
                durations.append(elapsed)
                if not ok:
                    errors.append(str(replies))

    started = time.perf_counter()
    threads = [threading.Thread(target=user) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    return {"turns": len(durations), "errors": len(errors), **percentiles_ms(durations),
            "turns_per_s": len(durations) / wall}


def percentiles_ms(durations: Sequence[float]) -> Dict[str, float]:
    ordered = sorted(durations) or [float("nan")]
    return {"p50_ms": 1000 * ordered[len(ordered) // 2],
            "p95_ms": 1000 * ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]}


def newest_code(var_dir: Path, phone: str) -> str:
    """The code in the newest SMS to `phone` in the bench's outbox ("" if none)."""
    outbox = var_dir / "sms_outbox.jsonl"
    texts = []
    for line in outbox.read_text(encoding="utf-8").splitlines() if outbox.exists() else []:
        try:
            message = json.loads(line)
        except ValueError:  # a line being written right now
            continue
        if message["to"] == phone and CODE.search(message["text"]):
            texts.append(message["text"])
    return CODE.search(texts[-1]).group() if texts else ""


def change_conversation(var_dir: Path, merchant: DemoMerchant, read_code: Optional[Callable[[str], str]] = None,
                        timeout: float = 60, pauses: Optional[Sequence[float]] = None) -> dict:
    """One merchant through HAPPY_PATH: turn durations, the reference filed, the first error.
    `read_code(phone)` is the code the merchant reads on their phone (default: the outbox's newest);
    `pauses[i]`: seconds the merchant takes before turn i (default: none, each turn at once)."""
    read_code = read_code or (lambda phone: newest_code(var_dir, phone))
    sender = f"bench-change-{uuid.uuid4().hex[:10]}"
    durations: List[float] = []
    reply = ""
    for index, (message, expected) in enumerate(HAPPY_PATH):
        if pauses:
            time.sleep(pauses[index])
        if message is MERCHANT_NUMBER:
            message = merchant.number
        elif message is SMS_CODE:
            message = read_code(merchant.phone)
        started = time.perf_counter()
        try:
            replies = post("/webhooks/rest/webhook", {"sender": sender, "message": message}, timeout=timeout)
        except (OSError, ValueError) as error:
            return {"durations": durations, "reference": None,
                    "error": f"{merchant.number} turn {len(durations) + 1}: {error}"}
        durations.append(time.perf_counter() - started)
        reply = "\n".join(r.get("text", "") for r in replies)
        if expected not in reply:
            return {"durations": durations, "reference": None,
                    "error": f"{merchant.number} turn {len(durations)}: no {expected!r} in {reply!r}"}
    reference = REFERENCE.search(reply)
    return {"durations": durations, "reference": reference and reference.group(),
            "error": None if reference else f"{merchant.number}: no reference in {reply!r}"}


def filed_requests(var_dir: Path, database_url: Optional[str] = None) -> List[dict]:
    """Every change request in the database: var_dir's SQLite, or `database_url` (the cluster's)."""
    env = bench_env(var_dir)
    if database_url:
        env["DATABASE_URL"] = database_url
    result = subprocess.run([sys.executable, "-m", "bot", "requests", "list", "--json"], cwd=ROOT,
                            env=env, capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def change_conversations(var_dir: Path, merchants: Sequence[DemoMerchant],
                         read_code: Optional[Callable[[str], str]] = None, timeout: float = 60,
                         pauses: Optional[Sequence[Sequence[float]]] = None,
                         database_url: Optional[str] = None) -> dict:
    """The merchants' conversations at once (one thread each; `pauses[m]`: merchant m's pauses, see
    change_conversation); then checks that each merchant has exactly one request filed, the one its
    conversation was told about (in var_dir's database, or `database_url`'s). `by_turn[i]`: the
    durations of HAPPY_PATH's turn i."""
    outcomes = [{"durations": [], "reference": None, "error": f"{merchant.number}: thread died"}
                for merchant in merchants]

    def run(index: int) -> None:
        outcomes[index] = change_conversation(var_dir, merchants[index], read_code, timeout,
                                              pauses[index] if pauses else None)

    started = time.perf_counter()
    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(merchants))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started

    filed: Dict[str, List[str]] = defaultdict(list)
    for request in filed_requests(var_dir, database_url):
        filed[request["merchant_id"]].append(request["reference"])
    errors = [outcome["error"] for outcome in outcomes if outcome["error"]]
    for merchant, outcome in zip(merchants, outcomes):
        if outcome["reference"] and filed[merchant.number] != [outcome["reference"]]:
            errors.append(f"{merchant.number}: told {outcome['reference']}, filed {filed[merchant.number]}")
    durations = [duration for outcome in outcomes for duration in outcome["durations"]]
    completed = [len(outcome["durations"]) for outcome in outcomes if outcome["reference"]]
    return {"conversations": len(merchants), "completed": len(completed),
            "turns_to_file": max(completed, default=0), "turns": len(durations), **percentiles_ms(durations),
            "by_turn": [[outcome["durations"][index] for outcome in outcomes if len(outcome["durations"]) > index]
                        for index in range(len(HAPPY_PATH))],
            "wall_s": wall, "errors": errors,
            "filed": sum(len(filed[merchant.number]) for merchant in merchants),
            "lost": sum(not filed[merchant.number] for merchant in merchants),
            "duplicated": sum(max(0, len(filed[merchant.number]) - 1) for merchant in merchants)}


# Simulated merchants (tests/simulation/merchant.py): the happy path and six detours, answers drawn
# from the phrasing tables, each conversation a merchant of its own (numbered from 20000).
SIMULATED_CONVERSATIONS = 200
SIMULATION_CONCURRENCY = 2  # one per core: latency stays a merchant's, not a queue's


def simulated_merchants(var_dir: Path) -> dict:
    sys.path.insert(0, str(ROOT / "tests"))  # the simulation and the phrasing tables live there
    from simulation.merchant import run_conversations

    run = run_conversations(BASE, var_dir, SIMULATED_CONVERSATIONS, concurrency=SIMULATION_CONCURRENCY)
    run["failures"] = [f"{c.scenario} ({c.merchant}): ended {c.end}, {c.error or ''} silent after {c.silent}; "
                       f"last: {' | '.join(c.transcript[-4:])}" for c in run["failures"]]
    return run


def group_rss_mb(pgid: int) -> float:
    """Resident memory of every process in a process group (a server and its workers)."""
    total_kb = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) != pgid:
                continue
            for line in (proc / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return total_kb / 1024


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.machine())
    return f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, {platform.system()}"


NOTES = """## Notes

- Dialogue policies are RulePolicy and MemoizationPolicy only: every path is a rule, and TEDPolicy
  would add start-up time and per-turn cost without predicting anything the rules do not.
- DIET runs without transformer layers: on these bag-of-n-gram features the default two layers
  made training take 7.5 minutes instead of about 25 s (measured on this machine) and did not
  classify the held-out set better.
- Whole change conversations are slower than single turns under load: each turn runs the NLU,
  the policies and one or two action calls, whose database work (SQLite, encryption, SMS outbox)
  is synchronous. Two action-server processes (`ACTION_SERVER_SANIC_WORKERS=2`, measured on
  2026-11-26) gave 493 / 1087 ms for 8 merchants against 490 / 1143 ms with one, for 210 MB
  more memory: on 2 cores the turns wait for the CPU, not for the action server. More cores or
  Rasa replicas (see README) are what helps.
- NLU cross-validation scores sit well below the held-out set's: the training data keeps the hard
  tail on purpose (one-word answers, bare names and banks, dialect, typos, keyboard mash), a fold
  model learns from two thirds of it, and a third of its misses are `nlu_fallback`, half of them
  on inputs of four characters or less (in the change form the validators still read a value).
  The held-out set is also flattered: its misses in earlier runs guided some new training
  examples (never its sentences, nor near copies of them). Only the repair intents' held-out
  examples were written before any tuning. Cross-validation is the fairer measure of words the
  model has not seen.
"""


def nlu_rows(results: dict) -> List[Tuple[str, str]]:
    """The NLU rows of the measures table: held-out set, shared dev set, cross-validation."""
    h, d, cv = results["holdout"], results["dev"], results.get("nlu_cv")
    return [
        (f"Intent accuracy, held-out set ({h['n']} examples)", f"{h['accuracy']:.3f}"),
        ("Intent macro-F1, held-out set", f"{h['macro_f1']:.3f}"),
        (f"Intent accuracy, shared dev set nlu_dev.yml ({d['n']} examples)", f"{d['accuracy']:.3f}"),
        ("Intent macro-F1, shared dev set", f"{d['macro_f1']:.3f}"),
        (f"Intent accuracy / macro-F1, {cv['folds']}-fold cross-validation of data/nlu ({cv['n']} examples)",
         f"{cv['accuracy']:.3f} / {cv['macro_f1']:.3f}") if cv else
        ("Intent accuracy / macro-F1, cross-validation of data/nlu", "skipped"),
    ]


def misread_lines(results: dict) -> List[str]:
    h, d = results["holdout"], results["dev"]
    return [
        "Shared dev set:",
        *([f"- `{text}`: expected `{gold}`, got `{guess}`" for text, gold, guess in d["misses"]] or ["- none"]),
        "",
        "Held-out set:",
        *([f"- `{text}`: expected `{gold}`, got `{guess}`" for text, gold, guess in h["misses"]] or ["- none"]),
        "",
    ]


def render(results: dict) -> str:
    cv = results.get("nlu_cv")
    rows = [
        ("Training time (empty cache)", f"{results['train_s']:.0f} s" if results.get("train_s") else "skipped"),
        ("Retraining after an NLU-only edit (Rasa's cache warm)",
         retraining_line(results["retrain"]) if results.get("retrain") else "skipped"),
        ("Cold start: `bot serve` to both servers ready", f"{results['cold_start_s']:.1f} s"),
        *nlu_rows(results),
    ]
    for name in ("1", "8"):
        run = results["latency"][name]
        rows.append((f"REST turn latency, {name} concurrent conversation(s): p50 / p95",
                     f"{run['p50_ms']:.0f} ms / {run['p95_ms']:.0f} ms "
                     f"({run['turns']} turns, {run['turns_per_s']:.1f} turns/s, {run['errors']} errors)"))
    rows.append(("Resident memory: Rasa server", f"{results['rss_rasa_mb']:.0f} MB"))
    rows.append(("Resident memory: action server", f"{results['rss_actions_mb']:.0f} MB"))
    own, dev = results["entities_own"], results["entities_dev"]
    rows.append(("Value extractor alone (spaCy + rules), per message", f"{results['extractor_ms']:.2f} ms"))
    entity_rows = [
        f"| {entity} | {own[entity]['accuracy']:.3f} ({own[entity]['n']}) | "
        + (f"{dev[entity]['accuracy']:.3f} ({dev[entity]['n']})" if entity in dev else "-") + " |"
        for entity in own
    ]
    lines = [
        "# Benchmarks",
        "",
        "Produced by `make bench` (scripts/bench.py); numbers below are from the last run.",
        f"Run at {results['when']} on {results['machine']}.",
        "Intent labels count FAQ questions by their sub-intent (`faq/processing_time`), as the",
        "response selector answers them. Latency is measured from a client on the same machine,",
        "over the REST channel, with a mix of greetings, FAQ questions and small talk.",
        "",
        "| measure | value |",
        "|---|---|",
        *[f"| {name} | {value} |" for name, value in rows],
        "",
        "## Entities",
        "",
        "Through `/model/parse` (the whole NLU pipeline). Per entity type: share of the messages where",
        "it is expected or found that come out exactly right (expected normalised value, nothing",
        "spurious); the count of such messages in brackets. Own set: tests/data/entities.yml;",
        "shared dev set: the `entities` of ../shared/eval/nlu_dev.yml.",
        "",
        "| entity | own set | shared dev set |",
        "|---|---|---|",
        *entity_rows,
        "",
        *(render_cross_validation(cv) if cv else []),
        *render_retraining(results.get("retrain")),
        "## Whole change conversations",
        "",
        "The happy path of a settlement-card change over REST, as in tests/e2e/test_change_conversation.py:",
        "change request, merchant number, identification code (read from the SMS outbox), 线上办理,",
        "reason, holder ID, card (its BIN names the bank), holder name, branch, 确认, signing code: filed. One",
        "load-test merchant alone, then 8 merchants at once (one thread each, all turns sent as fast as",
        "the replies come). Latency is per turn; filed requests are counted with `bot requests list --json`.",
        "",
        "| run | turns to file | turn latency p50 / p95 | wall time | errors | requests filed (lost, duplicated) |",
        "|---|---|---|---|---|---|",
        *[f"| {name} concurrent merchant(s), {run['completed']}/{run['conversations']} completed "
          f"| {run['turns_to_file']} | {run['p50_ms']:.0f} ms / {run['p95_ms']:.0f} ms ({run['turns']} turns) "
          f"| {run['wall_s']:.1f} s | {len(run['errors'])} | {run['filed']} ({run['lost']}, {run['duplicated']}) |"
          for name, run in results["changes"].items()],
        "",
        *bench_sms.render(results.get("sms")),
        *bench_cluster.render(results.get("cluster")),
        *render_simulation(results.get("simulation")),
        *bench_channels.render(results["channels"]),
        "## Misread examples",
        "",
        *misread_lines(results),
    ]
    return "\n".join(lines) + "\n" + NOTES


def render_simulation(sim: Optional[dict]) -> List[str]:
    if not sim:
        return []
    return [
        "## Simulated merchants",
        "",
        f"{sim['conversations']} conversations of tests/simulation/merchant.py over REST, "
        f"{SIMULATION_CONCURRENCY} at a time: the happy path and six",
        "detours (correction, FAQ mid-form, cancel, human then back to the bot, wrong code, credit card",
        "first) in turn, each answer drawn at random (fixed seed) from the phrasing tables of tests/phrasings/.",
        "A conversation completes when it ends as its scenario expects with a reply to every message.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| completion rate | {sim['completion_rate']:.1%} ({sim['completed']}/{sim['conversations']}) |",
        f"| by scenario | {', '.join(f'{name} {share}' for name, share in sim['by_scenario'].items())} |",
        f"| merchant turns to file: happy path (max) | {sim['happy_path_turns_max']} |",
        f"| merchant turns to file: all filed (mean / max) | {sim['turns_to_file_mean']:.1f} / {sim['turns_to_file_max']} |",
        f"| turn latency p50 / p95 | {sim['p50_ms']:.0f} ms / {sim['p95_ms']:.0f} ms ({sim['merchant_turns']} turns) |",
        f"| merchant messages without a reply | {sim['silent_turns']} |",
        "",
        *[f"- failed: {failure}" for failure in sim["failures"][:10]],
        "",
    ]


def log(line: str) -> None:
    print(line, flush=True)


def measure_channels(var_dir: Path, fake) -> dict:
    """WeChat and web chat (scripts/bench_channels.py), after everything else."""
    return bench_channels.measure(BASE, var_dir, fake, TURNS, percentiles_ms, log)


def only_channels(model: Path) -> int:
    """`--only channels`: servers, the channel measurements, their section printed; nothing written."""
    var_dir = Path(tempfile.mkdtemp(prefix="bench-var-"))
    fake = bench_channels.start_fake_wechat()
    try:
        process, cold_start = start_servers(var_dir, bench_channels.server_env(fake), model)
        log(f"[bench] cold start: {cold_start:.1f} s")
        try:
            started = time.monotonic()
            channels = measure_channels(var_dir, fake)
            log(f"[bench] channels measured in {time.monotonic() - started:.0f} s")
        finally:
            stop_servers(process)
    finally:
        fake.stop()
    kept = bench_channels.failed(channels)
    if kept:
        log(f"[bench] state and logs kept in {var_dir}")
    else:
        shutil.rmtree(var_dir, ignore_errors=True)
    print("\n".join(bench_channels.render(channels)))
    return 1 if kept else 0


def sms_gateway_run(model: Path, answer_delay_s: float, first_merchant: int) -> dict:
    """Servers of their own with the fake Yunpian answering `answer_delay_s` late; after a warm-up,
    bench_sms.CONCURRENCY whole change conversations at once, codes read from the fake."""
    var_dir = Path(tempfile.mkdtemp(prefix="bench-sms-var-"))
    fake = bench_sms.start_fake_yunpian(answer_delay_s)
    kept = True
    try:
        process, cold_start = start_servers(var_dir, bench_sms.server_env(fake), model,
                                            load_test=(first_merchant, bench_sms.CONCURRENCY))
        log(f"[bench] SMS gateway {answer_delay_s:g} s per message: cold start {cold_start:.1f} s")
        try:
            latency(2, 5)  # warm-up, no SMS
            merchants = [load_test_merchant(first_merchant + index) for index in range(bench_sms.CONCURRENCY)]
            run = change_conversations(var_dir, merchants, bench_sms.CodeReader(fake), bench_sms.TURN_TIMEOUT_S,
                                       bench_sms.pauses(len(merchants), len(HAPPY_PATH)))
        finally:
            stop_servers(process)
        summary = bench_sms.summarize(run, SMS_TURNS, fake, percentiles_ms)
        kept = bool(summary["errors"])
    finally:
        fake.stop()
        if kept:
            log(f"[bench] state and logs kept in {var_dir}")
        else:
            shutil.rmtree(var_dir, ignore_errors=True)
    log(f"[bench] SMS gateway {answer_delay_s:g} s per message: {summary['completed']}/{summary['conversations']} "
        f"completed, other turns p50 {summary['other']['p50_ms']:.0f} ms p95 {summary['other']['p95_ms']:.0f} ms, "
        f"SMS turns p50 {summary['sms']['p50_ms']:.0f} ms p95 {summary['sms']['p95_ms']:.0f} ms, "
        f"{summary['filed']} filed")
    for error in summary["errors"]:
        log(f"[bench]   error: {error}")
    return summary


def measure_sms(model: Path) -> dict:
    """A slow SMS provider (scripts/bench_sms.py): one run per gateway setting, fresh merchants each."""
    runs, first = {}, bench_sms.FIRST_MERCHANT
    for name, answer_delay_s in bench_sms.GATEWAYS.items():
        runs[name] = sms_gateway_run(model, answer_delay_s, first)
        first += bench_sms.CONCURRENCY
    results = {"runs": runs}
    judged = bench_sms.verdict(results)
    if judged:
        log(f"[bench] SMS: p95 of the turns without SMS, slow / instant gateway: {judged['ratio']:.2f}x "
            f"({'PASS' if judged['passed'] else 'FAIL'}, goal {bench_sms.MAX_RATIO}x)")
    return results


def only_sms(model: Path) -> int:
    """`--only sms`: the slow SMS provider runs, their section printed; nothing written. 1 unless PASS."""
    results = measure_sms(model)
    print("\n".join(bench_sms.render(results)))
    return 1 if bench_sms.failed(results) else 0


def measure_cluster(model: Path) -> dict:
    """The cluster against the single process (scripts/bench_cluster.py), on the bench's ports, with
    the whole change conversations above."""
    tools = bench_cluster.Bench(rasa_port=RASA_PORT, action_port=ACTION_PORT, console_port=CONSOLE_PORT,
                                environment=bench_env, conversations=change_conversations, log=log)
    return bench_cluster.measure(tools, model)


def only_cluster(model: Path) -> int:
    """`--only cluster`: both setups, their section printed; nothing written. 1 unless every
    conversation of both was filed exactly once."""
    results = measure_cluster(model)
    print("\n".join(bench_cluster.render(results)))
    return 1 if bench_cluster.failed(results) else 0


def only_retrain() -> int:
    """`--only retrain`: full training against the retraining after an NLU-only edit (both through
    `make model`'s script), printed only. 1 unless PASS."""
    retrain = measure_retraining()
    print("\n".join(render_retraining(retrain)))
    return 0 if retrain["passed"] else 1


def only_nlu(model: Path) -> int:
    """`--only nlu`: cross-validation, held-out and dev scores of `model` in-process; printed only."""
    if not model.exists():
        raise SystemExit(f"bench: no NLU model at {model} (make model, or --nlu-model PATH)")
    results: dict = {"nlu_cv": cross_validate_nlu(progress=log)}
    parse = nlu_parser(model)
    results["holdout"] = scores(load_holdout(), parse)
    results["dev"] = scores(load_dev_set(), parse)
    print("\n".join([
        f"Held-out and dev sets scored with {model}.", "",
        *[f"| {name} | {value} |" for name, value in nlu_rows(results)], "",
        *render_cross_validation(results["nlu_cv"]),
        "## Misread examples", "",
        *misread_lines(results),
    ]))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-training", action="store_true",
                        help="don't measure training time (full, then fine-tuned after an NLU-only edit: "
                             "about 5 minutes, 10 on a loaded machine)")
    parser.add_argument("--skip-cross-validation", action="store_true",
                        help="don't cross-validate the NLU training data (saves about 7 minutes)")
    parser.add_argument("--only", choices=["channels", "cluster", "nlu", "retrain", "sms"],
                        help="measure only this part, print its section and write nothing")
    parser.add_argument("--model", type=Path, default=MODEL,
                        help="the model the servers run (a copy keeps a retraining from pulling it away)")
    parser.add_argument("--nlu-model", type=Path,
                        help="with --only nlu: the model that scores the held-out and dev sets (default --model)")
    args = parser.parse_args()
    if args.only == "channels":
        return only_channels(args.model)
    if args.only == "sms":
        return only_sms(args.model)
    if args.only == "cluster":
        return only_cluster(args.model)
    if args.only == "nlu":
        return only_nlu(args.nlu_model or args.model)
    if args.only == "retrain":
        return only_retrain()

    results: dict = {"when": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine()}
    if not args.skip_training:
        print("[bench] make model from an empty cache, then after an NLU-only edit (a fine-tune) ...", flush=True)
        results["retrain"] = measure_retraining()
        results["train_s"] = results["retrain"]["full_s"]
        print(f"[bench] training: {retraining_line(results['retrain'])}", flush=True)
    if not args.skip_cross_validation:  # before the servers: it trains, and would slow their turns
        results["nlu_cv"] = cross_validate_nlu_apart()
        print(f"[bench] NLU cross-validation: accuracy {results['nlu_cv']['accuracy']:.3f}, "
              f"macro-F1 {results['nlu_cv']['macro_f1']:.3f}", flush=True)
    var_dir = Path(tempfile.mkdtemp(prefix="bench-var-"))
    fake = bench_channels.start_fake_wechat()  # the WeChat API the channel talks to
    try:
        process, results["cold_start_s"] = start_servers(var_dir, bench_channels.server_env(fake), args.model)
    except BaseException:
        fake.stop()
        raise
    print(f"[bench] cold start: {results['cold_start_s']:.1f} s", flush=True)
    try:
        results["holdout"] = scores(load_holdout())
        results["dev"] = scores(load_dev_set())
        print(f"[bench] held-out accuracy {results['holdout']['accuracy']:.3f}, "
              f"dev accuracy {results['dev']['accuracy']:.3f}", flush=True)
        own_entities, dev_entities = load_entity_cases(ENTITY_SET), load_entity_cases(SHARED_DEV_SET)
        results["entities_own"] = entity_scores(own_entities)
        results["entities_dev"] = entity_scores(dev_entities)
        results["extractor_ms"] = extractor_ms_per_message([text for text, _ in own_entities + dev_entities])
        print(f"[bench] entity accuracy: own set {results['entities_own']['all']['accuracy']:.3f}, "
              f"dev set {results['entities_dev']['all']['accuracy']:.3f}; "
              f"extractor {results['extractor_ms']:.2f} ms/message", flush=True)
        latency(2, 5)  # warm-up
        results["latency"] = {"1": latency(1, 100), "8": latency(8, 40)}
        for name, run in results["latency"].items():
            print(f"[bench] {name} concurrent: p50 {run['p50_ms']:.0f} ms, p95 {run['p95_ms']:.0f} ms", flush=True)
        results["changes"], next_merchant = {}, FIRST_LOAD_TEST_MERCHANT
        for name, count in CHANGE_RUNS.items():
            merchants = [load_test_merchant(next_merchant + index) for index in range(count)]
            next_merchant += count
            run = results["changes"][name] = change_conversations(var_dir, merchants)
            print(f"[bench] change conversations, {name} concurrent: {run['completed']}/{run['conversations']} "
                  f"completed in {run['turns_to_file']} turns, p50 {run['p50_ms']:.0f} ms, "
                  f"p95 {run['p95_ms']:.0f} ms, {run['filed']} filed ({run['lost']} lost, "
                  f"{run['duplicated']} duplicated)", flush=True)
            for error in run["errors"]:
                print(f"[bench]   error: {error}", flush=True)
        results["simulation"] = simulated_merchants(var_dir)
        sim = results["simulation"]
        print(f"[bench] simulated merchants: {sim['completed']}/{sim['conversations']} as expected "
              f"({sim['completion_rate']:.1%}), happy path {sim['happy_path_turns_max']} turns, "
              f"p50 {sim['p50_ms']:.0f} ms, p95 {sim['p95_ms']:.0f} ms", flush=True)
        for failure in sim["failures"][:20]:
            print(f"[bench]   failed: {failure}", flush=True)
        children = json.loads((var_dir / "run" / "serve.json").read_text())["children"]
        results["rss_rasa_mb"] = group_rss_mb(children["Rasa server"])
        results["rss_actions_mb"] = group_rss_mb(children["action server"])
        results["channels"] = measure_channels(var_dir, fake)
    finally:
        stop_servers(process)
        fake.stop()
        if bench_channels.failed(results.get("channels", {})):
            print(f"[bench] state and logs kept in {var_dir}", flush=True)
        else:
            shutil.rmtree(var_dir, ignore_errors=True)
    try:  # servers of its own, after the others: a failure here must not lose the numbers above
        results["sms"] = measure_sms(args.model)
    except (Exception, SystemExit) as error:
        results["sms"] = {"error": str(error)}
        print(f"[bench] slow SMS provider not measured: {error}", file=sys.stderr)
    try:  # last: its own servers, two setups of 50 conversations
        results["cluster"] = measure_cluster(args.model)
    except (Exception, SystemExit) as error:
        results["cluster"] = {"error": str(error)}
        print(f"[bench] cluster not measured: {error}", file=sys.stderr)
    report = render(results)
    (ROOT / "docs").mkdir(exist_ok=True)
    (ROOT / "docs" / "BENCHMARKS.md").write_text(report, encoding="utf-8")
    print(report)
    status = 0
    if bench_channels.failed(results["channels"]):
        print("[bench] a channel measurement failed or had errors: see the Channels section", file=sys.stderr)
        status = 1
    if bench_sms.failed(results["sms"]):
        print("[bench] slow SMS provider: goal missed or errors; see its section", file=sys.stderr)
        status = 1
    if bench_cluster.failed(results["cluster"]):
        print("[bench] cluster and single process: a setup not measured, or conversations lost or filed twice; "
              "see its section", file=sys.stderr)
        status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
