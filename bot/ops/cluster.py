"""What `bot serve --replicas N` (`make cluster`) runs: N Rasa replicas behind nginx, each with an
action server of its own, sharing PostgreSQL and Redis. bot/ops/devserver.py starts and supervises
the processes; this module says what they are (ports, settings, nginx's configuration) and what
must be there first. docs/DEPLOYMENT.md describes the whole setup.

Ports, from bot serve's own: nginx listens where the single Rasa server would (`--rasa-port`, 5005,
on BOT_BIND_HOST), so merchants, the console and the operator use the same address either way;
replica i (1..N) listens on rasa_port + i (5006, 5007, ...) and its action server on
action_port + i - 1 (5055, 5056, ...), both on loopback: nginx is the cluster's one door. The
console keeps its port (5080).

Shared state, from the environment (problems() names what is missing, before anything starts):

| variable | what | default |
|---|---|---|
| DATABASE_URL | application data (action servers, console), PostgreSQL | none |
| TRACKER_DATABASE_URL | Rasa's tracker store (endpoints.cluster.yml), PostgreSQL | DATABASE_URL |
| LOCK_STORE_REDIS_URL | conversation locks (bot/rasa/lock_store.py) | none |
| WEBCHAT_SOCKETIO_REDIS_URL | the web chat's socket.io rooms (bot/rasa/channels/webchat.py) | LOCK_STORE_REDIS_URL |

nginx (Debian's package, scripts/ensure-nginx.sh; NGINX names another binary) runs with its
configuration, logs and temporary files under var/cluster/ (cluster_nginx.conf, rendered at every
start), in the foreground, as a child of bot serve like the servers.
"""
from __future__ import annotations

import argparse
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

import redis
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from bot.change_requests.documents import MAX_UPLOAD_BYTES
from bot.db import crypto, key_check
from bot.db.engine import display_url, make_engine, session_factory, session_scope
from bot.settings import PROJECT_ROOT, is_development, var_dir

ENDPOINTS = PROJECT_ROOT / "endpoints.cluster.yml"
NGINX_TEMPLATE = Path(__file__).with_name("cluster_nginx.conf")
DEFAULT_NGINX = "/usr/sbin/nginx"  # Debian's package (scripts/ensure-nginx.sh)
TRACKER_ENV = "TRACKER_DATABASE_URL"
LOCKS_ENV = "LOCK_STORE_REDIS_URL"
ROOMS_ENV = "WEBCHAT_SOCKETIO_REDIS_URL"
# Sanic's settings for the client's address behind a proxy (bot/rasa/channels/limits.py).
_FORWARDING_ENV = ("SANIC_PROXIES_COUNT", "SANIC_REAL_IP_HEADER", "SANIC_FORWARDED_SECRET")
REPLICA_HOST = "127.0.0.1"
CONNECT_TIMEOUT_S = 5


@dataclass(frozen=True)
class Replica:
    number: int  # 1..N
    rasa_port: int
    action_port: int

    @property
    def url(self) -> str:
        return f"http://{REPLICA_HOST}:{self.rasa_port}"


def replicas(args: argparse.Namespace) -> List[Replica]:
    return [Replica(number, args.rasa_port + number, args.action_port + number - 1)
            for number in range(1, args.replicas + 1)]


def cluster_dir() -> Path:
    return var_dir() / "cluster"


def nginx_binary() -> str:
    return os.environ.get("NGINX") or DEFAULT_NGINX


def shared_settings(environ: Dict[str, str]) -> Dict[str, str]:
    """The cluster's settings as the children get them: the documented defaults filled in."""
    settings = {name: environ[name] for name in ("DATABASE_URL", LOCKS_ENV) if environ.get(name)}
    tracker = environ.get(TRACKER_ENV) or environ.get("DATABASE_URL")
    rooms = environ.get(ROOMS_ENV) or environ.get(LOCKS_ENV)
    settings.update({TRACKER_ENV: tracker} if tracker else {})
    settings.update({ROOMS_ENV: rooms} if rooms else {})
    return settings


