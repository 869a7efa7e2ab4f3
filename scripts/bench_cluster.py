"""The cluster part of `make bench` (scripts/bench.py): 50 whole change conversations at once
against the cluster and against the single process, side by side.

- cluster: `bot serve --replicas 2` (`make cluster`): nginx on the bench's Rasa port in front of two
  Rasa replicas, each with its action server, one console; application data and tracker store in
  a fresh PostgreSQL schema (dropped afterwards), conversation locks and web chat rooms in Redis.
- single process: `bot serve` (`make run`): one Rasa server, one action server, the console, SQLite.

PostgreSQL is TEST_POSTGRES_URL (else DATABASE_URL), Redis TEST_REDIS_URL (else
LOCK_STORE_REDIS_URL); `make bench` defaults both to this machine's, as `make cluster` does.
Without them the cluster is not measured and the section says why.

Each setup gets a state folder of its own, its demo data and `CONVERSATIONS` load-test merchants of
its own (`FIRST_MERCHANT`: numbers no other bench part uses; each merchant can file only once),
then all merchants go through bench.py's `HAPPY_PATH` at once over REST (identification with the
merchant number and the SMS code read from the outbox of the state folder, the change form, the
signing code: filed). Per setup:

- cold start: from starting `bot serve` to the first answered message ("你好" answered with the
  greeting, not an apology); then until every child answered (bot serve's ready line);
- completed, lost (a turn without its reply, or a conversation not filed), and the requests in the
  database per merchant (`bot requests list --json` on the setup's database: exactly 1 each);
- per turn p50 / p95, turns per second over the whole run, wall time, and the CPU time per turn
  of bot serve's processes (and of PostgreSQL and Redis): unlike latency, little changed by other
  work on the machine;
- the resident memory (VmRSS) of each process, the highest seen from the start to the end of the
  conversations, sampled every `SAMPLE_S` (a child's process group: a server with its workers,
  nginx's master and workers);
- how much of the machine other work used during the conversations (2 cores are shared with
  whatever else runs: the section says so when it was more than a little).

`scripts/bench.py --only cluster` runs just this part and prints its section.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from bot.db.engine import temporary_schema
from bot.ops.demo import load_test_merchant

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent

CONVERSATIONS = 50
REPLICAS = 2
SETUPS = ("cluster", "single")  # the order they run in
FIRST_MERCHANT = {"cluster": 300, "single": 350}  # load-test merchants 822100000000300..399: no other bench part's
TURN_TIMEOUT_S = 120  # a slow turn under load is measured, not cut off at the bench's usual 60 s
START_TIMEOUT_S = 300
SAMPLE_S = 0.5
FIRST_MESSAGE, FIRST_REPLY = "你好", "有什么可以帮您"  # utter_greet; an apology would not count as an answer
WARM_UP = ("你好", "审核要几天", "换卡需要准备什么材料", "谢谢")  # a few turns per replica before the load
BUSY_OTHERS = 0.10  # share of the machine's CPU other work may take before the section calls the run disturbed
SHARED_STATE_PROCESSES = ("postgres", "redis-server")  # they work for the cluster: not "other work"


@dataclass(frozen=True)
class Bench:
    """What this part uses of bench.py: its ports, the environment of its own `bot` commands
    (rate limits off, its state folder), the conversations and its log."""
    rasa_port: int
    action_port: int
    console_port: int
    environment: Callable[[Path], Dict[str, str]]
    conversations: Callable[..., dict]  # bench.change_conversations
    log: Callable[[str], None]


def shared_state_urls() -> Tuple[Optional[str], Optional[str]]:
    """(PostgreSQL, Redis) for the cluster, from the environment."""
    return (os.environ.get("TEST_POSTGRES_URL") or os.environ.get("DATABASE_URL"),
            os.environ.get("TEST_REDIS_URL") or os.environ.get("LOCK_STORE_REDIS_URL"))


def _proc_stat(pid_dir: Path) -> Optional[List[str]]:
    """The fields of /proc/<pid>/stat after the command name (state first), None if gone."""
    try:
        return (pid_dir / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _rss_kb(pid_dir: Path) -> int:
    try:
        for line in (pid_dir / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _process_dirs() -> List[Path]:
    return [path for path in Path("/proc").iterdir() if path.name.isdigit()]


class PeakMemory:
    """The highest resident memory of each of bot serve's children (its process group) and of bot
    serve itself, sampled every SAMPLE_S from the pids var/run/serve.json names (a restarted child
    has a new pid: the file says so)."""

    def __init__(self, run_file: Path, serve_pid: int) -> None:
        self._run_file = run_file
        self._serve_pid = serve_pid
        self.peak_mb: Dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample_until_stopped, daemon=True)

    def start(self) -> "PeakMemory":
        self._thread.start()
        return self

    def stop(self) -> Dict[str, float]:
        """The peaks so far, sampling stopped (again: the same)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        return dict(self.peak_mb)

    def _sample_until_stopped(self) -> None:
        while not self._stop.wait(SAMPLE_S):
            for name, megabytes in self.sample().items():
                self.peak_mb[name] = max(megabytes, self.peak_mb.get(name, 0.0))

    def sample(self) -> Dict[str, float]:
        try:
            children: Dict[str, int] = json.loads(self._run_file.read_text())["children"]
        except (OSError, ValueError, KeyError):  # not written yet, or being written
            children = {}
        name_of_group = {group: name for name, group in children.items()}
        kb: Dict[str, int] = Counter()
        for pid_dir in _process_dirs():
            fields = _proc_stat(pid_dir)
            if fields is None or fields[0] == "Z":
                continue
            if int(pid_dir.name) == self._serve_pid:
                kb["bot serve"] += _rss_kb(pid_dir)
            elif int(fields[2]) in name_of_group:
                kb[name_of_group[int(fields[2])]] += _rss_kb(pid_dir)
        return {name: value / 1024 for name, value in kb.items()}


