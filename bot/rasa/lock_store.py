"""A per-conversation lock in Redis that holds across Rasa replicas.

Rasa runs one turn of a conversation at a time by taking the conversation's lock around it
(`Agent.handle_message`, the reminders, the HTTP API's tracker endpoints: `async with
lock_store.lock(conversation_id)`). Rasa 3.6's `RedisLockStore` keeps a queue of tickets as JSON
under the conversation's key and changes it read-then-write, two round trips with nothing atomic in
between: two replicas taking a ticket at the same moment read the same queue, each writes back its
own ticket, and both find themselves first. Their two turns then run at once on the same tracker,
and the events of one are lost or interleaved with the other's (a form asks twice, a slot reverts).

This store keeps one key per conversation whose value is the holder's token:

- in arrival order first: the turns of one conversation within one Rasa process queue on an
  asyncio lock (it wakes its waiters first come, first served), so only the first of them asks
  Redis, and a merchant's messages that wait behind a running turn run in the order they came.
- acquire: `SET <prefix><conversation> <token> NX PX <lifetime>`, one atomic command; while the key
  exists no other replica, process or task can set it. The token is random per acquisition (with
  the host and process that took it, for whoever looks at the key in Redis).
- wait: a turn that finds the key taken tries again every `retry_interval` seconds (asyncio.sleep:
  the event loop serves other conversations meanwhile) until it gets the lock or `wait_timeout`
  (counted from the turn's arrival, its time in line included) passes; then it raises Rasa's
  `LockError` and the channel answers `utter_technical_problem` (the turn fails clearly instead of
  running beside the other one; nothing the merchant filled in is lost, the tracker is untouched).
- release: a Lua script deletes the key only if it still holds this acquisition's token, so a turn
  that outlived its lock (the key expired and another turn took it) cannot free the other turn's
  lock. Such an overrun is logged as a WARNING: raise the lifetime.
- Redis unreachable: logged as an ERROR naming the server, and `LockError` (the same apology).

What it gives up against Rasa's tickets: order across replicas. Tickets served every waiting turn
first come, first served; here that holds within each process only, and between replicas the lock
goes to whichever retries first after a release. A merchant's web chat messages all reach the
replica holding their socket, so they keep their order; REST and WeChat messages spread over
replicas by the load balancer may swap when two of them wait behind a running turn at the same
time (each turn still sees the events of those before it). A turn that waited in its process's
line pauses one retry interval (about 50 ms) before asking Redis, like the other replicas' waiting
turns, so a busy conversation's lock passes from replica to replica instead of staying with one
until its line is empty. Nobody starves within `wait_timeout` unless the conversation is flooded,
which the channels' rate limits stop first.

The lifetime (`lock_lifetime`, the key's expiry) must be longer than the slowest turn, or a second
turn may start while the first is still running. The slowest turn is the one that sends a code by
SMS: the action server's SMS send (bot/sms/yunpian.py) makes up to 3 attempts, each connecting
within `YUNPIAN_TIMEOUT_S` (10 s) and then waiting as long again for the answer, with 0.5 + 1 s of
back-off between them: about 42 s at worst, plus a second or two of NLU, database and tracker work.
It runs in one of `ACTION_WORKER_THREADS` (32) threads, so it queues only when more than 32
conversations wait on the SMS provider at once. Rasa itself waits up to 5 minutes for the action
server (`DEFAULT_REQUEST_TIMEOUT`), a ceiling for a hung server rather than a turn to plan for. The
default, 60 s (Rasa's own `DEFAULT_LOCK_LIFETIME`), covers the SMS worst case with 18 s to spare;
a deployment that raises `YUNPIAN_TIMEOUT_S` raises the lifetime with it (3 x 2 x timeout + 15 s).
The lifetime is also how long a conversation stays locked after a replica died mid-turn.

Configured in endpoints.yml (every key but `type` optional; values may be `${ENV_VARS}`):

    lock_store:
      type: bot.rasa.lock_store.AtomicRedisLockStore
      url: redis.internal          # a host name, or a whole URL (redis://:password@host:6379/1,
                                   # rediss:// for TLS) whose port and db then count
      port: 6379
      db: 1
      password: ${REDIS_PASSWORD}
      key_prefix: settlement       # alphanumeric; keys are <key_prefix>:conversation_lock:<id>
      lock_lifetime: 60            # seconds; else the environment's TICKET_LOCK_LIFETIME, else 60
      wait_timeout: 60             # seconds a turn waits for the lock; default: the lifetime
"""
from __future__ import annotations