def replica_environment(environ: Dict[str, str], replica: Replica, actions_host: str) -> Dict[str, str]:
    """What one replica gets on top of the children's environment: its own action server, and
    nginx as the one proxy whose X-Forwarded-For names the client (unless the operator configured
    Sanic's forwarding settings for another chain of proxies)."""
    env = {"ACTION_SERVER_URL": f"http://{actions_host}:{replica.action_port}/webhook"}
    if not any(environ.get(name) for name in _FORWARDING_ENV):
        env["SANIC_PROXIES_COUNT"] = "1"
    return env


def problems(args: argparse.Namespace, environ: Dict[str, str]) -> List[str]:
    """Everything that stops the cluster from starting, one line each; [] when it may start."""
    if args.replicas < 1:
        return [f"--replicas {args.replicas}: at least 1"]
    found = _port_problems(args)
    settings = shared_settings(environ)
    for name in ("DATABASE_URL", TRACKER_ENV):
        found.extend(_postgres_problems(name, settings.get(name)))
    if not found and is_development():  # outside development the production checks did this
        found.extend(_data_key_problems(settings["DATABASE_URL"]))
    found.extend(_redis_problems(LOCKS_ENV, settings.get(LOCKS_ENV)))
    if settings.get(ROOMS_ENV) != settings.get(LOCKS_ENV):
        found.extend(_redis_problems(ROOMS_ENV, settings.get(ROOMS_ENV)))
    if shutil.which(nginx_binary()) is None:
        found.append(f"nginx is not installed at {nginx_binary()}: run scripts/ensure-nginx.sh "
                     "(or set NGINX), make cluster does")
    return found


def _port_problems(args: argparse.Namespace) -> List[str]:
    rasa_ports = {replica.rasa_port for replica in replicas(args)}
    action_ports = {replica.action_port for replica in replicas(args)}
    clashes = sorted((rasa_ports & action_ports) | ({args.console_port} & (rasa_ports | action_ports)))
    if not clashes:
        return []
    return [f"port {', '.join(map(str, clashes))} would be used twice: replicas listen on --rasa-port + 1..N, "
            "their action servers on --action-port + 0..N-1, the console on --console-port"]


def _postgres_problems(name: str, url: Optional[str]) -> List[str]:
    if not url:
        return [f"{name} is not set: the replicas share their data in PostgreSQL "
                "(postgresql://user:password@host:5432/database)"]
    try:
        backend = make_url(url).get_backend_name()
    except ArgumentError:
        return [f"{name} is not a database URL"]
    if backend != "postgresql":
        return [f"{name} names {backend}, not PostgreSQL: several replicas need a database server"]
    engine = make_engine(url, connect_args={"connect_timeout": CONNECT_TIMEOUT_S})
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as error:
        return [f"{name}: PostgreSQL at {display_url(url)} does not answer ({type(error.orig or error).__name__})"]
    finally:
        engine.dispose()
    return []


def _data_key_problems(url: str) -> List[str]:
    """The development key (var/secret.key) decrypts what PostgreSQL holds. PostgreSQL outlives
    var/: after `make clean` the data there was written with a key that is gone."""
    engine = make_engine(url)
    try:
        with session_scope(session_factory(engine)) as session:
            if not key_check.has_key_check_table(session):
                return [f"DATABASE_URL: the database {display_url(url)} has no tables yet: run `bot db upgrade` "
                        "(make cluster does)"]
            key_check.confirm(session)
    except key_check.KeyMismatch:
        key = crypto.KEY_ENV if os.environ.get(crypto.KEY_ENV) else crypto.key_file_path()
        return [f"DATABASE_URL: the data in {display_url(url)} was written with another data key than {key} "
                f"(a var/ deleted since, by make clean?): use an empty database, or set {crypto.KEY_ENV} to "
                "the key it was written with"]
    except crypto.DataKeyError as error:  # a malformed BOT_DATA_KEY
        return [str(error)]
    finally:
        engine.dispose()
    return []