class OtherWork:
    """Where the machine's CPU went during the conversations: bot serve's process groups, PostgreSQL
    and Redis (they serve the cluster; other users of theirs count as the setup's), this process,
    and other work: the machine's busy time (/proc/stat) less the others'."""

    def __init__(self, groups: Sequence[int]) -> None:
        self._groups = set(groups)
        self._started = time.monotonic()
        self._busy = self._machine_busy()
        self._per_pid = self._process_jiffies()

    @staticmethod
    def _machine_busy() -> int:
        fields = [int(value) for value in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        return sum(fields) - fields[3] - fields[4]  # all but idle and iowait

    @staticmethod
    def _process_jiffies() -> Dict[int, Tuple[str, int, int]]:
        """pid -> (command name, process group, user + system jiffies). This process's include its
        finished children's (`bot requests list`): they ran in the window. Not another's: a child
        of theirs that ends now brings in all it used since it started."""
        found = {}
        for pid_dir in _process_dirs():
            try:
                text = (pid_dir / "stat").read_text()
                name = text[text.index("(") + 1:text.rindex(")")]
                fields = text.rsplit(")", 1)[1].split()
                counted = 15 if int(pid_dir.name) == os.getpid() else 13
                found[int(pid_dir.name)] = (name, int(fields[2]), sum(map(int, fields[11:counted])))
            except (OSError, ValueError, IndexError):
                continue
        return found

    def measure(self) -> dict:
        """Since the start: the share of the machine's CPU capacity other work used, the busiest
        other commands (share each), and the CPU seconds of bot serve's process groups and of
        PostgreSQL and Redis."""
        ticks = os.sysconf("SC_CLK_TCK")
        capacity = (time.monotonic() - self._started) * ticks * (os.cpu_count() or 1)
        setup = shared_state = bench = 0
        others: Dict[str, int] = Counter()
        for pid, (name, group, jiffies) in self._process_jiffies().items():
            used = jiffies - (self._per_pid[pid][2] if pid in self._per_pid else 0)  # new: all in the window
            if group in self._groups:
                setup += used
            elif name in SHARED_STATE_PROCESSES:
                shared_state += used
            elif pid == os.getpid():
                bench += used
            else:
                others[_command_line(pid) or name] += used
        busy = self._machine_busy() - self._busy
        share = max(0.0, busy - setup - shared_state - bench) / capacity if capacity else 0.0
        return {"share": share, "busiest": [(command, jiffies / capacity) for command, jiffies
                                            in others.most_common(3) if jiffies / capacity >= 0.02],
                "setup_cpu_s": setup / ticks, "shared_state_cpu_s": shared_state / ticks}


def _command_line(pid: int, limit: int = 60) -> str:
    """A process's command, shortened (arguments can be long: paths, test names)."""
    try:
        words = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return ""
    text = " ".join(Path(words[0].decode(errors="replace")).name.split() + [
        word.decode(errors="replace") for word in words[1:4] if word])
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _post(base_url: str, message: str, timeout: float) -> str:
    body = json.dumps({"sender": f"bench-cluster-{uuid.uuid4().hex[:10]}", "message": message}).encode()
    request = urllib.request.Request(base_url + "/webhooks/rest/webhook", data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as reply:
        return "\n".join(part.get("text", "") for part in json.loads(reply.read()))


def _answers(base_url: str) -> bool:
    try:
        return FIRST_REPLY in _post(base_url, FIRST_MESSAGE, timeout=30)
    except (OSError, ValueError):  # not listening yet, nginx's 502, a half-started server
        return False


def _port_answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2):
            return True
    except OSError as error:
        return getattr(error, "code", None) is not None  # an HTTP error is still someone answering


def _ports(bench: Bench, setup: str) -> List[int]:
    if setup == "single":
        return [bench.rasa_port, bench.action_port, bench.console_port]
    return [bench.rasa_port, bench.console_port, *range(bench.rasa_port + 1, bench.rasa_port + REPLICAS + 1),
            *range(bench.action_port, bench.action_port + REPLICAS)]


def _environment(bench: Bench, setup: str, var_dir: Path, database_url: Optional[str],
                 redis_url: Optional[str]) -> Dict[str, str]:
    env = bench.environment(var_dir)  # no DATABASE_URL: the single process's SQLite in var_dir
    for name in ("TRACKER_DATABASE_URL", "LOCK_STORE_REDIS_URL", "WEBCHAT_SOCKETIO_REDIS_URL", "SMS_OUTBOX"):
        env.pop(name, None)  # the setups' own defaults; codes are read from var_dir's outbox
    if setup == "cluster":
        env.update({"DATABASE_URL": database_url, "LOCK_STORE_REDIS_URL": redis_url,
                    "WEBCHAT_SOCKETIO_REDIS_CHANNEL": f"webchat-bench-{uuid.uuid4().hex[:12]}"})
    return env


def _seed(env: Dict[str, str], first_merchant: int) -> None:
    for command in (["demo", "seed"], ["demo", "seed-load-test", "--count", str(CONVERSATIONS),
                                       "--start", str(first_merchant)]):
        subprocess.run([str(VENV_BIN / "bot"), *command], cwd=ROOT, env=env, check=True,
                       stdout=subprocess.DEVNULL)


def _stop(process: subprocess.Popen, ports: Sequence[int]) -> None:
    """SIGTERM to bot serve (it stops its children), then until the ports are quiet."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    deadline = time.monotonic() + 30
    while any(_port_answers(port) for port in ports) and time.monotonic() < deadline:
        time.sleep(0.25)


def run_setup(bench: Bench, setup: str, model: Path, database_url: Optional[str] = None,
              redis_url: Optional[str] = None) -> dict:
    """One setup from start to stop: its cold start, its conversations, its processes' memory."""
    base_url = f"http://localhost:{bench.rasa_port}"
    ports = _ports(bench, setup)
    busy = [port for port in ports if _port_answers(port)]
    if busy:  # measuring someone else's servers would be worse than stopping
        raise RuntimeError(f"something already answers on port(s) {', '.join(map(str, busy))}")
    var_dir = Path(tempfile.mkdtemp(prefix=f"bench-{setup}-var-"))
    env = _environment(bench, setup, var_dir, database_url, redis_url)
    _seed(env, FIRST_MERCHANT[setup])
    command = [str(VENV_BIN / "bot"), "serve", "--model", str(model), "--rasa-port", str(bench.rasa_port),
               "--action-port", str(bench.action_port), "--console-port", str(bench.console_port),
               *(["--replicas", str(REPLICAS)] if setup == "cluster" else [])]
    serve_log = var_dir / "serve.log"
    with open(serve_log, "w") as log_file:
        started = time.monotonic()
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    memory = PeakMemory(var_dir / "run" / "serve.json", process.pid).start()
    kept = True
    try:
        cold_start_s = _wait(process, lambda: _answers(base_url), started, serve_log)
        ready_s = _wait(process, lambda: "[serve] ready in" in serve_log.read_text(), started, serve_log)
        bench.log(f"[bench] {setup}: first answer {cold_start_s:.1f} s after the start, all ready after {ready_s:.1f} s")
        for message in WARM_UP * REPLICAS:  # each replica's first turns build its TensorFlow graphs
            _post(base_url, message, timeout=TURN_TIMEOUT_S)
        merchants = [load_test_merchant(FIRST_MERCHANT[setup] + index) for index in range(CONVERSATIONS)]
        groups = json.loads((var_dir / "run" / "serve.json").read_text())["children"].values()
        access_log = var_dir / "cluster" / "logs" / "access.log"
        log_start = access_log.stat().st_size if access_log.exists() else 0
        other_work, load_before = OtherWork(list(groups)), os.getloadavg()[0]
        postgres_started = _postgres_start_time(database_url)
        run = bench.conversations(var_dir, merchants, timeout=TURN_TIMEOUT_S, database_url=database_url)
        others, load_after = other_work.measure(), os.getloadavg()[0]
        postgres_restarted = _postgres_start_time(database_url) != postgres_started
        peak_mb = memory.stop()
        by_replica = _turns_by_replica(access_log, log_start) if setup == "cluster" else {}
        kept = bool(run["errors"]) or run["completed"] < run["conversations"]
    finally:
        memory.stop()
        _stop(process, ports)
        if kept:
            bench.log(f"[bench] {setup}: state and logs kept in {var_dir}")
        else:
            shutil.rmtree(var_dir, ignore_errors=True)
    summary = {"cold_start_s": cold_start_s, "ready_s": ready_s, "peak_mb": peak_mb, "others": others,
               "load": (load_before, load_after), "by_replica": by_replica,
               "lost": run["conversations"] - run["completed"], "turns_per_s": run["turns"] / run["wall_s"],
               **{key: run[key] for key in ("conversations", "completed", "turns", "p50_ms", "p95_ms", "wall_s",
                                             "errors", "filed", "duplicated")},
               "not_filed": run["lost"], "postgres_restarted": postgres_restarted}
    bench.log(f"[bench] {setup}: {summary['completed']}/{summary['conversations']} completed, {summary['lost']} lost, "
              f"{summary['duplicated']} duplicated; p50 {summary['p50_ms']:.0f} ms, p95 {summary['p95_ms']:.0f} ms, "
              f"{summary['turns_per_s']:.1f} turns/s, {summary['wall_s']:.0f} s; other work "
              f"{others['share']:.0%} of the CPU")
    if postgres_restarted:
        bench.log(f"[bench] {setup}: PostgreSQL was restarted during the conversations (not by the bench)")
    for error in summary["errors"][:20]:
        bench.log(f"[bench]   error: {error}")
    return summary


def _postgres_start_time(database_url: Optional[str]) -> Optional[str]:
    """When PostgreSQL last started (None without it): another start during the conversations
    means someone restarted it, and turns meanwhile got the apology instead of their answer."""
    if not database_url:
        return None
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return str(connection.execute(text("SELECT pg_postmaster_start_time()")).scalar())
    except Exception as error:  # down right now: not the same start either way
        return f"not answering: {type(error).__name__}"
    finally:
        engine.dispose()


def _wait(process: subprocess.Popen, condition: Callable[[], bool], started: float, log: Path) -> float:
    """Seconds from `started` until `condition` holds; fails when bot serve exits or takes too long."""
    while not condition():
        if process.poll() is not None or time.monotonic() - started > START_TIMEOUT_S:
            raise RuntimeError(f"bot serve did not start (exit code {process.poll()}); see {log} and the logs beside it")
        time.sleep(0.25)
    return time.monotonic() - started


def _turns_by_replica(access_log: Path, start: int) -> Dict[str, int]:
    """The conversations' REST turns per replica (its address), from nginx's access log after
    byte `start`; a turn passed on to a second replica counts for the one that answered."""
    counts: Dict[str, int] = Counter()
    with open(access_log, "rb") as log:
        log.seek(start)
        for line in log.read().decode(errors="replace").splitlines():
            if '"POST /webhooks/rest/webhook"' in line:
                counts[line.rsplit(" ", 1)[-1]] += 1  # the last upstream tried
    return dict(sorted(counts.items()))


def measure(bench: Bench, model: Path) -> dict:
    """Both setups, the cluster first; a setup that cannot run says why in its place."""
    results: Dict[str, Any] = {"when": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                               "setups": {}}
    postgres, redis = shared_state_urls()
    for setup in SETUPS:
        try:
            if setup == "single":
                results["setups"][setup] = run_setup(bench, setup, model)
            elif not (postgres and redis):
                results["setups"][setup] = {"error": "no PostgreSQL or Redis: set TEST_POSTGRES_URL (or DATABASE_URL) "
                                                     "and TEST_REDIS_URL (or LOCK_STORE_REDIS_URL)"}
            else:
                with temporary_schema(postgres, "bench") as schema_url:
                    results["setups"][setup] = run_setup(bench, setup, model, schema_url, redis)
        except Exception as error:  # the other setup is still worth measuring
            bench.log(f"[bench] {setup}: {type(error).__name__}: {error}")
            # A setup measured whose schema could not be dropped afterwards keeps its numbers.
            results["setups"].setdefault(setup, {"error": f"{type(error).__name__}: {error}"})
    return results


def failed(results: Optional[dict]) -> bool:
    """A setup not measured, or a conversation lost or filed twice."""
    if not results or results.get("error"):
        return True
    return any(run.get("error") or run["lost"] or run["not_filed"] or run["duplicated"] or run["errors"]
               for run in results["setups"].values())


TITLES = {"cluster": f"cluster: {REPLICAS} replicas behind nginx, PostgreSQL, Redis",
          "single": "single process: `bot serve`, SQLite"}
# Memory rows: (row, the processes it sums or lists, in each setup).
MEMORY_ROWS = [
    ("Rasa server (each replica)", ("Rasa server", *(f"Rasa replica {n}" for n in range(1, REPLICAS + 1)))),
    ("action server (each)", ("action server", *(f"action server {n}" for n in range(1, REPLICAS + 1)))),
    ("agent console", ("agent console",)),
    ("nginx (master and workers)", ("nginx",)),
    ("bot serve (the supervisor)", ("bot serve",)),
]


def _memory_cell(run: dict, names: Sequence[str]) -> str:
    values = [run["peak_mb"][name] for name in names if name in run["peak_mb"]]
    return " / ".join(f"{value:.0f}" for value in values) + " MB" if values else "-"


def _rows(runs: Dict[str, dict]) -> List[Tuple[str, List[str]]]:
    def each(cell: Callable[[dict], str]) -> List[str]:
        return [cell(run) if not run.get("error") else "not measured" for run in runs.values()]

    rows = [
        ("conversations completed", each(lambda r: f"{r['completed']}/{r['conversations']}")),
        ("lost (a turn without its reply, or not filed)", each(lambda r: str(r["lost"]))),
        ("requests in the database (merchants without one, duplicated)",
         each(lambda r: f"{r['filed']} ({r['not_filed']}, {r['duplicated']})")),
        ("turn latency p50 / p95", each(lambda r: f"{r['p50_ms']:.0f} ms / {r['p95_ms']:.0f} ms ({r['turns']} turns)")),
        ("turns per second (all conversations)", each(lambda r: f"{r['turns_per_s']:.1f}")),
        ("CPU per turn: bot serve's processes (PostgreSQL and Redis)",
         each(lambda r: f"{1000 * r['others']['setup_cpu_s'] / r['turns']:.0f} ms "
                        f"({1000 * r['others']['shared_state_cpu_s'] / r['turns']:.0f} ms)")),
        ("wall time", each(lambda r: f"{r['wall_s']:.0f} s")),
        ("cold start: start to the first answered message", each(lambda r: f"{r['cold_start_s']:.1f} s")),
        ("start to every process ready", each(lambda r: f"{r['ready_s']:.1f} s")),
        *[(f"resident memory, max: {row}", each(lambda r, names=names: _memory_cell(r, names)))
          for row, names in MEMORY_ROWS],
        ("resident memory, max: sum of the above", each(lambda r: f"{sum(r['peak_mb'].values()):.0f} MB")),
        ("REST turns per replica (nginx's log)",
         each(lambda r: ", ".join(str(count) for count in r["by_replica"].values()) or "-")),
        ("other work on the machine during the conversations (load average before, after)",
         each(lambda r: f"{r['others']['share']:.0%} of the CPU ({r['load'][0]:.1f}, {r['load'][1]:.1f})")),
    ]
    return rows


def render(results: Optional[dict]) -> List[str]:
    """The section of docs/BENCHMARKS.md."""
    lines = [
        "## Cluster and single process",
        "",
        f"{CONVERSATIONS} whole change conversations at once (the happy path above, each a load-test merchant of its",
        "own, one thread each, every turn sent as soon as the previous reply came) against the cluster of",
        f"`make cluster` (`bot serve --replicas {REPLICAS}`: nginx in front of {REPLICAS} Rasa replicas, each with its",
        "action server; application data and tracker store in a fresh PostgreSQL schema, conversation",
        "locks in Redis) and against `make run`'s single process (`bot serve`: one Rasa server, one action",
        "server, SQLite), one after the other on the same machine, each started afresh. Lost: a turn",
        "without its reply, or a conversation that did not end filed. Requests are counted per merchant",
        "in the setup's database (exactly one each). Cold start: from starting `bot serve` to the first",
        "message answered (the greeting). Memory: the highest VmRSS seen from the start to the end of",
        f"the conversations, sampled every {SAMPLE_S:g} s, per process group. Turn timeout {TURN_TIMEOUT_S} s.",
        "`.venv/bin/python scripts/bench.py --only cluster` runs just this and prints it without writing",
        "this file; about 5 minutes on a quiet machine.",
        "",
    ]
    if not results:
        return lines + ["Not measured yet: the next `make bench` fills this in.", ""]
    if results.get("error"):
        return lines + [f"Not measured: {results['error']}", ""]
    runs = results["setups"]
    lines += [f"Measured at {results['when']}.", "",
              "| measure | " + " | ".join(TITLES[name] for name in runs) + " |",
              "|---|" + "---|" * len(runs),
              *[f"| {name} | " + " | ".join(cells) + " |" for name, cells in _rows(runs)],
              ""]
    for name, run in runs.items():
        if run.get("error"):
            lines.append(f"- {name}: not measured: {run['error']}")
            continue
        if run.get("postgres_restarted"):
            lines.append(f"- {name}: PostgreSQL was restarted by something else during the conversations: turns "
                         "meanwhile got the apology and those conversations are counted lost.")
        if run["others"]["share"] >= BUSY_OTHERS:
            busiest = ", ".join(f"`{command}` {share:.0%}" for command, share in run["others"]["busiest"])
            lines.append(f"- {name}: disturbed: other work took {run['others']['share']:.0%} of the machine's CPU "
                         f"during the conversations" + (f" ({busiest})" if busiest else "") + "; its latencies "
                         "and turns per second are worse than on a quiet machine.")
        lines += [f"- {name}: {error}" for error in run["errors"][:10]]
    return lines + [""] + NOTES


# Item 5 of issue 14 (cold start and memory of a Rasa replica), measured with this part on a quiet
# machine; kept here so the next `make bench` keeps them beside the numbers they explain.
NOTES = [
    "Cold start and memory, what was tried (2026-12-07, this machine, other work under 5 % of the CPU,",
    "the same model):",
    "",
    "- Rasa loads DIET and the response selector for prediction only (bot/rasa/nlu/model_loading.py)",
    "  instead of training them one step first: each Rasa process 1,239 MB -> 805 MB resident; cold start",
    "  19.4 -> 13.6 s (cluster; every process ready 24.9 -> 14.4 s) and 18.0 -> 11.8 s (single); turns per",
    "  second and CPU per turn unchanged (14.1 and 129 ms on the cluster); the same predictions to the last",
    "  digit (tests/nlu/test_model_loading.py). Kept.",
    "- One TensorFlow thread per replica (TF_INTRA_OP_PARALLELISM_THREADS=1, TF_INTER_OP_PARALLELISM_THREADS=1):",
    "  14.1 turns/s, 129 ms CPU per turn, 805 MB, cold start 13.6 s: no change (the models' operations are",
    "  too small to run in parallel). Not set.",
    "- TF_ENABLE_ONEDNN_OPTS=0: about 30 MB less per Rasa process, about 10 % more CPU per parse.",
    "  MALLOC_ARENA_MAX=2, jemalloc (LD_PRELOAD): under 15 MB. TF_CPP_MIN_LOG_LEVEL: log lines only. Not set.",
    "- What a Rasa process's start still costs (CPU seconds, `rasa run` to its first answer, 11 s in all):",
    "  about 5 importing Rasa, Sanic and TensorFlow, 5 loading the two TensorFlow models (building their",
    "  prediction graphs), 1 for jieba's dictionary and spaCy. Every component of the pipeline is used.",
    "",
]
