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
