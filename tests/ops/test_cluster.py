"""What `bot serve --replicas N` runs (bot/ops/cluster.py, bot/ops/devserver.py), without starting
it: the children and their ports, each replica's own action server, the settings' defaults, the
refusals before anything starts, and nginx's configuration (checked by nginx itself when installed).
tests/cluster/ starts the real cluster."""
from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from postgres_schema import POSTGRES_URL, postgres_schema_url

from bot.db.engine import display_url
from bot.db.migrate import upgrade
from bot.ops import cluster, devserver
from bot.settings import PROJECT_ROOT

POSTGRES = "postgresql://bot:secret@db.internal:5432/bot"
REDIS = "redis://:secret@redis.internal:6379/1"


@pytest.fixture
def args(var_dir, tmp_path):
    model = tmp_path / "model.tar.gz"
    model.write_bytes(b"")
    return devserver.parse_args(["--replicas", "2", "--rasa-port", "6005", "--action-port", "6055",
                                 "--console-port", "6080", "--model", str(model)])


def test_the_cluster_uses_its_own_endpoints_file_and_the_single_setup_keeps_its_own():
    assert devserver.parse_args(["--replicas", "3"]).endpoints == PROJECT_ROOT / "endpoints.cluster.yml"
    assert devserver.parse_args([]).endpoints == PROJECT_ROOT / "endpoints.yml"
    assert devserver.parse_args([]).replicas is None


def test_n_replicas_each_with_its_action_server_then_the_console_then_nginx(args, var_dir, monkeypatch):
    monkeypatch.setenv("BOT_BIND_HOST", "0.0.0.0")
    monkeypatch.delenv("SANIC_PROXIES_COUNT", raising=False)
    children = {child.name: child for child in devserver.build_children(args)}
    assert list(children) == ["action server 1", "action server 2", "Rasa replica 1", "Rasa replica 2",
                              "agent console", "nginx"]
    replica = children["Rasa replica 2"]
    command = replica.command
    # Loopback only: nginx, on BOT_BIND_HOST, is the cluster's one door.
    assert command[command.index("--interface") + 1] == "127.0.0.1"
    assert command[command.index("--port") + 1] == "6007"
    assert command[command.index("--endpoints") + 1] == str(PROJECT_ROOT / "endpoints.cluster.yml")
    assert "--enable-api" in command
    assert replica.env == {"ACTION_SERVER_URL": "http://localhost:6056/webhook", "SANIC_PROXIES_COUNT": "1"}
    assert replica.log_path == var_dir / "logs" / "rasa-2.log"
    assert children["action server 2"].command[-2:] == ["--port", "6056"]
    assert children["action server 2"].log_path == var_dir / "logs" / "actions-2.log"
    assert children["nginx"].ready_url == "http://localhost:6005/nginx-health"
    assert children["nginx"].command[-2:] == ["-g", f"daemon off; pid {var_dir / 'cluster' / 'nginx.pid'};"]
    config = (var_dir / "cluster" / "nginx.conf").read_text()
    assert "listen *:6005;" in config
    assert config.count("server 127.0.0.1:6006 ") == config.count("server 127.0.0.1:6007 ") == 2


def test_a_replica_keeps_the_operators_own_proxy_settings(args, monkeypatch):
    monkeypatch.setenv("SANIC_REAL_IP_HEADER", "X-Real-IP")
    replica = cluster.replicas(args)[0]
    assert cluster.replica_environment({"SANIC_REAL_IP_HEADER": "X-Real-IP"}, replica, "localhost") == {
        "ACTION_SERVER_URL": "http://localhost:6055/webhook"}


def test_the_tracker_store_and_the_web_chat_rooms_default_to_the_application_database_and_the_lock_redis(args):
    assert cluster.shared_settings({"DATABASE_URL": POSTGRES, "LOCK_STORE_REDIS_URL": REDIS}) == {
        "DATABASE_URL": POSTGRES, "LOCK_STORE_REDIS_URL": REDIS,
        "TRACKER_DATABASE_URL": POSTGRES, "WEBCHAT_SOCKETIO_REDIS_URL": REDIS}
    elsewhere = {"DATABASE_URL": POSTGRES, "LOCK_STORE_REDIS_URL": REDIS,
                 "TRACKER_DATABASE_URL": "postgresql://db2/rasa", "WEBCHAT_SOCKETIO_REDIS_URL": "redis://r2/0"}
    assert cluster.shared_settings(elsewhere) == elsewhere


