"""The channels' rate limiter: sliding windows per sender and per address, checked together."""
from __future__ import annotations

import doctest

import pytest

from bot import ratelimit
from bot.ratelimit import Limit, RateLimiter, channel_limits


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_doctests() -> None:
    assert doctest.testmod(ratelimit).failed == 0


def test_the_window_slides_and_the_wait_is_exact():
    clock = Clock()
    limiter = RateLimiter({"sender": Limit(3, 60)}, clock=clock)
    for offset in (0, 10, 20):
        clock.now = 1000 + offset
        assert limiter.attempt(sender="m1") == 0
    clock.now = 1030
    assert limiter.attempt(sender="m1") == 30  # the first of the three leaves the window at 1060
    clock.now = 1060
    assert limiter.attempt(sender="m1") == 0
    assert limiter.attempt(sender="m1") == 10  # now the one sent at 1010 is the oldest


def test_a_refused_message_is_not_counted_so_waiting_the_time_said_is_enough():
    clock = Clock()
    limiter = RateLimiter({"sender": Limit(2, 60)}, clock=clock)
    limiter.attempt(sender="m1"), limiter.attempt(sender="m1")
    for _ in range(50):  # hammering while refused
        clock.now += 1
        assert limiter.attempt(sender="m1") > 0
    clock.now = 1060
    assert limiter.attempt(sender="m1") == 0


def test_every_key_must_be_within_its_limit_and_only_then_is_counted():
    clock = Clock()
    limiter = RateLimiter({"sender": Limit(5, 60), "ip": Limit(3, 60)}, clock=clock)
    assert [limiter.attempt(sender=f"s{n}", ip="10.0.0.1") for n in range(4)] == [0, 0, 0, 60]
    # The address is full: a fresh sender behind it waits too, and its refusal is not counted.
    assert limiter.attempt(sender="s9", ip="10.0.0.1") == 60
    assert limiter.attempt(sender="s9", ip="10.0.0.2") == 0
    # Another address, same sender: the sender's own count goes on.
    assert [limiter.attempt(sender="s0", ip=f"10.0.1.{n}") for n in range(5)] == [0, 0, 0, 0, 60]


def test_missing_keys_and_switched_off_limits_are_not_checked():
    limiter = RateLimiter({"sender": Limit(1, 60), "ip": Limit(0, 60)}, clock=Clock())
    assert limiter.attempt(sender="m1", ip="10.0.0.1") == 0
    assert limiter.attempt(sender=None, ip="10.0.0.1") == 0
    assert limiter.attempt(ip="10.0.0.1", other="x") == 0
    assert limiter.attempt(sender="m1") == 60


def test_silent_keys_are_forgotten_and_memory_is_bounded():
    clock = Clock()
    limiter = RateLimiter({"sender": Limit(2, 60)}, clock=clock, max_keys=100)
    for n in range(500):
        limiter.attempt(sender=f"s{n}")
    window = limiter._windows["sender"]
    assert len(window) == 100  # the least recently active were dropped
    clock.now += 61
    limiter.attempt(sender="late")
    assert len(window) == 1


def test_configured_from_the_environment(monkeypatch):
    monkeypatch.delenv("RATE_LIMIT_SENDER_PER_MINUTE", raising=False)
    monkeypatch.delenv("RATE_LIMIT_IP_PER_MINUTE", raising=False)
    assert channel_limits() == {"sender": Limit(20, 60), "ip": Limit(120, 60)}
    monkeypatch.setenv("RATE_LIMIT_SENDER_PER_MINUTE", "5")
    monkeypatch.setenv("RATE_LIMIT_IP_PER_MINUTE", "0")
    assert channel_limits() == {"sender": Limit(5, 60), "ip": Limit(0, 60)}
    monkeypatch.setenv("RATE_LIMIT_IP_PER_MINUTE", "lots")
    with pytest.raises(ValueError, match="RATE_LIMIT_IP_PER_MINUTE"):
        channel_limits()
