"""The cluster (`bot serve --replicas N`: Rasa replicas and action servers behind nginx) for the
cluster tests, on the PostgreSQL and Redis that TEST_POSTGRES_URL and TEST_REDIS_URL name (CI sets
both; `needs_cluster` skips a test otherwise).

Each cluster gets a fresh PostgreSQL schema (application data and tracker store, dropped
afterwards), a socket.io channel of its own in Redis, free ports and its var/ in a temporary folder,
with the demo data seeded. The conversation locks need no prefix of their own: each test's
conversations have ids of their own.

- `cluster` (session): a 2-replica cluster for tests that leave it as they found it.
- `start_cluster(var_dir, replicas)` / `stop_cluster(cluster)`: one of your own, for tests that
  disturb it (kill a replica, restart PostgreSQL). `stop_cluster` fails when bot serve does not
  exit 0 on SIGTERM or when any process of any child's process group (nginx's workers included)
  is still there.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
from e2e.conftest import MODEL, Assistant, _ready
from postgres_schema import POSTGRES_URL, fresh_schema

from bot.settings import PROJECT_ROOT
from bot.training import tracker_events

REDIS_URL = os.environ.get("TEST_REDIS_URL")
NGINX = os.environ.get("NGINX") or "/usr/sbin/nginx"
READY_TIMEOUT_S = 300  # several replicas load their models at once

needs_cluster = pytest.mark.skipif(
    not (POSTGRES_URL and REDIS_URL),
    reason="TEST_POSTGRES_URL and TEST_REDIS_URL are not both set (the cluster runs on PostgreSQL and Redis)",
)


@dataclass
class Cluster:
    proxy: Assistant  # nginx: the address merchants use
    replicas: List[Assistant]  # each Rasa replica, directly (replicas[0] is replica 1)
    var_dir: Path
    process: subprocess.Popen  # bot serve
    database_url: str  # the schema of this cluster: application data and tracker store
    _cleanup: ExitStack = field(repr=False, default_factory=ExitStack)

    def run_info(self) -> Dict[str, Any]:
        """var/run/serve.json: the pids of bot serve and its children, the replicas' ports."""
        return json.loads((self.var_dir / "run" / "serve.json").read_text())

    def pid(self, child: str) -> int:
        """The pid of a child by its name: "Rasa replica 1", "action server 2", "nginx", ..."""
        return self.run_info()["children"][child]

    def stored_events(self, conversation_id: str) -> List[Dict[str, Any]]:
        """The conversation's events as PostgreSQL holds them (decrypted with the cluster's key)."""
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("BOT_VAR_DIR", str(self.var_dir))  # the development key file is there
            patch.delenv("BOT_DATA_KEY", raising=False)
            return [event.data for event in tracker_events.read_events(self.database_url, conversation_id)]

    def nginx_log(self) -> str:
        return (self.var_dir / "cluster" / "logs" / "access.log").read_text()


def _free_port_run(count: int) -> int:
    """The first of `count` consecutive free ports (the replicas' ports follow bot serve's)."""
    for _ in range(100):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            first = probe.getsockname()[1]
        if first + count < 65536 and all(_is_free(port) for port in range(first, first + count)):
            return first
    raise RuntimeError(f"no {count} consecutive free ports")


def _is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def start_cluster(var_dir: Path, replicas: int = 2, env: Dict[str, str] | None = None) -> Cluster:
    """`bot serve --replicas N` with its state in var_dir and a fresh PostgreSQL schema, seeded
    with the demo data; waits until nginx, every replica and the console answer."""
    if not MODEL.exists():
        pytest.fail(f"no trained model at {MODEL}: run `make test`, which trains it first")
    if shutil.which(NGINX) is None:
        pytest.fail(f"no nginx at {NGINX}: run scripts/ensure-nginx.sh (make test does when the cluster tests run)")
    cleanup = ExitStack()
    database_url = cleanup.enter_context(fresh_schema())
    rasa_port, action_port, console_port = _free_port_run(replicas + 1), _free_port_run(replicas), _free_port_run(1)
    # As for the e2e assistant: the rate limits are off (every test talks from 127.0.0.1).
    environment = {"RATE_LIMIT_SENDER_PER_MINUTE": "0", "RATE_LIMIT_IP_PER_MINUTE": "0",
                   "CODE_REQUESTS_PER_ADDRESS_HOUR": "0", "CODE_REQUESTS_PER_ADDRESS_DAY": "0",
                   **os.environ, "BOT_VAR_DIR": str(var_dir), "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
                   "DATABASE_URL": database_url, "LOCK_STORE_REDIS_URL": REDIS_URL,
                   "WEBCHAT_SOCKETIO_REDIS_CHANNEL": f"webchat-test-{uuid.uuid4().hex[:12]}"}
    for name in ("TRACKER_DATABASE_URL", "WEBCHAT_SOCKETIO_REDIS_URL", "BOT_DATA_KEY", "SMS_OUTBOX"):
        environment.pop(name, None)  # the cluster's defaults: the schema above, the Redis above, var/
    environment.update(env or {})
    subprocess.run([sys.executable, "-m", "bot", "demo", "seed"], env=environment, check=True,
                   cwd=PROJECT_ROOT, capture_output=True)
    log = (var_dir / "serve.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "--replicas", str(replicas), "--model", str(MODEL),
         "--rasa-port", str(rasa_port), "--action-port", str(action_port), "--console-port", str(console_port)],
        env=environment, cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT, text=True,
    )
    log.close()
    proxy = Assistant(f"http://localhost:{rasa_port}", var_dir, process, f"http://localhost:{console_port}")
    members = [Assistant(f"http://127.0.0.1:{rasa_port + number}", var_dir, process)
               for number in range(1, replicas + 1)]
    urls = [proxy.base_url + "/nginx-health", proxy.console_url + "/login",
            *(member.base_url + "/" for member in members),
            *(f"http://127.0.0.1:{port}/health" for port in range(action_port, action_port + replicas))]
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not all(_ready(url) for url in urls):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            process.wait()
            cleanup.close()
            logs = "\n".join(f"--- {path.name}\n{path.read_text()[-3000:]}"
                             for path in sorted(var_dir.glob("**/*.log")))
            pytest.fail(f"the cluster did not start:\n{logs}")
        time.sleep(1)
    return Cluster(proxy, members, var_dir, process, database_url, cleanup)


def stop_cluster(cluster: Cluster) -> None:
    """SIGTERM stops bot serve with exit code 0 and leaves no process of its children behind."""
    try:
        groups = set(cluster.run_info()["children"].values())  # each child leads its process group
        cluster.process.send_signal(signal.SIGTERM)
        assert cluster.process.wait(timeout=120) == 0
        left = [pid for pid, group in _process_groups().items() if group in groups]
        assert not left, f"processes outlived bot serve: {[_command(pid) for pid in left]}"
        assert not _ready(cluster.proxy.base_url + "/nginx-health"), "nginx still answers"
        assert not (cluster.var_dir / "run" / "serve.json").exists()
    finally:
        if cluster.process.poll() is None:
            cluster.process.kill()
        cluster._cleanup.close()  # the schema is dropped


def _process_groups() -> Dict[int, int]:
    """pid -> process group of every live process (zombies, already gone in all but name, left out)."""
    groups = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(") ", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z":
            groups[int(stat.parent.name)] = int(fields[2])
    return groups


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return str(pid)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if not (POSTGRES_URL and REDIS_URL):
        pytest.skip("TEST_POSTGRES_URL and TEST_REDIS_URL are not both set")
    running = start_cluster(tmp_path_factory.mktemp("cluster-var"))
    yield running
    stop_cluster(running)

