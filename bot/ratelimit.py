"""How many messages one sender, or one IP address, may send to a channel in a sliding window.

The channels (bot/rasa/channels/) ask `RateLimiter.attempt(sender=..., ip=...)` before a message
reaches the dialogue. Allowed, the message is counted under every key given; refused, nothing is
counted and the answer is how many seconds to wait, which the channel tells the merchant
(`utter_rate_limited`: this message was not processed, send it again in N seconds). A refused
message is not counted so that N stays true: a merchant who waits N seconds gets through.

The defaults (`channel_limits`) stop floods, not merchants: 20 messages a minute from one
conversation (a merchant types one every few seconds at most) and 120 a minute from one address
(a shop, an office behind one NAT). 0 switches a limit off.

    >>> now = [1000.0]
    >>> limiter = RateLimiter({"sender": Limit(2, 60)}, clock=lambda: now[0])
    >>> limiter.attempt(sender="m1"), limiter.attempt(sender="m1"), limiter.attempt(sender="m1")
    (0, 0, 60)
    >>> now[0] += 45
    >>> limiter.attempt(sender="m1"), limiter.attempt(sender="m2")
    (15, 0)

Counts live in this process's memory: with several Rasa replicas behind a load balancer, each
replica counts on its own, so a client whose messages are spread over k replicas may send up to
k times the limit (WeChat and the web chat's socket usually stay on one replica; REST requests
are spread). That is enough against a flood; a limit that must hold exactly across replicas
(the SMS budgets in bot/codes) lives in the database instead.
"""
from __future__ import annotations

import math
import os
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Callable, Deque, Dict, Mapping, Optional

# Keys remembered at most, per limit: beyond, the least recently active are forgotten (a flood
# from more addresses than this is not something an in-process limiter can stop anyway).
MAX_KEYS = 100_000

Clock = Callable[[], float]


@dataclass(frozen=True)
class Limit:
    """At most `count` messages in any `window_s` seconds; `count` 0 means no limit."""

    count: int
    window_s: float = 60.0

    @property
    def enabled(self) -> bool:
        return self.count > 0


class SlidingWindow:
    """The times of the last `limit.count` messages of each key, within the window."""

    def __init__(self, limit: Limit, max_keys: int = MAX_KEYS) -> None:
        self.limit = limit
        self.max_keys = max_keys
        self._times: "OrderedDict[str, Deque[float]]" = OrderedDict()
        self._next_sweep = 0.0

    def wait_s(self, key: str, now: float) -> float:
        """Seconds until `key` may send again; 0 when it may now."""
        times = self._times.get(key)
        if times is None or len(times) < self.limit.count:
            return 0.0
        return max(0.0, times[0] + self.limit.window_s - now)

    def record(self, key: str, now: float) -> None:
        times = self._times.get(key)
        if times is None:
            times = self._times[key] = deque(maxlen=self.limit.count)
        else:
            self._times.move_to_end(key)
        times.append(now)
        self._sweep(now)

    def __len__(self) -> int:
        return len(self._times)

    def _sweep(self, now: float) -> None:
        """Forget keys silent for a whole window (once a window), and the least recently active
        ones beyond `max_keys`."""
        if now >= self._next_sweep:
            self._next_sweep = now + self.limit.window_s
            cutoff = now - self.limit.window_s
            for key in [key for key, times in self._times.items() if times[-1] <= cutoff]:
                del self._times[key]
        while len(self._times) > self.max_keys:
            self._times.popitem(last=False)


class RateLimiter:
    """Named limits (`sender`, `ip`) checked together: a message passes only if every key given is
    within its limit, and is then counted under each of them."""

    def __init__(self, limits: Mapping[str, Limit], clock: Clock = time.monotonic,
                 max_keys: int = MAX_KEYS) -> None:
        self._windows: Dict[str, SlidingWindow] = {
            name: SlidingWindow(limit, max_keys) for name, limit in limits.items() if limit.enabled
        }
        self._clock = clock
        # Channels call this on the event loop; a lock keeps it right from worker threads too.
        self._lock = threading.Lock()

    def attempt(self, **keys: Optional[str]) -> int:
        """0 if the message may go on (it is counted); else whole seconds to wait (at least 1).
        Keys that are None or empty, or whose limit is off or not configured, are not checked."""
        checked = {name: key for name, key in keys.items() if key and name in self._windows}
        with self._lock:
            now = self._clock()
            wait = max((self._windows[name].wait_s(key, now) for name, key in checked.items()), default=0.0)
            if wait > 0:
                return max(1, math.ceil(wait))
            for name, key in checked.items():
                self._windows[name].record(key, now)
            return 0


def _per_minute(variable: str, default: int) -> Limit:
    value = os.environ.get(variable, "").strip()
    try:
        count = int(value) if value else default
    except ValueError:
        raise ValueError(f"{variable} must be a whole number of messages per minute (0: no limit), not {value!r}")
    return Limit(max(count, 0), 60.0)


def channel_limits() -> Dict[str, Limit]:
    """The configured limits of every channel: RATE_LIMIT_SENDER_PER_MINUTE (default 20, per
    conversation: a REST sender, a web chat merchant, a WeChat follower) and
    RATE_LIMIT_IP_PER_MINUTE (default 120, per client address: REST and web chat; WeChat's pushes
    all come from WeChat's servers)."""
    return {
        "sender": _per_minute("RATE_LIMIT_SENDER_PER_MINUTE", 20),
        "ip": _per_minute("RATE_LIMIT_IP_PER_MINUTE", 120),
    }


def channel_limiter(clock: Clock = time.monotonic) -> RateLimiter:
    """A limiter with the configured limits (each channel has its own)."""
    return RateLimiter(channel_limits(), clock=clock)

