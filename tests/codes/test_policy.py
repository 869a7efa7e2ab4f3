"""The numbers of the code rules (bot.codes.policy) are those of DOMAIN_RULES.md, and what counts as a typed code."""
from __future__ import annotations

import doctest
from datetime import timedelta

from bot.codes import DEFAULT_POLICY, policy
from bot.codes.policy import CODE_DIGITS, typed_code


def test_the_default_policy_is_the_providers_convention() -> None:
    assert CODE_DIGITS == 6
    assert DEFAULT_POLICY.code_ttl == timedelta(minutes=5)
    assert DEFAULT_POLICY.max_attempts == 5
    assert DEFAULT_POLICY.resend_interval == timedelta(seconds=60)
    assert (DEFAULT_POLICY.max_sends_per_hour, DEFAULT_POLICY.max_sends_per_day) == (5, 10)
    assert DEFAULT_POLICY.lock_duration == timedelta(minutes=30)


def test_a_typed_code_is_six_digits_after_normalising() -> None:
    assert typed_code("493817") == "493817"
    assert typed_code("４９３８１７") == "493817"  # full width
    assert typed_code("验证码是 493817 谢谢") == "493817"
    for not_a_code in ("abc", "12345", "", None, "1234567"):
        assert typed_code(not_a_code) is None, not_a_code


def test_doctests() -> None:
    assert doctest.testmod(policy).failed == 0


def test_the_per_address_limits_come_from_the_configuration(monkeypatch) -> None:
    import pytest

    from bot.codes.policy import Policy, policy_from_env

    monkeypatch.setenv("CODE_REQUESTS_PER_ADDRESS_HOUR", "0")
    monkeypatch.setenv("CODE_REQUESTS_PER_ADDRESS_DAY", "7")
    policy = policy_from_env()
    assert (policy.max_requests_per_address_hour, policy.max_requests_per_address_day) == (0, 7)
    assert policy.max_requests_per_conversation_hour == Policy().max_requests_per_conversation_hour
    monkeypatch.delenv("CODE_REQUESTS_PER_ADDRESS_HOUR")
    assert policy_from_env().max_requests_per_address_hour == 20
    monkeypatch.setenv("CODE_REQUESTS_PER_ADDRESS_DAY", "many")
    with pytest.raises(ValueError):
        policy_from_env()
