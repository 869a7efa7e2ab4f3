"""Who may ask for codes how often (bot.codes.request_limits): per conversation, per client address
and per merchant number typed, per budget; a refusal counts nothing (issue 12, finding 4: SMS
pumping). Time is injected."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from bot.codes import Outcome, Requester, admit_request, send_identification_code
from bot.codes.policy import Policy

from codes.helpers import IDENTIFY, SIGN
from domain_fixtures import NOW, Outbox


def numbers(count: int) -> list[str]:
    """Merchant numbers nobody registered: what a pumping script types, one after the other."""
    return [f"8221999{i:08d}" for i in range(count)]


def test_one_address_cannot_pump_codes_to_many_numbers(demo: Session, outbox: Outbox) -> None:
    # A new REST sender for every request: only the address ties them together.
    results = [send_identification_code(demo, number, IDENTIFY, Requester(f"sender-{i}", "203.0.113.9"),
                                        now=NOW + timedelta(seconds=i))
               for i, number in enumerate(numbers(25) + ["822100000000001"])]
    assert [r.outcome for r in results] == [Outcome.OK] * 20 + [Outcome.RATE_LIMITED] * 6
    assert outbox.messages() == []  # the merchant's number came too late: nothing was sent to it
    elsewhere = send_identification_code(demo, "822100000000001", IDENTIFY, Requester("a-merchant", "198.51.100.4"),
                                         now=NOW + timedelta(seconds=30))
    assert elsewhere.ok and len(outbox.messages()) == 1


def test_one_conversation_may_ask_five_an_hour_and_ten_a_day(demo: Session) -> None:
    asker = Requester("conv-1")
    hourly = [admit_request(demo, asker, IDENTIFY, now=NOW + timedelta(minutes=i)) for i in range(6)]
    assert hourly[:5] == [None] * 5
    assert hourly[5].outcome is Outcome.RATE_LIMITED and hourly[5].retry_after == 55 * 60
    daily = [admit_request(demo, asker, IDENTIFY, now=NOW + timedelta(hours=1, minutes=i)) for i in range(6)]
    assert daily[:5] == [None] * 5 and daily[5].outcome is Outcome.RATE_LIMITED
    assert daily[5].retry_after == 24 * 3600 - 65 * 60


def test_the_budgets_are_counted_apart(demo: Session) -> None:
    asker = Requester("conv-1", "203.0.113.9")
    for i in range(5):
        assert admit_request(demo, asker, IDENTIFY, now=NOW + timedelta(minutes=i)) is None
    assert admit_request(demo, asker, IDENTIFY, now=NOW + timedelta(minutes=6)).outcome is Outcome.RATE_LIMITED
    assert admit_request(demo, asker, SIGN, now=NOW + timedelta(minutes=6)) is None  # identified: its own budget


def test_a_refused_request_counts_nothing(demo: Session) -> None:
    policy = Policy(max_requests_per_address_hour=2)
    for i in range(2):
        assert admit_request(demo, Requester(f"c{i}", "203.0.113.9"), IDENTIFY, now=NOW, policy=policy) is None
    for _ in range(10):
        assert admit_request(demo, Requester("c9", "203.0.113.9"), IDENTIFY, now=NOW, policy=policy).retry_after == 3600
    # c9 was never counted: from another address it still has its whole allowance.
    assert admit_request(demo, Requester("c9", "198.51.100.4"), IDENTIFY, now=NOW, policy=policy) is None


def test_a_limit_of_zero_is_off(demo: Session) -> None:
    policy = Policy(max_requests_per_address_hour=0, max_requests_per_address_day=0,
                    max_requests_per_conversation_hour=0, max_requests_per_conversation_day=0)
    for i in range(30):
        assert admit_request(demo, Requester("c", "203.0.113.9"), IDENTIFY, now=NOW + timedelta(seconds=i),
                             policy=policy) is None


class Broken:
    def send(self, to: str, text: str) -> None:
        raise ConnectionError("provider down")


def test_a_code_the_provider_refused_is_given_back(demo: Session, outbox: Outbox) -> None:
    from bot.codes import send_requested_code
    from domain_fixtures import merchant

    asker = Requester("conv-1", "203.0.113.9")
    failed = send_identification_code(demo, "822100000000001", IDENTIFY, asker, gateway=Broken(), now=NOW)
    assert failed.outcome is Outcome.NOT_DELIVERED
    assert send_identification_code(demo, "822100000000001", IDENTIFY, asker, now=NOW + timedelta(seconds=1)).ok

    owner = merchant(demo, "822100000000001")
    from codes.helpers import NEW_CARD
    policy = Policy(max_requests_per_conversation_hour=1)
    refused = send_requested_code(demo, owner, SIGN, asker, change=NEW_CARD, gateway=Broken(), now=NOW, policy=policy)
    assert refused.outcome is Outcome.NOT_DELIVERED
    assert send_requested_code(demo, owner, SIGN, asker, change=NEW_CARD, now=NOW, policy=policy).ok
    again = send_requested_code(demo, owner, SIGN, asker, change=NEW_CARD, now=NOW + timedelta(minutes=2),
                                policy=policy)
    assert again.outcome is Outcome.RATE_LIMITED
