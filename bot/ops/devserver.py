"""`bot serve`: run the action server, the Rasa server and the agent console as children of one process.

Prints where everything is once all three answer, and stops them cleanly on Ctrl-C or SIGTERM. The
children also die with this process (PR_SET_PDEATHSIG), and this process stops when its own
parent goes away (e.g. `make` killed by SIGTERM), so no server is ever left orphaned.

Once all have answered, a child that dies is started again (after 1 s, doubling for each restart
within 10 minutes): the action server crashing, or killed for memory, must not take the Rasa
server and every open conversation down with it. Meanwhile the channels answer each message with
an apology (bot/rasa/channels/safety_net.py) and the forms keep their values in the tracker store, so
merchants carry on where they were once it is back. A child that dies 5 times within 10 minutes
is a fault to look at, not to hide: all are stopped and `bot serve` exits 1. `var/run/serve.json`
always names the running children's pids.

Outside development (`BOT_ENV=production`) nothing starts until every production setting is there
(bot/ops/production.py: one line per missing one, exit code 2), and Rasa gets no `--cors "*"`.

The console (`python -m console`, Flask on waitress) listens on `BOT_BIND_HOST` like the others,
port `CONSOLE_PORT` (default 5080); in development the ready message names the demo accounts
`bot demo seed` made (bot/ops/demo_accounts.py).

The action server (`python -m bot.rasa.action_server`) is for Rasa only: it listens on
`ACTION_BIND_HOST` (127.0.0.1 unless set), not `BOT_BIND_HOST`, and both get the same
`ACTION_SERVER_SECRET`, drawn for the run when none is set (bot/ops/action_access.py). Listening
elsewhere without a configured secret, nothing starts.

`bot serve --replicas N` runs the cluster instead (bot/ops/cluster.py, `make cluster`): N Rasa
replicas, each with its own action server, behind nginx on the Rasa port, on PostgreSQL and Redis;
supervised the same way, one console.
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

from bot.ops import action_access, cluster, demo_accounts, production
from bot.settings import PROJECT_ROOT, console_port, is_development, var_dir

READY_TIMEOUT_S = 240
PR_SET_PDEATHSIG = 1
RESTART_DELAY_S = 1.0  # before the first restart; doubled for each further one in the window
MAX_RESTART_DELAY_S = 30.0
MAX_RESTARTS = 5  # within RESTART_WINDOW_S; one more death stops bot serve
RESTART_WINDOW_S = 600.0


@dataclass
class Child:
    name: str
    command: List[str]
    ready_url: str
    log_path: Path
    env: Dict[str, str] = field(default_factory=dict)  # this child's own, over the shared environment
    process: Optional[subprocess.Popen] = field(default=None, repr=False)
    restarts: List[float] = field(default_factory=list, repr=False)  # monotonic times

    def start(self, env: Dict[str, str]) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:  # the child has its own copy of the descriptor
            self.process = subprocess.Popen(
                self.command,
                cwd=PROJECT_ROOT,
                env={**env, **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: we signal the whole group
                preexec_fn=_die_with_parent,
            )

    def restart_delay(self, now: float) -> Optional[float]:
        """How long to wait before starting the dead child again; None when it died too often."""
        self.restarts = [moment for moment in self.restarts if now - moment < RESTART_WINDOW_S]
        if len(self.restarts) >= MAX_RESTARTS:
            return None
        return min(RESTART_DELAY_S * 2 ** len(self.restarts), MAX_RESTART_DELAY_S)

    def restart(self, env: Dict[str, str], now: float) -> None:
        # What the dead child left in its process group (workers) goes first: it holds the port.
        if self.process is not None:
            _signal_group(self.process, signal.SIGKILL)
        self.restarts.append(now)
        self.start(env)

    def is_ready(self) -> bool:
        try:
            with urllib.request.urlopen(self.ready_url, timeout=2) as reply:
                return reply.status == 200
        except OSError:
            return False

    def exited(self) -> Optional[int]:
        return self.process.poll() if self.process else None

    def stop(self, grace_s: float = 15) -> None:
        if not self.process or self.process.poll() is not None:
            return
        _signal_group(self.process, signal.SIGTERM)
        try:
            self.process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            _signal_group(self.process, signal.SIGKILL)
            self.process.wait()


def _die_with_parent() -> None:
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(process.pid, signum)
    except ProcessLookupError:
        pass


def bind_host() -> str:
    """Where the Rasa server and the console listen: this machine only, unless BOT_BIND_HOST says
    otherwise (e.g. 0.0.0.0 behind a reverse proxy that terminates TLS for the web chat and WeChat).
    Not the action server: ACTION_BIND_HOST (bot/ops/action_access.py)."""
    return os.environ.get("BOT_BIND_HOST", "127.0.0.1")


def reach_host(host: Optional[str] = None) -> str:
    """How this machine reaches the Rasa server and the console (readiness checks)."""
    host = host or bind_host()
    return "localhost" if host in ("0.0.0.0", "::", "127.0.0.1") else host


def api_token_arguments() -> List[str]:
    """Rasa's HTTP API reads and changes any conversation (web chat and WeChat ones too): outside
    development set RASA_API_TOKEN, and every API call then needs `?token=` (bot.agents.handback sends it)."""
    token = os.environ.get("RASA_API_TOKEN")
    return ["--auth-token", token] if token else []


def cors_arguments() -> List[str]:
    """Which web pages' scripts may read Rasa's answers: any in development (`--cors "*"`); outside
    it only the origins BOT_CORS_ORIGINS names, or none (the web chat page is served by Rasa
    itself and needs no CORS), so no page opened on the machine reads a tracker."""
    if is_development():
        return ["--cors", "*"]
    origins = production.cors_origins()
    return ["--cors", *origins] if origins else []


def replica_count(args: argparse.Namespace) -> int:
    """N of `--replicas N`; 0 for the single setup (also for arguments built without the option)."""
    return getattr(args, "replicas", None) or 0


def build_children(args: argparse.Namespace) -> List[Child]:
    if replica_count(args):
        return _cluster_children(args)
    return [_action_server(args.action_port), _rasa_server(args, bind_host(), args.rasa_port), _console(args)]


def _action_server(port: int, name: str = "action server", log_name: str = "actions.log") -> Child:
    host = action_access.bind_host()
    return Child(
        name=name,
        command=[
            sys.executable, "-m", "bot.rasa.action_server",
            "--actions", "actions", "--host", host, "--port", str(port),
        ],
        ready_url=f"http://{action_access.reach_host(host)}:{port}/health",
        log_path=var_dir() / "logs" / log_name,
    )


def _rasa_server(args: argparse.Namespace, host: str, port: int, name: str = "Rasa server",
                 log_name: str = "rasa.log") -> Child:
    bin_dir = Path(sys.executable).parent
    return Child(
        name=name,
        command=[
            str(bin_dir / "rasa"), "run",
            "--enable-api", *cors_arguments(), "--interface", host,
            "--port", str(port),
            "--model", str(args.model),
            "--endpoints", str(args.endpoints),
            "--credentials", str(args.credentials),
            *api_token_arguments(),
        ],
        ready_url=f"http://{reach_host(host)}:{port}/",
        log_path=var_dir() / "logs" / log_name,
    )


def _console(args: argparse.Namespace) -> Child:
    return Child(
        name="agent console",
        command=[sys.executable, "-m", "console", "--host", bind_host(), "--port", str(args.console_port)],
        ready_url=f"http://{reach_host()}:{args.console_port}/login",  # the one page without a session
        log_path=var_dir() / "logs" / "console.log",
    )


def _cluster_children(args: argparse.Namespace) -> List[Child]:
    """Each replica's action server, the replicas (each calling its own), the console, and nginx
    in front of the replicas on the Rasa port (stopped first: no new request reaches a stopping replica)."""
    actions, replicas = [], []
    for replica in cluster.replicas(args):
        actions.append(_action_server(replica.action_port, f"action server {replica.number}",
                                      f"actions-{replica.number}.log"))
        rasa = _rasa_server(args, cluster.REPLICA_HOST, replica.rasa_port, f"Rasa replica {replica.number}",
                            f"rasa-{replica.number}.log")
        rasa.env = cluster.replica_environment(dict(os.environ), replica, action_access.reach_host(
            action_access.bind_host()))
        replicas.append(rasa)
    config = cluster.write_nginx_config(args, bind_host())
    nginx = Child(name="nginx", command=cluster.nginx_command(config),
                  ready_url=f"http://{reach_host()}:{args.rasa_port}/nginx-health",
                  log_path=cluster.cluster_dir() / "logs" / "nginx.log")
    return [*actions, *replicas, _console(args), nginx]


def child_environment(args: argparse.Namespace) -> Dict[str, str]:
    env = dict(os.environ)
    env["BOT_VAR_DIR"] = str(var_dir())
    actions_host = action_access.bind_host()
    env["ACTION_SERVER_URL"] = f"http://{action_access.reach_host(actions_host)}:{args.action_port}/webhook"
    # Rasa sends it with every action call (endpoints.yml), the action server checks it.
    env[action_access.SECRET_ENV] = action_access.secret_for_run(actions_host)
    # Where the console hands conversations back (bot.agents.handback): this Rasa server, unless
    # the operator names another address (a load balancer in front of several replicas).
    env.setdefault("RASA_URL", f"http://{reach_host()}:{args.rasa_port}")
    env.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")
    if replica_count(args):
        env.update(cluster.shared_settings(env))
    return env


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bot serve", description=__doc__.splitlines()[0])
    parser.add_argument("--rasa-port", type=int, default=int(os.environ.get("RASA_PORT", 5005)))
    parser.add_argument("--action-port", type=int, default=int(os.environ.get("ACTION_PORT", 5055)))
    parser.add_argument("--console-port", type=int, default=console_port())
    parser.add_argument("--model", type=Path, default=PROJECT_ROOT / "models" / "current.tar.gz")
    parser.add_argument("--endpoints", type=Path,
                        help="default: endpoints.yml, with --replicas endpoints.cluster.yml")
    parser.add_argument("--credentials", type=Path, default=PROJECT_ROOT / "credentials.yml")
    parser.add_argument("--replicas", type=int, metavar="N",
                        help="run the cluster: N Rasa replicas and N action servers behind nginx on the Rasa "
                             "port, on PostgreSQL and Redis (bot/ops/cluster.py, docs/DEPLOYMENT.md)")
    args = parser.parse_args(argv)
    if args.endpoints is None:
        args.endpoints = cluster.ENDPOINTS if args.replicas else PROJECT_ROOT / "endpoints.yml"
    return args


class _Stop(Exception):
    pass


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    if not is_development():
        refused = production.problems()  # before anything starts, the model is not even read
        for problem in refused:
            print(f"serve: {problem}", file=sys.stderr)
        if refused:
            print(f"serve: BOT_ENV={os.environ.get('BOT_ENV')}: not started, {len(refused)} setting(s) to fix "
                  "(README, Production)", file=sys.stderr)
            return 2
    if not args.model.exists():
        print(f"serve: no trained model at {args.model}; run `make run` (it trains when needed)",
              file=sys.stderr)
        return 2
    unsafe = action_access.problem(action_access.bind_host(), action_access.configured_secret())
    if unsafe is not None:
        print(f"serve: action server {unsafe}", file=sys.stderr)
        return 2
    if args.replicas is not None:
        refused = cluster.problems(args, dict(os.environ))
        for problem in refused:
            print(f"serve: {problem}", file=sys.stderr)
        if refused:
            print(f"serve: the cluster did not start, {len(refused)} thing(s) to fix (docs/DEPLOYMENT.md)",
                  file=sys.stderr)
            return 2
    children = build_children(args)
    parent = os.getppid()

    def stop_signal(signum: int, _frame: object) -> None:
        raise _Stop(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, stop_signal)
    signal.signal(signal.SIGINT, stop_signal)
    env = child_environment(args)
    started = time.monotonic()
    try:
        for child in children:
            child.start(env)
        print(f"[serve] starting {_what_starts(args)}; logs in {var_dir() / 'logs'}", flush=True)
        _write_run_file(args, children)
        _wait_until_ready(children, started)
        print(_where_things_are(args, time.monotonic() - started, env), flush=True)
        return _supervise(args, children, env, parent)
    except _Stop as stop:
        print(f"\n[serve] {stop}: stopping the servers", flush=True)
        return 0
    except TimeoutError as error:
        print(f"serve: {error}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for child in reversed(children):
            child.stop()
        run_file().unlink(missing_ok=True)


def _supervise(args: argparse.Namespace, children: List[Child], env: Dict[str, str], parent: int) -> int:
    """Watch the ready children until this process is told to stop; start a dead one again."""
    restart_at: Dict[str, float] = {}  # child name -> when to start it again
    coming_back: Dict[str, float] = {}  # child name -> when it was started again, until ready
    while True:
        now = time.monotonic()
        for child in children:
            if child.name in restart_at:
                if now >= restart_at[child.name]:
                    del restart_at[child.name]
                    child.restart(env, now)
                    _write_run_file(args, children)
                    coming_back[child.name] = now
                continue
            code = child.exited()
            if code is not None:
                delay = child.restart_delay(now)
                if delay is None:
                    print(f"serve: the {child.name} stopped (exit code {code}) {MAX_RESTARTS + 1} times within "
                          f"{RESTART_WINDOW_S / 60:.0f} minutes; stopping. See {child.log_path}", file=sys.stderr)
                    return 1
                print(f"serve: the {child.name} stopped (exit code {code}); starting it again in {delay:.0f} s. "
                      f"See {child.log_path}", file=sys.stderr, flush=True)
                restart_at[child.name] = now + delay
                coming_back.pop(child.name, None)
            elif child.name in coming_back and child.is_ready():
                print(f"[serve] the {child.name} is back, ready after {now - coming_back.pop(child.name):.0f} s",
                      flush=True)
        if os.getppid() != parent:
            return 0
        time.sleep(0.5)


def run_file() -> Path:
    """Pids and ports of the running servers, for benchmarks, tests and operators."""
    return var_dir() / "run" / "serve.json"


def _write_run_file(args: argparse.Namespace, children: List[Child]) -> None:
    path = run_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "pid": os.getpid(),
        "rasa_port": args.rasa_port,
        "action_port": args.action_port,
        "console_port": args.console_port,
        "children": {child.name: child.process.pid for child in children if child.process},
        **({"replicas": [{"rasa_port": replica.rasa_port, "action_port": replica.action_port}
                         for replica in cluster.replicas(args)]} if replica_count(args) else {}),
    }, ensure_ascii=False))


def _wait_until_ready(children: List[Child], started: float) -> None:
    pending = list(children)
    while pending:
        for child in list(pending):
            code = child.exited()
            if code is not None:
                raise TimeoutError(
                    f"the {child.name} exited with code {code} while starting; see {child.log_path}"
                )
            if child.is_ready():
                print(f"[serve] {child.name} ready after {time.monotonic() - started:.0f} s", flush=True)
                pending.remove(child)
        if time.monotonic() - started > READY_TIMEOUT_S:
            names = ", ".join(child.name for child in pending)
            raise TimeoutError(f"not ready after {READY_TIMEOUT_S} s: {names}")
        time.sleep(0.5)


def _console_lines(args: argparse.Namespace) -> List[str]:
    """The console's address, with the demo accounts in development (bot demo seed made them)."""
    address = f"  agent console  http://localhost:{args.console_port}/"
    logins = demo_accounts.demo_logins()
    if not logins:
        return [f"{address}  (accounts: bot agents add NAME --role agent|reviewer|trainer)"]
    indent = " " * 17
    return [f"{address}  demo accounts (development only, kept in {demo_accounts.passwords_file()}):",
            *demo_accounts.describe(logins, indent=indent)]


