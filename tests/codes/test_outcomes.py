"""Outcomes and results (bot.codes.outcomes): only OK is ok, and waits are never said too short."""
from __future__ import annotations

from datetime import timedelta

from bot.codes import Outcome, SendResult, VerifyResult
from bot.codes.outcomes import seconds_until

from domain_fixtures import NOW


def test_only_ok_is_ok() -> None:
    assert [outcome for outcome in Outcome if outcome.ok] == [Outcome.OK]
    assert not SendResult(Outcome.NOT_DELIVERED).ok and SendResult(Outcome.OK, delivery_unknown=True).ok
    assert not VerifyResult(Outcome.WRONG_CODE, attempts_left=4).ok


def test_not_delivered_is_its_own_outcome() -> None:
    # The actions answer it with utter_code_not_delivered: the value is part of that contract.
    assert Outcome("not_delivered") is Outcome.NOT_DELIVERED


def test_waits_are_whole_seconds_rounded_up_and_at_least_one() -> None:
    assert seconds_until(NOW + timedelta(seconds=15), NOW) == 15
    assert seconds_until(NOW + timedelta(seconds=14, milliseconds=1), NOW) == 15
    assert seconds_until(NOW, NOW) == 1
    assert seconds_until(NOW - timedelta(seconds=5), NOW) == 1
