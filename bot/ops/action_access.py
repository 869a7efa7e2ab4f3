"""Who may call the action server: Rasa, and nobody else (issue 12).

The action server runs any action with any tracker it is sent (rasa_sdk has no authentication), so
it is no public service:

- it listens on `ACTION_BIND_HOST`, this machine only (127.0.0.1) unless set, whatever
  `BOT_BIND_HOST` says: the Rasa server and the console face the reverse proxy, the action server
  only Rasa;
- with `ACTION_SERVER_SECRET` set, every call but `GET /health` (readiness) must carry it in the
  header `X-Action-Server-Secret`, which Rasa sends with every action call (endpoints.yml,
  `action_endpoint.headers`); a missing or wrong one gets 401 (bot/rasa/action_server.py);
- listening anywhere but loopback needs the secret (at least 16 characters): without it neither
  `bot serve` nor the action server starts. On loopback without one, `bot serve` draws one for the
  run and gives it to both servers, so other users and programs of the machine cannot call it either.

Framework-free: `bot serve` (bot/ops/devserver.py) and the server itself both read it.
"""
from __future__ import annotations

import hmac
import ipaddress
import os
import secrets

__all__ = ["HOST_ENV", "SECRET_ENV", "SECRET_HEADER", "bind_host", "reach_host", "is_loopback", "configured_secret",
           "problem", "secret_for_run", "secret_matches"]

HOST_ENV = "ACTION_BIND_HOST"
SECRET_ENV = "ACTION_SERVER_SECRET"
SECRET_HEADER = "X-Action-Server-Secret"
DEFAULT_HOST = "127.0.0.1"
MIN_SECRET_LENGTH = 16
WILDCARDS = ("0.0.0.0", "::", "")


def bind_host() -> str:
    """Where the action server listens: 127.0.0.1 unless ACTION_BIND_HOST says otherwise."""
    return os.environ.get(HOST_ENV, "").strip() or DEFAULT_HOST


def reach_host(host: str) -> str:
    """How this machine reaches a server listening on `host` (Rasa's action calls, readiness)."""
    return "localhost" if host in WILDCARDS or is_loopback(host) else host


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach: 127.0.0.0/8, ::1 and localhost.

    >>> [is_loopback(host) for host in ("127.0.0.1", "::1", "localhost", "0.0.0.0", "10.0.0.5")]
    [True, True, True, False, False]
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def configured_secret() -> str | None:
    return os.environ.get(SECRET_ENV, "").strip() or None


def problem(host: str, secret: str | None) -> str | None:
    """Why the action server must not start on `host` with `secret`, in one line; None when it may."""
    if secret is not None and len(secret) < MIN_SECRET_LENGTH:
        return f"{SECRET_ENV} is too short: use at least {MIN_SECRET_LENGTH} random characters"
    if secret is None and not is_loopback(host):
        return (f"listening on {host or 'every address'} ({HOST_ENV}) needs {SECRET_ENV}, the secret Rasa sends "
                "with every action call: set one, or leave the action server on 127.0.0.1")
    return None


def secret_for_run(host: str) -> str:
    """The secret of this run: the configured one, else (on loopback only) a fresh random one."""
    configured = configured_secret()
    if configured is not None:
        return configured
    if not is_loopback(host):
        raise ValueError(problem(host, None))
    return secrets.token_urlsafe(32)


def secret_matches(presented: str | None, secret: str) -> bool:
    """Compared in constant time: the time taken says nothing about how much of a guess was right."""
    return hmac.compare_digest((presented or "").encode("utf-8"), secret.encode("utf-8"))