def test_nothing_starts_without_postgresql_redis_and_nginx(args, monkeypatch, capsys):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    for name in ("TRACKER_DATABASE_URL", "LOCK_STORE_REDIS_URL", "WEBCHAT_SOCKETIO_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NGINX", "/nonexistent/nginx")
    assert devserver.main(["--replicas", "2", "--model", str(args.model)]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(":")[1].split()[0] for line in lines[:-1]] == [
        "DATABASE_URL", "TRACKER_DATABASE_URL", "LOCK_STORE_REDIS_URL", "nginx"]
    assert lines[-1] == "serve: the cluster did not start, 4 thing(s) to fix (docs/DEPLOYMENT.md)"
    assert not devserver.run_file().exists()


def test_sqlite_and_servers_that_do_not_answer_are_named_without_their_passwords(args):
    environ = {"DATABASE_URL": "sqlite:////tmp/bot.db", "TRACKER_DATABASE_URL": "postgresql://bot:secret@127.0.0.1:9/x",
               "LOCK_STORE_REDIS_URL": "redis://:secret@127.0.0.1:9/0"}
    found = cluster.problems(args, environ)
    assert found[0] == "DATABASE_URL names sqlite, not PostgreSQL: several replicas need a database server"
    assert found[1].startswith("TRACKER_DATABASE_URL: PostgreSQL at postgresql://bot:***@127.0.0.1:9/x does not answer")
    assert found[2] == "LOCK_STORE_REDIS_URL: Redis at 127.0.0.1:9/0 does not answer (ConnectionError)"
    assert not any("secret" in line for line in found)


def test_ports_used_twice_are_refused(args):
    args.action_port = args.rasa_port + 2  # replica 2 and action server 1 on the same port
    assert cluster.problems(args, {})[0].startswith("port 6007 would be used twice")
    args.replicas = 0
    assert cluster.problems(args, {}) == ["--replicas 0: at least 1"]


def test_the_ready_message_names_nginx_each_replica_and_the_shared_state(args, var_dir):
    message = devserver._where_things_are(args, 50, {"DATABASE_URL": POSTGRES, "LOCK_STORE_REDIS_URL": REDIS})
    assert "  REST channel   POST http://localhost:6005/webhooks/rest/webhook" in message
    assert "  replica 2      http://127.0.0.1:6007/ (its action server :6056)" in message
    assert ("  PostgreSQL     postgresql://bot:***@db.internal:5432/bot (application data, tracker store)"
            in message)
    assert "  Redis          redis://redis.internal:6379/1 (conversation locks, web chat rooms)" in message
    assert "secret" not in message


@pytest.mark.skipif(shutil.which(cluster.nginx_binary()) is None, reason="nginx is not installed")
def test_nginx_accepts_the_configuration(args, var_dir):
    config = cluster.write_nginx_config(args, "127.0.0.1")
    command = cluster.nginx_command(config)
    checked = subprocess.run([command[0], "-t", *command[1:]], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    assert "syntax is ok" in checked.stderr


@pytest.mark.postgres
@pytest.mark.skipif(not POSTGRES_URL, reason="TEST_POSTGRES_URL is not set (PostgreSQL tests need a database)")
def test_postgresql_data_written_with_a_key_since_deleted_is_refused(args, tmp_path, monkeypatch):
    """PostgreSQL outlives var/ (make clean): the development key that wrote its data may be gone."""
    with postgres_schema_url(monkeypatch) as url:
        environ = {"DATABASE_URL": url, "LOCK_STORE_REDIS_URL": "redis://127.0.0.1:9/0"}
        assert cluster.problems(args, environ)[0].startswith("DATABASE_URL: the database ")  # no tables yet
        upgrade(url)  # writes the key check with var/secret.key
        assert not any(line.startswith("DATABASE_URL") for line in cluster.problems(args, environ))
        monkeypatch.setenv("BOT_VAR_DIR", str(tmp_path / "a-new-var"))
        assert cluster.problems(args, environ)[0].startswith(
            f"DATABASE_URL: the data in {display_url(url)} was written with another data key than "
            f"{tmp_path / 'a-new-var' / 'secret.key'} (a var/ deleted since, by make clean?)")


def test_servers_started_without_bot_serve_run_the_production_checks_first(var_dir):
    """Kubernetes starts each server by itself: an init container runs `python -m bot.ops.production`."""
    environ = {"PATH": "/usr/bin:/bin", "BOT_ENV": "production", "BOT_VAR_DIR": str(var_dir)}
    checked = subprocess.run([sys.executable, "-m", "bot.ops.production"], cwd=PROJECT_ROOT, env=environ,
                             capture_output=True, text=True)
    assert checked.returncode == 2
    assert checked.stderr.splitlines()[0].startswith("BOT_DATA_KEY is not set")
    assert "RASA_API_TOKEN is not set" in checked.stderr