import asyncio
import logging
import os
import random
import secrets
import socket
import time
from collections import deque
from contextlib import asynccontextmanager
from dataclasses import dataclass, fields
from typing import Any, AsyncIterator, Dict, Optional, Text

import redis
import redis.asyncio
from rasa.core.constants import DEFAULT_LOCK_LIFETIME
from rasa.core.lock import Ticket, TicketLock
from rasa.core.lock_store import LockError, LockStore
from rasa.utils.endpoints import EndpointConfig

from bot.masking import redact

logger = logging.getLogger(__name__)

__all__ = ["AtomicRedisLockStore", "RedisLockSettings", "LockError"]

LOCK_LIFETIME_ENV = "TICKET_LOCK_LIFETIME"  # Rasa's own setting for its lock stores' lifetime
KEY_NAMESPACE = "conversation_lock:"  # not Rasa's "lock:": its JSON tickets would not parse a token

# Deletes the lock only while it still holds the caller's token: GET and DEL in one atomic step.
RELEASE_SCRIPT = """
if redis.call("GET", KEYS[1]) == ARGV[1] then
    return redis.call("DEL", KEYS[1])
end
return 0
"""


@dataclass(frozen=True)
class RedisLockSettings:
    """Where the locks live and how long they last: the `lock_store` keys of endpoints.yml."""

    url: str = "localhost"
    port: int = 6379
    db: int = 1
    username: Optional[str] = None
    password: Optional[str] = None
    use_ssl: bool = False
    key_prefix: Optional[str] = None
    socket_timeout: float = 10.0
    lock_lifetime: Optional[float] = None
    wait_timeout: Optional[float] = None
    retry_interval: float = 0.05

    @classmethod
    def from_endpoint_config(cls, config: Optional[EndpointConfig]) -> "RedisLockSettings":
        """The settings of an endpoints.yml entry; an unknown key is an error (a typo would
        otherwise leave a default in place unnoticed)."""
        if config is None:
            return cls()
        known = {field.name for field in fields(cls)}
        unknown = sorted(set(config.kwargs) - known)
        if unknown:
            raise ValueError(f"lock_store: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        values: Dict[str, Any] = {name: value for name, value in config.kwargs.items() if value not in (None, "")}
        if config.url:
            values["url"] = config.url
        return cls(**values)

    @property
    def lifetime_s(self) -> float:
        """The endpoint's `lock_lifetime`, else Rasa's TICKET_LOCK_LIFETIME, else 60 s."""
        if self.lock_lifetime is not None:
            return _positive("lock_lifetime", self.lock_lifetime)
        from_env = os.environ.get(LOCK_LIFETIME_ENV, "").strip()
        if from_env and float(from_env) > 0:
            return float(from_env)
        return float(DEFAULT_LOCK_LIFETIME)

    @property
    def wait_timeout_s(self) -> float:
        # A holder frees the lock, or its key expires, within one lifetime: waiting as long gives
        # every waiting turn at least one chance at it.
        if self.wait_timeout is not None:
            return _positive("wait_timeout", self.wait_timeout)
        return self.lifetime_s

    @property
    def keys_prefix(self) -> str:
        if self.key_prefix:
            if not str(self.key_prefix).isalnum():
                raise ValueError(f"lock_store: key_prefix must be alphanumeric, got {self.key_prefix!r}")
            return f"{self.key_prefix}:{KEY_NAMESPACE}"
        return KEY_NAMESPACE

    def where(self) -> str:
        """The server, for log lines (never the password)."""
        if "://" in self.url:
            client = redis.Redis.from_url(self.url)
            kwargs = client.connection_pool.connection_kwargs
            client.close()
            return f"{kwargs.get('host', kwargs.get('path'))}:{kwargs.get('port', '')}/{kwargs.get('db', 0)}"
        return f"{self.url}:{self.port}/{self.db}"

    def client_kwargs(self) -> Dict[str, Any]:
        """Keyword arguments for redis-py's clients (sync and asyncio take the same)."""
        kwargs: Dict[str, Any] = {
            "socket_timeout": float(self.socket_timeout),
            # A server that does not answer at all fails the turn after the same delay, not the
            # operating system's two minutes.
            "socket_connect_timeout": float(self.socket_timeout),
        }
        if self.password:
            kwargs["password"] = self.password
        if self.username:
            kwargs["username"] = self.username
        if "://" not in self.url:
            kwargs.update(host=self.url, port=int(self.port), db=int(self.db), ssl=_flag(self.use_ssl))
        return kwargs


class AtomicRedisLockStore(LockStore):
    """One Redis key per conversation, taken with SET NX PX and a random token, released by a
    script that checks the token (see the module's docstring)."""

    def __init__(self, endpoint_config: Optional[EndpointConfig] = None) -> None:
        # Rasa builds custom lock stores as `cls(endpoint_config=...)`
        # (rasa.core.lock_store._load_from_module_name_in_endpoint_config).
        self.settings = RedisLockSettings.from_endpoint_config(endpoint_config)
        self.lifetime_s = self.settings.lifetime_s
        self.wait_timeout_s = self.settings.wait_timeout_s
        self.retry_interval_s = _positive("retry_interval", self.settings.retry_interval)
        self.key_prefix = self.settings.keys_prefix
        self._client: Optional[redis.asyncio.Redis] = None
        self._client_loop: Optional[asyncio.AbstractEventLoop] = None
        self._sync_client: Optional[redis.Redis] = None
        self._lines: Dict[str, _Line] = {}
        self._owner = f"{socket.gethostname()}:{os.getpid()}"
        self.server = self.settings.where()
        super().__init__()
        logger.info(
            "Conversation locks in Redis at %s (keys %s*), %g s lifetime, turns wait up to %g s",
            self.server, self.key_prefix, self.lifetime_s, self.wait_timeout_s,
        )

    # ---- what Rasa calls -------------------------------------------------------------------

    @asynccontextmanager
    async def lock(
        self,
        conversation_id: Text,
        lock_lifetime: Optional[float] = None,
        wait_time_in_seconds: Optional[float] = None,
    ) -> AsyncIterator[TicketLock]:
        """Hold the conversation's lock for the block. Rasa's callers pass only the conversation
        id; `lock_lifetime` overrides the store's lifetime, `wait_time_in_seconds` (Rasa's pause
        between attempts) its retry interval. Raises `LockError` when the lock is not had within
        the wait timeout or Redis cannot be reached."""
        lifetime_s = _positive("lock_lifetime", lock_lifetime) if lock_lifetime else self.lifetime_s
        retry_s = wait_time_in_seconds or self.retry_interval_s
        deadline = time.monotonic() + self.wait_timeout_s
        async with self._in_arrival_order(conversation_id, deadline) as waited_in_line:
            if waited_in_line:
                # The turn before it in this process has just let go: Redis is free, and this turn
                # would always take it before another replica's waiting turn polls again. It waits
                # like them instead, so replicas share a busy conversation turn by turn.
                await asyncio.sleep(_pause(retry_s, deadline))
            key = self.key_prefix + conversation_id
            token = f"{self._owner}:{secrets.token_hex(16)}"
            await self._acquire(key, token, lifetime_s, retry_s, conversation_id, deadline)
            acquired_at = time.monotonic()
            try:
                yield TicketLock(conversation_id, deque([Ticket(0, time.time() + lifetime_s)]))
            finally:
                await self._release(key, token, conversation_id, time.monotonic() - acquired_at, lifetime_s)

    # ---- this process's line, then Redis ---------------------------------------------------

    @asynccontextmanager
    async def _in_arrival_order(self, conversation_id: str, deadline: float) -> AsyncIterator[bool]:
        """First in this process's line of the conversation's turns (yields whether it had to wait);
        the line is dropped when the last of them is done."""
        line = self._lines.setdefault(conversation_id, _Line())
        line.turns += 1
        try:
            waited = line.turns > 1  # another turn of the conversation holds the line or waits in it
            try:
                await asyncio.wait_for(line.lock.acquire(), max(0.0, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                raise self._waited_too_long(conversation_id) from None
            try:
                yield waited
            finally:
                line.lock.release()
        finally:
            line.turns -= 1
            if not line.turns:
                del self._lines[conversation_id]

    def _waited_too_long(self, conversation_id: str) -> LockError:
        logger.warning(
            "Conversation %s: other turns held its lock for more than %g s; this turn is refused",
            redact(conversation_id), self.wait_timeout_s,
        )
        return LockError(
            f"Could not acquire the lock of conversation '{redact(conversation_id)}' within {self.wait_timeout_s:g} s."
        )

    async def _acquire(
        self, key: str, token: str, lifetime_s: float, retry_s: float, conversation_id: str, deadline: float
    ) -> None:
        lifetime_ms = max(1, int(lifetime_s * 1000))
        try:
            while True:
                if await self.client().set(key, token, nx=True, px=lifetime_ms):
                    return
                if time.monotonic() >= deadline:
                    raise self._waited_too_long(conversation_id)
                await asyncio.sleep(_pause(retry_s, deadline))
        except redis.RedisError as error:
            logger.error(
                "Conversation %s: the lock store's Redis at %s failed (%s: %s); the turn is refused",
                redact(conversation_id), self.server, type(error).__name__, error,
            )
            raise LockError(f"Lock store unavailable: {type(error).__name__}") from error
        except LockError:
            raise
        except BaseException:
            # Cancelled (or failed) while a SET may have reached Redis: free what may be ours,
            # rather than leave the conversation locked for a whole lifetime.
            await self._release_quietly(key, token)
            raise

    async def _release(self, key: str, token: str, conversation_id: str, held_s: float, lifetime_s: float) -> None:
        try:
            released = await self.client().eval(RELEASE_SCRIPT, 1, key, token)
        except redis.RedisError as error:
            # The turn itself is done: it is answered as usual, and the key expires on its own.
            logger.error(
                "Conversation %s: lock not released, Redis at %s failed (%s); it expires within %g s",
                redact(conversation_id), self.server, type(error).__name__, lifetime_s,
            )
            return
        if not released:
            logger.warning(
                "Conversation %s: the turn took %.1f s, longer than the lock lifetime (%g s); another "
                "turn may have run beside it. Raise lock_lifetime (TICKET_LOCK_LIFETIME).",
                redact(conversation_id), held_s, lifetime_s,
            )

    async def _release_quietly(self, key: str, token: str) -> None:
        try:
            await asyncio.shield(self.client().eval(RELEASE_SCRIPT, 1, key, token))
        except BaseException:  # noqa: BLE001 - best effort; the key expires anyway
            pass

    def client(self) -> redis.asyncio.Redis:
        """The asyncio client of the running event loop (its connections belong to that loop)."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            if "://" in self.settings.url:
                self._client = redis.asyncio.Redis.from_url(self.settings.url, **self.settings.client_kwargs())
            else:
                self._client = redis.asyncio.Redis(**self.settings.client_kwargs())
            self._client_loop = loop
        return self._client

    # ---- LockStore's ticket interface, for whoever inspects a lock ---------------------------
    # Rasa's ticket machinery (issue_ticket, cleanup, is_someone_waiting ...) calls these only from
    # the base class's `lock`, which this class replaces; they stay meaningful for callers outside
    # a turn, synchronously, like the base class's.

    def get_lock(self, conversation_id: Text) -> Optional[TicketLock]:
        """The conversation's lock while a turn holds it (one ticket, expiring with the key)."""
        remaining_ms = self.sync_client().pttl(self.key_prefix + conversation_id)
        if remaining_ms is None or remaining_ms < 0:
            return None
        return TicketLock(conversation_id, deque([Ticket(0, time.time() + remaining_ms / 1000)]))

    def delete_lock(self, conversation_id: Text) -> None:
        """Free a conversation whatever turn holds it (an operator's tool: the holder's own release
        then finds its token gone and logs the overrun)."""
        deleted = self.sync_client().delete(self.key_prefix + conversation_id)
        self._log_deletion(conversation_id, bool(deleted))

    def save_lock(self, lock: TicketLock) -> None:
        raise NotImplementedError(
            "AtomicRedisLockStore keeps no ticket queue: take a conversation's lock with `lock()`"
        )

    def sync_client(self) -> redis.Redis:
        if self._sync_client is None:
            if "://" in self.settings.url:
                self._sync_client = redis.Redis.from_url(self.settings.url, **self.settings.client_kwargs())
            else:
                self._sync_client = redis.Redis(**self.settings.client_kwargs())
        return self._sync_client


class _Line:
    """The turns of one conversation waiting in this process: asyncio.Lock serves its waiters first
    come, first served."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.turns = 0


def _pause(retry_s: float, deadline: float) -> float:
    """The pause before the next attempt: jittered, so the waiting turns of several replicas do not
    retry in step, and never past the deadline."""
    return min(retry_s * random.uniform(0.5, 1.5), max(0.0, deadline - time.monotonic()))


def _positive(name: str, value: Any) -> float:
    number = float(value)
    if number <= 0:
        raise ValueError(f"lock_store: {name} must be a positive number of seconds, got {value!r}")
    return number


def _flag(value: Any) -> bool:
    """A YAML boolean, or the string an environment variable substituted into endpoints.yml."""
    return value if isinstance(value, bool) else str(value).strip().lower() in ("1", "true", "yes")
