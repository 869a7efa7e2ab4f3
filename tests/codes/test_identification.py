"""Codes to a merchant number typed in the chat (bot.codes.identification): a number that is no
merchant's is answered exactly like a merchant's, from the first answer to the lock-out (issue 12,
finding 4: enumeration). Time is injected."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.codes import Outcome, Requester, send_identification_code, verify_identification_code
from bot.db.models import AuditEvent, VerificationChallenge

from codes.helpers import ENROL, IDENTIFY, SIGN, SIX_DIGIT_RUN, code_of, wrong
from domain_fixtures import NOW, Outbox

KNOWN, UNKNOWN = "822100000000001", "822199999999999"


def ask(session: Session, number: str, at=NOW, conversation: str = "conv-1", address: str | None = None,
        purpose=IDENTIFY):
    return send_identification_code(session, number, purpose, Requester(conversation, address), now=at)


def answer(session: Session, number: str, code: str, at=NOW, conversation: str = "conv-1", purpose=IDENTIFY):
    return verify_identification_code(session, number, code, purpose, conversation_id=conversation, now=at)


def seen(result) -> tuple:
    """What the conversation can tell from an answer (the bot's words are chosen from these)."""
    return result.outcome, result.retry_after, getattr(result, "attempts_left", None), \
        getattr(result, "phone_masked", None)


def script(session: Session, number: str, guess: str, conversation: str) -> list[tuple]:
    """A prober's whole session against one number: ask, guess, ask again too soon, wait for the
    code to expire, ask again, guess until locked out, ask while locked."""
    t = NOW
    steps = [ask(session, number, t, conversation), answer(session, number, guess, t, conversation),
             answer(session, number, "12a", t, conversation), ask(session, number, t + timedelta(seconds=30), conversation)]
    t += timedelta(minutes=6)
    steps += [answer(session, number, guess, t, conversation), ask(session, number, t, conversation)]
    steps += [answer(session, number, guess, t + timedelta(seconds=i), conversation) for i in range(4)]
    t += timedelta(seconds=10)
    steps += [ask(session, number, t, conversation), answer(session, number, guess, t, conversation)]
    return [seen(step) for step in steps]


def test_a_number_that_is_no_merchants_is_answered_like_one(demo: Session, outbox: Outbox) -> None:
    known = script(demo, KNOWN, "000000", "prober-1")
    codes_sent = [code_of(message) for message in outbox.messages()]
    assert "000000" not in codes_sent  # (a guess that happened to be right would end the script)
    unknown = script(demo, UNKNOWN, "000000", "prober-2")
    assert unknown == known
    assert known[0] == (Outcome.OK, None, None, None)  # sent: no masked phone before verification
    assert known[1][0] is Outcome.WRONG_CODE and known[1][2] == 4
    assert known[3][0] is Outcome.TOO_SOON
    assert known[4][0] is Outcome.EXPIRED
    assert known[-2][0] is Outcome.LOCKED and known[-1][0] is Outcome.LOCKED
    assert [m["to"] for m in outbox.messages()] == ["13800000001", "13800000001"]  # nothing for the other


def test_the_limits_of_a_number_count_whether_it_exists_or_not(demo: Session, outbox: Outbox) -> None:
    for number in (KNOWN, UNKNOWN):
        assert ask(demo, number, NOW, conversation="c0").ok
        too_soon = ask(demo, number, NOW + timedelta(seconds=30), conversation="another client")
        assert too_soon.outcome is Outcome.TOO_SOON and too_soon.retry_after == 30
        results = [ask(demo, number, NOW + timedelta(seconds=61 * i), conversation=f"c{i}") for i in range(1, 6)]
        assert [r.outcome for r in results] == [Outcome.OK] * 4 + [Outcome.RATE_LIMITED]
        assert results[-1].retry_after == 3600 - 61 * 5


def test_a_merchants_number_gets_its_code_and_verifies(demo: Session, outbox: Outbox) -> None:
    assert ask(demo, KNOWN).ok
    message = outbox.last()
    assert message["to"] == "13800000001"
    assert answer(demo, KNOWN, wrong(code_of(message))).attempts_left == 4
    assert answer(demo, KNOWN, code_of(message)).ok
    assert answer(demo, KNOWN, code_of(message), conversation="another").outcome is Outcome.NO_CHALLENGE


def test_the_enrolment_code_is_asked_for_the_same_way(demo: Session, outbox: Outbox) -> None:
    assert ask(demo, KNOWN, purpose=ENROL).ok
    assert "开启动态口令" in outbox.last()["text"]
    assert answer(demo, KNOWN, code_of(outbox.last())).outcome is Outcome.NO_CHALLENGE  # not an identification code
    assert answer(demo, KNOWN, code_of(outbox.last()), purpose=ENROL).ok
    assert ask(demo, UNKNOWN, purpose=ENROL).ok
    with pytest.raises(ValueError):
        ask(demo, KNOWN, purpose=SIGN)


def test_a_code_for_no_number_asked_in_this_conversation_is_no_code(demo: Session, outbox: Outbox) -> None:
    ask(demo, UNKNOWN, conversation="one")
    assert answer(demo, UNKNOWN, "123456", conversation="two").outcome is Outcome.NO_CHALLENGE
    assert answer(demo, None, "123456", conversation="two").outcome is Outcome.NO_CHALLENGE


def test_requests_for_unknown_numbers_are_audited_without_the_number(demo: Session, outbox: Outbox) -> None:
    ask(demo, UNKNOWN)
    [event] = demo.execute(select(AuditEvent).where(AuditEvent.action == "verification.unknown_number")).scalars()
    assert event.detail["number_last4"] == "9999" and UNKNOWN not in str(event.detail)
    assert demo.execute(select(VerificationChallenge)).first() is None
    assert not [m for m in outbox.messages() if SIX_DIGIT_RUN.search(m["text"])]


def test_an_unknown_number_is_answered_no_sooner_than_a_typical_send(demo: Session, outbox: Outbox,
                                                                      monkeypatch) -> None:
    import time

    from bot.codes import identification

    monkeypatch.setattr(identification, "_SEND_TIMES", identification._SendTimes())  # this test's sends only

    class Slow:
        def send(self, to: str, text: str) -> None:
            time.sleep(0.3)

    assert send_identification_code(demo, KNOWN, IDENTIFY, Requester("c1"), gateway=Slow(), now=NOW).ok
    started = time.monotonic()
    assert ask(demo, UNKNOWN, conversation="c2").ok
    assert time.monotonic() - started >= 0.3