def _what_starts(args: argparse.Namespace) -> str:
    count = replica_count(args)
    if count:
        return f"{count} Rasa replica(s), {count} action server(s), the agent console and nginx (a minute or two)"
    return "the action server, the Rasa server and the agent console (about a minute)"


def _where_things_are(args: argparse.Namespace, elapsed_s: float, env: Optional[Dict[str, str]] = None) -> str:
    channels = args.credentials.read_text(encoding="utf-8")
    web_chat = "bot.rasa.channels.webchat.WebChatInput" in channels
    wechat = "bot.rasa.channels.wechat.WeChatInput" in channels
    wechat_state = ("safe mode" if os.environ.get("WECHAT_AES_KEY") else "plaintext mode") \
        if os.environ.get("WECHAT_TOKEN") else "refuses every push until WECHAT_TOKEN is set"
    # The cluster keeps its databases in PostgreSQL (its line above).
    kept_in_var = "SMS outbox, logs" if replica_count(args) else "database, SMS outbox, tracker store, logs"
    return "\n".join([
        f"[serve] ready in {elapsed_s:.0f} s. Ctrl-C stops the servers.",
        *([f"  web chat page  http://localhost:{args.rasa_port}/webhooks/webchat/"] if web_chat else []),
        *([f"  WeChat pushes  http://localhost:{args.rasa_port}/webhooks/wechat/webhook ({wechat_state})"]
          if wechat else []),
        f"  REST channel   POST http://localhost:{args.rasa_port}/webhooks/rest/webhook",
        f"  NLU parse      POST http://localhost:{args.rasa_port}/model/parse",
        *(cluster.describe(args, env or dict(os.environ)) if replica_count(args)
          else [f"  action server  http://localhost:{args.action_port}/health"]),
        *_console_lines(args),
        f"  state          {var_dir()}  ({kept_in_var})",
    ])


if __name__ == "__main__":
    sys.exit(main())