def _redis_problems(name: str, url: Optional[str]) -> List[str]:
    if not url:
        return [f"{name} is not set: the replicas share conversation locks and web chat rooms in Redis "
                "(redis://host:6379/0)"]
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT_S,
                                      socket_timeout=CONNECT_TIMEOUT_S)
    except ValueError:
        return [f"{name} is not a Redis URL (redis://host:6379/0)"]
    try:
        client.ping()
    except redis.RedisError as error:
        return [f"{name}: Redis at {_redis_address(client)} does not answer ({type(error).__name__})"]
    finally:
        client.close()
    return []


def _redis_address(client: redis.Redis) -> str:
    """Where a client connects, without its password."""
    kwargs = client.connection_pool.connection_kwargs
    return f"{kwargs.get('host')}:{kwargs.get('port')}/{kwargs.get('db')}"


def nginx_config(args: argparse.Namespace, listen_host: str) -> str:
    """cluster_nginx.conf with this cluster's replicas, address and folders filled in."""
    folder = cluster_dir()
    # max_fails=0: a replica is never marked down (cluster_nginx.conf says why).
    servers = "\n".join(f"        server {REPLICA_HOST}:{replica.rasa_port} max_fails=0;"
                        for replica in replicas(args))
    values = {
        "listen": f"{_nginx_host(listen_host)}:{args.rasa_port}",
        "replica_servers": servers,
        "logs": str(folder / "logs"),
        "temp": str(folder / "temp"),
        "upload_max": f"{MAX_UPLOAD_BYTES // (1024 * 1024) + 1}m",  # the file and the form around it
    }
    config = NGINX_TEMPLATE.read_text(encoding="utf-8")
    for name, value in values.items():
        config = config.replace("{{" + name + "}}", value)
    return config


def _nginx_host(host: str) -> str:
    if host in ("0.0.0.0", ""):
        return "*"
    return f"[{host}]" if ":" in host else host


def write_nginx_config(args: argparse.Namespace, listen_host: str) -> Path:
    folder = cluster_dir()
    for sub in ("logs", "temp"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    path = folder / "nginx.conf"
    path.write_text(nginx_config(args, listen_host), encoding="utf-8")
    return path


def nginx_command(config: Path) -> List[str]:
    """nginx in the foreground, everything it writes under var/cluster/ (no root needed, unless
    the port is below 1024)."""
    folder = config.parent
    return [nginx_binary(), "-p", f"{folder}/", "-c", str(config), "-e", str(folder / "logs" / "error.log"),
            "-g", f"daemon off; pid {folder / 'nginx.pid'};"]


def describe(args: argparse.Namespace, environ: Dict[str, str]) -> List[str]:
    """The ready message's lines about the replicas and the shared state."""
    settings = shared_settings(environ)
    lines = [f"  nginx          http://localhost:{args.rasa_port}/ in front of the replicas: the addresses above "
             f"(config and logs in {cluster_dir()})"]
    lines.extend(f"  replica {replica.number}      {replica.url}/ (its action server :{replica.action_port})"
                 for replica in replicas(args))
    database, tracker = settings.get("DATABASE_URL", ""), settings.get(TRACKER_ENV, "")
    lines.append(f"  PostgreSQL     {display_url(database)} (application data"
                 + (", tracker store)" if tracker == database else f"); tracker store {display_url(tracker)}"))
    locks, rooms = settings.get(LOCKS_ENV, ""), settings.get(ROOMS_ENV, "")
    lines.append(f"  Redis          {_safe_redis_url(locks)} (conversation locks"
                 + (", web chat rooms)" if rooms == locks else f"); web chat rooms {_safe_redis_url(rooms)}"))
    return lines


def _safe_redis_url(url: str) -> str:
    try:
        return f"redis://{_redis_address(redis.Redis.from_url(url))}"
    except ValueError:
        return "(not a Redis URL)"
