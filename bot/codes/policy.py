"""The rules one-time codes follow, as numbers in one place (`Policy`), and what counts as a typed code.

The defaults are the conventions of the big SMS providers (DOMAIN_RULES.md, "Mobile numbers and
SMS codes"): 6 digits, valid 5 minutes, void after 5 wrong entries, 60 s between sends, at most 5
sends an hour and 10 a day per phone. The 30-minute lock-out and the enrolment window are this
project's. Tests pass a `Policy` of their own; the bot uses `DEFAULT_POLICY`.

>>> DEFAULT_POLICY.code_ttl, DEFAULT_POLICY.max_attempts
(datetime.timedelta(seconds=300), 5)
>>> typed_code("验证码是 ４９３８１７"), typed_code("49381")
('493817', None)
"""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from datetime import timedelta

from bot.validation.errors import Invalid
from bot.validation.identifiers import validate_otp

__all__ = ["CODE_DIGITS", "Policy", "DEFAULT_POLICY", "policy_from_env", "typed_code"]

CODE_DIGITS = 6


@dataclass(frozen=True)
class Policy:
    code_ttl: timedelta = timedelta(minutes=5)
    max_attempts: int = 5  # wrong entries per challenge (and authenticator codes in a row) before the lock-out
    lock_duration: timedelta = timedelta(minutes=30)
    resend_interval: timedelta = timedelta(seconds=60)  # per phone and purpose
    max_sends_per_hour: int = 5  # per phone and budget (identification, signing), rolling window
    max_sends_per_day: int = 10  # per phone and budget, rolling 24 hours
    # Who asks (bot.codes.request_limits), per budget: one conversation (a REST sender, a WeChat
    # follower, a web chat merchant) ...
    max_requests_per_conversation_hour: int = 5
    max_requests_per_conversation_day: int = 10
    # ... and one client address (what the channel saw; a shop or an office behind one NAT).
    max_requests_per_address_hour: int = 20
    max_requests_per_address_day: int = 50
    # How recently an enrolment code (sent for that, bot.codes.authenticator) must have been verified
    # in the conversation to enrol an authenticator ...
    enrolment_window: timedelta = timedelta(minutes=5)
    # ... and how long a new authenticator waits before it may sign a change (the SMS code still
    # can): a day for the merchant to see the enrolment notice on the registered phone.
    authenticator_signs_after: timedelta = timedelta(hours=24)


def _count_from_env(variable: str, default: int) -> int:
    value = os.environ.get(variable, "").strip()
    try:
        return max(int(value), 0) if value else default
    except ValueError:
        raise ValueError(f"{variable} must be a whole number of code requests (0: no limit), not {value!r}")


def policy_from_env() -> Policy:
    """The policy with the per-address limits of the configuration: CODE_REQUESTS_PER_ADDRESS_HOUR
    (default 20) and CODE_REQUESTS_PER_ADDRESS_DAY (50), 0 switching one off (a test or benchmark
    whose many conversations all come from one address)."""
    defaults = Policy()
    return replace(
        defaults,
        max_requests_per_address_hour=_count_from_env("CODE_REQUESTS_PER_ADDRESS_HOUR",
                                                      defaults.max_requests_per_address_hour),
        max_requests_per_address_day=_count_from_env("CODE_REQUESTS_PER_ADDRESS_DAY",
                                                     defaults.max_requests_per_address_day),
    )


DEFAULT_POLICY = policy_from_env()


def typed_code(code: object) -> str | None:
    """The 6 digits the merchant typed (full-width and Chinese digits normalised), or None when the
    text holds no code: such text is a typo, not a guess, and never costs an attempt."""
    try:
        return validate_otp(code)
    except Invalid:
        return None
